"""cdm.fct_coupon: one row per coupon (grain: coupon_id) from issue to use or expiry; a used
coupon is tied to its order in ``cdm.fct_order`` where that order is known.

Coupons used on orders that have not arrived yet are matched again on later runs.
"""

from __future__ import annotations

from typing import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c
from models.cdm.dim_channel import label_channel_id

COLUMNS = (
    "coupon_id", "template_id", "member_id", "issued_at", "issue_date", "issue_channel_id", "face_value",
    "threshold", "coupon_status", "used_at", "used_order_id", "used_order_key", "expire_at", "days_to_use",
    c.SOURCE_VERSION, c.SOURCE_DT,
)
USED = "used"
# CRM coupons are honoured in stores and on the own mall; their order ids are unique there.
COUPON_ORDER_SOURCES = ("pos", "ecom:own_mall")


def build(ods_coupons: DataFrame, existing: DataFrame | None, orders: DataFrame, channel_labels: Mapping[str, str]) -> DataFrame:
    """Rows to upsert: the newest version of the extracted coupons and of the used coupons
    whose order was not known before, each matched to its order.

    Args:
        ods_coupons: one ``dt`` of ``ods.crm_coupons``.
        existing: the current ``cdm.fct_coupon``; None before the first run.
        orders: ``cdm.fct_order`` (order_key, order_id, order_source, platform).
        channel_labels: CRM channel label → channel_id.
    """
    incoming = ods_coupons.select(
        "coupon_id", "template_id",
        c.trimmed("member_id").alias("member_id"),
        "issued_at",
        F.to_date("issued_at").alias("issue_date"),
        label_channel_id(F.col("channel"), F.lit(None).cast("string"), channel_labels).alias("issue_channel_id"),
        "face_value", "threshold",
        F.col("status").alias("coupon_status"),
        "used_at",
        c.trimmed("used_order_id").alias("used_order_id"),
        "expire_at",
        c.source_version().alias(c.SOURCE_VERSION),
        F.col(c.ODS_DT).alias(c.SOURCE_DT),
    )
    if existing is not None:
        unmatched = existing.where((F.col("coupon_status") == USED) & F.col("used_order_key").isNull())
        candidates = existing.join(incoming.select("coupon_id"), on="coupon_id", how="left_semi").unionByName(unmatched)
        incoming = candidates.drop("used_order_key", "days_to_use").unionByName(incoming)
    current = c.newest_per_key(incoming, ["coupon_id"], F.col(c.SOURCE_VERSION))
    order_ids = orders.select(
        "order_id",
        F.col("order_key").alias("used_order_key"),
        F.concat_ws(":", "order_source", "platform").alias("_order_source"),
    ).where(F.col("_order_source").isin(*COUPON_ORDER_SOURCES))
    one_order = c.newest_per_key(order_ids, ["order_id"], F.col("used_order_key")).drop("_order_source")
    matched = current.join(
        one_order.withColumnRenamed("order_id", "used_order_id"), on="used_order_id", how="left"
    )
    return matched.withColumn(
        "days_to_use", F.when(F.col("used_at").isNotNull(), F.datediff(F.to_date("used_at"), F.col("issue_date")))
    ).select(*COLUMNS)
