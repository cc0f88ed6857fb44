"""The publish stage into the serving PostgreSQL: what it loads equals the Delta frames value for
value (nulls, empty strings, quotes, arrays, times), a rerun replaces, a failed count swaps nothing
in, a reader during a publish sees the old or the new tables and never a mix, the profile guard
refuses raw identifiers, and the timeline keeps each one_id's newest rows.

The server is this checkout's (scripts/postgres.sh starts it, as set-up does); each test session
works in a throwaway database of its own, never in the demo's."""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from pyspark.sql import functions as F

from generated_build import DAYS, conf_in_use
from jobs.config import PostgresSettings, load_catalog, load_settings
from jobs.pipeline import STAGES
from jobs.catalog import read_table
from jobs.serving import datasets
from jobs.serving.postgres import RowCountMismatch, csv_chunks, declared_columns, open_staging, served_tables
from jobs.serving.publish import copyable, stage

REPO = Path(__file__).resolve().parents[1]
DS = date(2026, 1, 3)

MAPPING_SCHEMA = ("id_type string, id_value string, one_id string, first_seen timestamp_ntz, last_seen timestamp_ntz, "
                  "source_count int, sources array<string>, cluster_id string, assigned_ds date")
# The awkward values: an empty string beside a null, quotes, a comma, a newline, a backslash,
# Chinese text, an empty array, array elements that need quoting and a null element.
MAPPING_ROWS = [
    ("mobile", "13800138000", "OID1", datetime(2026, 1, 1, 10, 0), datetime(2026, 1, 3, 9, 30, 15, 250000), 3,
     ["crm", 'po"s', None, "a,b\\c"], "c1", date(2026, 1, 1)),
    ("email", "", "OID2", None, None, None, [], "c2", None),
    ("member_id", '张三 "M,1"\nline\\2', "OID2", datetime(2026, 1, 2), None, 1, None, "c2", date(2026, 1, 2)),
]
MERGE_LOG_SCHEMA = "ds date, from_one_id string, to_one_id string, kind string, reason string"
MERGE_LOG_ROWS = [
    (date(2026, 1, 2), "OID7", "OID1", "merge", "a CRM member row linked them"),
    (date(2026, 1, 3), "OID9", None, "retired", "all its identifiers were judged shared"),
]


