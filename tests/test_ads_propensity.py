"""Purchase propensity: features and labels on golden data, the metrics on a hand-worked set,
and whole runs on seeded synthetic buyers, the AUC checked against a Mann–Whitney oracle."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual
from scipy.stats import rankdata

from models.ads import purchase_propensity as pp

AS_OF = date(2026, 3, 31)
ORDERS_SCHEMA = (
    "one_id string, order_key string, order_date date, order_at timestamp_ntz, order_type string, "
    "is_purchase boolean, net_paid_amount decimal(18,2), channel_id string, channel_group string, "
    "store_id string, buyer_key string"
)
EVENTS_SCHEMA = (
    "one_id string, event_id string, event_at timestamp_ntz, event_date date, event_type string, sku_id string"
)


def day(days_before: int, as_of: date = AS_OF) -> date:
    """The date ``days_before`` days before ``as_of`` (negative: after it)."""
    return as_of - timedelta(days=days_before)


def local_frame(spark: SparkSession, rows: list[tuple], schema: str) -> DataFrame:
    """A local relation: no Python worker has to unpickle the rows."""
    return spark.createDataFrame(rows, schema)


def orders_frame(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """Orders from (one_id, order_key, order_date, order_type, is_purchase, amount) tuples."""
    full = [
        (one_id, key, when, None, kind, paid, Decimal(amount), "c1", "store", "s1", f"member:{one_id}")
        for one_id, key, when, kind, paid, amount in rows
    ]
    return local_frame(spark, full, ORDERS_SCHEMA)


def events_frame(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """Events from (one_id, event_date, event_type) tuples."""
    full = [(one_id, f"e{index}", None, when, kind, None) for index, (one_id, when, kind) in enumerate(rows)]
    return local_frame(spark, full, EVENTS_SCHEMA)


# --- golden features and labels -----------------------------------------------------------------

GOLDEN_ORDERS = [
    # a: purchases on each side of every window edge, two on as_of itself, a zero-amount purchase,
    # an unpaid sale order, returns in and out of the year, orders after as_of.
    ("a", "a01", day(0), "sale", True, "100.00"),
    ("a", "a02", day(0), "sale", True, "1.00"),
    ("a", "a03", day(29), "sale", True, "50.00"),
    ("a", "a04", day(30), "sale", True, "0.00"),
    ("a", "a05", day(30), "return", False, "-20.00"),
    ("a", "a06", day(89), "sale", True, "10.00"),
    ("a", "a07", day(90), "sale", True, "10.00"),
    ("a", "a08", day(364), "sale", True, "5.00"),
    ("a", "a09", day(365), "sale", True, "7.00"),
    ("a", "a10", day(365), "return", False, "-3.00"),
    ("a", "a11", day(10), "sale", False, "0.00"),
    ("a", "a12", day(-1), "sale", True, "999.00"),
    ("a", "a13", day(-1), "return", False, "-999.00"),
    # b: one purchase; the next one falls a day past the horizon.
    ("b", "b01", day(100), "sale", True, "30.00"),
    ("b", "b02", day(-91), "sale", True, "30.00"),
    # c: a return and an unpaid sale only: no purchase, not in the population.
    ("c", "c01", day(5), "return", False, "-9.00"),
    ("c", "c02", day(6), "sale", False, "9.00"),
    # d: buys only after as_of.
    ("d", "d01", day(-2), "sale", True, "40.00"),
    # e: an old purchase, a recent return (negative net over the year), a purchase on the last
    # day of the horizon.
    ("e", "e01", day(800), "sale", True, "25.00"),
    ("e", "e02", day(3), "return", False, "-15.00"),
    ("e", "e03", day(-90), "sale", True, "25.00"),
    # f: two purchases on one day; only a return and an unpaid sale in the horizon.
    ("f", "f01", day(50), "sale", True, "8.00"),
    ("f", "f02", day(50), "sale", True, "8.00"),
    ("f", "f03", day(-5), "return", False, "-8.00"),
    ("f", "f04", day(-6), "sale", False, "8.00"),
    # g: a first purchase on as_of itself, nothing after.
    ("g", "g01", day(0), "sale", True, "12.50"),
]

GOLDEN_EVENTS = [
    ("a", day(0), "page_view"),
    ("a", day(29), "add_cart"),
    ("a", day(30), "add_cart"),
    ("a", day(89), "search"),
    ("a", day(90), "add_cart"),
    ("a", day(-1), "add_cart"),
    ("c", day(1), "add_cart"),
    ("e", day(89), "page_view"),
]


def test_features_on_golden_orders_and_events(spark):
    actual = pp.features(orders_frame(spark, GOLDEN_ORDERS), events_frame(spark, GOLDEN_EVENTS), AS_OF)
    # recency, tenure, avg gap, purchases 30/90/365/lifetime, net paid 365/lifetime, returns 365,
    # events 30/90, add carts 90
    expected = [
        ("a", 0.0, 365.0, 365 / 7, 3.0, 5.0, 7.0, 8.0, 156.0, 160.0, 1.0, 2.0, 4.0, 2.0),
        ("b", 100.0, 100.0, 100.0, 0.0, 0.0, 1.0, 1.0, 30.0, 30.0, 0.0, 0.0, 0.0, 0.0),
        ("e", 800.0, 800.0, 800.0, 0.0, 0.0, 0.0, 1.0, -15.0, 10.0, 1.0, 0.0, 1.0, 0.0),
        ("f", 50.0, 50.0, 0.0, 0.0, 2.0, 2.0, 2.0, 16.0, 16.0, 0.0, 0.0, 0.0, 0.0),
        ("g", 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 12.5, 12.5, 0.0, 0.0, 0.0, 0.0),
    ]
    schema = ", ".join(["one_id string", *(f"{name} double" for name in pp.FEATURES)])
    assert actual.columns == list(pp.FEATURE_COLUMNS)
    assertDataFrameEqual(actual, spark.createDataFrame(expected, schema))


def test_features_ignore_everything_after_as_of(spark):
    """Rows dated after as_of change nothing: the frame equals the one built without them."""
    as_of = day(60)
    orders = orders_frame(spark, GOLDEN_ORDERS)
    events = events_frame(spark, GOLDEN_EVENTS)
    held_orders = orders_frame(spark, [row for row in GOLDEN_ORDERS if row[2] <= as_of])
    held_events = events_frame(spark, [row for row in GOLDEN_EVENTS if row[1] <= as_of])
    actual = pp.features(orders, events, as_of)
    assertDataFrameEqual(actual, pp.features(held_orders, held_events, as_of))
    # At 60 days back a has its purchases from 89 days back on, b and e their old ones; f and g
    # have not bought yet.
    assert sorted(row.one_id for row in actual.collect()) == ["a", "b", "e"]


def test_labels_on_golden_orders(spark):
    actual = pp.labels(orders_frame(spark, GOLDEN_ORDERS), AS_OF, horizon_days=90)
    expected = [("a", 1.0), ("b", 0.0), ("e", 1.0), ("f", 0.0), ("g", 0.0)]
    assertDataFrameEqual(actual, spark.createDataFrame(expected, "one_id string, label double"))


# --- metrics ------------------------------------------------------------------------------------

def test_evaluate_on_a_hand_worked_set(spark):
    scored = local_frame(
        spark,
        [("p1", 0.1, 0.0), ("p2", 0.2, 0.0), ("p3", 0.3, 1.0), ("p4", 0.6, 0.0), ("p5", 0.7, 1.0), ("p6", 0.9, 1.0)],
        "one_id string, probability double, label double",
    )
    actual = pp.evaluate(scored, pp.PropensityParams(calibration_bins=2))
    # AUC: 8 of the 9 positive–negative pairs are ordered right. PR area by trapezoids from
    # (0, 1): 1/3 + 1/3 at precision 1, then recall 2/3 → 1 at precision 2/3 → 3/4.
    expected = [
        ("rows", "all", 6.0),
        ("positives", "all", 3.0),
        ("base_rate", "all", 0.5),
        ("mean_predicted", "all", 2.8 / 6),
        ("brier", "all", 1.0 / 6),
        ("auc_roc", "all", 8 / 9),
        ("auc_pr", "all", 2 / 3 + (2 / 3 + 3 / 4) / 2 / 3),
        ("rows", "bin_01", 3.0),
        ("mean_predicted", "bin_01", 0.2),
        ("observed_rate", "bin_01", 1 / 3),
        ("rows", "bin_02", 3.0),
        ("mean_predicted", "bin_02", 2.2 / 3),
        ("observed_rate", "bin_02", 2 / 3),
    ]
    assert [(metric, bucket) for metric, bucket, _ in actual] == [(metric, bucket) for metric, bucket, _ in expected]
    assert [value for *_, value in actual] == pytest.approx([value for *_, value in expected], abs=1e-6)


# --- whole runs on synthetic buyers -------------------------------------------------------------

SYNTHETIC_DAYS = 730
SYNTHETIC_SEED = 20260331


def synthetic_orders(identities: int, seed: int) -> list[tuple]:
    """Buyers with their own purchase rate who may lapse: recent, frequent buyers buy again more.

    Each identity starts on a random day, buys at a gamma-distributed daily rate (a Poisson
    process) and stops after an exponential lifetime; about one purchase in ten is returned.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(identities):
        one_id = f"id{index:05d}"
        start = int(rng.integers(0, SYNTHETIC_DAYS - 30))
        stop = min(SYNTHETIC_DAYS, start + int(rng.exponential(400)) + 1)
        rate = rng.gamma(shape=1.0, scale=1 / 60)
        purchase_days = [start, *sorted(int(d) for d in rng.uniform(start, stop, rng.poisson(rate * (stop - start))))]
        for number, offset in enumerate(purchase_days):
            when = day(SYNTHETIC_DAYS - offset)
            amount = f"{rng.integers(10, 500)}.00"
            rows.append((one_id, f"{one_id}-{number}", when, "sale", True, amount))
            if rng.random() < 0.1 and offset + 7 <= SYNTHETIC_DAYS:
                rows.append((one_id, f"{one_id}-{number}r", when + timedelta(days=7), "return", False, f"-{amount}"))
    return rows


