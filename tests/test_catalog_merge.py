"""The catalog's MERGE: newer versions win whatever order days are (re)run in; actions delete."""

from __future__ import annotations

from pyspark.testing import assertDataFrameEqual

from jobs import catalog as tables
from jobs.config import Catalog, TableSpec

TABLE = TableSpec(layer="cdm", name="merge_probe", partition_by=(), keys=("key",), restricted=False)
SCHEMA = "key string, value string, source_version string"


def test_a_merge_keeps_the_newest_version_in_any_order_and_reruns_change_nothing(spark, settings_for):
    settings = settings_for()
    day_1 = spark.createDataFrame([("a", "old", "2026-01-01|f|1"), ("b", "only", "2026-01-01|f|2")], SCHEMA)
    day_2 = spark.createDataFrame([("a", "new", "2026-01-02|f|1"), ("c", "late", "2026-01-02|f|2")], SCHEMA)
    for frame in (day_1, day_2, day_2, day_1):  # day 2 rerun, then day 1 backfilled after it
        tables.upsert(spark, settings, TABLE, frame, newer_version_column="source_version")
    expected = spark.createDataFrame(
        [("a", "new", "2026-01-02|f|1"), ("b", "only", "2026-01-01|f|2"), ("c", "late", "2026-01-02|f|2")], SCHEMA
    )
    assertDataFrameEqual(tables.read_table(spark, settings, TABLE), expected)


def test_a_rerun_reports_no_change(spark, settings_for):
    settings = settings_for()
    frame = spark.createDataFrame([("a", "x", "2026-01-01|f|1")], SCHEMA)
    assert tables.upsert(spark, settings, TABLE, frame, newer_version_column="source_version") == tables.MergeCounts(1, 0, 0)
    assert tables.upsert(spark, settings, TABLE, frame, newer_version_column="source_version") == tables.MergeCounts(0, 0, 0)


def test_action_rows_delete_update_and_insert(spark, settings_for):
    settings = settings_for()
    tables.upsert(spark, settings, TABLE, spark.createDataFrame([("a", "1", "v1"), ("b", "1", "v1")], SCHEMA))
    changes = spark.createDataFrame(
        [("a", "2", "v2", "upsert"), ("b", "1", "v1", "delete"), ("c", "1", "v1", "upsert"), ("d", "1", "v1", "delete")],
        SCHEMA + ", action string",
    )
    counts = tables.upsert(spark, settings, TABLE, changes, action_column="action")
    assert counts == tables.MergeCounts(inserted=1, updated=1, deleted=1)
    expected = spark.createDataFrame([("a", "2", "v2"), ("c", "1", "v1")], SCHEMA)
    assertDataFrameEqual(tables.read_table(spark, settings, TABLE), expected)


def test_overwrite_with_a_predicate_replaces_only_that_slice(spark, settings_for):
    settings = settings_for()
    tables.overwrite(spark, settings, TABLE, spark.createDataFrame([("a", "1", "v"), ("b", "1", "v")], SCHEMA))
    tables.overwrite(spark, settings, TABLE, spark.createDataFrame([("b", "2", "v")], SCHEMA), predicate="key = 'b'")
    expected = spark.createDataFrame([("a", "1", "v"), ("b", "2", "v")], SCHEMA)
    assertDataFrameEqual(tables.read_table(spark, settings, TABLE), expected)


def test_a_table_name_follows_the_lakehouse_written_last(spark, settings_for, tmp_path):
    first = settings_for(lakehouse=tmp_path / "first")
    second = settings_for(lakehouse=tmp_path / "second")
    tables.overwrite(spark, first, TABLE, spark.createDataFrame([("a", "first", "v")], SCHEMA))
    tables.overwrite(spark, second, TABLE, spark.createDataFrame([("a", "second", "v")], SCHEMA))
    assert [row.value for row in spark.sql(f"SELECT value FROM {TABLE.qualified_name}").collect()] == ["second"]
    tables.register_tables(spark, first, Catalog(tables={TABLE.qualified_name: TABLE}))
    assert [row.value for row in spark.sql(f"SELECT value FROM {TABLE.qualified_name}").collect()] == ["first"]



def test_a_merge_adds_the_columns_a_newer_model_brings(spark, settings_for):
    settings = settings_for()
    tables.upsert(spark, settings, TABLE, spark.createDataFrame([("a", "1", "v1")], SCHEMA))
    wider = spark.createDataFrame([("b", "2", "v1", 7)], SCHEMA + ", grade_points int")

    tables.upsert(spark, settings, TABLE, wider)

    expected = spark.createDataFrame([("a", "1", "v1", None), ("b", "2", "v1", 7)], SCHEMA + ", grade_points int")
    assertDataFrameEqual(tables.read_table(spark, settings, TABLE), expected)
