"""Compares ``ods.rejects`` with a generator's bad-row truth, entity by entity.

The demo ends with it: every bad row the generator planted must be rejected with exactly the
planted reason, and nothing else may be rejected.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.catalog import read_table
from jobs.config import Catalog, Settings

ROW_KEY = ("source", "entity", "dt", "source_file", "source_line")


@dataclass(frozen=True)
class RejectCheck:
    lines: list[str]
    mismatches: list[str]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def read_truth(spark: SparkSession, truth_dir: str) -> DataFrame:
    truth = spark.read.option("header", True).csv(f"{truth_dir}/bad_rows.csv")
    return truth.select(
        "source",
        "entity",
        F.to_date("dt").alias("dt"),
        F.col("file").alias("source_file"),
        F.col("line").cast("long").alias("source_line"),
        F.col("reason").alias("expected_reason"),
    )


def compare(truth: DataFrame, rejects: DataFrame, loaded: DataFrame) -> RejectCheck:
    """Joins planted and actual rejects on file and line and reports counts and differences.

    Args:
        truth: the planted bad rows (``read_truth``).
        rejects: ``ods.rejects``.
        loaded: (source, entity, dt) of the loads that ran; truth for other days is ignored.
    """
    truth = truth.join(loaded, on=["source", "entity", "dt"], how="left_semi")
    actual = rejects.select(*ROW_KEY, F.col("reason").alias("actual_reason"))
    joined = truth.join(actual, on=list(ROW_KEY), how="full_outer").cache()
    per_entity = (
        joined.groupBy("source", "entity")
        .agg(
            F.count("expected_reason").alias("planted"),
            F.count("actual_reason").alias("rejected"),
            F.count(F.when(F.col("expected_reason") == F.col("actual_reason"), 1)).alias("matching"),
        )
        .orderBy("source", "entity")
        .collect()
    )
    differences = (
        joined.where(~F.col("expected_reason").eqNullSafe(F.col("actual_reason")))
        .orderBy(*ROW_KEY)
        .limit(50)
        .collect()
    )
    joined.unpersist()
    header = f"{'entity':<22} {'planted':>8} {'rejected':>9} {'matching':>9}"
    lines = [header, "-" * len(header)]
    lines += [f"{r.source + '/' + r.entity:<22} {r.planted:>8} {r.rejected:>9} {r.matching:>9}" for r in per_entity]
    mismatches = [
        f"{r.source_file}:{r.source_line} planted={r.expected_reason!r} rejected={r.actual_reason!r}"
        for r in differences
    ]
    return RejectCheck(lines=lines, mismatches=mismatches)


def run(spark: SparkSession, settings: Settings, catalog: Catalog, truth_dir: str) -> RejectCheck:
    loaded = (
        read_table(spark, settings, catalog.table("ods.load_audit"))
        .where(F.col("status") == "loaded")
        .select("source", "entity", "dt")
    )
    return compare(read_truth(spark, truth_dir), read_table(spark, settings, catalog.table("ods.rejects")), loaded)
