"""Reads and writes catalog tables; the only module that knows where tables live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.utils import AnalysisException

from jobs.config import LAYERS, Catalog, Settings, TableSpec


def register_tables(spark: SparkSession, settings: Settings, catalog: Catalog) -> list[str]:
    """Registers every catalog table that exists on disk as ``{layer}.{name}``.

    The local session uses Spark's in-memory catalog, so each new session registers the
    lakehouse's tables again; with a Hive metastore (cluster profile) this is a no-op after
    the first run. Returns the names registered.
    """
    registered = []
    for layer in LAYERS:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
    for table in catalog.tables.values():
        path = table.path(settings.lakehouse)
        if DeltaTable.isDeltaTable(spark, path):
            spark.sql(f"CREATE TABLE IF NOT EXISTS {table.layer}.{table.name} USING DELTA LOCATION '{path}'")
            registered.append(table.qualified_name)
    return registered


def read_table(spark: SparkSession, settings: Settings, table: TableSpec) -> DataFrame:
    return spark.read.format("delta").load(table.path(settings.lakehouse))


def read_table_if_exists(spark: SparkSession, settings: Settings, table: TableSpec) -> DataFrame | None:
    """The table, or None before its first write (the first run of a model that reads itself)."""
    if not DeltaTable.isDeltaTable(spark, table.path(settings.lakehouse)):
        return None
    return read_table(spark, settings, table)


@dataclass(frozen=True)
class MergeCounts:
    inserted: int
    updated: int
    deleted: int


ACTION_UPSERT, ACTION_DELETE = "upsert", "delete"


def upsert(
    spark: SparkSession,
    settings: Settings,
    table: TableSpec,
    frame: DataFrame,
    newer_version_column: str | None = None,
    action_column: str | None = None,
) -> MergeCounts:
    """Delta MERGE of ``frame`` into the table on the catalog's keys.

    Args:
        newer_version_column: update a matched row only when the frame's value of this column
            is greater, so that rerunning or backfilling an older ds never overwrites what a
            newer extract wrote.
        action_column: a column saying ``upsert`` or ``delete`` per row; it is not written.

    Returns:
        Rows inserted, updated and deleted, from Delta's operation metrics.
    """
    path = table.path(settings.lakehouse)
    columns = [name for name in frame.columns if name != action_column]
    if not DeltaTable.isDeltaTable(spark, path):
        _create(spark, table, frame.select(*columns).schema, path)
    on = " AND ".join(f"t.`{key}` = s.`{key}`" for key in table.keys)
    values = {f"`{name}`": f"s.`{name}`" for name in columns}
    update_if = [f"s.`{action_column}` = '{ACTION_UPSERT}'"] if action_column else []
    if newer_version_column:
        update_if.append(f"s.`{newer_version_column}` > t.`{newer_version_column}`")
    else:
        # Only rows that differ are rewritten, so a rerun reports (and writes) no updates.
        update_if.append("NOT (" + " AND ".join(f"t.`{name}` <=> s.`{name}`" for name in columns) + ")")
    version_before = _latest_commit(spark, path).version
    merge = DeltaTable.forPath(spark, path).alias("t").merge(frame.alias("s"), on)
    if action_column:
        merge = merge.whenMatchedDelete(condition=f"s.`{action_column}` = '{ACTION_DELETE}'")
    merge = merge.whenMatchedUpdate(condition=" AND ".join(update_if), set=values)
    merge.whenNotMatchedInsert(
        condition=f"s.`{action_column}` = '{ACTION_UPSERT}'" if action_column else None, values=values
    ).execute()
    _register(spark, settings, table)
    commit = _latest_commit(spark, path)
    # A merge that changes nothing writes no commit: the latest one is an earlier write's.
    if commit.version == version_before:
        return MergeCounts(inserted=0, updated=0, deleted=0)
    metrics = commit.operationMetrics
    return MergeCounts(
        inserted=int(metrics.get("numTargetRowsInserted", 0)),
        updated=int(metrics.get("numTargetRowsUpdated", 0)),
        deleted=int(metrics.get("numTargetRowsDeleted", 0)),
    )


def overwrite(spark: SparkSession, settings: Settings, table: TableSpec, frame: DataFrame, predicate: str | None = None) -> int:
    """Replaces the whole table, or only the rows matching ``predicate`` (Delta replaceWhere).

    Returns:
        Rows written, from Delta's operation metrics.
    """
    path = table.path(settings.lakehouse)
    version_before = _latest_commit(spark, path).version if DeltaTable.isDeltaTable(spark, path) else -1
    writer = frame.write.format("delta").mode("overwrite").option("overwriteSchema", predicate is None)
    if predicate:
        writer = writer.option("replaceWhere", predicate)
    writer.partitionBy(*table.partition_by).save(path)
    _register(spark, settings, table)
    commit = _latest_commit(spark, path)
    if commit.version == version_before:
        return 0
    return int(commit.operationMetrics.get("numOutputRows", 0))


def _create(spark: SparkSession, table: TableSpec, schema: T.StructType, path: str) -> None:
    # Every column nullable: Delta would otherwise turn the first frame's non-null inference
    # into constraints that a later, legitimately null value breaks.
    nullable = T.StructType([T.StructField(f.name, f.dataType, True) for f in schema.fields])
    DeltaTable.createIfNotExists(spark).location(path).addColumns(nullable).partitionedBy(*table.partition_by).execute()


def replace_partition(
    spark: SparkSession,
    settings: Settings,
    table: TableSpec,
    frame: DataFrame,
    ds: date,
    extra_predicate: str | None = None,
) -> int:
    """Replaces the rows of one ``dt`` (and optionally a narrower slice) with ``frame``.

    Delta's ``replaceWhere`` makes the write atomic and idempotent: rerunning a ds replaces
    exactly what the earlier run wrote, even when the new frame is empty.

    Args:
        extra_predicate: a further SQL predicate on partition or data columns, for tables
            several loaders share (``ods.rejects`` is written per source entity).

    Returns:
        The number of rows the commit wrote, from Delta's own operation metrics, so callers
        can check it against what they meant to publish.
    """
    path = table.path(settings.lakehouse)
    version_before = _latest_commit(spark, path).version if DeltaTable.isDeltaTable(spark, path) else -1
    predicate = f"dt = DATE'{ds.isoformat()}'"
    if extra_predicate:
        predicate = f"{predicate} AND ({extra_predicate})"
    (
        frame.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", predicate)
        .partitionBy(*table.partition_by)
        .save(path)
    )
    _register(spark, settings, table)
    commit = _latest_commit(spark, path)
    # Delta skips the commit of an empty frame that replaces nothing: no commit, no rows.
    if commit.version == version_before:
        return 0
    return int(commit.operationMetrics.get("numOutputRows", 0))


def _latest_commit(spark: SparkSession, path: str):
    return DeltaTable.forPath(spark, path).history(1).select("version", "operationMetrics").first()


def _register(spark: SparkSession, settings: Settings, table: TableSpec) -> None:
    try:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {table.layer}")
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {table.layer}.{table.name} USING DELTA "
            f"LOCATION '{table.path(settings.lakehouse)}'"
        )
    except AnalysisException as error:
        raise RuntimeError(f"could not register {table.qualified_name}: {error}") from error
