"""cdm.dim_product: one row per SKU (grain: sku_id) with its SPU, category, brand, season and
price band; type 1, with inferred members for SKUs sold before their master row arrives."""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c

COLUMNS = (
    "sku_id", "spu_id", "sku_name", "brand", "category_l1", "category_l2", "category_l3", "color", "size",
    "list_price", "price_band", "launch_date", "season", "is_inferred", c.SOURCE_VERSION, c.SOURCE_DT,
)


def price_band(list_price: Column, bands: Sequence[tuple[str, float | None]]) -> Column:
    """The first band whose upper bound (exclusive) exceeds the price; ``未知`` without a price.

    Args:
        bands: (band name, upper bound in yuan or None for the open last band), ascending.
    """
    expression = F.when(list_price.isNull(), F.lit(c.UNKNOWN))
    for name, below in bands:
        expression = expression.when(list_price < below, F.lit(name)) if below is not None else expression.otherwise(F.lit(name))
    return expression


def build(
    ods_products: DataFrame,
    known_sku_ids: DataFrame,
    referenced_sku_ids: DataFrame,
    bands: Sequence[tuple[str, float | None]],
) -> DataFrame:
    """Rows to upsert: the newest version of each SKU extracted, plus inferred SKUs.

    Args:
        ods_products: one ``dt`` of ``ods.product_products``.
        known_sku_ids: ``sku_id`` of every SKU already in the dimension.
        referenced_sku_ids: ``sku_id`` referenced by the day's order lines and events.
        bands: price bands from ``conf/cdm.yml``.
    """
    keyed = ods_products.withColumn("sku_id", c.trimmed("sku_id"))
    newest = c.newest_per_key(keyed, ["sku_id"], c.source_version())
    extracted = newest.select(
        "sku_id",
        c.trimmed("spu_id").alias("spu_id"),
        c.trimmed("sku_name").alias("sku_name"),
        F.coalesce(c.trimmed("brand"), F.lit(c.UNKNOWN)).alias("brand"),
        F.coalesce(c.trimmed("category_l1"), F.lit(c.UNKNOWN)).alias("category_l1"),
        F.coalesce(c.trimmed("category_l2"), F.lit(c.UNKNOWN)).alias("category_l2"),
        F.coalesce(c.trimmed("category_l3"), F.lit(c.UNKNOWN)).alias("category_l3"),
        c.trimmed("color").alias("color"),
        c.trimmed("size").alias("size"),
        "list_price",
        price_band(F.col("list_price"), bands).alias("price_band"),
        "launch_date",
        F.coalesce(c.trimmed("season"), F.lit(c.UNKNOWN)).alias("season"),
        F.lit(False).alias("is_inferred"),
        c.source_version().alias(c.SOURCE_VERSION),
        F.col(c.ODS_DT).alias(c.SOURCE_DT),
    )
    missing = c.unknown_keys(referenced_sku_ids, "sku_id", known_sku_ids, extracted)
    inferred = missing.select(
        "sku_id",
        F.lit(None).cast("string").alias("spu_id"),
        F.lit(c.UNKNOWN).alias("sku_name"),
        *[F.lit(c.UNKNOWN).alias(name) for name in ("brand", "category_l1", "category_l2", "category_l3")],
        F.lit(None).cast("string").alias("color"),
        F.lit(None).cast("string").alias("size"),
        F.lit(None).cast("decimal(18,2)").alias("list_price"),
        F.lit(c.UNKNOWN).alias("price_band"),
        F.lit(None).cast("date").alias("launch_date"),
        F.lit(c.UNKNOWN).alias("season"),
        F.lit(True).alias("is_inferred"),
        F.lit("").alias(c.SOURCE_VERSION),
        F.lit(None).cast("date").alias(c.SOURCE_DT),
    )
    return extracted.unionByName(inferred).select(*COLUMNS)
