"""ODS ingestion: one day's landing files of every entity into typed Delta tables.

Per entity: read the day's files → split records → type and check → audit (rows in = kept +
rejected, Great Expectations suite) → publish the table. A file that cannot be used fails its
entity only; the other entities still load. Rejects of every loaded entity are then published
in one write, and the load audit and suite results last.
"""

from __future__ import annotations

import functools
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.utils import AnalysisException

from jobs import cost, quality
from jobs.config import Catalog, Settings
from jobs.publish import Publisher, PublishValidationError, Replace
from models.ods import anomalies
from models.ods.contract import EntityContract
from models.ods.records import KIND_FILE, KIND_FILE_ERROR, KIND_FILE_WARNING, KIND_RECORD, split_records
from models.ods.typed_records import (
    REASON,
    accepted_rows,
    check_records,
    file_summary,
    rejected_rows,
    type_change_messages,
    type_changes,
    unparsed_examples,
)

STATUS_LOADED = "loaded"
STATUS_FAILED = "failed"
AUDIT_SCHEMA = T.StructType(
    [
        T.StructField("source", T.StringType(), False),
        T.StructField("entity", T.StringType(), False),
        T.StructField("files", T.LongType(), True),
        T.StructField("rows_in", T.LongType(), True),
        T.StructField("rows_kept", T.LongType(), True),
        T.StructField("rows_rejected", T.LongType(), True),
        T.StructField("status", T.StringType(), False),
        T.StructField("message", T.StringType(), True),
        T.StructField("warnings", T.ArrayType(T.StringType()), False),
        T.StructField("ingest_run_id", T.StringType(), False),
        # "<file>: <encoding>" per file read; added after the others, so existing audit
        # tables gain it on their next write (Replace.add_columns).
        T.StructField("encodings", T.ArrayType(T.StringType()), True),
        # Kept rows per anomaly flag rule of the entity.
        T.StructField("rows_flagged", T.MapType(T.StringType(), T.LongType()), True),
    ]
)


class EntityLoadError(Exception):
    """An entity's files could not be loaded; the message names the file and the problem."""


@dataclass
class EntityLoad:
    """What happened to one entity: its audit row, validation and the rejects to publish."""

    source: str
    entity: str
    files: int | None = None
    rows_in: int | None = None
    rows_kept: int | None = None
    rows_rejected: int | None = None
    status: str = STATUS_FAILED
    message: str | None = None
    warnings: list[str] = field(default_factory=list)
    encodings: list[str] = field(default_factory=list)
    # Kept rows per flag rule (conf/sources.yml anomalies).
    flagged: dict[str, int] = field(default_factory=dict)
    validation: quality.Validation | None = None
    checked: DataFrame | None = None
    rejects: DataFrame | None = None

    @property
    def table(self) -> str:
        return f"ods.{self.source}_{self.entity}"

    def audit_row(self, run_id: str) -> tuple:
        return (
            self.source, self.entity, self.files, self.rows_in, self.rows_kept, self.rows_rejected,
            self.status, self.message, self.warnings, run_id, self.encodings, self.flagged,
        )


def _day_files(spark: SparkSession, settings: Settings, contract: EntityContract, ds: date) -> DataFrame:
    folder = f"{settings.landing}/{contract.source}/{contract.entity}/dt={ds.isoformat()}"
    reader = spark.read.format("binaryFile").option("pathGlobFilter", f"*.{contract.format}")
    try:
        return reader.load(folder)
    except AnalysisException as error:
        if "PATH_NOT_FOUND" not in str(error):
            raise
        return spark.createDataFrame([], "path string, modificationTime timestamp, length long, content binary")


def _inspect_files(records: DataFrame, load: EntityLoad) -> None:
    """Fills the file count, encodings, warnings and rows in; one pass over the split records.

    Raises:
        EntityLoadError: any file of the entity is unusable.
    """
    tally = records.groupBy("kind", "message").count().collect()
    errors = sorted(row.message for row in tally if row.kind == KIND_FILE_ERROR)
    if errors:
        raise EntityLoadError("; ".join(errors))
    load.files = sum(row["count"] for row in tally if row.kind == KIND_FILE)
    load.encodings = sorted(row.message for row in tally if row.kind == KIND_FILE)
    load.warnings = sorted(row.message for row in tally if row.kind == KIND_FILE_WARNING)
    load.rows_in = sum(row["count"] for row in tally if row.kind == KIND_RECORD)


