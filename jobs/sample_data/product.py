"""Product: the catalog's SKUs as listed, and the price changes of the increment days."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from jobs.sample_data.contract import PRODUCTS, money
from jobs.sample_data.simulation import Simulation
from jobs.sample_data.world import Product, price_ending_in_9

PRICE_CHANGE_SHARE_PER_DAY = 0.5
SEASONS = {12: "冬", 1: "冬", 2: "冬", 3: "春", 4: "春", 5: "春", 6: "夏", 7: "夏", 8: "夏"}  # else 秋


def product_rows(sim: Simulation) -> None:
    catalog = sim.world.catalog
    for product in catalog:
        # The catalog lists a product two weeks before it launches.
        listed = datetime.combine(product.launch_date - timedelta(days=14), time(9))
        emit_product(sim, product, listed, product.list_cents)
    launched_spus = list(dict.fromkeys(p.spu_id for p in catalog if p.launch_date < sim.window.start))
    for dt in sim.window.dts[1:]:
        if sim.rng.random() < PRICE_CHANGE_SHARE_PER_DAY:
            spu = sim.rng.choice(launched_spus)
            at = datetime.combine(dt, time(10))
            for product in catalog:
                if product.spu_id == spu:
                    emit_product(sim, product, at, price_ending_in_9(product.list_cents * 8 // 1000))


def emit_product(sim: Simulation, product: Product, at: datetime, list_cents: int) -> None:
    month = product.launch_date.month
    sim.emit(PRODUCTS, at, {
        "sku_id": product.sku_id, "spu_id": product.spu_id, "sku_name": product.name,
        "brand": product.brand, "category_l1": product.category.l1,
        "category_l2": product.category.l2, "category_l3": product.category.l3,
        "color": product.color, "size": product.size, "list_price": money(list_cents),
        "launch_date": product.launch_date.isoformat(),
        "season": f"{product.launch_date.year}{SEASONS.get(month, '秋')}",
    })
