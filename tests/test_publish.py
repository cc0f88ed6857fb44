"""The one publish path: both suite engines judge alike, a failing suite writes nothing, and
every publish records what it cost."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from pyspark.sql import types as T

from jobs import catalog as tables
from jobs import quality
from jobs.config import load_catalog
from jobs.publish import Publication, Publisher, PublishValidationError, Replace

MAPPING_SCHEMA = T.StructType([
    T.StructField("id_type", T.StringType()),
    T.StructField("id_value", T.StringType()),
    T.StructField("one_id", T.StringType()),
    T.StructField("first_seen", T.TimestampNTZType()),
    T.StructField("last_seen", T.TimestampNTZType()),
    T.StructField("source_count", T.IntegerType()),
    T.StructField("sources", T.ArrayType(T.StringType())),
    T.StructField("cluster_id", T.StringType()),
    T.StructField("assigned_ds", T.DateType()),
])
ONE_ID = "O20260101" + "0123456789abcdef"
SEEN = datetime(2026, 1, 1, 9, 30)
# A timestamp pandas' nanoseconds cannot hold: the pandas engine must still read it.
FAR = datetime(9999, 12, 31)


def mapping_row(id_type: str, id_value: str | None, one_id: str = ONE_ID, source_count: int = 1) -> tuple:
    return (id_type, id_value, one_id, SEEN, FAR, source_count, ["crm"], "c1", date(2026, 1, 1))


GOOD_ROWS = [
    mapping_row("mobile", "13800138000"),
    mapping_row("email", "li.wei@example.com"),
    mapping_row("device_id", "a1b2c3"),
    mapping_row("ecom_buyer_id", "tmall:buyer_1"),
    mapping_row("member_id", "M001"),
]
# One defect per row, each caught by a different expectation; the typed row conditions must
# confine the mobile, email, device and buyer checks to their own id types.
BAD_ROWS = [
    mapping_row("mobile", "13800000000"),  # placeholder (11)
    mapping_row("email", "Li.Wei@Example.com"),  # upper case (12)
    mapping_row("device_id", "unknown"),  # junk device (14)
    mapping_row("ecom_buyer_id", "buyer_without_platform"),  # no scope (15)
    mapping_row("member_id", "M001"),  # duplicate identifier (6)
    mapping_row("passport", "E123"),  # unknown id type (7)
    mapping_row("card_no", "C 1", one_id="not-an-id", source_count=0),  # space (16), id (8), count (9)
    mapping_row("wx_openid", None),  # null value (2)
]
EXPECTED_FAILURES = {
    "expect_compound_columns_to_be_unique:id_type,id_value",
    "expect_column_values_to_be_in_set:id_type",
    "expect_column_values_to_not_be_null:id_value",
    "expect_column_values_to_not_be_in_set:id_value@mobile",
    "expect_column_values_to_match_regex:id_value@email",
    "expect_column_values_to_not_be_in_set:id_value@device_id",
    "expect_column_values_to_match_regex:id_value@ecom_buyer_id",
    "expect_column_values_to_match_regex:id_value",
    "expect_column_values_to_match_regex:one_id",
    "expect_column_values_to_be_between:source_count",
}


def label(row: tuple) -> str:
    """An expectation by type, column(s) and the id type its row condition selects."""
    kwargs = json.loads(row[3])
    columns = kwargs.get("column") or ",".join(kwargs.get("column_list", []))
    condition = kwargs.get("row_condition")
    return f"{row[2]}:{columns}" + (f"@{condition['parameter']}" if condition else "")


def failing(validation: quality.Validation) -> set[str]:
    return {label(row) for row in validation.rows if not row[4]}


@pytest.mark.parametrize("engine", [quality.SPARK_ENGINE, quality.PANDAS_ENGINE])
def test_both_engines_pass_a_clean_frame(spark, engine):
    frame = spark.createDataFrame(GOOD_ROWS, MAPPING_SCHEMA)
    assert quality.validate(frame, "oneid", "id_mapping", engine=engine).success


def test_both_engines_fail_exactly_the_same_expectations(spark):
    frame = spark.createDataFrame(GOOD_ROWS + BAD_ROWS, MAPPING_SCHEMA)
    on_spark = quality.validate(frame, "oneid", "id_mapping", engine=quality.SPARK_ENGINE)
    on_pandas = quality.validate(frame, "oneid", "id_mapping", engine=quality.PANDAS_ENGINE)
    assert failing(on_spark) == EXPECTED_FAILURES
    assert failing(on_pandas) == EXPECTED_FAILURES
    unexpected = {label(row): row[6] for row in on_spark.rows}
    assert unexpected == {label(row): row[6] for row in on_pandas.rows}
    assert unexpected["expect_compound_columns_to_be_unique:id_type,id_value"] == 2


def test_a_failing_suite_writes_nothing_and_a_passing_one_records_its_cost(spark, settings_for):
    settings = settings_for()
    publisher = Publisher(spark, settings, load_catalog(), "test")
    with pytest.raises(PublishValidationError, match="oneid.id_mapping failed its suite"):
        publisher.publish("oneid.id_mapping", spark.createDataFrame(BAD_ROWS, MAPPING_SCHEMA))
    spec = load_catalog().table("oneid.id_mapping")
    assert tables.read_table_if_exists(spark, settings, spec) is None
    assert publisher.loads == []

    published = publisher.publish("oneid.id_mapping", spark.createDataFrame(GOOD_ROWS, MAPPING_SCHEMA), keep=True)
    load = published.load
    assert (load.table, load.rows, load.inserted, load.commits, load.suites) == ("oneid.id_mapping", 5, 5, 1, 1)
    assert load.jobs > 0
    assert published.frame.is_cached
    published.frame.unpersist()
    assert tables.read_table(spark, settings, spec).count() == 5
    assert [v.success for v in publisher.validations] == [False, True]


def test_publish_all_finishes_every_table_before_raising_the_failure(spark, settings_for):
    settings = settings_for()
    publisher = Publisher(spark, settings, load_catalog(), "test")
    day = Replace("ds = DATE'2026-01-01'")
    with pytest.raises(PublishValidationError, match="oneid.id_mapping"):
        publisher.publish_all([
            Publication("oneid.id_mapping", lambda: spark.createDataFrame(BAD_ROWS, MAPPING_SCHEMA)),
            Publication("oneid.stats", lambda: spark.createDataFrame(
                [(date(2026, 1, 1), "identities", "all", 3)], "ds date, metric string, dimension string, value long"
            ), day, validate=False),
        ])
    assert [load.table for load in publisher.loads] == ["oneid.stats"]
    assert tables.read_table(spark, settings, load_catalog().table("oneid.stats")).count() == 1


STATS_SCHEMA = "ds date, metric string, dimension string, value long"


@pytest.fixture
def stats_suite(tmp_path, monkeypatch):
    """A suite for ``oneid.stats`` with a warning-level expectation and a critical one."""
    suite = {"name": "oneid.stats", "expectations": [
        {"type": "expect_column_values_to_be_between", "severity": "warning",
         "kwargs": {"column": "value", "min_value": 0, "mostly": 0.9}, "meta": {"remedy": "look at the negative counts"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "metric"}},
    ]}
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(suite), encoding="utf-8")
    monkeypatch.setattr(quality, "suite_path", lambda layer, name: path)


def test_a_failed_warning_publishes_and_is_reported_a_failed_critical_says_what_to_do(spark, settings_for, stats_suite):
    settings = settings_for()
    publisher = Publisher(spark, settings, load_catalog(), "test")
    day = Replace("ds = DATE'2026-01-01'")
    negative = [(date(2026, 1, 1), "identities", name, value) for name, value in (("a", -1), ("b", 2), ("c", 3))]

    publisher.publish("oneid.stats", spark.createDataFrame(negative, STATS_SCHEMA), day)

    assert tables.read_table(spark, settings, load_catalog().table("oneid.stats")).count() == 3
    [warning] = publisher.warnings
    assert warning.startswith("oneid.stats: expect_column_values_to_be_between(")
    assert warning.endswith("unexpected 1, observed None; look at the negative counts")
    assert [(row[4], row[-1]) for row in publisher.validations[0].rows] == [(False, "warning"), (True, "critical")]
    unnamed = [(date(2026, 1, 1), None, "a", 1)]
    with pytest.raises(PublishValidationError, match="rows without metric: fix them at the source or reject them"):
        publisher.publish("oneid.stats", spark.createDataFrame(unnamed, STATS_SCHEMA), day)
    assert quality.results_frame(spark, publisher.validations).where("severity = 'critical' AND NOT success").count() == 1