def ingest_entity(
    spark: SparkSession, settings: Settings, publisher: Publisher, contract: EntityContract, ds: date, run_id: str
) -> EntityLoad:
    """Loads and publishes one entity's day; its checked rows stay cached for the rejects.

    Raises:
        EntityLoadError: an unusable file, a failed suite, or counts that do not add up.
    """
    load = EntityLoad(contract.source, contract.entity)
    records = split_records(_day_files(spark, settings, contract, ds), contract)
    records = records.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        _inspect_files(records, load)
        checked = anomalies.apply(check_records(records, contract, ds, run_id), contract.anomalies, ds, REASON)
        checked = checked.persist(StorageLevel.MEMORY_AND_DISK)
        # Materializes the cache of checked rows before the split records are released.
        summary = file_summary(checked, contract).collect()
    finally:
        records.unpersist()
    try:
        changes = type_changes(summary, contract)
        if changes:
            examples = unparsed_examples(checked, changes).collect()
            raise EntityLoadError("; ".join(type_change_messages(changes, examples)))
        rows_checked = sum(row.checked for row in summary)
        load.rows_rejected = sum(row.rejected for row in summary)
        load.rows_kept = rows_checked - load.rows_rejected
        if rows_checked != load.rows_in:
            raise EntityLoadError(f"{load.table}: {load.rows_in} records split but {rows_checked} checked")
        try:
            # add_columns: a table gains anomaly_flags when its entity gets its first flag rule.
            kept = accepted_rows(checked, contract)
            written = publisher.publish(load.table, kept, Replace(dt_predicate(ds), add_columns=True)).load.rows
        except PublishValidationError as error:
            raise EntityLoadError(f"{error}; not published") from error
        finally:
            load.validation = next((v for v in publisher.validations if v.table_name == load.table), None)
        if written != load.rows_kept:
            raise EntityLoadError(f"{load.table}: {load.rows_kept} rows kept but {written} written")
        load.flagged = anomalies.flagged_counts(kept, contract.anomalies)
    except Exception:
        checked.unpersist()
        raise
    load.checked = checked
    load.rejects = rejected_rows(checked, contract)
    load.status = STATUS_LOADED
    return load


def dt_predicate(ds: date) -> str:
    return f"dt = DATE'{ds.isoformat()}'"


def run(
    spark: SparkSession,
    settings: Settings,
    catalog: Catalog,
    contracts: tuple[EntityContract, ...],
    ds: date,
    parallelism: int = 2,
    publisher: Publisher | None = None,
) -> list[EntityLoad]:
    """Ingests every entity of ``contracts`` for ``ds``, then rejects, audit and suite results.

    Entities load concurrently (``parallelism`` Spark jobs in flight): on a small day most of
    an entity's time is driver-side latency, which overlaps well. Failed entities are reported
    in their audit row and the caller decides the exit status.
    ``publisher`` keeps what each table cost, for the caller to report.
    """
    run_id = f"ods-{ds.isoformat()}-{uuid.uuid4().hex[:12]}"
    publisher = publisher or Publisher(spark, settings, catalog, "ods")

    def attempt(contract: EntityContract) -> EntityLoad:
        with cost.job_group(spark, f"ods/{contract.source}_{contract.entity}"):
            try:
                return ingest_entity(spark, settings, publisher, contract, ds, run_id)
            except EntityLoadError as error:
                return EntityLoad(contract.source, contract.entity, message=str(error))

    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="ods") as pool:
        loads = list(pool.map(attempt, contracts))
    loaded = [load for load in loads if load.status == STATUS_LOADED]
    try:
        _publish_rejects(publisher, ds, loaded)
    finally:
        for load in loaded:
            load.checked.unpersist()
    _publish_audit(spark, publisher, ds, run_id, loads)
    return loads


def _entity_predicate(loads: list[EntityLoad]) -> str:
    """The slice of a shared table these loads own; the ``source`` partition conjunct keeps
    concurrent loads of other sources out of Delta's conflict check."""
    sources = ", ".join(sorted({f"'{load.source}'" for load in loads}))
    entities = " OR ".join(f"(source = '{load.source}' AND entity = '{load.entity}')" for load in loads)
    return f"source IN ({sources}) AND ({entities})"


def _publish_rejects(publisher: Publisher, ds: date, loaded: list[EntityLoad]) -> None:
    if not loaded:
        return
    rejects = functools.reduce(DataFrame.unionByName, [load.rejects for load in loaded])
    predicate = f"{dt_predicate(ds)} AND ({_entity_predicate(loaded)})"
    written = publisher.publish("ods.rejects", rejects, Replace(predicate), validate=False).load.rows
    expected = sum(load.rows_rejected for load in loaded)
    if written != expected:
        raise RuntimeError(f"ods.rejects: {expected} rows rejected but {written} written")


def _publish_audit(spark: SparkSession, publisher: Publisher, ds: date, run_id: str, loads: list[EntityLoad]) -> None:
    audit = spark.createDataFrame([load.audit_row(run_id) for load in loads], AUDIT_SCHEMA)
    publisher.publish(
        "ods.load_audit", audit.withColumn("dt", F.lit(ds)),
        Replace(f"{dt_predicate(ds)} AND ({_entity_predicate(loads)})", add_columns=True), validate=False,
    )
    validated = [load for load in loads if load.validation is not None]
    if validated:
        results = [
            quality.results_frame(spark, [load.validation]).withColumn("source", F.lit(load.source))
            for load in validated
        ]
        names = ", ".join(f"'{load.table}'" for load in validated)
        sources = ", ".join(sorted({f"'{load.source}'" for load in validated}))
        publisher.publish(
            "ods.dq_results",
            functools.reduce(DataFrame.unionByName, results)
            .withColumn("ingest_run_id", F.lit(run_id))
            .withColumn("dt", F.lit(ds)),
            Replace(f"{dt_predicate(ds)} AND source IN ({sources}) AND table_name IN ({names})", add_columns=True),
            validate=False,
        )
