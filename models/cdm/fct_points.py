"""cdm.fct_points: the points ledger, one row per ledger entry (grain: ledger_id), with each
member's running balance after the entry.

A late entry changes the balance of every later entry of its member, so the day's entries are
folded into their members' whole ledgers and the balances of those members are derived again.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from models.cdm import common as c

COLUMNS = (
    "ledger_id", "member_id", "txn_at", "txn_date", "points_type", "points_change", "reason", "order_id",
    "expire_at", "balance_after", c.SOURCE_VERSION, c.SOURCE_DT,
)


def build(ods_points: DataFrame, existing: DataFrame | None) -> DataFrame:
    """Every ledger row of the members the extract touches, with balances.

    Args:
        ods_points: one ``dt`` of ``ods.crm_points_ledger``.
        existing: the current ``cdm.fct_points``; None before the first run.
    """
    incoming = ods_points.select(
        "ledger_id",
        c.trimmed("member_id").alias("member_id"),
        F.col("txn_time").alias("txn_at"),
        F.to_date("txn_time").alias("txn_date"),
        "points_type",
        F.col("change").alias("points_change"),
        "reason",
        c.trimmed("order_id").alias("order_id"),
        "expire_at",
        c.source_version().alias(c.SOURCE_VERSION),
        F.col(c.ODS_DT).alias(c.SOURCE_DT),
    )
    touched = incoming.select("member_id").distinct()
    if existing is not None:
        incoming = existing.join(touched, on="member_id", how="left_semi").drop("balance_after").unionByName(incoming)
    entries = c.newest_per_key(incoming, ["ledger_id"], F.col(c.SOURCE_VERSION))
    running = Window.partitionBy("member_id").orderBy("txn_at", "ledger_id").rowsBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    return entries.withColumn("balance_after", F.sum("points_change").over(running)).select(*COLUMNS)
