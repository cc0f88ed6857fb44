"""The one publish path of every layer: validate, write, record.

A frame is persisted once, counted once, validated with its table's Great Expectations suite
and written from that same cache, so the suite and the write never recompute its lineage.
Every published table is validated before it replaces the old (write-audit-publish); a frame
that fails its suite is not written. Each publish records its rows, seconds, Spark jobs,
commits and suite runs, so a stage can say where its time went.

Independent tables can be published concurrently (``publish_all``): on a small day most of a
table's time is driver-side latency of Spark jobs and Delta commits, which overlaps well.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import catalog as tables
from jobs import cost, quality
from jobs.config import Catalog, Settings, TableSpec


class PublishValidationError(Exception):
    """A table's suite failed; the table was not published."""


@dataclass(frozen=True)
class Replace:
    """Replace the whole table, or only the rows of ``predicate`` (Delta replaceWhere)."""

    predicate: str | None = None
    add_columns: bool = False


@dataclass(frozen=True)
class Merge:
    """MERGE on the catalog's keys; see :func:`jobs.catalog.upsert` for the two columns."""

    newer_version_column: str | None = None
    action_column: str | None = None


@dataclass(frozen=True)
class TableLoad:
    """What publishing one table did and cost."""

    table: str
    rows: int
    inserted: int
    updated: int
    deleted: int
    seconds: float
    jobs: int
    commits: int
    suites: int


@dataclass(frozen=True)
class Published:
    load: TableLoad
    frame: DataFrame | None  # the cached frame when kept, for the steps that build on it


@dataclass(frozen=True)
class Publication:
    """A table to publish: its frame is built in the worker (``build``), after its inputs."""

    table: str
    build: Callable[[], DataFrame]
    write: Replace | Merge = field(default_factory=Replace)
    validate: bool = True
    keep: bool = False
    audit: Callable[[DataFrame], DataFrame] | None = None


class Publisher:
    """Publishes the tables of one stage run and keeps what each cost.

    Args:
        stage: the stage's name, the prefix of every table's Spark job group.
        progress: told of every table as soon as it is published (the CLI's progress lines).
    """

    def __init__(self, spark: SparkSession, settings: Settings, catalog: Catalog, stage: str,
                 progress: Callable[[TableLoad], None] | None = None):
        self.spark, self.settings, self.catalog, self.stage = spark, settings, catalog, stage
        self.progress = progress
        self.loads: list[TableLoad] = []
        self.validations: list[quality.Validation] = []
        # Failed warning-level expectations: recorded in the results, printed with the stage.
        self.warnings: list[str] = []
        self._lock = threading.Lock()

    def spec(self, table: str) -> TableSpec:
        return self.catalog.table(table)

    def publish(
        self,
        table: str,
        frame: DataFrame,
        write: Replace | Merge = Replace(),
        validate: bool = True,
        keep: bool = False,
        audit: Callable[[DataFrame], DataFrame] | None = None,
    ) -> Published:
        """Validates ``frame`` with the table's suite, then writes it.

        Args:
            validate: False only for the working tables that have no suite (OneID's links and
                sightings, a stage's own records).
            keep: return the published frame, still cached, for the steps that build on it
                (the caller unpersists it); otherwise it is released.
            audit: derives the frame the suite sees from the cached frame (CDM adds its
                reference-check columns); by default the suite sees the frame itself.

        Raises:
            PublishValidationError: the suite failed; nothing was written.
        """
        spec = self.spec(table)
        started = time.monotonic()
        with cost.job_group(self.spark, f"{self.stage}/{spec.qualified_name}") as jobs:
            staged = frame.persist(StorageLevel.MEMORY_AND_DISK)
            try:
                rows = staged.count()
                suites = self._validate(spec, audit(staged) if audit else staged, rows) if validate else 0
                counts = self._write(spec, staged, rows, write)
            except BaseException:
                staged.unpersist()
                raise
        load = TableLoad(spec.qualified_name, rows, counts.inserted, counts.updated, counts.deleted,
                         time.monotonic() - started, jobs.jobs, 1, suites)
        with self._lock:
            self.loads.append(load)
        if self.progress:
            self.progress(load)
        if keep:
            return Published(load, staged)
        staged.unpersist()
        return Published(load, None)

    def publish_all(self, publications: list[Publication]) -> dict[str, Published]:
        """Publishes independent tables concurrently; each frame is built in its worker.

        Every publication runs to its end before the first failure is raised, so one bad
        table never leaves another half-written.

        Returns:
            What each publication did, by table name.
        """

        def one(item: Publication) -> Published:
            return self.publish(item.table, item.build(), item.write, item.validate, item.keep, item.audit)

        workers = max(1, min(self.settings.publish_parallelism, len(publications)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"publish-{self.stage}") as pool:
            futures = [(item.table, pool.submit(one, item)) for item in publications]
        failures = [future.exception() for _, future in futures if future.exception() is not None]
        if failures:
            raise failures[0]
        return {table: future.result() for table, future in futures}

    def _validate(self, spec: TableSpec, frame: DataFrame, rows: int) -> int:
        engine = quality.PANDAS_ENGINE if rows <= self.settings.validation_pandas_max_rows else quality.SPARK_ENGINE
        with cost.VALIDATION_LOCK:
            validation = quality.validate(frame, spec.layer, spec.name, engine=engine)
        with self._lock:
            self.validations.append(validation)
            self.warnings += [f"{spec.qualified_name}: {warning}" for warning in validation.warnings()]
        if not validation.success:
            raise PublishValidationError(f"{spec.qualified_name} failed its suite: " + "; ".join(validation.failures()))
        return 1

    def _write(self, spec: TableSpec, staged: DataFrame, rows: int, write: Replace | Merge) -> tables.MergeCounts:
        if isinstance(write, Merge):
            return tables.upsert(self.spark, self.settings, spec, staged, write.newer_version_column, write.action_column)
        # A small frame keeps the few partitions its last shuffle left; one file per
        # ``rows_per_file`` rows keeps later reads from opening many tiny files.
        files = max(1, math.ceil(rows / self.settings.rows_per_file))
        tables.overwrite(self.spark, self.settings, spec, staged.coalesce(files), write.predicate, write.add_columns)
        return tables.MergeCounts(inserted=rows, updated=0, deleted=0)

    def publish_suite_results(self, table: str, partition_column: str, ds: date) -> None:
        """Replaces ``table``'s ``partition_column = ds`` slice with the results of every suite
        this publisher ran (nothing when none ran)."""
        if not self.validations:
            return
        results = quality.results_frame(self.spark, self.validations).withColumn(partition_column, F.lit(ds))
        self.publish(table, results, Replace(f"{partition_column} = DATE'{ds.isoformat()}'", add_columns=True),
                     validate=False)

    def totals(self) -> dict[str, float]:
        return {
            "tables": len(self.loads),
            "jobs": sum(load.jobs for load in self.loads),
            "commits": sum(load.commits for load in self.loads),
            "suites": sum(load.suites for load in self.loads),
        }
