"""cdm.fct_ecom_order_lifecycle: accumulating snapshot, one row per e-commerce order
(grain: order_key) with the moment of each milestone and the lags between them.

Each extract of an order is folded into its row: a milestone keeps the earliest time any
extract gave it and the status only moves forward. Folding is order-free and idempotent, so
extracts that arrive late, out of order or twice give the same row. The landing gives no time
for closing or refunding, so those are the business date of the first extract that showed them.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c
from models.ods.anomalies import FLAGS_COLUMN, AnomalyRule, nulled_unless

STATUS_RANK = {"created": 1, "paid": 2, "shipped": 3, "received": 4, "closed": 5, "refunded": 6}
MILESTONES = ("created_at", "paid_at", "shipped_at", "received_at", "closed_date", "refunded_date")
COLUMNS = (
    "order_key", "platform", "order_id", "channel_id", *MILESTONES, "order_status", "status_rank",
    "minutes_to_pay", "hours_to_ship", "hours_to_receive", "days_to_refund", "first_extract_dt", "last_extract_dt",
    FLAGS_COLUMN,
)
FOLDED = (
    "order_key", "platform", "order_id", *MILESTONES, "status_rank", "first_extract_dt", "last_extract_dt", FLAGS_COLUMN,
)


def _no_flags() -> Column:
    return F.array().cast("array<string>")


def _rank(status: Column) -> Column:
    mapping = F.create_map(*[F.lit(value) for pair in STATUS_RANK.items() for value in pair])
    return mapping[status]


def observations(ods_ecom_orders: DataFrame) -> DataFrame:
    """Every extracted version of every order as one observation of its milestones."""
    return ods_ecom_orders.select(
        c.ecom_order_key(F.col("platform"), F.col("order_id")).alias("order_key"),
        "platform",
        "order_id",
        "created_at",
        "paid_at",
        "shipped_at",
        "received_at",
        F.when(F.col("status") == "closed", F.col(c.ODS_DT)).alias("closed_date"),
        F.when(F.col("status") == "refunded", F.col(c.ODS_DT)).alias("refunded_date"),
        _rank(F.col("status")).alias("status_rank"),
        F.col(c.ODS_DT).alias("first_extract_dt"),
        F.col(c.ODS_DT).alias("last_extract_dt"),
        # ODS partitions loaded before the entity had flag rules have no flags column.
        (F.coalesce(F.col(FLAGS_COLUMN), _no_flags()) if FLAGS_COLUMN in ods_ecom_orders.columns else _no_flags())
        .alias(FLAGS_COLUMN),
    )


def build(ods_ecom_orders: DataFrame, existing: DataFrame | None, rules: tuple[AnomalyRule, ...] = ()) -> DataFrame:
    """The folded rows of every order in the extract.

    Args:
        ods_ecom_orders: one ``dt`` of ``ods.ecom_orders`` (all versions).
        existing: the current ``cdm.fct_ecom_order_lifecycle``; None before the first run.
        rules: the entity's anomaly rules: a lag a flag rule of any extract of the order
            lists in its ``nulls`` stays null (its milestones are kept as written).
    """
    seen = observations(ods_ecom_orders)
    if existing is not None:
        seen = seen.unionByName(
            existing.join(seen.select("order_key").distinct(), on="order_key", how="left_semi")
            .withColumn(FLAGS_COLUMN, F.coalesce(F.col(FLAGS_COLUMN), _no_flags())).select(*FOLDED)
        )
    folded = (
        seen
        .groupBy("order_key", "platform", "order_id")
        .agg(
            *[F.min(name).alias(name) for name in MILESTONES],
            F.max("status_rank").alias("status_rank"),
            F.min("first_extract_dt").alias("first_extract_dt"),
            F.max("last_extract_dt").alias("last_extract_dt"),
            F.array_sort(F.array_distinct(F.flatten(F.collect_list(FLAGS_COLUMN)))).alias(FLAGS_COLUMN),
        )
    )
    flags = F.col(FLAGS_COLUMN)
    status_of = F.create_map(*[F.lit(value) for pair in STATUS_RANK.items() for value in reversed(pair)])
    return folded.select(
        "order_key", "platform", "order_id",
        c.ecom_channel_id(F.col("platform")).alias("channel_id"),
        *MILESTONES,
        status_of[F.col("status_rank")].alias("order_status"),
        "status_rank",
        nulled_unless("minutes_to_pay", rules, flags, _lag_in(F.col("created_at"), F.col("paid_at"), 60))
        .alias("minutes_to_pay"),
        nulled_unless("hours_to_ship", rules, flags, _lag_in(F.col("paid_at"), F.col("shipped_at"), 3600))
        .alias("hours_to_ship"),
        nulled_unless("hours_to_receive", rules, flags, _lag_in(F.col("shipped_at"), F.col("received_at"), 3600))
        .alias("hours_to_receive"),
        nulled_unless("days_to_refund", rules, flags, F.datediff(F.col("refunded_date"), F.to_date("paid_at")))
        .alias("days_to_refund"),
        "first_extract_dt", "last_extract_dt", FLAGS_COLUMN,
    )


def _lag_in(start: Column, end: Column, seconds_per_unit: int) -> Column:
    seconds = F.unix_timestamp(end.cast("timestamp")) - F.unix_timestamp(start.cast("timestamp"))
    return F.round(seconds / seconds_per_unit, 2)
