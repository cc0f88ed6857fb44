"""cdm.fct_order: one row per order (grain: order_key) — POS sales and returns, e-commerce orders.

Amounts are signed (returns negative). ``paid_amount`` is what the order's lines sum to, to the
cent (``lines_paid_amount`` is that sum, null for an order none of whose lines arrived); ``net_paid_amount`` is what the retailer kept: nothing for an e-commerce order that was
never paid, the paid amount less a refund, and the (negative) amount of a POS return.
``record_key`` ties the order to its identifiers in ``cdm.identity_evidence``; there is no raw
mobile here.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c
from models.cdm.dim_region import region_id

HEADER_COLUMNS = (
    "order_key", "order_source", "order_id", "platform", "channel_id", "store_id", "order_type",
    "orig_order_key", "order_status", "order_at", "order_date", "member_id", "card_no", "buyer_id",
    "record_key", "total_amount", "discount_amount", "pay_amount", "is_paid", "is_refunded", "coupon_count",
    "ship_province", "ship_city", "pay_method", c.SOURCE_VERSION, c.SOURCE_DT,
)
COLUMNS = (
    "order_key", "order_source", "order_id", "platform", "channel_id", "store_id", "region_id", "order_type",
    "orig_order_key", "order_status", "order_at", "order_date", "member_id", "buyer_key", "record_key",
    "is_member_order", "is_paid", "is_purchase", "total_amount", "discount_amount", "paid_amount",
    "refund_amount", "net_paid_amount", "line_count", "item_count", "lines_paid_amount", "lines_complete", "coupon_count",
    "ship_province", "ship_city", "pay_method", c.SOURCE_VERSION, c.SOURCE_DT,
)
POS_STATUS = "completed"
REFUNDED = "refunded"


def pos_headers(ods_pos_orders: DataFrame) -> DataFrame:
    """The newest version of each POS ticket in the extract, in the common header shape."""
    newest = c.newest_per_key(ods_pos_orders, ["order_id"], c.source_version())
    return newest.select(
        c.pos_order_key(F.col("order_id")).alias("order_key"),
        F.lit(c.ORDER_SOURCE_POS).alias("order_source"),
        "order_id",
        F.lit(None).cast("string").alias("platform"),
        c.store_channel_id(c.trimmed("store_id")).alias("channel_id"),
        c.trimmed("store_id").alias("store_id"),
        F.col("order_type"),
        F.when(c.trimmed("orig_order_id").isNotNull(), c.pos_order_key(c.trimmed("orig_order_id"))).alias("orig_order_key"),
        F.lit(POS_STATUS).alias("order_status"),
        F.col("order_time").alias("order_at"),
        F.to_date("order_time").alias("order_date"),
        F.lit(None).cast("string").alias("member_id"),
        F.upper(c.trimmed("card_no")).alias("card_no"),
        F.lit(None).cast("string").alias("buyer_id"),
        c.record_key("pos", "orders", F.col("order_id")).alias("record_key"),
        "total_amount",
        F.coalesce(F.col("discount_amount"), c.zero_amount()).alias("discount_amount"),
        "pay_amount",
        F.lit(True).alias("is_paid"),
        F.lit(False).alias("is_refunded"),
        F.lit(0).alias("coupon_count"),
        F.lit(None).cast("string").alias("ship_province"),
        F.lit(None).cast("string").alias("ship_city"),
        c.trimmed("pay_method").alias("pay_method"),
        c.source_version().alias(c.SOURCE_VERSION),
        F.col(c.ODS_DT).alias(c.SOURCE_DT),
    )


def ecom_headers(ods_ecom_orders: DataFrame) -> DataFrame:
    """The newest version of each e-commerce order in the extract, in the common header shape."""
    newest = c.newest_per_key(ods_ecom_orders, ["platform", "order_id"], c.source_version())
    return newest.select(
        c.ecom_order_key(F.col("platform"), F.col("order_id")).alias("order_key"),
        F.lit(c.ORDER_SOURCE_ECOM).alias("order_source"),
        "order_id",
        "platform",
        c.ecom_channel_id(F.col("platform")).alias("channel_id"),
        F.lit(None).cast("string").alias("store_id"),
        F.lit(c.ORDER_TYPE_SALE).alias("order_type"),
        F.lit(None).cast("string").alias("orig_order_key"),
        F.col("status").alias("order_status"),
        F.col("created_at").alias("order_at"),
        F.to_date("created_at").alias("order_date"),
        c.trimmed("member_id").alias("member_id"),
        F.lit(None).cast("string").alias("card_no"),
        c.trimmed("buyer_id").alias("buyer_id"),
        c.record_key("ecom", "orders", F.col("platform"), F.col("order_id")).alias("record_key"),
        "total_amount",
        F.coalesce(F.col("discount_amount"), c.zero_amount()).alias("discount_amount"),
        "pay_amount",
        F.col("paid_at").isNotNull().alias("is_paid"),
        (F.col("status") == REFUNDED).alias("is_refunded"),
        F.coalesce(F.size("coupon_ids"), F.lit(0)).alias("coupon_count"),
        c.trimmed("receiver_province").alias("ship_province"),
        c.trimmed("receiver_city").alias("ship_city"),
        F.lit(None).cast("string").alias("pay_method"),
        c.source_version().alias(c.SOURCE_VERSION),
        F.col(c.ODS_DT).alias(c.SOURCE_DT),
    )


def headers(ods_pos_orders: DataFrame, ods_ecom_orders: DataFrame) -> DataFrame:
    return pos_headers(ods_pos_orders).unionByName(ecom_headers(ods_ecom_orders)).select(*HEADER_COLUMNS)


def build(order_headers: DataFrame, lines: DataFrame, card_members: DataFrame, store_regions: DataFrame) -> DataFrame:
    """Order rows to upsert.

    Args:
        order_headers: :func:`headers` of the day's extracts.
        lines: the ``cdm.fct_order_item`` rows of these orders.
        card_members: ``card_no`` → ``member_id`` from every ``cdm.dim_member`` version; a POS
            ticket with a member's card is that member's order.
        store_regions: ``store_id`` → ``region_id`` from ``cdm.dim_store``.
    """
    line_totals = lines.groupBy("order_key").agg(
        F.count(F.lit(1)).alias("line_count"),
        F.sum("quantity").alias("item_count"),
        F.sum("line_amount").alias("lines_list_amount"),
        F.sum("paid_amount").alias("lines_paid_amount"),
    )
    card_owner = _card_owner(card_members)
    with_member = order_headers.join(card_owner, on="card_no", how="left").withColumn(
        "member_id", F.coalesce(F.col("member_id"), F.col("card_member_id"))
    )
    signed_total = c.signed(F.col("total_amount"), F.col("order_type"))
    paid = c.signed(F.col("pay_amount"), F.col("order_type"))
    refund = F.when(F.col("is_refunded") & F.col("is_paid"), F.col("pay_amount")).otherwise(c.zero_amount())
    return (
        with_member.join(line_totals, on="order_key", how="left")
        .join(store_regions.select("store_id", F.col("region_id").alias("store_region_id")), on="store_id", how="left")
        .select(
            "order_key", "order_source", "order_id", "platform", "channel_id", "store_id",
            F.coalesce(F.col("store_region_id"), region_id(F.col("ship_province"), F.col("ship_city"))).alias("region_id"),
            "order_type", "orig_order_key", "order_status", "order_at", "order_date", "member_id",
            _buyer_key().alias("buyer_key"),
            "record_key",
            (F.col("member_id").isNotNull() | F.col("card_no").isNotNull()).alias("is_member_order"),
            "is_paid",
            ((F.col("order_type") == c.ORDER_TYPE_SALE) & F.col("is_paid")).alias("is_purchase"),
            signed_total.alias("total_amount"),
            c.signed(F.col("discount_amount"), F.col("order_type")).alias("discount_amount"),
            paid.alias("paid_amount"),
            refund.alias("refund_amount"),
            F.when(F.col("is_paid"), (paid - refund).cast("decimal(18,2)")).otherwise(c.zero_amount()).alias("net_paid_amount"),
            F.coalesce(F.col("line_count"), F.lit(0)).alias("line_count"),
            F.coalesce(F.col("item_count"), F.lit(0)).alias("item_count"),
            "lines_paid_amount",
            F.coalesce(F.col("lines_list_amount") == signed_total, F.lit(False)).alias("lines_complete"),
            "coupon_count", "ship_province", "ship_city", "pay_method", c.SOURCE_VERSION, c.SOURCE_DT,
        )
    )


def _card_owner(card_members: DataFrame) -> DataFrame:
    """One member per card: the one that held it most recently (cards are re-issued rarely)."""
    newest = c.newest_per_key(
        card_members.where(F.col("card_no").isNotNull()), ["card_no"], F.col("effective_from")
    )
    return newest.select("card_no", F.col("member_id").alias("card_member_id"))


def _buyer_key() -> Column:
    """Who bought, before OneID: the member, else the platform buyer, else the ticket itself.

    A POS ticket without a member's card counts as its own buyer: the typed mobile is not
    trusted here (placeholders), resolving it is OneID's job.
    """
    return F.coalesce(
        F.when(F.col("member_id").isNotNull(), F.concat(F.lit("member:"), F.col("member_id"))),
        F.when(F.col("buyer_id").isNotNull(), F.concat_ws(":", F.lit("buyer"), F.col("platform"), F.col("buyer_id"))),
        F.concat(F.lit("order:"), F.col("order_key")),
    )
