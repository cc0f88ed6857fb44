"""ODS ingestion: one day's landing files of every entity into typed Delta tables.

Per entity: read the day's files → split records → type and check → audit (rows in = kept +
rejected, Great Expectations suite) → publish table and rejects. A file that cannot be used
fails its entity only; the other entities still load.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.utils import AnalysisException

from jobs import catalog as tables
from jobs import quality
from jobs.config import Catalog, Settings
from models.ods.contract import EntityContract
from models.ods.records import KIND_FILE_ERROR, KIND_FILE_WARNING, KIND_RECORD, split_records
from models.ods.typed_records import accepted_rows, check_records, rejected_rows

STATUS_LOADED = "loaded"
STATUS_FAILED = "failed"
AUDIT_SCHEMA = T.StructType(
    [
        T.StructField("source", T.StringType(), False),
        T.StructField("entity", T.StringType(), False),
        T.StructField("files", T.LongType(), False),
        T.StructField("rows_in", T.LongType(), True),
        T.StructField("rows_kept", T.LongType(), True),
        T.StructField("rows_rejected", T.LongType(), True),
        T.StructField("status", T.StringType(), False),
        T.StructField("message", T.StringType(), True),
        T.StructField("warnings", T.ArrayType(T.StringType()), False),
        T.StructField("ingest_run_id", T.StringType(), False),
    ]
)


class EntityLoadError(Exception):
    """An entity's files could not be loaded; the message names the file and the problem."""


@dataclass
class EntityLoad:
    source: str
    entity: str
    files: int = 0
    rows_in: int | None = None
    rows_kept: int | None = None
    rows_rejected: int | None = None
    status: str = STATUS_FAILED
    message: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def table(self) -> str:
        return f"ods.{self.source}_{self.entity}"


def _day_files(spark: SparkSession, settings: Settings, contract: EntityContract, ds: date) -> DataFrame:
    folder = f"{settings.landing}/{contract.source}/{contract.entity}/dt={ds.isoformat()}"
    reader = spark.read.format("binaryFile").option("pathGlobFilter", f"*.{contract.format}")
    try:
        return reader.load(folder)
    except AnalysisException as error:
        if "PATH_NOT_FOUND" not in str(error) and "Path does not exist" not in str(error):
            raise
        return spark.createDataFrame([], "path string, modificationTime timestamp, length long, content binary")


def ingest_entity(
    spark: SparkSession, settings: Settings, catalog: Catalog, contract: EntityContract, ds: date, run_id: str
) -> tuple[EntityLoad, quality.Validation | None]:
    """Loads one entity's day; returns its audit row and its validation.

    Raises:
        EntityLoadError: unusable file, failed suite, or counts that do not add up.
    """
    load = EntityLoad(contract.source, contract.entity)
    files = _day_files(spark, settings, contract, ds)
    records = split_records(files, contract, settings.landing).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        problems = records.where(F.col("kind") != KIND_RECORD).select("kind", "message").collect()
        load.warnings = sorted(row.message for row in problems if row.kind == KIND_FILE_WARNING)
        errors = sorted(row.message for row in problems if row.kind == KIND_FILE_ERROR)
        if errors:
            raise EntityLoadError("; ".join(errors))
        load.files = files.select("path").distinct().count()

        checked = check_records(records, contract, ds, run_id).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            return load, _publish(spark, settings, catalog, contract, ds, checked, load)
        finally:
            checked.unpersist()
    finally:
        records.unpersist()


def _publish(
    spark: SparkSession,
    settings: Settings,
    catalog: Catalog,
    contract: EntityContract,
    ds: date,
    checked: DataFrame,
    load: EntityLoad,
) -> quality.Validation:
    counts = checked.agg(
        F.count(F.lit(1)).alias("rows_in"), F.count("reject_reason").alias("rows_rejected")
    ).first()
    accepted = accepted_rows(checked, contract)
    rejected = rejected_rows(checked, contract)
    load.rows_in = counts.rows_in
    load.rows_rejected = counts.rows_rejected
    load.rows_kept = accepted.count()
    if load.rows_kept + load.rows_rejected != load.rows_in:
        raise EntityLoadError(
            f"{load.table}: rows in {load.rows_in} != kept {load.rows_kept} + rejected {load.rows_rejected}"
        )
    validation = quality.validate(accepted, "ods", contract.table_name)
    if not validation.success:
        raise EntityLoadError(f"{load.table}: data quality suite failed: {'; '.join(validation.failures())}")
    tables.replace_partition(spark, settings, catalog.table(load.table), accepted, ds)
    tables.replace_partition(
        spark,
        settings,
        catalog.table("ods.rejects"),
        rejected,
        ds,
        extra_predicate=f"source = '{contract.source}' AND entity = '{contract.entity}'",
    )
    load.status = STATUS_LOADED
    return validation


def run(spark: SparkSession, settings: Settings, catalog: Catalog, contracts: tuple[EntityContract, ...], ds: date) -> list[EntityLoad]:
    """Ingests every entity of ``contracts`` for ``ds`` and records the load audit.

    Failed entities are reported in their audit row; the caller decides the exit status.
    """
    run_id = f"ods-{ds.isoformat()}-{uuid.uuid4().hex[:12]}"
    loads: list[EntityLoad] = []
    validations: list[quality.Validation] = []
    for contract in contracts:
        try:
            load, validation = ingest_entity(spark, settings, catalog, contract, ds, run_id)
            validations.append(validation)
        except (EntityLoadError, quality.DataQualityError) as error:
            load = EntityLoad(contract.source, contract.entity, message=str(error))
        loads.append(load)
    _write_audit(spark, settings, catalog, ds, run_id, loads, validations)
    return loads


def _write_audit(
    spark: SparkSession,
    settings: Settings,
    catalog: Catalog,
    ds: date,
    run_id: str,
    loads: list[EntityLoad],
    validations: list[quality.Validation],
) -> None:
    audit = spark.createDataFrame(
        [
            (l.source, l.entity, l.files, l.rows_in, l.rows_kept, l.rows_rejected, l.status, l.message, l.warnings, run_id)
            for l in loads
        ],
        AUDIT_SCHEMA,
    ).withColumn("dt", F.lit(ds))
    entities = " OR ".join(f"(source = '{l.source}' AND entity = '{l.entity}')" for l in loads)
    tables.replace_partition(spark, settings, catalog.table("ods.load_audit"), audit, ds, extra_predicate=entities)
    loaded_tables = ", ".join(f"'{v.table_name}'" for v in validations)
    if validations:
        results = quality.results_frame(spark, validations).withColumn("ingest_run_id", F.lit(run_id)).withColumn(
            "dt", F.lit(ds)
        )
        tables.replace_partition(
            spark, settings, catalog.table("ods.dq_results"), results, ds, extra_predicate=f"table_name IN ({loaded_tables})"
        )
