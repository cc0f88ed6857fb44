"""The tag engine on small golden sources: the catalog's checks, the plan's order and errors,
every tag type and aggregation (window boundaries, ties, defaults), carried values, the long
form's text and the catalog's coverage. Every expected frame is written out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from tags import engine
from tags.catalog import CatalogError, parse_catalog
from tags.expr import ExpressionError

AS_OF = date(2026, 1, 31)
D = Decimal


def tag(code: str, tag_type: str, status: str = "online", refresh: str = "daily", **spec) -> dict:
    return {
        "code": code, "name_zh": code, "name_en": code, "category": "测试/子类", "type": tag_type, "status": status,
        "refresh": refresh, "owner": "tests", "description": f"{code} for tests", **spec,
    }


GOLDEN_TAGS = [
    # Listed before the tags it uses: the plan must reorder.
    tag("spend_level", "rule", cases=[{"when": "spend_180d >= 100", "value": "高"}, {"when": "spend_180d > 0", "value": "中"}],
        **{"else": "低"}),
    tag("spend_180d", "statistic", source="orders", agg="sum", of="net_paid_amount", window_days=180, default=0),
    tag("purchases_180d", "statistic", source="orders", agg="count", where="is_purchase", window_days=180, default=0),
    tag("favourite_store", "statistic", source="orders", agg="mode", of="store_id", where="is_purchase"),
    tag("avg_interval", "statistic", source="orders", agg="avg_interval_days", of="order_date", where="is_purchase"),
    tag("return_share", "statistic", source="orders", agg="ratio", ratio_where="not is_purchase", window_days=180),
    tag("last_purchase", "statistic", source="orders", agg="max", of="order_date", where="is_purchase"),
    tag("stores", "statistic", source="orders", agg="count_distinct", of="store_id"),
    tag("gender", "fact", source="profile", column="gender"),
    tag("age", "fact", source="profile", value="years_since(birthday)"),
    tag("is_active_buyer", "rule", condition="purchases_180d >= 2"),
    tag("spend_band", "bucket", of="spend_180d", method="fixed", thresholds=[50, 100], labels=["A", "B", "C"]),
    tag("spend_tier", "bucket", of="spend_180d", method="quantile", quantiles=[0.5], labels=["L", "H"],
        population="spend_180d > 0"),
    tag("purchase_prob", "model", model="purchase_90d"),
    tag("draft_tag", "statistic", status="draft", source="orders", agg="count"),
]


def catalog(*entries: dict):
    return parse_catalog({"tests.yml": {"tags": list(entries)}})


@pytest.fixture(scope="module")
def sources(spark: SparkSession) -> engine.TagSources:
    orders = spark.createDataFrame(
        [
            ("o1", date(2026, 1, 31), True, D("100.00"), "S1"),
            ("o1", date(2026, 1, 2), True, D("50.00"), "S2"),
            # Exactly 180 days before: outside the 180-day window.
            ("o1", date(2025, 8, 4), True, D("30.00"), "S1"),
            # After the as-of date: ignored everywhere.
            ("o1", date(2026, 2, 1), True, D("999.00"), "S9"),
            ("o2", date(2026, 1, 10), True, D("80.00"), "S3"),
            ("o2", date(2026, 1, 10), False, D("-80.00"), "S3"),
            # A zero-amount sale is a purchase; ties S2/S3 for the favourite store go to S2.
            ("o2", date(2025, 12, 1), True, D("0.00"), "S2"),
            # 183 days before: outside every 180-day window.
            ("o2", date(2025, 8, 1), False, D("-10.00"), "S2"),
            # 179 days before: inside.
            ("o3", date(2025, 8, 5), True, D("20.00"), "S1"),
        ],
        "one_id string, order_date date, is_purchase boolean, net_paid_amount decimal(18,2), store_id string",
    )
    profile = spark.createDataFrame(
        [("o1", "F", date(1990, 2, 1)), ("o2", "M", date(1990, 1, 31)), ("o3", "U", None)],
        "one_id string, gender string, birthday date",
    )
    population = spark.createDataFrame([("o1",), ("o2",), ("o3",), ("o4",)], "one_id string")
    scores = spark.createDataFrame([("o1", 0.8), ("o2", 0.125)], "one_id string, probability double")
    return engine.TagSources(
        population=population,
        events={"orders": engine.EventSource(orders, "order_date")},
        identity={"profile": profile},
        models={"purchase_90d": scores},
    )


WIDE_DDL = (
    "one_id string, spend_180d double, purchases_180d long, favourite_store string, avg_interval double, "
    "return_share double, last_purchase date, stores long, gender string, age long, purchase_prob double, "
    "spend_level string, is_active_buyer boolean, spend_band string, spend_tier string"
)


def test_plan_orders_tags_after_the_tags_they_use_and_types_them(sources):
    planned = engine.plan(catalog(*GOLDEN_TAGS), sources)
    codes = [item.code for item in planned]
    assert codes == [
        "spend_180d", "purchases_180d", "favourite_store", "avg_interval", "return_share", "last_purchase", "stores",
        "gender", "age", "purchase_prob", "spend_level", "is_active_buyer", "spend_band", "spend_tier",
    ]
    types = {item.code: (item.value_type, item.spark_type.simpleString()) for item in planned}
    assert types == {
        "spend_180d": ("number", "double"), "purchases_180d": ("number", "bigint"),
        "favourite_store": ("string", "string"), "avg_interval": ("number", "double"),
        "return_share": ("number", "double"), "last_purchase": ("date", "date"), "stores": ("number", "bigint"),
        "gender": ("string", "string"), "age": ("number", "bigint"), "purchase_prob": ("number", "double"),
        "spend_level": ("string", "string"), "is_active_buyer": ("boolean", "boolean"),
        "spend_band": ("string", "string"), "spend_tier": ("string", "string"),
    }
    assert {item.code: item.depends_on for item in planned if item.depends_on} == {
        "spend_level": ("spend_180d",), "is_active_buyer": ("purchases_180d",), "spend_band": ("spend_180d",),
        "spend_tier": ("spend_180d",),
    }


def test_every_tag_type_computed_on_golden_sources(spark, sources):
    planned = engine.plan(catalog(*GOLDEN_TAGS), sources)
    result = engine.compute(sources, planned, AS_OF, due=frozenset(item.code for item in planned))
    expected = spark.createDataFrame(
        [
            # o1: 100 + 50 in the window; dates 2025-08-04 … 2026-01-31 span 180 days over 3 dates;
            # age 35 (birthday tomorrow).
            ("o1", 150.0, 2, "S1", 90.0, 0.0, date(2026, 1, 31), 2, "F", 35, 0.8, "高", True, "C", "H"),
            # o2: a sale and its return net to 0, the zero sale counts as a purchase; birthday today.
            ("o2", 0.0, 2, "S2", 40.0, 0.3333, date(2026, 1, 10), 2, "M", 36, 0.125, "低", True, "A", None),
            ("o3", 20.0, 1, "S1", None, 0.0, date(2025, 8, 5), 1, "U", None, None, "中", False, "A", "L"),
            # No orders: defaults for counts and sums, nothing else.
            ("o4", 0.0, 0, None, None, None, None, None, None, None, None, "低", False, "A", None),
        ],
        WIDE_DDL,
    )
    assert result.computed == frozenset(item.code for item in planned)
    assertDataFrameEqual(result.wide, expected)


def test_tags_not_due_keep_their_refresh_days_values(spark, sources):
    entries = [entry for entry in GOLDEN_TAGS if entry["code"] in ("spend_180d", "spend_band", "purchases_180d")]
    entries = [{**entry, "refresh": "weekly"} if entry["code"] == "spend_band" else entry for entry in entries]
    planned = engine.plan(catalog(*entries), sources)
    carried = spark.createDataFrame([("o1", "Z"), ("o9", "Y")], "one_id string, spend_band string")
    result = engine.compute(sources, planned, AS_OF, due=frozenset({"spend_180d", "purchases_180d"}), carried=carried)
    expected = spark.createDataFrame(
        [("o1", 150.0, 2, "Z"), ("o2", 0.0, 2, None), ("o3", 20.0, 1, None), ("o4", 0.0, 0, None)],
        "one_id string, spend_180d double, purchases_180d long, spend_band string",
    )
    assert result.computed == frozenset({"spend_180d", "purchases_180d"})
    assertDataFrameEqual(result.wide, expected)
    # Without a carried column the tag is computed after all.
    again = engine.compute(sources, planned, AS_OF, due=frozenset({"spend_180d", "purchases_180d"}), carried=None)
    assert again.computed == frozenset({"spend_180d", "purchases_180d", "spend_band"})


def test_long_form_holds_values_as_text_and_catalog_reports_coverage(spark, sources):
    tags = catalog(*GOLDEN_TAGS)
    everything = engine.plan(tags, sources)
    wide = engine.compute(sources, everything, AS_OF, due=frozenset(item.code for item in everything)).wide
    shown = ("spend_180d", "avg_interval", "last_purchase", "is_active_buyer", "return_share")
    planned = [item for item in everything if item.code in shown]
    values = engine.long_form(wide, planned, AS_OF)
    expected = spark.createDataFrame(
        [
            (AS_OF, "o1", "spend_180d", "150"), (AS_OF, "o1", "avg_interval", "90"), (AS_OF, "o1", "return_share", "0"),
            (AS_OF, "o1", "last_purchase", "2026-01-31"), (AS_OF, "o1", "is_active_buyer", "true"),
            (AS_OF, "o2", "spend_180d", "0"), (AS_OF, "o2", "avg_interval", "40"), (AS_OF, "o2", "return_share", "0.3333"),
            (AS_OF, "o2", "last_purchase", "2026-01-10"), (AS_OF, "o2", "is_active_buyer", "true"),
            (AS_OF, "o3", "spend_180d", "20"), (AS_OF, "o3", "return_share", "0"),
            (AS_OF, "o3", "last_purchase", "2025-08-05"), (AS_OF, "o3", "is_active_buyer", "false"),
            (AS_OF, "o4", "spend_180d", "0"), (AS_OF, "o4", "is_active_buyer", "false"),
        ],
        "ds date, one_id string, tag_code string, tag_value string",
    )
    assertDataFrameEqual(values, expected)
    rows = engine.catalog_rows(wide, values, tags, planned, {item.code: AS_OF for item in planned}, AS_OF)
    summary = rows.select("tag_code", "status", "population", "covered", "coverage", "distinct_values",
                          rows.top_values[0].value.alias("top_value"), rows.numeric_summary["median"].alias("median"))
    assertDataFrameEqual(
        summary,
        spark.createDataFrame(
            [
                ("spend_level", "online", None, None, None, None, None, None),
                ("spend_180d", "online", 4, 4, 1.0, 3, "0", 10.0),
                ("purchases_180d", "online", None, None, None, None, None, None),
                ("favourite_store", "online", None, None, None, None, None, None),
                ("avg_interval", "online", 4, 2, 0.5, 2, "40", 65.0),
                ("return_share", "online", 4, 3, 0.75, 2, "0", 0.0),
                ("last_purchase", "online", 4, 3, 0.75, 3, "2025-08-05", None),
                ("stores", "online", None, None, None, None, None, None),
                ("gender", "online", None, None, None, None, None, None),
                ("age", "online", None, None, None, None, None, None),
                ("is_active_buyer", "online", 4, 4, 1.0, 2, "false", None),
                ("spend_band", "online", None, None, None, None, None, None),
                ("spend_tier", "online", None, None, None, None, None, None),
                ("purchase_prob", "online", None, None, None, None, None, None),
                ("draft_tag", "draft", None, None, None, None, None, None),
            ],
            "tag_code string, status string, population long, covered long, coverage double, distinct_values long, "
            "top_value string, median double",
        ),
    )


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([tag("a", "rule", condition="spend_18d > 1")], "tag a: uses unknown tag 'spend_18d'"),
        ([tag("a", "rule", condition="b"), tag("b", "rule", condition="a")], "tag a: dependency cycle a → b → a"),
        ([tag("a", "rule", condition="b > 1"), tag("b", "statistic", status="offline", source="orders", agg="count")],
         "tag a: uses tag b, which is offline"),
        ([tag("a", "statistic", source="orders", agg="sum", of="store_id")], "tag a: agg sum needs a number"),
        ([tag("a", "statistic", source="orders", agg="max", of="net_paid_amont")],
         "tag a: source orders has no column 'net_paid_amont' \\(did you mean net_paid_amount"),
        ([tag("a", "statistic", source="tickets", agg="count")], "tag a: unknown event source 'tickets'"),
        ([tag("a", "fact", source="profile", column="gender"), tag("b", "bucket", of="a", method="fixed", thresholds=[1],
                                                                   labels=["x", "y"])],
         "tag b: buckets cut a number, and tag a is string"),
        ([tag("a", "model", model="churn")], "tag a: unknown model source 'churn'"),
    ],
)
def test_plan_refuses_a_catalog_that_does_not_fit_naming_the_tag(sources, entries, message):
    with pytest.raises(CatalogError, match=message):
        engine.plan(catalog(*entries), sources)


def test_plan_refuses_a_condition_of_the_wrong_type(sources):
    with pytest.raises(ExpressionError, match="tag a"):
        engine.plan(catalog(tag("a", "statistic", source="orders", agg="count", where="store_id > 3")), sources)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"code": "Bad-Code"}, "must be snake_case"),
        ({**tag("a", "fact", source="profile", column="gender"), "owner": ""}, "tag a \\(tests.yml\\): missing owner"),
        (tag("a", "fact", source="profile"), "exactly one of `column` or `value`"),
        (tag("a", "statistic", source="orders", agg="median", of="x"), "agg 'median' is not one of"),
        (tag("a", "statistic", source="orders", agg="count", window_days=0), "window_days must be a positive"),
        (tag("a", "bucket", of="b", method="fixed", thresholds=[1, 2], labels=["x", "y"]), "2 cut points need 3 labels"),
        (tag("a", "bucket", of="b", method="quantile", quantiles=[0.5, 0.2], labels=["x", "y", "z"]), "strictly ascending"),
        (tag("a", "rule", condition="x", cases=[]), "exactly one of `condition`"),
        ({**tag("a", "rule", condition="x"), "status": "live"}, "status 'live' is not one of"),
        ({**tag("a", "rule", condition="x"), "colour": "red"}, "unknown field\\(s\\) \\['colour'\\]"),
    ],
)
def test_catalog_refuses_malformed_definitions(entry, message):
    with pytest.raises(CatalogError, match=message):
        catalog(entry)


def test_catalog_refuses_a_code_defined_twice():
    with pytest.raises(CatalogError, match="tag a: defined twice, in a.yml and b.yml"):
        parse_catalog({"a.yml": {"tags": [tag("a", "model", model="m")]}, "b.yml": {"tags": [tag("a", "model", model="m")]}})


def test_statistics_of_untouched_identities_keep_their_earlier_values(spark, sources):
    entries = [entry for entry in GOLDEN_TAGS if entry["code"] in ("spend_180d", "purchases_180d", "last_purchase", "spend_level")]
    # Reads the run's date in its condition: a day can change it with no row changing, so it is
    # recomputed for everyone.
    entries.append(tag("recent_orders", "statistic", source="orders", agg="count", where="days_since(order_date) < 30",
                       default=0))
    planned = engine.plan(catalog(*entries), sources)
    # Deliberately stale values, so a kept value is told from a recomputed one; o4 is new.
    earlier_values = spark.createDataFrame(
        [(code, 1.0, 9, date(2000, 1, 1), 77) for code in ("o1", "o2", "o3")],
        "one_id string, spend_180d double, purchases_180d long, last_purchase date, recent_orders long",
    )
    touched = spark.createDataFrame([("o1",), ("o9",)], "one_id string")
    result = engine.compute(sources, planned, AS_OF, due=frozenset(item.code for item in planned),
                            earlier=engine.EarlierStatistics(earlier_values, touched))
    expected = spark.createDataFrame(
        [
            ("o1", 150.0, 2, date(2026, 1, 31), 2, "高"),
            ("o2", 1.0, 9, date(2000, 1, 1), 2, "中"),
            ("o3", 1.0, 9, date(2000, 1, 1), 0, "中"),
            ("o4", 0.0, 0, None, 0, "低"),
        ],
        "one_id string, spend_180d double, purchases_180d long, last_purchase date, recent_orders long, spend_level string",
    )
    assertDataFrameEqual(result.wide, expected)
    assert result.reused == frozenset({"spend_180d", "purchases_180d", "last_purchase"})
    # o1 and o4 (new); o9 is no longer in the population.
    assert result.touched == 2
