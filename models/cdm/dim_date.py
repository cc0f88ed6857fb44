"""cdm.dim_date: one row per calendar date (grain: date_key)."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ISO_WEEKEND = (6, 7)
COLUMNS = (
    "date_key", "calendar_date", "year", "quarter", "month", "year_month", "day_of_month", "day_of_week",
    "iso_week", "is_weekend", "is_month_end",
)


def build(anchor: DataFrame, start: date, end: date) -> DataFrame:
    """The calendar from ``start`` to ``end`` inclusive.

    Args:
        anchor: any one-row frame; the calendar is generated from it so the model needs no session.
    """
    days = anchor.limit(1).select(
        F.explode(F.sequence(F.lit(start), F.lit(end), F.expr("INTERVAL 1 DAY"))).alias("calendar_date")
    )
    day_of_week = F.weekday("calendar_date") + 1  # ISO: Monday 1 … Sunday 7
    return days.select(
        F.date_format("calendar_date", "yyyyMMdd").cast("int").alias("date_key"),
        "calendar_date",
        F.year("calendar_date").alias("year"),
        F.quarter("calendar_date").alias("quarter"),
        F.month("calendar_date").alias("month"),
        F.date_format("calendar_date", "yyyy-MM").alias("year_month"),
        F.dayofmonth("calendar_date").alias("day_of_month"),
        day_of_week.alias("day_of_week"),
        F.weekofyear("calendar_date").alias("iso_week"),
        day_of_week.isin(*ISO_WEEKEND).alias("is_weekend"),
        (F.last_day("calendar_date") == F.col("calendar_date")).alias("is_month_end"),
    ).select(*COLUMNS)
