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
            _register(spark, settings, table)
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
    else:
        _add_new_columns(spark, path, frame.select(*columns).schema)
    on = " AND ".join(f"t.`{key}` = s.`{key}`" for key in table.keys)
    values = {f"`{name}`": f"s.`{name}`" for name in columns}
    update_if = [f"s.`{action_column}` = '{ACTION_UPSERT}'"] if action_column else []
    if newer_version_column:
        update_if.append(f"s.`{newer_version_column}` > t.`{newer_version_column}`")
    else:
        # Only rows that differ are rewritten, so a rerun reports (and writes) no updates.
        update_if.append("NOT (" + " AND ".join(f"t.`{name}` <=> s.`{name}`" for name in columns) + ")")
    merge = DeltaTable.forPath(spark, path).alias("t").merge(frame.alias("s"), on)
    if action_column:
        merge = merge.whenMatchedDelete(condition=f"s.`{action_column}` = '{ACTION_DELETE}'")
    merge = merge.whenMatchedUpdate(condition=" AND ".join(update_if), set=values)
    merge = merge.whenNotMatchedInsert(
        condition=f"s.`{action_column}` = '{ACTION_UPSERT}'" if action_column else None, values=values
    )
    # Delta answers a MERGE with its own counts: no history scan to find them.
    metrics = merge.execute().first()
    _register(spark, settings, table)
    return MergeCounts(
        inserted=int(metrics["num_inserted_rows"]),
        updated=int(metrics["num_updated_rows"]),
        deleted=int(metrics["num_deleted_rows"]),
    )


def _add_new_columns(spark: SparkSession, path: str, schema: T.StructType) -> None:
    """Adds the frame's columns the table lacks (a model that gained a column), so a MERGE into
    a lakehouse written by an earlier release goes on; existing rows read them as null."""
    existing = {name.lower() for name in spark.read.format("delta").load(path).columns}
    new = [field for field in schema.fields if field.name.lower() not in existing]
    if new:
        columns = ", ".join(f"`{field.name}` {field.dataType.simpleString()}" for field in new)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({columns})")


def overwrite(
    spark: SparkSession,
    settings: Settings,
    table: TableSpec,
    frame: DataFrame,
    predicate: str | None = None,
    add_columns: bool = False,
) -> None:
    """Replaces the whole table, or only the rows matching ``predicate`` (Delta replaceWhere).

    Args:
        add_columns: let a partition bring columns the table lacks (``ads.tag_wide`` grows a
            column per new tag); earlier partitions read them as null.
    """
    writer = frame.write.format("delta").mode("overwrite")
    writer = writer.option("replaceWhere", predicate) if predicate else writer.option("overwriteSchema", True)
    writer = writer.option("mergeSchema", True) if add_columns else writer
    writer.partitionBy(*table.partition_by).save(table.path(settings.lakehouse))
    _register(spark, settings, table)


def append(spark: SparkSession, settings: Settings, table: TableSpec, frame: DataFrame) -> None:
    """Adds rows to a record table; concurrent appends never conflict in Delta."""
    frame.write.format("delta").mode("append").partitionBy(*table.partition_by).save(table.path(settings.lakehouse))
    _register(spark, settings, table)


def latest_version(spark: SparkSession, settings: Settings, table: TableSpec) -> int:
    """The table's newest commit version (one small read of the log's newest entry)."""
    return DeltaTable.forPath(spark, table.path(settings.lakehouse)).history(1).first().version


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
) -> None:
    """Replaces the rows of one ``dt`` (and optionally a narrower slice) with ``frame``.

    Delta's ``replaceWhere`` makes the write atomic and idempotent: rerunning a ds replaces
    exactly what the earlier run wrote, even when the new frame is empty.

    Args:
        extra_predicate: a further SQL predicate on partition or data columns, for tables
            several loaders share (``ods.rejects`` is written per source entity).
    """
    predicate = f"dt = DATE'{ds.isoformat()}'"
    if extra_predicate:
        predicate = f"{predicate} AND ({extra_predicate})"
    overwrite(spark, settings, table, frame, predicate)


# (application, name) → location of every name this process registered: a write registers
# its table once per session, not once per commit.
_REGISTERED: dict[tuple[str, str], str] = {}


def _register(spark: SparkSession, settings: Settings, table: TableSpec) -> None:
    """Points ``{layer}.{name}`` at the table in this lakehouse.

    A name registered earlier for another lakehouse (one session, several lakehouses) is
    dropped first; the tables are external, so dropping the name leaves the data alone.
    """
    path = table.path(settings.lakehouse)
    key = (spark.sparkContext.applicationId, table.qualified_name)
    if _REGISTERED.get(key) == path:
        return
    try:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {table.layer}")
        if spark.catalog.tableExists(table.qualified_name) and _location(spark, table) != _plain(path):
            spark.sql(f"DROP TABLE {table.qualified_name}")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {table.qualified_name} USING DELTA LOCATION '{path}'")
        _REGISTERED[key] = path
    except AnalysisException as error:
        raise RuntimeError(f"could not register {table.qualified_name}: {error}") from error


def _location(spark: SparkSession, table: TableSpec) -> str:
    details = spark.sql(f"DESCRIBE TABLE EXTENDED {table.qualified_name}").where("col_name = 'Location'").first()
    return _plain(details.data_type) if details else ""


def _plain(location: str) -> str:
    """A local path with or without the ``file:`` scheme, compared the same way."""
    return location.removeprefix("file://").removeprefix("file:").rstrip("/")
