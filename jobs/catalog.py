"""Reads and writes catalog tables; the only module that knows where tables live."""

from __future__ import annotations

from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
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
