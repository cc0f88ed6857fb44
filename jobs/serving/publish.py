"""The publish stage: one business date's OneID and ADS tables into the serving PostgreSQL.

Recipe: read OneID's tables as its run for ds left them, the ds partitions of the ADS tables and
each one_id's newest orders and events → check the profile holds no raw mobile or email → per
table, COPY the frame into a staging table (from the driver as Arrow batches; a table over the
environment's ``driver_copy_max_rows`` from Spark's tasks, a partition each), build its key and
indexes and check its row count against the Delta frame → swap every table into schema ``cdp``
in one transaction (``postgres.py``).

Why COPY and not a JDBC batch write from the executors: on this machine COPY loaded 1M
id_mapping rows in 1.5 s from the driver and 2.0 s from the tasks, the JDBC writer in 3.1 s
(``load_bench.py``, README "Serving"). Only the driver's COPY loads into a table created in its
own transaction, for which PostgreSQL writes no WAL; the tasks' COPY keeps a big table out of
the driver's memory and reads the frame once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Callable, Iterator

import psycopg
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs import catalog as tables
from jobs import cost
from jobs.build_ads import AdsBuild
from jobs.config import Catalog, PostgresSettings, Settings, load_ads_settings
from jobs.publish import Publisher, TableLoad
from jobs.serving import datasets
from jobs.serving.postgres import (
    SERVING_SCHEMA,
    Staging,
    csv_chunks,
    declared_columns,
    open_staging,
    served_ds,
    served_tables,
)

ARROW_BATCH_ROWS = 100_000


class RawPiiInProfile(RuntimeError):
    """oneid.profile holds a raw mobile or email; it was not published."""


class ServingDatabaseUnreachable(RuntimeError):
    """The serving PostgreSQL does not answer or refuses the login."""


@dataclass
class ServingResult:
    tables: list[TableLoad] = field(default_factory=list)
    # The newer business date the serving tables hold, when they were left as they are.
    newer_served: date | None = None


def run(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, publisher: Publisher) -> ServingResult:
    """Replaces the serving tables with the ones of ``ds``.

    Raises:
        ValueError: the environment has no serving database.
        ServingDatabaseUnreachable: the server does not answer or refuses the login.
        RawPiiInProfile: the golden profile holds a raw identifier.
        postgres.RowCountMismatch: a staged table lost or gained rows; nothing was swapped in.
    """
    if settings.postgres is None:
        raise ValueError(f"conf/env/{settings.env}.yml has no postgres: section, so there is nowhere to publish")
    pg = settings.postgres
    conninfo = pg.conninfo()
    try:
        served = served_ds(conninfo)
    except psycopg.OperationalError as error:
        raise ServingDatabaseUnreachable(
            f"cannot reach the serving PostgreSQL {pg.user}@{pg.host}:{pg.port}/{pg.database} ({error}); on this "
            "machine start it with `bash scripts/postgres.sh`, elsewhere check the postgres: settings and CDP_PG_PASSWORD"
        ) from error
    # A backfill of an older day must not take the CRM back in time; a rerun of the day replaces.
    if served is not None and served > ds:
        return ServingResult(newer_served=served)
    frames = serving_frames(spark, settings, catalog, ds, publisher)
    _refuse_raw_pii(frames["profile"]())
    result = ServingResult()
    with open_staging(conninfo) as staging:
        for name in served_tables():
            started, jobs_before = time.monotonic(), cost.jobs_started(spark)
            with cost.job_group(spark, f"publish {name}"):
                rows = stage(staging, name, frames[name](), pg)
            load = TableLoad(f"{SERVING_SCHEMA}.{name}", rows, rows, 0, 0, round(time.monotonic() - started, 2),
                             cost.jobs_started(spark) - jobs_before, 0, 0)
            result.tables.append(load)
            publisher.loads.append(load)
            if publisher.progress:
                publisher.progress(load)
        staging.swap_in(ds)
    return result


def serving_frames(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date,
                   publisher: Publisher) -> dict[str, Callable[[], DataFrame]]:
    """Each served table's frame, built when asked for: OneID's tables as its run for ds left
    them (as the ADS stage reads them), the ADS tables' ds partitions, facts dated up to ds."""
    as_of = AdsBuild(spark, settings, catalog, ds, load_ads_settings(), publisher)

    def read(name: str) -> DataFrame:
        return tables.read_table(spark, settings, catalog.table(name))

    def partition(name: str) -> DataFrame:
        return read(name).where(F.col("ds") == F.lit(ds))

    return {
        "id_mapping": lambda: as_of.oneid("id_mapping"),
        "one_id_alias": lambda: as_of.oneid("one_id_alias"),
        "merge_log": lambda: read("oneid.merge_log").where(F.col("ds") <= F.lit(ds)),
        "profile": lambda: as_of.oneid("profile"),
        "tag_value": lambda: datasets.tag_values(partition("ads.tag_value"), partition("ads.tag_catalog")),
        "member_rfm": lambda: partition("ads.member_rfm"),
        "member_lifecycle": lambda: partition("ads.member_lifecycle"),
        "segment_member": lambda: partition("ads.segment_member"),
        "recent_order": lambda: datasets.recent_orders(read("cdm.fct_order"), as_of.oneid("record_identity"),
                                                       read("cdm.dim_channel"), ds),
        "recent_event": lambda: datasets.recent_events(read("cdm.fct_event"), as_of.oneid("record_identity"),
                                                       read("cdm.dim_channel"), read("cdm.dim_product"), ds),
    }


