"""cdm.fct_points: the points ledger, one row per ledger entry (grain: ledger_id), with each
member's running balances after the entry.

Two balances, because the CRM's ledger mixes two currencies: base and bonus points are
spendable (``balance_after``), grade points (成长值) only count towards the member level and
are never redeemed (``grade_points_after``). One sum over both would show points a member
cannot spend.

A late entry changes the balances of every later entry of its member, so the day's entries are
folded into their members' whole ledgers and the balances of those members are derived again.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from models.cdm import common as c

SPENDABLE_POINTS_TYPES = ("base", "bonus")
GRADE_POINTS_TYPE = "grade"
BALANCE_AFTER, GRADE_POINTS_AFTER = "balance_after", "grade_points_after"
COLUMNS = (
    "ledger_id", "member_id", "txn_at", "txn_date", "points_type", "points_change", "reason", "order_id",
    "expire_at", BALANCE_AFTER, GRADE_POINTS_AFTER, c.SOURCE_VERSION, c.SOURCE_DT,
)


def build(ods_points: DataFrame, existing: DataFrame | None) -> DataFrame:
    """Every ledger row of the members the extract touches, with balances.

    Args:
        ods_points: one ``dt`` of ``ods.crm_points_ledger``.
        existing: the current ``cdm.fct_points``; None before the first run. When it has no
            ``grade_points_after`` yet, the rows of every member come back, balances corrected.
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
    if existing is not None:
        earlier = existing.drop(BALANCE_AFTER, GRADE_POINTS_AFTER)
        # A table written before grade points were kept apart has every member's balance_after
        # summing grade points too: once, every member is derived again, not only today's.
        if GRADE_POINTS_AFTER in existing.columns:
            earlier = earlier.join(incoming.select("member_id").distinct(), on="member_id", how="left_semi")
        incoming = earlier.unionByName(incoming)
    entries = c.newest_per_key(incoming, ["ledger_id"], F.col(c.SOURCE_VERSION))
    running = Window.partitionBy("member_id").orderBy("txn_at", "ledger_id").rowsBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    spendable = F.when(F.col("points_type").isin(*SPENDABLE_POINTS_TYPES), F.col("points_change")).otherwise(0)
    grade = F.when(F.col("points_type") == GRADE_POINTS_TYPE, F.col("points_change")).otherwise(0)
    return (
        entries.withColumn(BALANCE_AFTER, F.sum(spendable).over(running))
        .withColumn(GRADE_POINTS_AFTER, F.sum(grade).over(running))
        .select(*COLUMNS)
    )