def synthetic_events(orders: list[tuple], seed: int) -> list[tuple]:
    """WeChat events over the last 90 days only, more of them for recent buyers."""
    rng = np.random.default_rng(seed)
    recent = {row[0] for row in orders if row[4] and row[2] > day(90)}
    return [
        (one_id, day(int(rng.integers(0, 90))), str(rng.choice(["page_view", "add_cart", "search"])))
        for one_id in sorted(recent)
        for _ in range(int(rng.poisson(4)))
    ]


def purchase_dates(orders: list[tuple]) -> dict[str, list[date]]:
    dates: dict[str, list[date]] = {}
    for one_id, _, when, _, is_purchase, _ in orders:
        if is_purchase:
            dates.setdefault(one_id, []).append(when)
    return dates


def mann_whitney_auc(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """AUC as the Mann–Whitney U statistic over mid-ranks (ties count one half)."""
    ranks = rankdata(probabilities)
    positives = labels == 1.0
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@pytest.fixture(scope="module")
def synthetic(spark):
    orders = synthetic_orders(1_000, SYNTHETIC_SEED)
    events = synthetic_events(orders, SYNTHETIC_SEED)
    result = pp.run(orders_frame(spark, orders), events_frame(spark, events), AS_OF, pp.PropensityParams())
    return orders, result


def metric_values(run: pp.PropensityRun) -> dict[tuple[str, str], float]:
    return {(row.metric, row.bucket): row.value for row in run.evaluation.collect()}


def test_run_evaluates_out_of_time_and_auc_matches_mann_whitney(synthetic):
    orders, result = synthetic
    assert result.status == pp.STATUS_OK
    evaluation = result.evaluation.collect()
    assert result.evaluation.columns == list(pp.EVAL_COLUMNS)
    assert {(r.ds, r.model_name, r.train_as_of, r.eval_as_of, r.status) for r in evaluation} == {
        (AS_OF, pp.MODEL_NAME, day(180), day(90), pp.STATUS_OK)
    }
    metrics = {(r.metric, r.bucket): r.value for r in evaluation}

    # The hold-out is every buyer up to as_of − 90, labelled by a purchase in the last 90 days.
    holdout = result.holdout.toPandas()
    truth = {
        one_id: float(any(day(90) < when <= AS_OF for when in dates))
        for one_id, dates in purchase_dates(orders).items()
        if min(dates) <= day(90)
    }
    assert dict(zip(holdout.one_id, holdout.label)) == truth

    auc = metrics[("auc_roc", "all")]
    assert 0.6 < auc < 1.0
    oracle = mann_whitney_auc(holdout.probability.to_numpy(), holdout.label.to_numpy())
    assert auc == pytest.approx(oracle, abs=1e-6)

    bins = {bucket: value for (metric, bucket), value in metrics.items() if metric == "rows" and bucket != "all"}
    assert sorted(bins) == [f"bin_{n:02d}" for n in range(1, 11)]
    assert sum(bins.values()) == metrics[("rows", "all")] == len(truth)
    assert metrics[("positives", "all")] == sum(truth.values())
    assert metrics[("brier", "all")] == pytest.approx(
        float(((holdout.probability - holdout.label) ** 2).mean()), abs=1e-6
    )
    # Deciles ascend in predicted probability and, for a useful model, in observed rate overall.
    predicted = [metrics[("mean_predicted", f"bin_{n:02d}")] for n in range(1, 11)]
    observed = [metrics[("observed_rate", f"bin_{n:02d}")] for n in range(1, 11)]
    assert predicted == sorted(predicted)
    assert observed[-1] > observed[0]


def test_run_scores_every_buyer_up_to_as_of(synthetic):
    orders, result = synthetic
    scores = result.scores.toPandas()
    assert list(result.scores.columns) == list(pp.SCORE_COLUMNS)
    assert sorted(scores.one_id) == sorted(purchase_dates(orders))
    assert scores.probability.between(0.0, 1.0).all()
    assert scores.probability.nunique() > 100


def insufficient_evaluation(spark, status: str, train: tuple[int, int], holdout: tuple[int, int]) -> DataFrame:
    rows = [
        ("train_rows", "all", float(train[0])),
        ("train_positives", "all", float(train[1])),
        ("rows", "all", float(holdout[0])),
        ("positives", "all", float(holdout[1])),
    ]
    return spark.createDataFrame(
        [(AS_OF, pp.MODEL_NAME, day(180), day(90), metric, bucket, value, status) for metric, bucket, value in rows],
        pp.EVAL_SCHEMA,
    )


@pytest.fixture(scope="module")
def loyal_orders(spark):
    """300 buyers who each buy every 30 days for two years: everyone buys again, one class."""
    rows = [
        (f"id{index:03d}", f"id{index:03d}-{offset}", day(offset), "sale", True, "10.00")
        for index in range(300)
        for offset in range(index % 30, SYNTHETIC_DAYS, 30)
    ]
    return orders_frame(spark, rows)


def test_run_with_one_class_reports_it_without_a_model(spark, loyal_orders):
    result = pp.run(loyal_orders, events_frame(spark, []), AS_OF, pp.PropensityParams())
    status = (
        f"insufficient_data: training set at {day(180)} has one class only (300 positives of 300 rows); "
        f"evaluation set at {day(90)} has one class only (300 positives of 300 rows)"
    )
    assert result.status == status
    assertDataFrameEqual(result.evaluation, insufficient_evaluation(spark, status, (300, 300), (300, 300)))
    assert result.scores.schema == pp.SCORE_SCHEMA and result.scores.count() == 0
    assert result.holdout.count() == 0


def test_run_with_too_few_rows_reports_it(spark, loyal_orders):
    result = pp.run(loyal_orders, events_frame(spark, []), AS_OF, pp.PropensityParams(min_rows=1_000))
    status = (
        f"insufficient_data: training set at {day(180)} has 300 rows (fewer than 1000); "
        f"evaluation set at {day(90)} has 300 rows (fewer than 1000)"
    )
    assert result.status == status
    assertDataFrameEqual(result.evaluation, insufficient_evaluation(spark, status, (300, 300), (300, 300)))


def test_fit_declines_one_class(spark, loyal_orders):
    train = pp.features(loyal_orders, events_frame(spark, []), day(180)).join(
        pp.labels(loyal_orders, day(180), 90), on="one_id", how="inner"
    )
    assert pp.fit(train, pp.PropensityParams()) is None