@pytest.fixture(scope="session")
def serving_db() -> PostgresSettings:
    """A throwaway database on this checkout's server, dropped after the session."""
    started = subprocess.run(["bash", "scripts/postgres.sh"], cwd=REPO, capture_output=True, text=True)
    if started.returncode != 0:
        pytest.fail("the serving PostgreSQL did not start (bash scripts/postgres.sh):\n" + started.stdout + started.stderr)
    served = load_settings(env="local").postgres
    throwaway = dataclasses.replace(served, database=f"cdp_pytest_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(served.conninfo(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{throwaway.database}"')
    yield throwaway
    with psycopg.connect(served.conninfo(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{throwaway.database}" WITH (FORCE)')


def served_rows(database: PostgresSettings, table: str, columns: list[str]) -> list[tuple]:
    with psycopg.connect(database.conninfo()) as connection:
        listed = ", ".join(columns)
        return connection.execute(f"SELECT {listed} FROM cdp.{table} ORDER BY {listed}").fetchall()


def publish(database: PostgresSettings, frames: dict, ds: date = DS) -> None:
    with open_staging(database.conninfo()) as staging:
        for table, frame in frames.items():
            stage(staging, table, frame, database)
        staging.swap_in(ds)


# A table of a few rows is COPYed from the driver; with the limit at one row, by Spark's tasks.
@pytest.mark.parametrize("driver_copy_max_rows", [1_000_000, 1], ids=["from the driver", "from the tasks"])
def test_what_is_served_equals_the_delta_frames_value_for_value_and_a_rerun_replaces(spark, serving_db,
                                                                                     driver_copy_max_rows):
    serving_db = dataclasses.replace(serving_db, driver_copy_max_rows=driver_copy_max_rows)
    mapping = spark.createDataFrame(MAPPING_ROWS, MAPPING_SCHEMA).repartition(2)
    merge_log = spark.createDataFrame(MERGE_LOG_ROWS, MERGE_LOG_SCHEMA)
    publish(serving_db, {"id_mapping": mapping, "merge_log": merge_log})
    columns = declared_columns("id_mapping")
    # Every value as Spark holds it (cluster_id is OneID's own and not served).
    assert served_rows(serving_db, "id_mapping", columns) == sorted(tuple(row[c] for c in columns) for row in mapping.collect())
    assert served_rows(serving_db, "merge_log", ["ds", "from_one_id", "to_one_id", "kind", "reason"]) == MERGE_LOG_ROWS

    # A rerun with one row fewer and one changed: the table is replaced, nothing is duplicated.
    rerun = spark.createDataFrame([(*MAPPING_ROWS[0][:2], "OID5", *MAPPING_ROWS[0][3:]), MAPPING_ROWS[1]], MAPPING_SCHEMA)
    publish(serving_db, {"id_mapping": rerun, "merge_log": merge_log})
    assert served_rows(serving_db, "id_mapping", ["id_type", "id_value", "one_id"]) == [
        ("email", "", "OID2"), ("mobile", "13800138000", "OID5")]
    with psycopg.connect(serving_db.conninfo()) as connection:
        published = connection.execute("SELECT table_name, ds, row_count FROM cdp.published_tables ORDER BY 1").fetchall()
    assert published == [("id_mapping", DS, 2), ("merge_log", DS, 2)]


def test_a_count_that_differs_from_delta_swaps_nothing_in(spark, serving_db):
    publish(serving_db, {"id_mapping": spark.createDataFrame(MAPPING_ROWS, MAPPING_SCHEMA)})
    before = served_rows(serving_db, "id_mapping", ["id_type", "id_value", "one_id"])
    frame = copyable(spark.createDataFrame(MAPPING_ROWS[:1], MAPPING_SCHEMA), declared_columns("id_mapping"))
    with pytest.raises(RowCountMismatch, match="holds 1 rows, its Delta source 2"):
        with open_staging(serving_db.conninfo()) as staging:
            staging.load("id_mapping", csv_chunks(frame.toArrow().to_batches()), 2)
            staging.swap_in(DS)
    assert served_rows(serving_db, "id_mapping", ["id_type", "id_value", "one_id"]) == before
    with psycopg.connect(serving_db.conninfo()) as connection:
        assert connection.execute("SELECT to_regnamespace('cdp_staging')").fetchone()[0] is None


def test_a_reader_during_publishes_sees_the_old_or_the_new_tables_never_a_mix(spark, serving_db):
    """Two versions of two tables: version v has v × 50,000 identifiers and v profiles. A reader
    polls both counts in one statement while the versions are published in turn."""

    def version(size: int) -> dict:
        mapping = spark.range(size * 50_000).select(
            F.lit("device_id").alias("id_type"), F.format_string("d%08d", "id").alias("id_value"),
            F.format_string("OID%d", F.col("id") % size).alias("one_id"))
        profile = spark.range(size).select(F.format_string("OID%d", "id").alias("one_id"))
        return {"id_mapping": padded(mapping, "id_mapping").cache(), "profile": padded(profile, "profile")}

    versions = {1: version(1), 2: version(2)}
    publish_version(serving_db, versions[1])
    seen, errors, stop = [], [], threading.Event()

    def read() -> None:
        with psycopg.connect(serving_db.conninfo(), autocommit=True) as connection:
            while not stop.is_set():
                try:
                    seen.append(connection.execute(
                        "SELECT (SELECT count(*) FROM cdp.id_mapping), (SELECT count(*) FROM cdp.profile)").fetchone())
                except psycopg.Error as error:  # a table missing mid-swap would be a half-published state
                    errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for size in (2, 1, 2):
            publish_version(serving_db, versions[size])
    finally:
        stop.set()
        reader.join()
    assert (errors, set(seen)) == ([], {(50_000, 1), (100_000, 2)})


def publish_version(database: PostgresSettings, frames: dict) -> None:
    with open_staging(database.conninfo()) as staging:
        for table, frame in frames.items():
            stage(staging, table, frame, database)
        staging.swap_in(DS)


def padded(frame, table: str):
    """The table's columns: the frame's, and nulls for the others."""
    return frame.select(*[F.col(column) if column in frame.columns else F.lit(None).cast("string").alias(column)
                          for column in declared_columns(table)])


def test_the_profile_guard_finds_raw_identifiers_and_passes_masked_and_hashed_ones(spark):
    digest = "0123456789abcdef" * 4
    profile = spark.createDataFrame([
        # A one_id's hex may hold a run of digits shaped like a mobile: it is no mobile.
        ("O20260101241c14668196279e", "138****8000", digest, "s***@qq.com", digest, "Li Lei", ["crm"]),
        ("OID2", "13800138000", digest, "s***@qq.com", "not-a-hash", "call +86 139-1234-5678", ["pos"]),
        ("OID3", None, None, "sam@qq.com", None, "Sam (Sam@Example.com)", None),
    ], "one_id string, mobile_masked string, mobile_hash string, email_masked string, email_hash string, "
       "name string, sources array<string>")
    counts = datasets.raw_pii_counts(profile).first().asDict()
    assert counts == {"one_id": 0, "mobile_masked": 1, "mobile_hash": 0, "email_masked": 1, "email_hash": 1, "name": 2}


def test_the_timeline_keeps_each_one_ids_newest_rows_up_to_ds_with_display_names(spark):
    orders = spark.createDataFrame([
        ("k1", "r1", "o1", "pos", None, "ch1", "s1", "sale", "completed", datetime(2026, 1, 1, 9), date(2026, 1, 1), 2,
         Decimal("10.00"), Decimal("0.00"), Decimal("10.00")),
        ("k2", "r2", "o2", "ecom", "tmall", "ch2", None, "sale", "paid", datetime(2026, 1, 2, 9), date(2026, 1, 2), 1,
         Decimal("5.50"), Decimal("0.00"), Decimal("5.50")),
        ("k3", "r3", "o3", "ecom", "tmall", "ch2", None, "sale", "paid", datetime(2026, 1, 2, 9), date(2026, 1, 2), 1,
         Decimal("7.00"), Decimal("0.00"), Decimal("7.00")),
        # After ds: not yet known on ds.
        ("k4", "r4", "o4", "pos", None, "ch1", "s1", "sale", "completed", datetime(2026, 1, 4, 9), date(2026, 1, 4), 1,
         Decimal("1.00"), Decimal("0.00"), Decimal("1.00")),
        # Nobody owns it.
        ("k5", "r5", "o5", "pos", None, "ch1", "s1", "sale", "completed", datetime(2026, 1, 1, 9), date(2026, 1, 1), 1,
         Decimal("1.00"), Decimal("0.00"), Decimal("1.00")),
    ], "order_key string, record_key string, order_id string, order_source string, platform string, channel_id string, "
       "store_id string, order_type string, order_status string, order_at timestamp_ntz, order_date date, "
       "item_count long, paid_amount decimal(18,2), refund_amount decimal(18,2), net_paid_amount decimal(18,2)")
    owners = spark.createDataFrame([("r1", "A"), ("r2", "A"), ("r3", "A"), ("r4", "A")], "record_key string, one_id string")
    channels = spark.createDataFrame([("ch1", "门店"), ("ch2", "天猫")], "channel_id string, channel_name string")

    newest_two = datasets.recent_orders(orders, owners, channels, DS, limit=2)

    # Two orders at the same time: the greater key is the newer, on every run.
    assert [(row.order_key, row.channel_name) for row in newest_two.orderBy("order_key").collect()] == [
        ("k2", "天猫"), ("k3", "天猫")]
    assert tuple(newest_two.columns) == datasets.ORDER_COLUMNS


# The served tables that are one Delta table (of the day, for the ADS ones), counted straight from it.
DELTA_SOURCES = {
    "id_mapping": ("oneid.id_mapping", None), "one_id_alias": ("oneid.one_id_alias", None),
    "merge_log": ("oneid.merge_log", "ds <= '{ds}'"), "profile": ("oneid.profile", None),
    "tag_value": ("ads.tag_value", "ds = '{ds}'"), "member_rfm": ("ads.member_rfm", "ds = '{ds}'"),
    "member_lifecycle": ("ads.member_lifecycle", "ds = '{ds}'"), "segment_member": ("ads.segment_member", "ds = '{ds}'"),
}


@pytest.mark.slow
def test_the_publish_stage_serves_the_shared_builds_tables_with_delta_counts(built, spark, serving_db):
    settings = dataclasses.replace(built.settings, postgres=serving_db)
    catalog = load_catalog()
    with conf_in_use(built.conf):
        result = STAGES["publish"](spark, settings, catalog, DAYS[-1])
    delta = {table: read_table(spark, settings, catalog.table(source)).where(condition.format(ds=DAYS[-1]) if condition else "true").count()
             for table, (source, condition) in DELTA_SOURCES.items()}
    # The timelines are a join and a window over the facts: the stage's own count of its frame.
    delta |= {load.table.removeprefix("cdp."): load.rows for load in result.cost.tables if "recent_" in load.table}
    with psycopg.connect(serving_db.conninfo()) as connection:
        served = {table: connection.execute(f"SELECT count(*) FROM cdp.{table}").fetchone()[0] for table in served_tables()}
    assert (result.ok, served) == (True, delta) and delta["id_mapping"] > 0 and delta["recent_order"] > 0
