"""The daily pipeline's stages in order; `cdp run` and the Airflow DAG both read this list."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Callable

from pyspark.sql import SparkSession

from jobs import build_ads, build_cdm, build_oneid, cost, ingest_ods
from jobs.config import Catalog, Settings, load_contracts
from jobs.publish import Publisher, TableLoad


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
    stage: str
    ok: bool
    lines: list[str]
    cost: StageCost | None = None


def measured(stage: Callable[..., StageResult]) -> Callable[..., StageResult]:
    """Runs a stage under its own Spark job group with a publisher of its own, and attaches
    what it cost to its result."""

    def run(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date,
            progress: Callable[[TableLoad], None] | None = None, **kwargs) -> StageResult:
        publisher = Publisher(spark, settings, catalog, stage.__name__.removeprefix("run_"), progress)
        memory = cost.PeakMemory(spark)
        memory.reset()
        started, jobs_before = time.monotonic(), cost.jobs_started(spark)
        with cost.job_group(spark, publisher.stage):
            result = stage(spark, settings, catalog, ds, publisher=publisher, **kwargs)
        totals = publisher.totals()
        spent = StageCost(
            seconds=round(time.monotonic() - started, 2), jobs=cost.jobs_started(spark) - jobs_before,
            commits=int(totals["commits"]), suites=int(totals["suites"]), peak_mib=memory.peak_mib(),
            tables=list(publisher.loads),
        )
        return StageResult(result.stage, result.ok, result.lines, spent)

    run.__name__, run.__doc__ = stage.__name__, stage.__doc__
    return run


@measured
def run_ods(
    spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, sources: tuple[str, ...] = (),
    publisher: Publisher | None = None,
) -> StageResult:
    """Ingests the day's landing files; ``sources`` narrows the run to those sources."""
    contracts = tuple(c for c in load_contracts() if not sources or c.source in sources)
    unknown = set(sources) - {c.source for c in load_contracts()}
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; conf/sources.yml has {sorted({c.source for c in load_contracts()})}")
    loads = ingest_ods.run(spark, settings, catalog, contracts, ds, parallelism=settings.ods_parallelism,
                           publisher=publisher)
    header = f"{'table':<24} {'files':>5} {'rows_in':>9} {'kept':>9} {'rejected':>9}  status"
    lines = [header, "-" * len(header)]
    for load in loads:
        lines.append(
            f"{load.table:<24} {load.files:>5} {_count(load.rows_in):>9} {_count(load.rows_kept):>9} "
            f"{_count(load.rows_rejected):>9}  {load.status}"
        )
    lines += [f"warning: {warning}" for load in loads for warning in load.warnings]
    lines += [f"FAILED {load.table}: {load.message}" for load in loads if load.status != ingest_ods.STATUS_LOADED]
    return StageResult("ods", all(load.status == ingest_ods.STATUS_LOADED for load in loads), lines)


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
    if result.failure:
        lines.append(f"FAILED {result.failure}")
    return StageResult("cdm", result.failure is None, lines)


@measured
def run_oneid(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, mode: str = build_oneid.INCREMENTAL,
              from_scratch: bool = False, publisher: Publisher | None = None) -> StageResult:
    """Resolves the day's identity evidence into stable one_ids."""
    result = build_oneid.run(spark, settings, catalog, ds, mode=mode, from_scratch=from_scratch, publisher=publisher)
    lines = [f"mode {result.mode}: " + ", ".join(f"{name} {value}" for name, value in result.figures.items())]
    if result.failure:
        lines.append(f"FAILED {result.failure}")
    return StageResult("oneid", result.failure is None, lines)


@measured
def run_ads(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date,
            publisher: Publisher | None = None) -> StageResult:
    """RFM, lifecycle, analyses, the purchase model, tags and segments per one_id."""
    result = build_ads.run(spark, settings, catalog, ds, publisher=publisher)
    lines = [", ".join(f"{name} {value}" for name, value in result.figures.items())]
    if result.failure:
        lines.append(f"FAILED {result.failure}")
    return StageResult("ads", result.failure is None, lines)


STAGES = {"ods": run_ods, "cdm": run_cdm, "oneid": run_oneid, "ads": run_ads}
