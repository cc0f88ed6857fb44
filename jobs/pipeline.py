"""The daily pipeline's stages in order; `cdp run` and the Airflow DAG both read this list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import SparkSession

from jobs import build_ads, build_cdm, build_oneid, ingest_ods
from jobs.config import Catalog, Settings, load_contracts


@dataclass(frozen=True)
class StageResult:
    stage: str
    ok: bool
    lines: list[str]


def run_ods(
    spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, sources: tuple[str, ...] = ()
) -> StageResult:
    """Ingests the day's landing files; ``sources`` narrows the run to those sources."""
    contracts = tuple(c for c in load_contracts() if not sources or c.source in sources)
    unknown = set(sources) - {c.source for c in load_contracts()}
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; conf/sources.yml has {sorted({c.source for c in load_contracts()})}")
    loads = ingest_ods.run(spark, settings, catalog, contracts, ds, parallelism=settings.ods_parallelism)
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


def run_cdm(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date) -> StageResult:
    """Merges the day's ODS partitions into the CDM dimensions and facts."""
    result = build_cdm.run(spark, settings, catalog, ds)
    header = f"{'table':<30} {'inserted':>9} {'updated':>9} {'deleted':>8} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    for load in result.loads:
        lines.append(
            f"{load.table:<30} {load.inserted:>9} {load.updated:>9} {load.deleted:>8} {load.seconds:>8.1f}"
        )
    if result.failure:
        lines.append(f"FAILED {result.failure}")
    return StageResult("cdm", result.failure is None, lines)


def run_oneid(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, mode: str = build_oneid.INCREMENTAL,
              from_scratch: bool = False) -> StageResult:
    """Resolves the day's identity evidence into stable one_ids."""
    result = build_oneid.run(spark, settings, catalog, ds, mode=mode, from_scratch=from_scratch)
    header = f"{'table':<30} {'rows':>9} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    lines += [f"{table:<30} {rows:>9} {seconds:>8.1f}" for table, rows, seconds in result.loads]
    lines.append(f"mode {result.mode}: " + ", ".join(f"{name} {value}" for name, value in result.figures.items()))
    if result.failure:
        lines.append(f"FAILED {result.failure}")
    return StageResult("oneid", result.failure is None, lines)


def run_ads(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date) -> StageResult:
    """RFM, lifecycle, analyses, the purchase model, tags and segments per one_id."""
    result = build_ads.run(spark, settings, catalog, ds)
    header = f"{'table':<30} {'rows':>9} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    lines += [f"{table:<30} {rows:>9} {seconds:>8.1f}" for table, rows, seconds in result.loads]
    lines.append(", ".join(f"{name} {value}" for name, value in result.figures.items()))
    if result.failure:
        lines.append(f"FAILED {result.failure}")
    return StageResult("ads", result.failure is None, lines)


STAGES = {"ods": run_ods, "cdm": run_cdm, "oneid": run_oneid, "ads": run_ads}
