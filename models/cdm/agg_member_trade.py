"""cdm.agg_member_trade: aggregate fact, one row per business date and member (grain: dt,
member_id) with first and last purchase and purchase counts and net amounts over the standard
windows and the whole history, as of that date.

A purchase is a paid sale order (SPEC section 4); the net amount counts sales less returns and
refunds. A window of N days ending on ``as_of`` holds the dates d with as_of − N < d ≤ as_of.
"""

from __future__ import annotations

from datetime import date
from typing import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c



def window_columns(windows_days: Sequence[int]) -> tuple[str, ...]:
    return tuple(name for days in windows_days for name in (f"orders_{days}d", f"net_paid_{days}d"))


def columns(windows_days: Sequence[int], key: str = "member_id") -> tuple[str, ...]:
    return (
        "dt", key, "first_order_date", "last_order_date", "orders_lifetime", "net_paid_lifetime",
        *window_columns(windows_days),
    )


def build(orders: DataFrame, as_of: date, windows_days: Sequence[int], key: str = "member_id") -> DataFrame:
    """Buyers with at least one order of any kind up to ``as_of``.

    Args:
        orders: ``cdm.fct_order``, with a ``key`` column when that is not ``member_id``.
        as_of: the business date.
        windows_days: trailing windows from ``conf/cdm.yml``.
        key: who the buyer is: ``member_id`` here, ``one_id`` for ``cdm.agg_one_id_trade``.
    """
    held = orders.where(F.col(key).isNotNull() & (F.col("order_date") <= F.lit(as_of)))
    purchase = F.col("is_purchase")
    age = F.datediff(F.lit(as_of), F.col("order_date"))
    per_window = []
    for days in windows_days:
        inside = age < days
        per_window += [
            F.count(F.when(purchase & inside, True)).alias(f"orders_{days}d"),
            F.coalesce(F.sum(F.when(inside, F.col("net_paid_amount"))), c.zero_amount()).alias(f"net_paid_{days}d"),
        ]
    return (
        held.groupBy(key)
        .agg(
            F.min(F.when(purchase, F.col("order_date"))).alias("first_order_date"),
            F.max(F.when(purchase, F.col("order_date"))).alias("last_order_date"),
            F.count(F.when(purchase, True)).alias("orders_lifetime"),
            F.coalesce(F.sum("net_paid_amount"), c.zero_amount()).alias("net_paid_lifetime"),
            *per_window,
        )
        .withColumn("dt", F.lit(as_of))
        .select(*columns(windows_days, key))
    )
