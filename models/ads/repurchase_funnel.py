"""ads.repurchase_funnel: the continued purchase rate, one row per ds, channel and purchase
number n (grain: ds, channel, purchase_number) with how many buyers made an n-th purchase, how
many of them went on to an (n+1)-th, and how many days that took on average.

Channel ``all`` numbers every purchase of a buyer; each ``channel_group`` numbers only the
purchases made in it, so a buyer's second store purchase is n = 2 in ``store`` even when an
online order came between (an order of no known channel group counts under ``unknown``).
Purchases are numbered in time order, ties broken by order key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from models.cdm import common as c

CHANNEL_ALL = "all"

COLUMNS = ("ds", "channel", "purchase_number", "buyers", "buyers_next", "repurchase_rate", "avg_days_to_next")


@dataclass(frozen=True)
class Params:
    """max_purchases: the last n reported; window_days: trailing window, None for all history."""

    max_purchases: int = 10
    window_days: int | None = None

    def __post_init__(self) -> None:
        if self.max_purchases < 1:
            raise ValueError(f"max_purchases must be at least 1, got {self.max_purchases}")
        if self.window_days is not None and self.window_days < 1:
            raise ValueError(f"window_days must be at least 1, got {self.window_days}")


def build(orders: DataFrame, as_of: date, params: Params = Params()) -> DataFrame:
    """Repurchase funnel rows for every purchase number some buyer reached (up to max_purchases).

    Args:
        orders: the ADS ``orders`` frame.
        as_of: the run date; later orders are ignored.
        params: funnel depth and window.

    Returns:
        ``COLUMNS``; repurchase_rate and avg_days_to_next are rounded to 4 and 1 places,
        avg_days_to_next (calendar days between order dates) is null when nobody went on.
    """
    numbered = _numbered(_channel_purchases(orders, as_of, params.window_days))
    goes_on = F.col("next_order_date").isNotNull()
    return (
        numbered.where(F.col("purchase_number") <= params.max_purchases)
        .groupBy("channel", "purchase_number")
        .agg(
            F.count(F.lit(1)).alias("buyers"),
            F.count(F.when(goes_on, True)).alias("buyers_next"),
            F.avg(F.datediff(F.col("next_order_date"), F.col("order_date"))).alias("days_to_next"),
        )
        .withColumn("ds", F.lit(as_of))
        .withColumn("repurchase_rate", F.round(F.col("buyers_next") / F.col("buyers"), 4))
        .withColumn("avg_days_to_next", F.round(F.col("days_to_next"), 1))
        .select(*COLUMNS)
    )


def _channel_purchases(orders: DataFrame, as_of: date, window_days: int | None) -> DataFrame:
    """Each purchase twice: once under channel ``all`` and once under its channel group."""
    held = F.col("is_purchase") & (F.col("order_date") <= F.lit(as_of))
    if window_days is not None:
        held = held & (F.col("order_date") > F.lit(as_of - timedelta(days=window_days)))
    purchases = orders.where(held).select("one_id", "order_key", "order_at", "order_date", "channel_group")
    return purchases.withColumn("channel", F.lit(CHANNEL_ALL)).unionByName(
        purchases.withColumn("channel", F.coalesce(F.col("channel_group"), F.lit(c.UNKNOWN_KEY)))
    )


def _numbered(purchases: DataFrame) -> DataFrame:
    """purchase_number (1 = first) and the date of the buyer's next purchase in the same channel."""
    in_time = Window.partitionBy("channel", "one_id").orderBy("order_at", "order_key")
    return purchases.select(
        "channel",
        "order_date",
        F.row_number().over(in_time).alias("purchase_number"),
        F.lead("order_date").over(in_time).alias("next_order_date"),
    )
