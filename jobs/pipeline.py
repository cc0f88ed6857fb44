"""The daily pipeline's stages in order; `cdp run` and the Airflow DAG both read this list."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Callable, Iterator

from pyspark.sql import SparkSession

from jobs import build_ads, build_cdm, build_oneid, cost, ingest_ods
from jobs.config import Catalog, Settings, load_contracts
from jobs.publish import Publisher, TableLoad
from jobs.serving import publish as serving


@dataclass(frozen=True)
class StageCost:
    """Where a stage's time went: wall seconds, Spark jobs, Delta commits, suite runs, the
    driver's peak memory, and the same per published table."""

    seconds: float
    jobs: int
    commits: int
    suites: int
    peak_mib: int | None
    tables: list[TableLoad] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        header = f"{'cost of table':<30} {'rows':>9} {'seconds':>8} {'jobs':>5} {'commits':>7} {'suites':>6}"
        rows = [
            f"{load.table:<30} {load.rows:>9} {load.seconds:>8.1f} {load.jobs:>5} {load.commits:>7} {load.suites:>6}"
            for load in self.tables
        ]
        overhead = self.seconds / len(self.tables) if self.tables else 0.0
        return [header, *rows, (
            f"stage: {self.seconds:.1f}s, {len(self.tables)} tables, {self.jobs} Spark jobs, {self.commits} commits, "
            f"{self.suites} suites, {overhead:.2f}s per table, driver peak "
            f"{'-' if self.peak_mib is None else f'{self.peak_mib} MiB'}"
        )]


@dataclass(frozen=True)
class StageResult:
    """How a stage ended; ``parts`` says which of its parts succeeded where a stage has parts
    that run on their own (the ODS stage's landing sources)."""

    stage: str
    ok: bool
    lines: list[str]
    cost: StageCost | None = None
    parts: dict[str, bool] = field(default_factory=dict)


class Measurement:
    """What :func:`measuring` hands its block: the stage's publisher, then, after the block,
    the stage's cost."""

    def __init__(self, publisher: Publisher):
        self.publisher = publisher
        self.cost: StageCost | None = None


@contextlib.contextmanager
def measuring(spark: SparkSession, settings: Settings, catalog: Catalog, stage: str,
              progress: Callable[[TableLoad], None] | None = None) -> Iterator[Measurement]:
    """Runs a block as ``stage`` under its own Spark job group with a publisher of its own,
    and records what it cost (also when the block raises)."""
    measurement = Measurement(Publisher(spark, settings, catalog, stage, progress))
    memory = cost.PeakMemory(spark)
    memory.reset()
    started, jobs_before = time.monotonic(), cost.jobs_started(spark)
    try:
        with cost.job_group(spark, stage):
            yield measurement
    finally:
        totals = measurement.publisher.totals()
        measurement.cost = StageCost(
            seconds=round(time.monotonic() - started, 2), jobs=cost.jobs_started(spark) - jobs_before,
            commits=int(totals["commits"]), suites=int(totals["suites"]), peak_mib=memory.peak_mib(),
            tables=list(measurement.publisher.loads),
        )


def measured(stage: Callable[..., StageResult]) -> Callable[..., StageResult]:
    """Runs a stage under :func:`measuring` and attaches what it cost to its result."""

    def run(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date,
            progress: Callable[[TableLoad], None] | None = None, **kwargs) -> StageResult:
        name = stage.__name__.removeprefix("run_")
        with measuring(spark, settings, catalog, name, progress) as measurement:
            try:
                result = stage(spark, settings, catalog, ds, publisher=measurement.publisher, **kwargs)
            except Exception as error:  # noqa: BLE001 (any error is the stage's failure, reported)
                result = StageResult(name, False, [f"FAILED {name}: {failure_reason(error)}"])
        warnings = [f"warning: {warning}" for warning in measurement.publisher.warnings]
        return StageResult(result.stage, result.ok, result.lines + warnings, measurement.cost, result.parts)

    run.__name__, run.__doc__ = stage.__name__, stage.__doc__
    return run


@measured
def run_ods(
    spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, sources: tuple[str, ...] = (),
    publisher: Publisher | None = None,
) -> StageResult:
    """Ingests the day's landing files; ``sources`` narrows the run to those sources."""
    if unknown := unknown_sources(sources):
        raise ValueError(unknown)
    contracts = tuple(c for c in load_contracts() if not sources or c.source in sources)
    loads = ingest_ods.run(spark, settings, catalog, contracts, ds, parallelism=settings.ods_parallelism,
                           publisher=publisher)
    header = f"{'table':<24} {'files':>5} {'rows_in':>9} {'kept':>9} {'rejected':>9}  status"
    lines = [header, "-" * len(header)]
    for load in loads:
        lines.append(
            f"{load.table:<24} {_count(load.files):>5} {_count(load.rows_in):>9} {_count(load.rows_kept):>9} "
            f"{_count(load.rows_rejected):>9}  {load.status}"
        )
    lines += [f"warning: {warning}" for load in loads for warning in load.warnings]
    lines += [f"FAILED {load.table}: {load.message}" for load in loads if load.status != ingest_ods.STATUS_LOADED]
    parts = {
        source: all(load.status == ingest_ods.STATUS_LOADED for load in loads if load.source == source)
        for source in sorted({load.source for load in loads})
    }
    return StageResult("ods", all(parts.values()), lines, parts=parts)


