"""ads.aipl_member and ads.aipl_summary: the AIPL funnel (Aware, Interested, Purchaser, Loyal),
one row per ds and one_id (grain: ds, one_id) and its summary, one row per ds and stage.

The four flags are measured independently over the trailing window; a member's stage is the
highest flag reached (L > P > I > A), so a buyer who never opened the mini program is still P.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

AWARE_EVENTS = ("page_view", "product_view", "share", "sign_in")
INTEREST_EVENTS = ("search", "add_cart", "favorite", "coupon_claim")
PRODUCT_VIEW = "product_view"

STAGE_NONE = "none"
# (stage, stage_order, flag), highest first: the first flag that holds names the stage.
STAGES = (
    ("L", 4, "is_loyal"),
    ("P", 3, "is_purchaser"),
    ("I", 2, "is_interested"),
    ("A", 1, "is_aware"),
)
STAGE_NONE_ORDER = 0

MEMBER_COLUMNS = ("ds", "one_id", "aipl_stage", "is_aware", "is_interested", "is_purchaser", "is_loyal")
SUMMARY_COLUMNS = ("ds", "stage", "stage_order", "members", "members_reached", "share")


@dataclass(frozen=True)
class Params:
    """Window and thresholds; loyal_top_share is the share of purchasers whose window net paid
    makes them loyal whatever their purchase count."""

    window_days: int = 90
    interest_min_product_views: int = 3
    loyal_min_purchases: int = 2
    loyal_top_share: float = 0.2

    def __post_init__(self) -> None:
        if self.window_days < 1:
            raise ValueError(f"window_days must be at least 1, got {self.window_days}")
        if not 0 < self.loyal_top_share <= 1:
            raise ValueError(f"loyal_top_share must be within (0, 1], got {self.loyal_top_share}")


def build_members(
    orders: DataFrame,
    events: DataFrame,
    followers: DataFrame,
    identities: DataFrame,
    as_of: date,
    params: Params = Params(),
) -> DataFrame:
    """The AIPL flags and stage of every identity.

    Args:
        orders: the ADS ``orders`` frame.
        events: the ADS ``events`` frame.
        followers: one_id of every identity following a WeChat account.
        identities: every one_id known at the run.
        as_of: the run date; later orders and events are ignored.
        params: window and thresholds.

    Returns:
        ``MEMBER_COLUMNS``; is_loyal needs is_purchaser: the top net paid share is taken among
        the purchasers (exact percentile, ties at the threshold included).
    """
    activity = _event_flags(
        events.where(_in_window(F.col("event_date"), as_of, params.window_days)), params.interest_min_product_views
    )
    following = followers.groupBy("one_id").agg(F.lit(True).alias("is_follower"))
    buying = _purchase_flags(orders.where(_in_window(F.col("order_date"), as_of, params.window_days)), params)
    flagged = (
        identities.select("one_id")
        .join(activity, on="one_id", how="left")
        .join(following, on="one_id", how="left")
        .join(buying, on="one_id", how="left")
        .select(
            "one_id",
            F.coalesce(F.col("is_aware_event") | F.col("is_follower"), F.lit(False)).alias("is_aware"),
            F.coalesce(F.col("is_interested"), F.lit(False)).alias("is_interested"),
            F.coalesce(F.col("is_purchaser"), F.lit(False)).alias("is_purchaser"),
            F.coalesce(F.col("is_loyal"), F.lit(False)).alias("is_loyal"),
        )
    )
    return flagged.select(F.lit(as_of).alias("ds"), "*", _stage().alias("aipl_stage")).select(*MEMBER_COLUMNS)


def summarize(members: DataFrame) -> DataFrame:
    """Members per stage of every ds in ``members``, all five stages present.

    Returns:
        ``SUMMARY_COLUMNS``: members at exactly this stage, members_reached at this stage or a
        higher one, share = members / all members of the ds (rounded to 4 places).
    """
    per_stage = members.groupBy("ds", F.col("aipl_stage").alias("stage")).agg(F.count(F.lit(1)).alias("members"))
    stage_orders = [(STAGE_NONE, STAGE_NONE_ORDER)] + [(stage, order) for stage, order, _ in STAGES]
    stages = [F.struct(F.lit(stage).alias("stage"), F.lit(order).alias("stage_order")) for stage, order in stage_orders]
    grid = members.groupBy("ds").agg(F.count(F.lit(1)).alias("total")).select("ds", "total", F.inline(F.array(*stages)))
    higher_or_same = Window.partitionBy("ds").orderBy(F.col("stage_order").desc()).rowsBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    return (
        grid.join(per_stage, on=["ds", "stage"], how="left")
        .withColumn("members", F.coalesce(F.col("members"), F.lit(0).cast("long")))
        .withColumn("members_reached", F.sum("members").over(higher_or_same))
        .withColumn("share", F.round(F.col("members") / F.col("total"), 4))
        .select(*SUMMARY_COLUMNS)
    )


def _in_window(day: Column, as_of: date, window_days: int) -> Column:
    return day.between(F.lit(as_of - timedelta(days=window_days - 1)), F.lit(as_of))


def _event_flags(events: DataFrame, interest_min_product_views: int) -> DataFrame:
    kind = F.col("event_type")
    product_views = F.count(F.when(kind == PRODUCT_VIEW, True))
    return events.groupBy("one_id").agg(
        F.bool_or(kind.isin(*AWARE_EVENTS)).alias("is_aware_event"),
        (F.bool_or(kind.isin(*INTEREST_EVENTS)) | (product_views >= interest_min_product_views)).alias("is_interested"),
    )


def _purchase_flags(orders: DataFrame, params: Params) -> DataFrame:
    """is_purchaser and is_loyal of every one_id with an order in the window."""
    per_buyer = orders.groupBy("one_id").agg(
        F.count(F.when(F.col("is_purchase"), True)).alias("purchases"),
        F.sum("net_paid_amount").alias("net_paid"),
    )
    purchasers = per_buyer.where(F.col("purchases") > 0)
    threshold = purchasers.agg(F.percentile(F.col("net_paid"), F.lit(1 - params.loyal_top_share)).alias("threshold"))
    is_loyal = (F.col("purchases") >= params.loyal_min_purchases) | (F.col("net_paid") >= F.col("threshold"))
    return purchasers.crossJoin(threshold).select(
        "one_id", F.lit(True).alias("is_purchaser"), is_loyal.alias("is_loyal")
    )


def _stage() -> Column:
    """The first stage of ``STAGES`` whose flag holds, else ``STAGE_NONE``."""
    stage = F.lit(STAGE_NONE)
    for name, _, flag in reversed(STAGES):
        stage = F.when(F.col(flag), F.lit(name)).otherwise(stage)
    return stage
