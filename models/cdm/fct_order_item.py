"""cdm.fct_order_item: one row per order line across POS and e-commerce (grain: order_key, line_no).

The order's paid amount is spread over its lines in proportion to their list amounts, with
the leftover cents going to the lines with the largest remainders, so the lines of an order
always sum to its paid amount to the cent. Returns are negative.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from models.cdm import common as c
from models.ods.typed_records import WRITTEN_NEGATIVE

COLUMNS = (
    "order_key", "line_no", "order_source", "order_id", "platform", "channel_id", "store_id", "order_type",
    "order_at", "order_date", "sku_id", "quantity", "unit_price", "line_amount", "allocated_discount",
    "paid_amount", c.SOURCE_VERSION, c.SOURCE_DT,
)
UNKNOWN_ORDER = "unknown_order"
NEGATIVE_LINE_OF_SALE = "negative_line_of_sale"
UNPLACED_COLUMNS = ("order_key", "line_no", "reason")
ALLOCATION_HEADER = ("order_key", "order_source", "order_id", "platform", "channel_id", "store_id", "order_type",
                     "order_at", "order_date", "pay_amount", c.SOURCE_VERSION, c.SOURCE_DT)


def raw_lines(ods_pos_items: DataFrame, ods_ecom_orders: DataFrame) -> DataFrame:
    """The lines of the day's extracts: POS item rows and the items of each newest e-commerce
    order, with whether the till wrote the line negative (``written_negative``)."""
    # ODS partitions loaded before the sign was kept have no such column: they were positive.
    pos_negative = (F.coalesce(F.col(WRITTEN_NEGATIVE), F.lit(False)) if WRITTEN_NEGATIVE in ods_pos_items.columns
                    else F.lit(False))
    pos = c.newest_per_key(ods_pos_items, ["order_id", "line_no"], c.source_version()).select(
        c.pos_order_key(F.col("order_id")).alias("order_key"),
        "line_no", c.trimmed("sku_id").alias("sku_id"), F.col("qty").alias("quantity"), "unit_price",
        F.col("amount").alias("line_amount"), pos_negative.alias(WRITTEN_NEGATIVE),
    )
    newest_ecom = c.newest_per_key(ods_ecom_orders, ["platform", "order_id"], c.source_version())
    ecom = newest_ecom.select(
        c.ecom_order_key(F.col("platform"), F.col("order_id")).alias("order_key"),
        F.posexplode("items").alias("position", "item"),
    ).select(
        "order_key",
        (F.col("position") + 1).alias("line_no"),
        c.trimmed_column(F.col("item.sku_id")).alias("sku_id"),
        F.col("item.qty").alias("quantity"),
        F.col("item.unit_price").alias("unit_price"),
        F.col("item.amount").alias("line_amount"),
        F.lit(False).alias(WRITTEN_NEGATIVE),
    )
    return pos.unionByName(ecom)


def build(lines: DataFrame, order_headers: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Allocated, signed lines, and the lines that cannot be placed on their order.

    Args:
        lines: :func:`raw_lines`.
        order_headers: the header of every order the lines may belong to (the day's orders and
            those already in ``cdm.fct_order``), with the unsigned ``pay_amount``.

    Returns:
        (lines to upsert, unplaced lines with ``order_key``, ``line_no`` and ``reason``): a POS
        line whose ticket was rejected or has not arrived (``unknown_order``), and a line the
        till wrote negative under a sale ticket (``negative_line_of_sale``: only a return's
        lines may be written negative, so its sign means nothing certain), are reported
        instead of allocated.
    """
    header = order_headers.select(*ALLOCATION_HEADER)
    placed = lines.join(header, on="order_key", how="inner")
    orphans = lines.join(header, on="order_key", how="left_anti").withColumn("reason", F.lit(UNKNOWN_ORDER))
    negative_of_sale = F.col(WRITTEN_NEGATIVE) & (F.col("order_type") == c.ORDER_TYPE_SALE)
    misplaced = placed.where(negative_of_sale).withColumn("reason", F.lit(NEGATIVE_LINE_OF_SALE))
    unplaced = orphans.select(*UNPLACED_COLUMNS).unionByName(misplaced.select(*UNPLACED_COLUMNS))
    return _allocate(placed.where(~negative_of_sale)), unplaced


def _allocate(placed: DataFrame) -> DataFrame:
    order = Window.partitionBy("order_key")
    amount_cents = (F.col("line_amount") * c.CENTS).cast("long")
    # Lines of zero list amount share the payment evenly.
    weight = F.when(F.sum(amount_cents).over(order) > 0, amount_cents).otherwise(F.lit(1))
    pay_cents = (F.col("pay_amount") * c.CENTS).cast("long")
    # Integer division: a double quotient is inexact once cents × cents passes 2^53.
    with_shares = (
        placed.withColumn("_weight", weight)
        .withColumn("_weights", F.sum("_weight").over(order))
        .withColumn("_exact", pay_cents * F.col("_weight"))
        .withColumn("_floor", F.expr("_exact div _weights"))
        .withColumn("_remainder", F.expr("_exact % _weights"))
    )
    leftover_order = Window.partitionBy("order_key").orderBy(F.col("_remainder").desc(), F.col("line_no"))
    leftover = pay_cents - F.sum("_floor").over(order)
    allocated_cents = F.col("_floor") + F.when(F.row_number().over(leftover_order) <= leftover, 1).otherwise(0)
    paid = (allocated_cents.cast("decimal(20,0)") / c.CENTS).cast("decimal(18,2)")
    allocated = with_shares.withColumn("_paid", paid)
    sign = F.when(F.col("order_type") == c.ORDER_TYPE_RETURN, -1).otherwise(1)
    return allocated.select(
        "order_key", "line_no", "order_source", "order_id", "platform", "channel_id", "store_id", "order_type",
        "order_at", "order_date", "sku_id",
        (F.col("quantity") * sign).alias("quantity"),
        "unit_price",
        c.signed(F.col("line_amount"), F.col("order_type")).alias("line_amount"),
        c.signed(F.col("line_amount") - F.col("_paid"), F.col("order_type")).cast("decimal(18,2)").alias("allocated_discount"),
        c.signed(F.col("_paid"), F.col("order_type")).alias("paid_amount"),
        c.SOURCE_VERSION, c.SOURCE_DT,
    )