TRACEBACK_VARIABLE = "CDP_TRACEBACK"
# A JVM error's message carries its whole Java stack; the reason a user reads is its first lines.
REASON_MAX_CHARS = 600


def failure_reason(error: Exception) -> str:
    """What went wrong, in a line or two a user can act on; the traceback goes to stderr only
    when ``CDP_TRACEBACK=1`` asks for it (a traceback is for the developer, not the report)."""
    if os.environ.get(TRACEBACK_VARIABLE) == "1":
        traceback.print_exception(error, file=sys.stderr)
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    summary = " ".join(lines[:3]) or "(no message)"
    if len(summary) > REASON_MAX_CHARS:
        summary = summary[:REASON_MAX_CHARS] + " …"
    return f"{type(error).__name__}: {summary} (set {TRACEBACK_VARIABLE}=1 for the traceback)"


def unknown_sources(sources: tuple[str, ...] | list[str]) -> str | None:
    """What is wrong with ``sources`` when some are not in the landing contract, else None."""
    known = {contract.source for contract in load_contracts()}
    unknown = sorted(set(sources) - known)
    return f"unknown source(s) {unknown}; conf/sources.yml has {sorted(known)}" if unknown else None


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


@measured
def run_cdm(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date,
            publisher: Publisher | None = None) -> StageResult:
    """Merges the day's ODS partitions into the CDM dimensions and facts."""
    result = build_cdm.run(spark, settings, catalog, ds, publisher=publisher)
    header = f"{'table':<30} {'inserted':>9} {'updated':>9} {'deleted':>8} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    for load in result.loads:
        lines.append(
            f"{load.table:<30} {load.inserted:>9} {load.updated:>9} {load.deleted:>8} {load.seconds:>8.1f}"
        )
    lines += [f"warning: {warning}" for warning in result.warnings]
    if result.failure:
        lines.append(f"FAILED {result.failure}")
    return StageResult("cdm", result.failure is None, lines)


@measured
def run_oneid(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, mode: str = build_oneid.INCREMENTAL,
              from_scratch: bool = False, publisher: Publisher | None = None) -> StageResult:
    """Resolves the day's identity evidence into stable one_ids."""
    result = build_oneid.run(spark, settings, catalog, ds, mode=mode, from_scratch=from_scratch, publisher=publisher)
    lines = [_oneid_figures(result)]
    lines += [f"replayed {day} (its identities rest on {ds}): {_oneid_figures(replay)}" for day, replay in result.replayed]
    if result.replayed:
        days = ", ".join(str(day) for day, _ in result.replayed)
        lines.append(f"ADS of {days} read the identities from before: rerun them (cdp run --ds D --stage ads)")
    if result.failure:
        lines.append(f"FAILED {result.failure}")
    return StageResult("oneid", result.failure is None, lines)


def _oneid_figures(result: build_oneid.OneidResult) -> str:
    return f"mode {result.mode}: " + ", ".join(f"{name} {value}" for name, value in result.figures.items())


@measured
def run_ads(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date,
            publisher: Publisher | None = None) -> StageResult:
    """RFM, lifecycle, analyses, the purchase model, tags and segments per one_id."""
    result = build_ads.run(spark, settings, catalog, ds, publisher=publisher)
    lines = [", ".join(f"{name} {value}" for name, value in result.figures.items())]
    if result.failure:
        lines.append(f"FAILED {result.failure}")
    return StageResult("ads", result.failure is None, lines)


@measured
def run_publish(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date,
                publisher: Publisher | None = None) -> StageResult:
    """Swaps the day's OneID and ADS tables into the serving PostgreSQL, all in one transaction."""
    result = serving.run(spark, settings, catalog, ds, publisher=publisher)
    if result.newer_served:
        return StageResult("publish", True, [f"the serving tables hold {result.newer_served}, newer: left as they are"])
    rows = sum(load.rows for load in result.tables)
    return StageResult("publish", True, [f"{len(result.tables)} serving tables of {ds} swapped in, {rows} rows"])


STAGES = {"ods": run_ods, "cdm": run_cdm, "oneid": run_oneid, "ads": run_ads, "publish": run_publish}
