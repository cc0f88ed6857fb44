"""ads.member_lifecycle: one row per as-of date and one_id, prospects included, with the
lifecycle stage, the day that stage began, and the daily stage transitions.

Stage (SPEC section 4), checked in order on purchases up to as_of: none → prospect;
recency > churned_after_days → churned; recency > sleeping_after_days → sleeping; otherwise the
count tier of all purchases: below repeat_from_orders → new, below loyal_from_orders → repeat,
else loyal. Several purchases on one date count separately.

stage_since is the first day of the uninterrupted run of the current stage that ends on as_of,
derived from purchase history alone so that reruns and backfills give the same rows:
prospect → first_seen_date; sleeping → last purchase + sleeping_after_days + 1; churned → last
purchase + churned_after_days + 1; new/repeat/loyal → the latest purchase date that broke the
run. Between two purchase dates the count is constant and recency only grows, so an active run
can begin only on a purchase date: the first one, one whose purchases move the count to another
tier, or one reached after a gap that had made the customer sleeping or churned the day before
(days between it and the previous purchase date − 1 > sleeping_after_days).

A one_id exists from its first_seen_date: identities first seen after as_of are left out, so a
backfill over today's identities sees the population of its own day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

PROSPECT = "prospect"
NEW = "new"
REPEAT = "repeat"
LOYAL = "loyal"
SLEEPING = "sleeping"
CHURNED = "churned"
STAGES = (PROSPECT, NEW, REPEAT, LOYAL, SLEEPING, CHURNED)
# from_stage of a one_id first seen on the transition's day.
NO_STAGE = "none"

COLUMNS = (
    "ds", "one_id", "stage", "stage_since", "order_count", "first_order_date", "last_order_date", "recency_days",
)
TRANSITION_COLUMNS = ("ds", "from_stage", "to_stage", "one_ids")


@dataclass(frozen=True)
class LifecycleParams:
    """Stage thresholds; defaults from the seed documents (SPEC section 4)."""

    sleeping_after_days: int = 180
    churned_after_days: int = 365
    repeat_from_orders: int = 2
    loyal_from_orders: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.sleeping_after_days <= self.churned_after_days:
            raise ValueError(
                "need 0 <= sleeping_after_days <= churned_after_days, got "
                f"{self.sleeping_after_days} and {self.churned_after_days}"
            )
        if not 2 <= self.repeat_from_orders <= self.loyal_from_orders:
            raise ValueError(
                "need 2 <= repeat_from_orders <= loyal_from_orders, got "
                f"{self.repeat_from_orders} and {self.loyal_from_orders}"
            )


def build(orders: DataFrame, identities: DataFrame, as_of: date, params: LifecycleParams) -> DataFrame:
    """Lifecycle stage per one_id as of ``as_of``.

    Args:
        orders: the shared ``orders`` frame; only purchases up to ``as_of`` matter.
        identities: one row per one_id with its ``first_seen_date``.
        as_of: the business date.
        params: stage thresholds.

    Returns:
        One row per one_id of ``identities`` first seen by ``as_of``, columns ``COLUMNS``;
        order_count is 0 and the order dates and recency are null for prospects.
    """
    history = _purchase_history(orders, as_of, params)
    known = identities.where(F.col("first_seen_date") <= F.lit(as_of)).select("one_id", "first_seen_date")
    rows = known.join(history, on="one_id", how="left").select(
        "one_id",
        "first_seen_date",
        "active_since",
        F.coalesce(F.col("order_count"), F.lit(0).cast("bigint")).alias("order_count"),
        "first_order_date",
        "last_order_date",
        F.datediff(F.lit(as_of), F.col("last_order_date")).alias("recency_days"),
    )
    stage = _stage(F.col("last_order_date"), F.col("recency_days"), F.col("order_count"), params)
    return (
        rows.withColumn("stage", stage)
        .withColumn("stage_since", _stage_since(params))
        .withColumn("ds", F.lit(as_of))
        .select(*COLUMNS)
    )


def transitions(orders: DataFrame, identities: DataFrame, as_of: date, params: LifecycleParams) -> DataFrame:
    """How many one_ids moved from each stage on the day before ``as_of`` to each stage on it.

    Returns:
        One row per (from_stage, to_stage) pair that occurs, unchanged pairs included, with the
        count in ``one_ids``; from_stage is ``NO_STAGE`` for one_ids first seen on ``as_of``.
    """
    before = build(orders, identities, as_of - timedelta(days=1), params).select(
        "one_id", F.col("stage").alias("from_stage")
    )
    after = build(orders, identities, as_of, params).select("one_id", F.col("stage").alias("to_stage"))
    # Whoever existed the day before exists on as_of too, so the later day drives the join.
    return (
        after.join(before, on="one_id", how="left")
        .groupBy(F.coalesce(F.col("from_stage"), F.lit(NO_STAGE)).alias("from_stage"), "to_stage")
        .agg(F.count(F.lit(1)).alias("one_ids"))
        .withColumn("ds", F.lit(as_of))
        .select(*TRANSITION_COLUMNS)
    )


def _tier(order_count: Column, params: LifecycleParams) -> Column:
    """The stage purchases alone give an active customer (prospect for none)."""
    return (
        F.when(order_count >= params.loyal_from_orders, F.lit(LOYAL))
        .when(order_count >= params.repeat_from_orders, F.lit(REPEAT))
        .when(order_count >= 1, F.lit(NEW))
        .otherwise(F.lit(PROSPECT))
    )


def _stage(last_order_date: Column, recency_days: Column, order_count: Column, params: LifecycleParams) -> Column:
    return (
        F.when(last_order_date.isNull(), F.lit(PROSPECT))
        .when(recency_days > params.churned_after_days, F.lit(CHURNED))
        .when(recency_days > params.sleeping_after_days, F.lit(SLEEPING))
        .otherwise(_tier(order_count, params))
    )


def _purchase_history(orders: DataFrame, as_of: date, params: LifecycleParams) -> DataFrame:
    """Per one_id: purchase count, first and last purchase date, and the start of the latest
    active run (the last purchase date that broke the run)."""
    purchase_days = (
        orders.where(F.col("is_purchase") & (F.col("order_date") <= F.lit(as_of)))
        .groupBy("one_id", "order_date")
        .agg(F.count(F.lit(1)).alias("purchases"))
    )
    by_date = Window.partitionBy("one_id").orderBy("order_date")
    so_far = by_date.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    count_through = F.sum("purchases").over(so_far)
    marked = purchase_days.select(
        "one_id",
        "order_date",
        "purchases",
        (count_through - F.col("purchases")).alias("count_before"),
        count_through.alias("count_through"),
        F.lag("order_date").over(by_date).alias("previous_date"),
    )
    idle_days = F.datediff(F.col("order_date"), F.col("previous_date")) - 1
    # The tier of no purchases is prospect, so the first purchase date always breaks the run.
    breaks_run = (_tier(F.col("count_before"), params) != _tier(F.col("count_through"), params)) | (
        idle_days > params.sleeping_after_days
    )
    return marked.groupBy("one_id").agg(
        F.sum("purchases").alias("order_count"),
        F.min("order_date").alias("first_order_date"),
        F.max("order_date").alias("last_order_date"),
        F.max(F.when(breaks_run, F.col("order_date"))).alias("active_since"),
    )


def _stage_since(params: LifecycleParams) -> Column:
    stage = F.col("stage")
    return (
        F.when(stage == PROSPECT, F.col("first_seen_date"))
        .when(stage == SLEEPING, F.date_add(F.col("last_order_date"), params.sleeping_after_days + 1))
        .when(stage == CHURNED, F.date_add(F.col("last_order_date"), params.churned_after_days + 1))
        .otherwise(F.col("active_since"))
    )
