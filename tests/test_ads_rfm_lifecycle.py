"""ads.member_rfm and ads.member_lifecycle on hand-written orders with the boundary days.

Every date is written as days before AS_OF. The customers:

c01 one purchase 180 days ago (still new)        c02 one purchase 181 days ago (sleeping today)
c03 one purchase 365 days ago (sleeping; outside the RFM window)
c04 one purchase 366 days ago (churned today)    c05 two purchases on one day (straight to repeat)
c06 fifth purchase today (loyal today)          c07 second purchase, then a return in the window
c08 repeat customer back 50 days ago after 182 days (asleep the day before: same tier, new run)
c09 1 + 3 same-day + 1 (zero) purchases, loyal since the fifth; then back after 181 days
    (awake the day before: the run goes on) and once more
c10 returns only (prospect, not in RFM)         c11 first seen today, no orders
c12 a zero-amount sale                          c13 orders after AS_OF (ignored)
c14 first seen yesterday, first purchase today  c15 purchases 365 and 364 days ago, returns in
    and out of the window (negative monetary)   c16 five purchases on one day, long churned
c17 churned, back today                         c18 first seen and first purchase today
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from models.ads import member_lifecycle, member_rfm
from models.ads.member_lifecycle import LifecycleParams
from models.ads.member_rfm import RfmParams

AS_OF = date(2026, 3, 31)
D = Decimal
ORDERS_DDL = (
    "one_id string, order_key string, order_date date, order_at timestamp_ntz, order_type string, "
    "is_purchase boolean, net_paid_amount decimal(18,2), channel_id string, channel_group string, "
    "store_id string, buyer_key string"
)
IDENTITIES_DDL = "one_id string, first_seen_date date"
RFM_DDL = (
    "ds date, one_id string, recency_days int, frequency bigint, monetary decimal(18,2), r_score int, "
    "f_score int, m_score int, rfm_segment string, rfm_segment_name string, first_purchase_date date, "
    "last_purchase_date date"
)
LIFECYCLE_DDL = (
    "ds date, one_id string, stage string, stage_since date, order_count bigint, first_order_date date, "
    "last_order_date date, recency_days int"
)
TRANSITIONS_DDL = "ds date, from_stage string, to_stage string, one_ids bigint"


def ago(days: int) -> date:
    return AS_OF - timedelta(days=days)


def order(one_id: str, days_ago: int, amount: str, number: int = 1) -> tuple:
    """A sale (amount ≥ 0) or a return (amount < 0) of one_id, ``number`` telling same-day orders apart."""
    day = ago(days_ago)
    is_return = amount.startswith("-")
    kind = "return" if is_return else "sale"
    return (
        one_id, f"pos:{one_id}:{day.isoformat()}:{kind}:{number}", day, datetime.combine(day, time(10, number)),
        kind, not is_return, D(amount), "store:s1", "store", "s1", f"member:{one_id}",
    )


ORDERS = [
    order("c01", 180, "100.00"),
    order("c02", 181, "80.00"),
    order("c03", 365, "300.00"),
    order("c04", 366, "500.00"),
    order("c05", 10, "20.00", 1),
    order("c05", 10, "30.00", 2),
    *[order("c06", days, "10.00") for days in (100, 80, 60, 40)],
    order("c06", 0, "60.00"),
    order("c07", 50, "40.00"),
    order("c07", 20, "40.00"),
    order("c07", 15, "-45.00"),
    order("c08", 400, "200.00"),
    order("c08", 232, "200.00"),
    order("c08", 50, "100.00"),
    order("c09", 300, "10.00"),
    *[order("c09", 290, "5.00", number) for number in (1, 2, 3)],
    order("c09", 280, "0.00"),
    order("c09", 99, "5.00"),
    order("c09", 50, "5.00"),
    order("c10", 30, "-25.00"),
    order("c12", 5, "0.00"),
    order("c13", 30, "70.00"),
    order("c13", -1, "999.00"),
    order("c13", -2, "-70.00"),
    order("c14", 0, "90.00"),
    order("c15", 395, "-30.00"),
    order("c15", 365, "100.00"),
    order("c15", 364, "50.00"),
    order("c15", 10, "-80.00"),
    *[order("c16", 700, "10.00", number) for number in range(1, 6)],
    order("c17", 500, "400.00"),
    order("c17", 0, "150.00"),
    order("c18", 0, "20.00"),
]

FIRST_SEEN = {
    "c01": 200, "c02": 181, "c03": 400, "c04": 366, "c05": 10, "c06": 100, "c07": 50, "c08": 450, "c09": 300,
    "c10": 60, "c11": 0, "c12": 5, "c13": 30, "c14": 1, "c15": 395, "c16": 800, "c17": 500, "c18": 0,
}
# Not known on AS_OF: a later identity that a backfill must leave out.
FIRST_SEEN_LATER = {"c19": -3}

# one_id -> recency_days, frequency, monetary, first purchase (days ago), last purchase (days ago)
RFM_BASE = {
    "c01": (180, 1, "100.00", 180, 180),
    "c02": (181, 1, "80.00", 181, 181),
    "c03": (365, 0, "0.00", 365, 365),
    "c04": (366, 0, "0.00", 366, 366),
    "c05": (10, 2, "50.00", 10, 10),
    "c06": (0, 5, "100.00", 100, 0),
    "c07": (20, 2, "35.00", 50, 20),
    "c08": (50, 2, "300.00", 400, 50),
    "c09": (50, 7, "35.00", 300, 50),
    "c12": (5, 1, "0.00", 5, 5),
    "c13": (30, 1, "70.00", 30, 30),
    "c14": (0, 1, "90.00", 0, 0),
    "c15": (364, 1, "-30.00", 365, 364),
    "c16": (700, 0, "0.00", 700, 700),
    "c17": (0, 1, "150.00", 500, 0),
    "c18": (0, 1, "20.00", 0, 0),
}


@pytest.fixture(scope="module")
def orders(spark: SparkSession) -> DataFrame:
    # Materialized once: the models scan orders several times per run, and a frame built from a
    # Python list would be re-read through Python workers on every scan.
    return spark.createDataFrame(ORDERS, ORDERS_DDL).localCheckpoint()


@pytest.fixture(scope="module")
def identities(spark: SparkSession) -> DataFrame:
    rows = [(one_id, ago(days)) for one_id, days in {**FIRST_SEEN, **FIRST_SEEN_LATER}.items()]
    return spark.createDataFrame(rows, IDENTITIES_DDL).localCheckpoint()


def rfm_rows(scores: dict[str, tuple[int, int, int, str]]) -> list[tuple]:
    names = dict(member_rfm.SEGMENTS.values())
    rows = []
    for one_id, (recency, frequency, monetary, first, last) in RFM_BASE.items():
        r, f, m, segment = scores[one_id]
        rows.append(
            (AS_OF, one_id, recency, frequency, D(monetary), r, f, m, segment, names[segment], ago(first), ago(last))
        )
    return rows


def test_rfm_quantile_scores_and_segments(spark: SparkSession, orders: DataFrame) -> None:
    # Sorted populations of 16, so the 20/40/60/80 % cut points are the 4th, 7th, 10th, 13th values:
    # recency 0 0 0 [0] 5 10 [20] 30 50 [50] 180 181 [364] 365 366 700 → cuts 0, 20, 50, 364
    # frequency 0 0 0 [1] 1 1 [1] 1 1 [1] 1 1 [2] 2 2 5 7 → cuts 1, 1, 1, 2 (a run of ties)
    # monetary -30 0 0 [0] 0 20 [35] 35 50 [70] 80 90 [100] 100 150 300 → cuts 0, 35, 70, 100
    # A value on a cut point stays below it. Mean scores: r 50/16, f 33/16, m 43/16.
    scores = {
        "c01": (2, 1, 4, "important_winback"),
        "c02": (2, 1, 4, "important_winback"),
        "c03": (1, 1, 1, "general_winback"),
        "c04": (1, 1, 1, "general_winback"),
        "c05": (4, 4, 3, "important_value"),
        "c06": (5, 5, 4, "important_value"),
        "c07": (4, 4, 2, "general_value"),
        "c08": (3, 4, 5, "important_retain"),
        "c09": (3, 5, 2, "general_retain"),
        "c12": (4, 1, 1, "general_develop"),
        "c13": (3, 1, 3, "important_winback"),
        "c14": (5, 1, 4, "important_develop"),
        "c15": (2, 1, 1, "general_winback"),
        "c16": (1, 1, 1, "general_winback"),
        "c17": (5, 1, 5, "important_develop"),
        "c18": (5, 1, 2, "general_develop"),
    }
    actual = member_rfm.build(orders, AS_OF, RfmParams())
    assertDataFrameEqual(actual, spark.createDataFrame(rfm_rows(scores), RFM_DDL))


def test_rfm_thresholds_use_the_same_tie_rule(spark: SparkSession, orders: DataFrame) -> None:
    params = RfmParams(
        score_method="thresholds",
        recency_thresholds=(7, 30, 90, 365),
        frequency_thresholds=(0, 1, 2, 4),
        monetary_thresholds=(0, 50, 100, 200),
    )
    # Mean scores: r 53/16, f 38/16, m 38/16.
    scores = {
        "c01": (2, 2, 3, "important_winback"),
        "c02": (2, 2, 3, "important_winback"),
        "c03": (2, 1, 1, "general_winback"),
        "c04": (1, 1, 1, "general_winback"),
        "c05": (4, 3, 2, "general_value"),
        "c06": (5, 5, 3, "important_value"),
        "c07": (4, 3, 2, "general_value"),
        "c08": (3, 3, 5, "important_retain"),
        "c09": (3, 5, 2, "general_retain"),
        "c12": (5, 2, 1, "general_develop"),
        "c13": (4, 2, 3, "important_develop"),
        "c14": (5, 2, 3, "important_develop"),
        "c15": (2, 2, 1, "general_winback"),
        "c16": (1, 1, 1, "general_winback"),
        "c17": (5, 2, 4, "important_develop"),
        "c18": (5, 2, 2, "general_develop"),
    }
    actual = member_rfm.build(orders, AS_OF, params)
    assertDataFrameEqual(actual, spark.createDataFrame(rfm_rows(scores), RFM_DDL))


def test_rfm_scores_equal_to_the_mean_are_low_and_empty_population_keeps_the_schema(spark: SparkSession) -> None:
    same = spark.createDataFrame(
        [order("a", 3, "10.00"), order("b", 3, "10.00"), order("z", 2, "-5.00"), order("y", -1, "10.00")],
        ORDERS_DDL,
    )
    expected = [
        (AS_OF, one_id, 3, 1, D("10.00"), 5, 1, 1, "general_winback", "一般挽留客户", ago(3), ago(3))
        for one_id in ("a", "b")
    ]
    assertDataFrameEqual(
        member_rfm.build(same, AS_OF, RfmParams()), spark.createDataFrame(expected, RFM_DDL)
    )
    nobody = member_rfm.build(same.where("one_id in ('y', 'z')"), AS_OF, RfmParams())
    assertDataFrameEqual(nobody, spark.createDataFrame([], RFM_DDL))


def test_lifecycle_stages_and_stage_since(orders: DataFrame, identities: DataFrame, spark: SparkSession) -> None:
    rows = [
        # one_id, stage, stage_since, order_count, first order, last order (days ago)
        ("c01", "new", ago(180), 1, 180, 180),
        ("c02", "sleeping", ago(0), 1, 181, 181),
        ("c03", "sleeping", ago(184), 1, 365, 365),
        ("c04", "churned", ago(0), 1, 366, 366),
        ("c05", "repeat", ago(10), 2, 10, 10),
        ("c06", "loyal", ago(0), 5, 100, 0),
        ("c07", "repeat", ago(20), 2, 50, 20),
        ("c08", "repeat", ago(50), 3, 400, 50),
        ("c09", "loyal", ago(280), 7, 300, 50),
        ("c10", "prospect", ago(60), 0, None, None),
        ("c11", "prospect", ago(0), 0, None, None),
        ("c12", "new", ago(5), 1, 5, 5),
        ("c13", "new", ago(30), 1, 30, 30),
        ("c14", "new", ago(0), 1, 0, 0),
        ("c15", "sleeping", ago(183), 2, 365, 364),
        ("c16", "churned", ago(334), 5, 700, 700),
        ("c17", "repeat", ago(0), 2, 500, 0),
        ("c18", "new", ago(0), 1, 0, 0),
    ]
    expected = [
        (
            AS_OF, one_id, stage, since, count,
            None if first is None else ago(first), None if last is None else ago(last), last,
        )
        for one_id, stage, since, count, first, last in rows
    ]
    actual = member_lifecycle.build(orders, identities, AS_OF, LifecycleParams())
    assertDataFrameEqual(actual, spark.createDataFrame(expected, LIFECYCLE_DDL))


def test_lifecycle_transitions(orders: DataFrame, identities: DataFrame, spark: SparkSession) -> None:
    pairs = [
        ("new", "new", 3),  # c01 c12 c13
        ("new", "sleeping", 1),  # c02
        ("sleeping", "sleeping", 2),  # c03 c15
        ("sleeping", "churned", 1),  # c04
        ("repeat", "repeat", 3),  # c05 c07 c08
        ("repeat", "loyal", 1),  # c06
        ("loyal", "loyal", 1),  # c09
        ("prospect", "prospect", 1),  # c10
        ("none", "prospect", 1),  # c11
        ("prospect", "new", 1),  # c14
        ("churned", "churned", 1),  # c16
        ("churned", "repeat", 1),  # c17
        ("none", "new", 1),  # c18
    ]
    actual = member_lifecycle.transitions(orders, identities, AS_OF, LifecycleParams())
    expected = spark.createDataFrame([(AS_OF, *pair) for pair in pairs], TRANSITIONS_DDL)
    assertDataFrameEqual(actual, expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"score_method": "deciles"},
        {"quantiles": (0.2, 0.4, 0.6)},
        {"quantiles": (0.2, 0.6, 0.4, 0.8)},
        {"quantiles": (0.2, 0.4, 0.6, 1.2)},
        {"window_days": 0},
        {"score_method": "thresholds", "recency_thresholds": (7, 30, 90, 365)},
    ],
)
def test_rfm_params_reject_bad_cut_points(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RfmParams(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sleeping_after_days": 400},
        {"sleeping_after_days": -1},
        {"repeat_from_orders": 1},
        {"repeat_from_orders": 6},
    ],
)
def test_lifecycle_params_reject_inconsistent_thresholds(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        LifecycleParams(**kwargs)
