"""cdm.dim_store: one row per store (grain: store_id), type 1, with inferred members.

A store that facts reference before (or without) its master row gets an inferred row
(``is_inferred``, attributes unknown) so every fact joins; the real row replaces it when it
arrives, because an inferred row carries the lowest source version.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c
from models.cdm.dim_region import region_id

COLUMNS = (
    "store_id", "store_name", "province", "city", "district", "region_id", "store_type", "store_level",
    "open_date", "area_sqm", "store_status", "channel_id", "is_inferred", c.SOURCE_VERSION, c.SOURCE_DT,
)


def build(ods_stores: DataFrame, known_store_ids: DataFrame, referenced_store_ids: DataFrame) -> DataFrame:
    """Rows to upsert: the newest version of each store extracted, plus inferred stores.

    Args:
        ods_stores: one ``dt`` of ``ods.pos_stores``.
        known_store_ids: ``store_id`` of every store already in the dimension.
        referenced_store_ids: ``store_id`` referenced by the day's facts and members.
    """
    keyed = ods_stores.withColumn("store_id", c.trimmed("store_id"))
    newest = c.newest_per_key(keyed, ["store_id"], c.source_version())
    extracted = newest.select(
        "store_id",
        c.trimmed("store_name").alias("store_name"),
        c.trimmed("province").alias("province"),
        c.trimmed("city").alias("city"),
        c.trimmed("district").alias("district"),
        region_id(c.trimmed("province"), c.trimmed("city")).alias("region_id"),
        "store_type",
        "store_level",
        "open_date",
        "area_sqm",
        c.trimmed("status").alias("store_status"),
        c.store_channel_id(F.col("store_id")).alias("channel_id"),
        F.lit(False).alias("is_inferred"),
        c.source_version().alias(c.SOURCE_VERSION),
        F.col(c.ODS_DT).alias(c.SOURCE_DT),
    )
    missing = c.unknown_keys(referenced_store_ids, "store_id", known_store_ids, extracted)
    inferred = missing.select(
        "store_id",
        F.lit(c.UNKNOWN).alias("store_name"),
        F.lit(None).cast("string").alias("province"),
        F.lit(None).cast("string").alias("city"),
        F.lit(None).cast("string").alias("district"),
        F.lit(c.UNKNOWN_KEY).alias("region_id"),
        F.lit(None).cast("string").alias("store_type"),
        F.lit(None).cast("string").alias("store_level"),
        F.lit(None).cast("date").alias("open_date"),
        F.lit(None).cast("decimal(18,2)").alias("area_sqm"),
        F.lit(c.UNKNOWN).alias("store_status"),
        c.store_channel_id(F.col("store_id")).alias("channel_id"),
        F.lit(True).alias("is_inferred"),
        F.lit("").alias(c.SOURCE_VERSION),
        F.lit(None).cast("date").alias(c.SOURCE_DT),
    )
    return extracted.unionByName(inferred).select(*COLUMNS)
