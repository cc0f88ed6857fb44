"""cdm.fct_trade_daily: periodic snapshot, one row per trade date and channel (grain:
trade_date, channel_id; a store is a channel) with orders, buyers, member buyers, sales,
returns and items.

A purchase counts on its order date. POS returns count on the date of the return ticket; an
e-commerce refund counts on the date of the order it refunds (the landing gives no refund time).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c

COLUMNS = (
    "trade_date", "channel_id", "order_source", "store_id", "platform", "orders", "buyers", "member_buyers",
    "sales_amount", "return_orders", "return_amount", "net_amount", "items_sold", "items_returned",
)


def build(orders: DataFrame) -> DataFrame:
    """The snapshot rows of every date present in ``orders``.

    Args:
        orders: every ``cdm.fct_order`` row of the trade dates to (re)compute.
    """
    purchase = F.col("is_purchase")
    is_return = (F.col("order_type") == c.ORDER_TYPE_RETURN) | (F.col("refund_amount") > 0)
    return (
        orders.groupBy(F.col("order_date").alias("trade_date"), "channel_id", "order_source", "store_id", "platform")
        .agg(
            F.count(F.when(purchase, True)).alias("orders"),
            F.countDistinct(F.when(purchase, F.col("buyer_key"))).alias("buyers"),
            F.countDistinct(F.when(purchase & F.col("is_member_order"), F.col("buyer_key"))).alias("member_buyers"),
            F.coalesce(F.sum(F.when(purchase, F.col("paid_amount"))), c.zero_amount()).alias("sales_amount"),
            F.count(F.when(is_return, True)).alias("return_orders"),
            F.coalesce(
                F.sum(F.when(F.col("order_type") == c.ORDER_TYPE_RETURN, -F.col("paid_amount")).otherwise(F.col("refund_amount"))),
                c.zero_amount(),
            ).alias("return_amount"),
            F.coalesce(F.sum("net_paid_amount"), c.zero_amount()).alias("net_amount"),
            F.coalesce(F.sum(F.when(purchase, F.col("item_count"))), F.lit(0)).cast("long").alias("items_sold"),
            F.coalesce(
                F.sum(F.when(F.col("order_type") == c.ORDER_TYPE_RETURN, -F.col("item_count"))), F.lit(0)
            ).cast("long").alias("items_returned"),
        )
        .select(*COLUMNS)
    )
