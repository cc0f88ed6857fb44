"""The run ledger (``ops.stage_runs``): which stage of which business date ran, and how it ended.

Each day builds on the days before it (CDM merges, OneID's identities, the trailing windows of
ADS), so a failed or skipped day is a barrier: a stage does not run for ds while it failed,
was skipped or never ran for an earlier ds since the lakehouse's first recorded day, nor while
the stage it reads from failed for ds itself. The refusal names the day to rerun. A gap the
user intends (a shop closed for a week, a source switched off) is accepted explicitly and
recorded as such, so the next days run.

``cdp run`` (and so every DAG task) records one row per stage and scope when the stage ends:
the ODS stage has a scope per landing source, because the DAG loads sources in separate tasks.
A lakehouse without a ledger (made before it existed) has no barrier until its first record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs import catalog as tables
from jobs.config import Catalog, Settings

LEDGER = "ops.stage_runs"
SUCCEEDED, FAILED, SKIPPED, GAP_ACCEPTED = "succeeded", "failed", "skipped", "gap_accepted"
# The stage each stage reads from on the same ds.
UPSTREAM = {"cdm": "ods", "oneid": "cdm", "ads": "oneid", "publish": "ads"}
# Stages whose run replaces whole what the runs of earlier days left (the serving database): an
# earlier day they missed holds nothing back, so it is no barrier.
REPLACING_STAGES = frozenset({"publish"})
NO_SCOPE = ""
SCHEMA = T.StructType([
    T.StructField("ds", T.DateType(), False),
    T.StructField("stage", T.StringType(), False),
    T.StructField("scope", T.StringType(), False),
    T.StructField("status", T.StringType(), False),
    T.StructField("message", T.StringType(), True),
    T.StructField("run_finished_at", T.TimestampType(), False),
])


@dataclass(frozen=True)
class StageRecord:
    ds: date
    stage: str
    scope: str
    status: str
    message: str | None = None


class Ledger:
    """The latest status of every (ds, stage, scope), read once per ``cdp run`` and kept up to
    date by the records this process writes through ``write``."""

    def __init__(self, latest: dict[tuple[date, str, str], str], write: Callable[[list[StageRecord]], None]):
        self.latest, self._write = latest, write

    def blocker(self, stage: str, scopes: tuple[str, ...], ds: date, upstream_scopes: tuple[str, ...]) -> str | None:
        """Why ``stage`` (for ``scopes``) must not run for ``ds`` now, or None when it may.

        Args:
            upstream_scopes: the scopes of the stage it reads from that must have succeeded
                for ``ds`` (every landing source before the CDM).
        """
        for day, scope in self._unfinished_before(stage, scopes, ds):
            status = self.latest.get((day, stage, scope))
            return (f"{_named(stage, scope)} of {day} {status or 'never ran'}; rerun it first (cdp run --ds {day}), "
                    "or pass --allow-gap if the gap is intended")
        upstream = UPSTREAM.get(stage)
        # An upstream stage that this ledger never saw run is run some other way (a lakehouse
        # made before the ledger, a stage run by hand); only a tracked one can block.
        if upstream and any(name == upstream for _, name, _ in self.latest):
            missing = [scope for scope in upstream_scopes
                       if self.latest.get((ds, upstream, scope)) not in (SUCCEEDED, GAP_ACCEPTED)]
            if missing:
                what = ", ".join(_named(upstream, scope) for scope in missing)
                return f"{what} of {ds} has not succeeded; run it first (cdp run --ds {ds} --stage {upstream})"
        return None

    def gaps(self, stage: str, scopes: tuple[str, ...], ds: date) -> list[StageRecord]:
        """The records that accept every earlier day ``stage`` lacks a success for."""
        return [
            StageRecord(day, stage, scope, GAP_ACCEPTED, "gap accepted with --allow-gap")
            for day, scope in self._unfinished_before(stage, scopes, ds)
        ]

    def _unfinished_before(self, stage: str, scopes: tuple[str, ...], ds: date) -> list[tuple[date, str]]:
        """(day, scope) of every earlier day since the first recorded one that ``stage`` has
        neither succeeded for nor accepted as a gap, oldest first."""
        if not self.latest or stage in REPLACING_STAGES:
            return []
        first = min(day for day, _, _ in self.latest)
        return [(day, scope) for day in _days(first, ds) for scope in scopes
                if self.latest.get((day, stage, scope)) not in (SUCCEEDED, GAP_ACCEPTED)]

    def record(self, records: list[StageRecord]) -> None:
        if records:
            self._write(records)
            self.latest.update({(r.ds, r.stage, r.scope): r.status for r in records})


def open_ledger(spark: SparkSession, settings: Settings, catalog: Catalog) -> Ledger:
    """The lakehouse's ledger; records are appended in one commit per call (appends of
    concurrent DAG tasks never conflict)."""
    spec = catalog.table(LEDGER)
    frame = tables.read_table_if_exists(spark, settings, spec)
    latest = {} if frame is None else {(row.ds, row.stage, row.scope): row.status for row in _latest(frame).collect()}

    def write(records: list[StageRecord]) -> None:
        finished = datetime.now()
        rows = [(r.ds, r.stage, r.scope, r.status, r.message, finished) for r in records]
        tables.append(spark, settings, spec, spark.createDataFrame(rows, SCHEMA))

    return Ledger(latest, write)


def _latest(frame: DataFrame) -> DataFrame:
    newest = Window.partitionBy("ds", "stage", "scope").orderBy(F.col("run_finished_at").desc())
    return frame.withColumn("rank", F.row_number().over(newest)).where("rank = 1").select("ds", "stage", "scope", "status")


def _days(first: date, before: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((before - first).days)]


def _named(stage: str, scope: str) -> str:
    return f"{stage} ({scope})" if scope else stage
