"""The keys a day's extracts reference, and the references that found no real dimension row.

Dimensions take these keys to add inferred members, so no fact row is ever dropped for an
unknown store, SKU, member or app; ``cdm.unknown_references`` counts them per ds.
"""

from __future__ import annotations

import functools

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from models.cdm import common as c
from models.cdm.fct_order_item import NEGATIVE_LINE_OF_SALE

UNKNOWN_REFERENCE_SCHEMA = T.StructType(
    [
        T.StructField("fact_table", T.StringType(), False),
        T.StructField("column", T.StringType(), False),
        T.StructField("dimension", T.StringType(), False),
        T.StructField("key_value", T.StringType(), True),
        T.StructField("rows", T.LongType(), False),
    ]
)
# ODS entities whose rows name a CRM member_id.
MEMBER_REFERENCING = ("ecom_orders", "crm_points_ledger", "crm_coupons", "wechat_users", "wechat_events")


def places(ods_stores: DataFrame, ods_ecom_orders: DataFrame) -> DataFrame:
    """(province, city) of stores and of shipping addresses."""
    return ods_stores.select("province", "city").unionByName(
        ods_ecom_orders.select(F.col("receiver_province").alias("province"), F.col("receiver_city").alias("city"))
    )


def store_ids(ods_pos_orders: DataFrame, ods_members: DataFrame) -> DataFrame:
    return ods_pos_orders.select(c.trimmed("store_id").alias("store_id")).unionByName(
        ods_members.select(c.trimmed("join_store_id").alias("store_id"))
    )


def sku_ids(ods_pos_items: DataFrame, ods_ecom_orders: DataFrame, ods_events: DataFrame) -> DataFrame:
    ecom = ods_ecom_orders.select(F.explode("items").alias("item")).select(
        c.trimmed_column(F.col("item.sku_id")).alias("sku_id")
    )
    return (
        ods_pos_items.select(c.trimmed("sku_id").alias("sku_id"))
        .unionByName(ecom)
        .unionByName(ods_events.select(c.trimmed("sku_id").alias("sku_id")))
    )


def member_ids(*frames: DataFrame) -> DataFrame:
    ids = [frame.select(c.trimmed("member_id").alias("member_id")) for frame in frames]
    return functools.reduce(DataFrame.unionByName, ids)


def apps(ods_users: DataFrame, ods_events: DataFrame, channels: DataFrame | None) -> DataFrame:
    """Every WeChat app known so far: its type from user rows, null when only events named it."""
    seen = ods_users.select("app_id", "app_type").unionByName(
        ods_events.select("app_id", F.lit(None).cast("string").alias("app_type"))
    )
    if channels is not None:
        seen = seen.unionByName(channels.where(F.col("app_id").isNotNull()).select("app_id", "app_type"))
    return seen


def unknown_references(checked: DataFrame, fact_table: str, column: str, dimension: str, inferred_flag: str) -> DataFrame:
    """Keys of ``checked`` whose dimension row is inferred, or missing altogether."""
    unknown = F.col(column).isNotNull() & F.coalesce(F.col(inferred_flag), F.lit(True))
    return (
        checked.where(unknown)
        .groupBy(F.col(column).cast("string").alias("key_value"))
        .agg(F.count(F.lit(1)).alias("rows"))
        .select(
            F.lit(fact_table).alias("fact_table"), F.lit(column).alias("column"), F.lit(dimension).alias("dimension"),
            "key_value", "rows",
        )
    )


def unplaced_lines(unplaced: DataFrame) -> DataFrame:
    """Order lines that could not be placed on their order, as unknown references: an unknown
    order under column ``order_key``; a line written negative under a sale ticket under column
    ``order_type`` (its sign contradicts the order's type)."""
    column = F.when(F.col("reason") == NEGATIVE_LINE_OF_SALE, F.lit("order_type")).otherwise(F.lit("order_key"))
    return unplaced.groupBy(column.alias("column"), F.col("order_key").alias("key_value")).agg(
        F.count(F.lit(1)).alias("rows")
    ).select(
        F.lit("cdm.fct_order_item").alias("fact_table"), "column",
        F.lit("cdm.fct_order").alias("dimension"), "key_value", "rows",
    )