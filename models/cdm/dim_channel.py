"""cdm.dim_channel: the one conformed channel list (grain: channel_id).

Each store (``store:{store_id}``), each e-commerce platform (``ecom:{platform}``) and each WeChat
app (``wechat:{app_id}``), plus the channels the CRM names by label (``conf/cdm.yml``) and an
explicit unknown channel. Orders, member joins, coupon issues and events all key on it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c

COLUMNS = (
    "channel_id", "channel_name", "channel_type", "channel_group", "platform", "store_id", "app_id",
    "app_type", "is_inferred",
)
OFFLINE, SOCIAL = "offline", "social"
CONFIGURED_SCHEMA = (
    "channel_id string, channel_name string, channel_type string, channel_group string, platform string"
)


def label_channel_id(label: Column, store_id: Column, labels: Mapping[str, str]) -> Column:
    """The channel of a CRM channel label; the store itself when the label means a store.

    Unknown labels map to the unknown channel (and are counted as unknown references), a
    missing label stays null.
    """
    label_map = F.create_map(*[F.lit(value) for pair in sorted(labels.items()) for value in pair])
    channel = label_map[F.trim(label)]
    store_channel = F.when(store_id.isNotNull() & (channel == F.lit("store")), c.store_channel_id(store_id))
    return (
        F.when(c.trimmed_column(label).isNull(), F.lit(None).cast("string"))
        .otherwise(F.coalesce(store_channel, channel, F.lit(c.UNKNOWN_KEY)))
    )


def build(configured: Sequence[Mapping[str, str]], stores: DataFrame, apps: DataFrame) -> DataFrame:
    """The whole channel list.

    Args:
        configured: the ``channels`` of ``conf/cdm.yml``.
        stores: ``cdm.dim_store`` (store_id, store_name, is_inferred).
        apps: ``app_id`` and ``app_type`` (null when the app was only seen on events) of every
            WeChat app seen so far.
    """
    spark = stores.sparkSession
    rows = [tuple(entry.get(name) for name in ("channel_id", "channel_name", "channel_type", "channel_group", "platform"))
            for entry in configured]
    rows.append((c.UNKNOWN_KEY, c.UNKNOWN, None, c.UNKNOWN_KEY, None))
    listed = spark.createDataFrame(rows, CONFIGURED_SCHEMA).select(
        "channel_id", "channel_name", "channel_type", "channel_group", "platform",
        F.lit(None).cast("string").alias("store_id"),
        F.lit(None).cast("string").alias("app_id"),
        F.lit(None).cast("string").alias("app_type"),
        (F.col("channel_id") == c.UNKNOWN_KEY).alias("is_inferred"),
    )
    store_channels = stores.select(
        c.store_channel_id(F.col("store_id")).alias("channel_id"),
        F.col("store_name").alias("channel_name"),
        F.lit(OFFLINE).alias("channel_type"),
        F.lit("store").alias("channel_group"),
        F.lit(None).cast("string").alias("platform"),
        "store_id",
        F.lit(None).cast("string").alias("app_id"),
        F.lit(None).cast("string").alias("app_type"),
        "is_inferred",
    )
    newest_app = apps.groupBy("app_id").agg(F.max("app_type").alias("app_type"))
    app_channels = newest_app.select(
        c.wechat_channel_id(F.col("app_id")).alias("channel_id"),
        F.concat_ws(" ", F.coalesce(F.col("app_type"), F.lit(c.UNKNOWN)), F.col("app_id")).alias("channel_name"),
        F.lit(SOCIAL).alias("channel_type"),
        F.lit("wechat").alias("channel_group"),
        F.lit(None).cast("string").alias("platform"),
        F.lit(None).cast("string").alias("store_id"),
        "app_id",
        "app_type",
        F.col("app_type").isNull().alias("is_inferred"),
    )
    return listed.unionByName(store_channels).unionByName(app_channels).select(*COLUMNS)