def _refuse_raw_pii(profile: DataFrame) -> None:
    counts = datasets.raw_pii_counts(profile).first().asDict()
    offending = {column: count for column, count in counts.items() if count}
    if offending:
        raise RawPiiInProfile(
            "oneid.profile holds raw mobiles or emails (or masked columns in another form): "
            + ", ".join(f"{column} {count} rows" for column, count in sorted(offending.items()))
            + "; the serving tables keep the previous publish"
        )


def copyable(frame: DataFrame, columns: list[str]) -> DataFrame:
    """``frame`` as the table's ``columns``, in forms PostgreSQL reads from CSV: maps and structs as
    JSON, session-zone timestamps as wall-clock time.

    Raises:
        ValueError: the frame lacks a column the table declares.
    """
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks the served columns {missing}; it has {frame.columns}")
    types = {f.name: f.dataType for f in frame.schema.fields}
    return frame.select(*[_copyable_column(F.col(column), types[column]).alias(column) for column in columns])


def _copyable_column(column: Column, data_type: T.DataType) -> Column:
    # Arrays stay arrays: the CSV writer turns them into literals (postgres.csv_chunks).
    if isinstance(data_type, (T.MapType, T.StructType)):
        return F.to_json(column)
    if isinstance(data_type, T.TimestampType):
        return column.cast(T.TimestampNTZType())
    return column


def stage(staging: Staging, table: str, frame: DataFrame, postgres: PostgresSettings) -> int:
    """Loads ``frame`` into the staging ``table`` by the path its size calls for: from the driver
    up to ``postgres.driver_copy_max_rows``, else from Spark's tasks. Returns its rows.

    Raises:
        postgres.RowCountMismatch: the staged table holds another number of rows than the frame.
    """
    copied = copyable(frame, declared_columns(table))
    rows = copied.count()
    if rows <= postgres.driver_copy_max_rows:
        staging.load(table, csv_chunks(copied.toArrow().to_batches(max_chunksize=ARROW_BATCH_ROWS)), rows)
    else:
        staging.load_in_parallel(table, partial(copy_from_tasks, copied, postgres.conninfo()), rows)
    return rows


def copy_from_tasks(frame: DataFrame, conninfo: str, statement: str) -> int:
    """COPYs each partition of ``frame`` from its own Spark task, in a transaction per task (a
    failed task's rows roll back with it); returns the rows the tasks copied. The tasks reach the
    server with the publish stage's own connection settings."""

    def copy_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        copied = 0
        with psycopg.connect(conninfo) as connection:  # commits when the block ends without error
            with connection.cursor().copy(statement) as copy:
                for batch in batches:
                    for chunk in csv_chunks([batch]):
                        copy.write(chunk)
                    copied += batch.num_rows
        yield pa.RecordBatch.from_pydict({"rows": pa.array([copied], pa.int64())})

    return frame.mapInArrow(copy_partition, "rows long").agg(F.sum("rows")).first()[0] or 0
