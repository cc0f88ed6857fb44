"""ads.retention_cohort: monthly purchase retention, one row per ds, cohort month and months
since (grain: ds, cohort_month, months_since).

A buyer's cohort is the calendar month of their first purchase over all history and channels;
they are retained in month k when they purchased at least once in cohort month + k. Every
(cohort, k) cell up to the as-of month is present, zeros included, so a month nobody came back
reads 0 rather than missing. A calendar month in which nobody made a first purchase has no
cohort.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

COLUMNS = (
    "ds", "cohort_month", "months_since", "cohort_buyers", "retained_buyers", "retention_rate", "is_partial_month",
)


@dataclass(frozen=True)
class Params:
    """cohort_months: how many cohorts are reported, the as-of month's included."""

    cohort_months: int = 24

    def __post_init__(self) -> None:
        if self.cohort_months < 1:
            raise ValueError(f"cohort_months must be at least 1, got {self.cohort_months}")


def build(orders: DataFrame, as_of: date, params: Params = Params()) -> DataFrame:
    """Retention of the last ``cohort_months`` cohorts, month by month up to as_of's month.

    Args:
        orders: the ADS ``orders`` frame.
        as_of: the run date; later orders are ignored.
        params: how many cohorts.

    Returns:
        ``COLUMNS``; cohort_month is the first of the month, retention_rate is rounded to 4
        places, is_partial_month marks as_of's own month when as_of is not its last day.
    """
    as_of_month = as_of.replace(day=1)
    buyer_months = _buyer_months(orders, as_of)
    cohorts = (
        buyer_months.groupBy("one_id")
        .agg(F.min("purchase_month").alias("cohort_month"))
        .where(_month_index(F.col("cohort_month")) > _month_index(F.lit(as_of_month)) - params.cohort_months)
    )
    months_since = _month_index(F.col("purchase_month")) - _month_index(F.col("cohort_month"))
    retained = (
        buyer_months.join(cohorts, on="one_id", how="inner")
        .groupBy("cohort_month", months_since.alias("months_since"))
        .agg(F.count(F.lit(1)).alias("retained_buyers"))
    )
    partial = F.lit(as_of.day != calendar.monthrange(as_of.year, as_of.month)[1])
    return (
        _cells(cohorts, as_of_month)
        .join(retained, on=["cohort_month", "months_since"], how="left")
        .select(
            F.lit(as_of).alias("ds"),
            "cohort_month",
            "months_since",
            "cohort_buyers",
            F.coalesce(F.col("retained_buyers"), F.lit(0).cast("long")).alias("retained_buyers"),
            F.round(F.coalesce(F.col("retained_buyers"), F.lit(0)) / F.col("cohort_buyers"), 4).alias("retention_rate"),
            (F.col("is_as_of_month") & partial).alias("is_partial_month"),
        )
        .select(*COLUMNS)
    )


def _buyer_months(orders: DataFrame, as_of: date) -> DataFrame:
    """One row per one_id and calendar month (first of the month) with a purchase."""
    return (
        orders.where(F.col("is_purchase") & (F.col("order_date") <= F.lit(as_of)))
        .select("one_id", F.trunc("order_date", "month").alias("purchase_month"))
        .distinct()
    )


def _cells(cohorts: DataFrame, as_of_month: date) -> DataFrame:
    """Every (cohort_month, months_since) from k = 0 to as_of's month, with the cohort size."""
    months_to_as_of = _month_index(F.lit(as_of_month)) - _month_index(F.col("cohort_month"))
    return (
        cohorts.groupBy("cohort_month")
        .agg(F.count(F.lit(1)).alias("cohort_buyers"))
        .withColumn("months_since", F.explode(F.sequence(F.lit(0), months_to_as_of)))
        .withColumn("is_as_of_month", F.col("months_since") == months_to_as_of)
    )


def _month_index(month: Column) -> Column:
    """Months since year 0, so that month differences are plain integer subtraction."""
    return F.year(month) * 12 + F.month(month) - 1

