"""ads.member_rfm and ads.member_lifecycle against an independent oracle on seeded random customers.

The oracle shares no code with the models: RFM cut points come from ``numpy.quantile`` (the
fraction form of ``numpy.percentile``, linear interpolation) and the scores and segments from
plain Python rules; the lifecycle stage is simulated day by day from each customer's
first_seen_date, and stage_since is read off the simulated days rather than derived.

The generator clusters last purchases and the gaps between purchase dates around the 180/181 and
365/366-day boundaries, and mixes in same-day purchases, zero amounts, returns (some larger than
the purchases in the window), customers with returns only, prospects, orders after the as-of
dates and identities first seen on or after them.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from models.ads import member_lifecycle, member_rfm
from models.ads.member_lifecycle import LifecycleParams
from models.ads.member_rfm import RfmParams

SEED = 20260331
CUSTOMERS = 300
AS_OF_DATES = (date(2025, 12, 31), date(2026, 3, 31), date(2026, 6, 30))
# Days before an as-of date for a last purchase, and days between purchase dates, on the edges.
BOUNDARY_AGES = (0, 1, 179, 180, 181, 182, 364, 365, 366, 367)
BOUNDARY_GAPS = (1, 2, 180, 181, 182, 183, 365, 366, 367)
ORDERS_DDL = (
    "one_id string, order_key string, order_date date, order_at timestamp_ntz, order_type string, "
    "is_purchase boolean, net_paid_amount decimal(18,2), channel_id string, channel_group string, "
    "store_id string, buyer_key string"
)
IDENTITIES_DDL = "one_id string, first_seen_date date"

THRESHOLDS = RfmParams(
    score_method="thresholds",
    recency_thresholds=(30, 90, 180, 365),
    frequency_thresholds=(0, 1, 2, 4),
    monetary_thresholds=(0, 100, 300, 800),
)
SHORT_LIFECYCLE = LifecycleParams(
    sleeping_after_days=60, churned_after_days=120, repeat_from_orders=3, loyal_from_orders=4
)


@dataclass(frozen=True)
class Order:
    one_id: str
    order_date: date
    amount: Decimal

    @property
    def is_purchase(self) -> bool:
        return self.amount >= 0


@dataclass(frozen=True)
class Customer:
    one_id: str
    first_seen_date: date
    orders: tuple[Order, ...]


def cents(rng: random.Random, high: int) -> Decimal:
    return Decimal(rng.randint(0, high)) / 100


def generate(rng: random.Random) -> list[Customer]:
    customers = []
    for index in range(CUSTOMERS):
        one_id = f"m{index:04d}"
        kind = rng.random()
        if kind < 0.1:
            seen = rng.choice(AS_OF_DATES) - timedelta(days=rng.choice((0, 0, 1, rng.randint(2, 500))))
            customers.append(Customer(one_id, seen, ()))
            continue
        anchor = rng.choice(AS_OF_DATES)
        age = rng.choice(BOUNDARY_AGES) if rng.random() < 0.6 else rng.randint(-30, 700)
        dates = [anchor - timedelta(days=age)]
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2, 3, 4, 6))):
            gap = rng.choice(BOUNDARY_GAPS) if rng.random() < 0.5 else rng.randint(1, 120)
            dates.append(dates[-1] - timedelta(days=gap))
        orders = []
        for day in dates:
            for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3)):
                amount = Decimal("0.00") if rng.random() < 0.15 else cents(rng, 50000)
                orders.append(Order(one_id, day, amount))
        if kind < 0.15:
            orders = [Order(one_id, o.order_date, -o.amount - Decimal("0.01")) for o in orders]
        elif rng.random() < 0.3:
            for _ in range(rng.randint(1, 2)):
                day = rng.choice(dates) + timedelta(days=rng.randint(0, 40))
                orders.append(Order(one_id, day, -cents(rng, 60000) - Decimal("0.01")))
        earliest = min(o.order_date for o in orders)
        seen = earliest - timedelta(days=rng.choice((0, 0, rng.randint(1, 90))))
        customers.append(Customer(one_id, seen, tuple(orders)))
    return customers


CUSTOMER_LIST = generate(random.Random(SEED))


@pytest.fixture(scope="module")
def orders(spark: SparkSession) -> DataFrame:
    rows = []
    for customer in CUSTOMER_LIST:
        for number, o in enumerate(customer.orders):
            kind = "sale" if o.is_purchase else "return"
            rows.append(
                (
                    o.one_id, f"o:{o.one_id}:{number}", o.order_date, datetime.combine(o.order_date, time(12)),
                    kind, o.is_purchase, o.amount, "ecom:tmall", "ecom", None, f"buyer:tmall:{o.one_id}",
                )
            )
    # Materialized once: the models scan orders several times per run, and a frame built from a
    # Python list would be re-read through Python workers on every scan.
    return spark.createDataFrame(rows, ORDERS_DDL).localCheckpoint()


@pytest.fixture(scope="module")
def identities(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([(c.one_id, c.first_seen_date) for c in CUSTOMER_LIST], IDENTITIES_DDL).localCheckpoint()


# RFM oracle -------------------------------------------------------------------------------------


def oracle_rfm(as_of: date, params: RfmParams) -> list[tuple]:
    base = []
    for customer in CUSTOMER_LIST:
        held = [o for o in customer.orders if o.order_date <= as_of]
        bought = sorted(o.order_date for o in held if o.is_purchase)
        if not bought:
            continue
        inside = [o for o in held if (as_of - o.order_date).days < params.window_days]
        frequency = sum(1 for o in inside if o.is_purchase)
        monetary = sum((o.amount for o in inside), Decimal("0.00"))
        base.append((customer.one_id, (as_of - bought[-1]).days, frequency, monetary, bought[0], bought[-1]))
    metrics = {name: [row[i] for row in base] for i, name in ((1, "r"), (2, "f"), (3, "m"))}
    if params.score_method == "quantile":
        cuts = {
            name: list(np.quantile(np.array([float(v) for v in values]), params.quantiles))
            for name, values in metrics.items()
        }
    else:
        cuts = {"r": params.recency_thresholds, "f": params.frequency_thresholds, "m": params.monetary_thresholds}

    def bucket(value, name: str) -> int:
        return 1 + sum(1 for cut in cuts[name] if float(value) > cut)

    scores = [
        (6 - bucket(recency, "r"), bucket(frequency, "f"), bucket(monetary, "m"))
        for _, recency, frequency, monetary, _, _ in base
    ]
    means = np.array(scores, dtype=float).mean(axis=0)
    rows = []
    for (one_id, recency, frequency, monetary, first, last), score in zip(base, scores):
        high = tuple(bool(s > mean) for s, mean in zip(score, means))
        code, name = member_rfm.SEGMENTS[high]
        rows.append((as_of, one_id, recency, frequency, monetary, *score, code, name, first, last))
    return rows


# Lifecycle oracle -------------------------------------------------------------------------------


def stage_on(day: date, bought: list[date], params: LifecycleParams) -> str:
    held = [d for d in bought if d <= day]
    if not held:
        return "prospect"
    recency = (day - held[-1]).days
    if recency > params.churned_after_days:
        return "churned"
    if recency > params.sleeping_after_days:
        return "sleeping"
    if len(held) >= params.loyal_from_orders:
        return "loyal"
    return "repeat" if len(held) >= params.repeat_from_orders else "new"


def simulate(customer: Customer, until: date, params: LifecycleParams) -> dict[date, str]:
    """The stage on every day from first_seen_date to ``until``."""
    bought = sorted(o.order_date for o in customer.orders if o.is_purchase)
    stages = {}
    day = customer.first_seen_date
    while day <= until:
        stages[day] = stage_on(day, bought, params)
        day += timedelta(days=1)
    return stages


def oracle_lifecycle(as_of: date, params: LifecycleParams, histories: dict[str, dict[date, str]]):
    """Lifecycle rows and transition rows for ``as_of`` from simulated daily stages.

    Args:
        histories: per one_id, the simulated stage of every day up to at least ``as_of``
            (a day's stage depends only on purchases up to that day).
    """
    rows, pairs = [], Counter()
    for customer in CUSTOMER_LIST:
        if customer.first_seen_date > as_of:
            continue
        stages = histories[customer.one_id]
        stage = stages[as_of]
        since = as_of
        while since - timedelta(days=1) in stages and stages[since - timedelta(days=1)] == stage:
            since -= timedelta(days=1)
        bought = sorted(o.order_date for o in customer.orders if o.is_purchase and o.order_date <= as_of)
        first, last = (bought[0], bought[-1]) if bought else (None, None)
        recency = (as_of - last).days if bought else None
        rows.append((as_of, customer.one_id, stage, since, len(bought), first, last, recency))
        pairs[(stages.get(as_of - timedelta(days=1), "none"), stage)] += 1
    transitions = [(as_of, before, after, count) for (before, after), count in pairs.items()]
    return rows, transitions


def union(frames: list[DataFrame]) -> DataFrame:
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


# Tests ------------------------------------------------------------------------------------------


def test_generator_covers_the_awkward_cases() -> None:
    ages = Counter()
    for customer in CUSTOMER_LIST:
        for as_of in AS_OF_DATES:
            bought = [o.order_date for o in customer.orders if o.is_purchase and o.order_date <= as_of]
            if bought:
                ages[(as_of - max(bought)).days] += 1
    assert all(ages[age] > 0 for age in (180, 181, 365, 366))
    assert any(not c.orders for c in CUSTOMER_LIST)
    assert any(c.orders and not any(o.is_purchase for o in c.orders) for c in CUSTOMER_LIST)
    assert any(o.amount == 0 for c in CUSTOMER_LIST for o in c.orders)
    assert any(c.first_seen_date in AS_OF_DATES for c in CUSTOMER_LIST)
    same_day = Counter((o.one_id, o.order_date) for c in CUSTOMER_LIST for o in c.orders if o.is_purchase)
    assert max(same_day.values()) > 1


# The default parameters on every as-of date; the others on one, which is enough for their plumbing.
@pytest.mark.parametrize(
    ("params", "dates"), [(RfmParams(), AS_OF_DATES), (THRESHOLDS, AS_OF_DATES[1:2])], ids=["quantile", "thresholds"]
)
def test_rfm_matches_oracle(
    spark: SparkSession, orders: DataFrame, params: RfmParams, dates: tuple[date, ...]
) -> None:
    actual = union([member_rfm.build(orders, as_of, params) for as_of in dates])
    expected = [row for as_of in dates for row in oracle_rfm(as_of, params)]
    assertDataFrameEqual(actual, spark.createDataFrame(expected, actual.schema))


@pytest.mark.parametrize(
    ("params", "dates"),
    [(LifecycleParams(), AS_OF_DATES), (SHORT_LIFECYCLE, AS_OF_DATES[1:2])],
    ids=["default", "short"],
)
def test_lifecycle_and_transitions_match_oracle(
    spark: SparkSession, orders: DataFrame, identities: DataFrame, params: LifecycleParams, dates: tuple[date, ...]
) -> None:
    histories = {c.one_id: simulate(c, max(dates), params) for c in CUSTOMER_LIST}
    rows, transitions = [], []
    for as_of in dates:
        day_rows, day_transitions = oracle_lifecycle(as_of, params, histories)
        rows += day_rows
        transitions += day_transitions
    actual = union([member_lifecycle.build(orders, identities, as_of, params) for as_of in dates])
    assertDataFrameEqual(actual, spark.createDataFrame(rows, actual.schema))
    actual_transitions = union([member_lifecycle.transitions(orders, identities, as_of, params) for as_of in dates])
    assertDataFrameEqual(actual_transitions, spark.createDataFrame(transitions, actual_transitions.schema))
