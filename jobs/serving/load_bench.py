"""Which load path the publish stage uses, measured: a JDBC batch write from the Spark executors,
COPY from the driver (Arrow batches as CSV) and COPY from Spark's tasks (the same CSV, a
partition each), all into a staging table of the serving PostgreSQL, on a generated
``id_mapping`` of ``--rows`` rows. Nothing is swapped in.

    .venv/bin/python -m jobs.serving.load_bench --rows 1000000
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from psycopg import sql

from jobs.config import load_settings
from jobs.serving.postgres import STAGING_SCHEMA, Staging, csv_chunks, declared_columns, open_staging, table_ddls
from jobs.serving.publish import ARROW_BATCH_ROWS, copy_from_tasks, copyable
from jobs.spark import get_spark

TABLE = "id_mapping"
ID_TYPES = ("member_id", "card_no", "mobile", "email", "wx_unionid", "wx_openid", "device_id", "ecom_buyer_id")
# Rows per INSERT batch of the JDBC path; the driver rewrites each batch into multi-row INSERTs.
JDBC_BATCH_SIZE = 10_000


def generated_mapping(spark: SparkSession, rows: int) -> DataFrame:
    """``rows`` identifiers of about three per one_id, shaped like ``oneid.id_mapping``."""
    index = F.col("id")
    return spark.range(rows).select(
        F.element_at(F.array(*[F.lit(name) for name in ID_TYPES]), (index % len(ID_TYPES) + 1).cast("int")).alias("id_type"),
        F.format_string("1%010d", index).alias("id_value"),
        F.format_string("OID%09d", (index / 3).cast("long")).alias("one_id"),
        (F.lit("2026-01-01 00:00:00").cast("timestamp_ntz") + F.make_interval(secs=index % 86_400)).alias("first_seen"),
        F.lit("2026-01-03 12:00:00").cast("timestamp_ntz").alias("last_seen"),
        (index % 3 + 1).cast("int").alias("source_count"),
        F.array(F.lit("crm"), F.lit("pos")).alias("sources"),
        F.lit("2026-01-03").cast("date").alias("assigned_ds"),
    )


def copy_path(staging: Staging, frame: DataFrame, rows: int) -> tuple[float, float]:
    """(load seconds, index seconds) of the publish stage's path for a table up to its driver limit."""
    batches = copyable(frame, declared_columns(TABLE)).toArrow().to_batches(max_chunksize=ARROW_BATCH_ROWS)
    staged = staging.load(TABLE, csv_chunks(batches), rows)
    _drop(staging)
    return staged.load_seconds, staged.index_seconds


def tasks_path(staging: Staging, frame: DataFrame, rows: int, conninfo: str) -> tuple[float, float]:
    """(load seconds, index seconds) of the publish stage's path for a bigger table."""
    staged = staging.load_in_parallel(TABLE, partial(copy_from_tasks, copyable(frame, declared_columns(TABLE)), conninfo), rows)
    _drop(staging)
    return staged.load_seconds, staged.index_seconds


def _drop(staging: Staging) -> None:
    staging.connection.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(STAGING_SCHEMA, TABLE)))
    staging.staged.clear()


def jdbc_path(staging: Staging, frame: DataFrame, rows: int, url: str, user: str, password: str) -> tuple[float, float]:
    """(load seconds, index seconds) of Spark's JDBC writer into the same staging table."""
    ddl = table_ddls()[TABLE]
    connection = staging.connection
    with connection.transaction():
        connection.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(STAGING_SCHEMA)))
        connection.execute(ddl.create)
    started = time.monotonic()
    frame.write.jdbc(url, f"{STAGING_SCHEMA}.{TABLE}", mode="append", properties={
        "user": user, "password": password, "driver": "org.postgresql.Driver",
        "batchsize": str(JDBC_BATCH_SIZE), "reWriteBatchedInserts": "true",
    })
    loaded = time.monotonic()
    with connection.transaction():
        connection.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(STAGING_SCHEMA)))
        for statement in ddl.keys_and_indexes:
            connection.execute(statement)
        count = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(TABLE))).fetchone()[0]
        connection.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(TABLE)))
    if count != rows:
        raise RuntimeError(f"the JDBC path loaded {count} rows of {rows}")
    return round(loaded - started, 2), round(time.monotonic() - loaded, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each path, alternating; the median is shown")
    args = parser.parse_args(argv)
    settings = load_settings()
    if settings.postgres is None:
        raise SystemExit(f"conf/env/{settings.env}.yml has no postgres: section")
    spark = get_spark(settings)
    # Generated once and held in memory: both paths read the same rows, and only the load is timed.
    frame = generated_mapping(spark, args.rows).cache()
    rows = frame.count()
    pg = settings.postgres
    jdbc, driver, tasks = "JDBC batch from the executors", "COPY from the driver (Arrow → CSV)", "COPY from Spark's tasks"
    runs: dict[str, list[tuple[float, float]]] = {jdbc: [], driver: [], tasks: []}
    for _ in range(args.repeats):
        with open_staging(pg.conninfo()) as staging:
            runs[jdbc].append(jdbc_path(staging, frame, rows, pg.jdbc_url(), pg.user, pg.password()))
            runs[driver].append(copy_path(staging, frame, rows))
            runs[tasks].append(tasks_path(staging, frame, rows, pg.conninfo()))
    print(f"{rows} id_mapping rows into PostgreSQL, median of {args.repeats} runs (seconds):")
    for name, timings in runs.items():
        load, index = statistics.median(run[0] for run in timings), statistics.median(run[1] for run in timings)
        print(f"  {name:<36} load {load:6.1f}  indexes {index:5.1f}  {rows / load:9,.0f} rows/s   "
              f"(loads {', '.join(f'{run[0]:.1f}' for run in timings)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
