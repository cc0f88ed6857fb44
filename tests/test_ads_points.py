"""The shipped points tags on a small golden ledger: spendable points (base, bonus) and grade
points (成长值) are summed apart, from ``cdm.fct_points`` rows through ``models.ads.base.points``
and the tag engine, against sums worked out by hand."""

from __future__ import annotations

from datetime import date

from pyspark.testing import assertDataFrameEqual

from jobs.config import load_tag_catalog
from models.ads import base
from tags import engine

AS_OF = date(2026, 1, 31)
POINTS_TAGS = ("points_balance", "points_earned_365d", "grade_points")
LEDGER_DDL = (
    "ledger_id string, member_id string, txn_date date, points_type string, points_change int, reason string, "
    "source_dt date"
)
LEDGER = [
    ("L01", "M1", date(2026, 1, 10), "base", 100, "order"),
    ("L02", "M1", date(2026, 1, 10), "bonus", 51, "order"),
    ("L03", "M1", date(2026, 1, 10), "grade", 100, "order"),
    ("L04", "M1", date(2026, 1, 20), "base", -30, "redeem"),
    # Exactly 365 days before: in the balance, outside the 365-day window.
    ("L05", "M1", date(2025, 1, 31), "base", 40, "adjust"),
    ("L06", "M1", date(2025, 6, 1), "grade", 10, "order"),
    # After the as-of date: in no tag.
    ("L07", "M1", date(2026, 2, 1), "base", 500, "order"),
    # Grade points only: nothing to spend.
    ("L08", "M2", date(2026, 1, 5), "grade", 200, "order"),
    ("L09", "M3", date(2026, 1, 5), "base", -20, "expire"),
    # A member OneID does not know: no identity's points.
    ("L10", "M9", date(2026, 1, 5), "base", 999, "order"),
]
# (one_id, points_balance, points_earned_365d, grade_points), summed by hand from LEDGER.
EXPECTED = [
    ("o1", 100.0 + 51 - 30 + 40, 100.0 + 51, 100.0 + 10),
    ("o2", 0.0, 0.0, 200.0),
    ("o3", -20.0, 0.0, 0.0),
    ("o4", 0.0, 0.0, 0.0),  # no member: the defaults
]


def test_points_tags_sum_spendable_and_grade_points_apart(spark):
    ledger = spark.createDataFrame([(*entry, entry[2]) for entry in LEDGER], LEDGER_DDL)
    members = spark.createDataFrame([("M1", "o1"), ("M2", "o2"), ("M3", "o3")], "member_id string, one_id string")
    population = spark.createDataFrame([("o1",), ("o2",), ("o3",), ("o4",)], "one_id string")
    sources = engine.TagSources(
        population=population, events={"points": engine.EventSource(base.points(ledger, members), "txn_date")},
        identity={}, models={},
    )
    shipped = [tag for tag in load_tag_catalog() if tag.code in POINTS_TAGS]
    assert sorted(tag.code for tag in shipped) == sorted(POINTS_TAGS)

    planned = engine.plan(shipped, sources)
    wide = engine.compute(sources, planned, AS_OF, due=frozenset(POINTS_TAGS)).wide
    assertDataFrameEqual(
        wide.select("one_id", *POINTS_TAGS),
        spark.createDataFrame(EXPECTED, "one_id string, points_balance double, points_earned_365d double, "
                                        "grade_points double"),
    )
