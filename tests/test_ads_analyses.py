"""ADS analyses on small golden data: repurchase funnel, retention cohorts, channel overlap and
AIPL. Every expected frame is written out by hand; the funnel and the cohorts are also checked
against plain pandas on random orders.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from models.ads import aipl, channel_overlap, repurchase_funnel, retention_cohort
from oracles import spark_percentile

D = Decimal
ORDERS_DDL = (
    "one_id string, order_key string, order_date date, order_at timestamp_ntz, order_type string, "
    "is_purchase boolean, net_paid_amount decimal(18,2), channel_id string, channel_group string, "
    "store_id string, buyer_key string"
)
EVENTS_DDL = (
    "one_id string, event_id string, event_at timestamp_ntz, event_date date, event_type string, sku_id string"
)
FUNNEL_DDL = (
    "ds date, channel string, purchase_number int, buyers bigint, buyers_next bigint, repurchase_rate double, "
    "avg_days_to_next double"
)
COHORT_DDL = (
    "ds date, cohort_month date, months_since int, cohort_buyers bigint, retained_buyers bigint, "
    "retention_rate double, is_partial_month boolean"
)
OVERLAP_DDL = (
    "ds date, combination string, combination_name string, has_pos boolean, has_ecom boolean, has_wechat boolean, "
    "persons bigint, share double, source_keys bigint"
)
MEMBER_DDL = (
    "ds date, one_id string, aipl_stage string, is_aware boolean, is_interested boolean, is_purchaser boolean, "
    "is_loyal boolean"
)
SUMMARY_DDL = "ds date, stage string, stage_order int, members bigint, members_reached bigint, share double"


def order(
    one_id: str,
    order_key: str,
    at: str,
    channel_group: str | None = "store",
    amount: str = "100.00",
    order_type: str = "sale",
    is_purchase: bool | None = None,
    buyer_key: str | None = None,
) -> tuple:
    """An ``orders`` row; a sale is a purchase unless told otherwise, a return never is."""
    order_at = datetime.fromisoformat(at)
    return (
        one_id, order_key, order_at.date(), order_at, order_type,
        order_type == "sale" if is_purchase is None else is_purchase, D(amount), f"{channel_group or 'unknown'}:1",
        channel_group, "S1" if channel_group == "store" else None, buyer_key or f"member:{one_id}",
    )


def event(one_id: str, event_id: str, at: str, event_type: str) -> tuple:
    event_at = datetime.fromisoformat(at)
    return (one_id, event_id, event_at, event_at.date(), event_type, None)


def frame(spark: SparkSession, ddl: str, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, ddl)


def half_up(value: Fraction, places: int) -> float:
    """Rounds like Spark's round(): half away from zero, on the exact value."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


# --- repurchase funnel -----------------------------------------------------------------------

FUNNEL_AS_OF = date(2026, 3, 31)
FUNNEL_ORDERS = [
    # u1: two purchases at the same second (o1a before o1b by key), a zero-amount one, five in all.
    order("u1", "o1b", "2026-01-05 10:00:00", "ecom", "50.00"),
    order("u1", "o1a", "2026-01-05 10:00:00", "store"),
    order("u1", "o1c", "2026-01-15 09:00:00", "store", "0.00"),
    order("u1", "o1d", "2026-02-14 18:00:00", "store", "80.00"),
    order("u1", "o1e", "2026-03-01 12:00:00", "store", "20.00"),
    # u2: a return and an unpaid sale between two ecom purchases are not purchases.
    order("u2", "o2a", "2026-02-01 08:00:00", "ecom"),
    order("u2", "o2r", "2026-02-05 08:00:00", "ecom", "-100.00", "return"),
    order("u2", "o2u", "2026-02-10 08:00:00", "ecom", "0.00", is_purchase=False),
    order("u2", "o2b", "2026-02-21 08:00:00", "ecom", "30.00"),
    # u3: one WeChat purchase; the next one comes after as_of.
    order("u3", "o3a", "2026-03-10 20:00:00", "wechat", "60.00"),
    order("u3", "o3b", "2026-04-02 20:00:00", "store"),
    # u4: a purchase exactly 90 days before as_of and one on as_of itself.
    order("u4", "o4a", "2025-12-31 10:00:00", "store", "10.00"),
    order("u4", "o4b", "2026-03-31 23:59:59", "store", "10.00"),
    # u5: an order whose channel is not in the channel dimension.
    order("u5", "o5a", "2026-03-15 10:00:00", None),
]


def test_funnel_numbers_purchases_per_channel_over_all_history(spark):
    orders = frame(spark, ORDERS_DDL, FUNNEL_ORDERS)
    actual = repurchase_funnel.build(orders, FUNNEL_AS_OF, repurchase_funnel.Params(max_purchases=3))
    ds = FUNNEL_AS_OF
    expected = frame(spark, FUNNEL_DDL, [
        # all: u1 gaps 0, 10, 30 (15 is past n = 3); u2 20; u4 90; u3 and u5 never came back.
        (ds, "all", 1, 5, 3, 0.6, 36.7),
        (ds, "all", 2, 3, 1, 0.3333, 10.0),
        (ds, "all", 3, 1, 1, 1.0, 30.0),
        (ds, "store", 1, 2, 2, 1.0, 50.0),
        (ds, "store", 2, 2, 1, 0.5, 30.0),
        (ds, "store", 3, 1, 1, 1.0, 15.0),
        (ds, "ecom", 1, 2, 1, 0.5, 20.0),
        (ds, "ecom", 2, 1, 0, 0.0, None),
        (ds, "wechat", 1, 1, 0, 0.0, None),
        (ds, "unknown", 1, 1, 0, 0.0, None),
    ])
    assertDataFrameEqual(actual, expected)


def test_funnel_window_leaves_out_a_purchase_exactly_window_days_ago(spark):
    orders = frame(spark, ORDERS_DDL, FUNNEL_ORDERS)
    actual = repurchase_funnel.build(orders, FUNNEL_AS_OF, repurchase_funnel.Params(window_days=90))
    ds = FUNNEL_AS_OF
    expected = frame(spark, FUNNEL_DDL, [
        (ds, "all", 1, 5, 2, 0.4, 10.0),
        (ds, "all", 2, 2, 1, 0.5, 10.0),
        (ds, "all", 3, 1, 1, 1.0, 30.0),
        (ds, "all", 4, 1, 1, 1.0, 15.0),
        (ds, "all", 5, 1, 0, 0.0, None),
        (ds, "store", 1, 2, 1, 0.5, 10.0),
        (ds, "store", 2, 1, 1, 1.0, 30.0),
        (ds, "store", 3, 1, 1, 1.0, 15.0),
        (ds, "store", 4, 1, 0, 0.0, None),
        (ds, "ecom", 1, 2, 1, 0.5, 20.0),
        (ds, "ecom", 2, 1, 0, 0.0, None),
        (ds, "wechat", 1, 1, 0, 0.0, None),
        (ds, "unknown", 1, 1, 0, 0.0, None),
    ])
    assertDataFrameEqual(actual, expected)


# --- retention cohorts -----------------------------------------------------------------------

COHORT_ORDERS = [
    # r0 first bought in October, so its December purchase is retention, not a December cohort.
    order("r0", "c0a", "2025-10-20 10:00:00"),
    order("r0", "c0b", "2025-12-05 10:00:00", "ecom"),
    # r1: twice in November counts once; nothing in December.
    order("r1", "c1a", "2025-11-03 10:00:00"),
    order("r1", "c1b", "2025-11-20 10:00:00", "ecom"),
    order("r1", "c1c", "2026-01-10 10:00:00"),
    # r2: a December return is not a purchase.
    order("r2", "c2a", "2025-11-30 22:00:00"),
    order("r2", "c2r", "2025-12-01 10:00:00", amount="-100.00", order_type="return"),
    order("r2", "c2b", "2026-02-14 10:00:00", "wechat"),
    # r3: a December cohort retained across the year boundary.
    order("r3", "c3a", "2025-12-31 23:00:00"),
    order("r3", "c3b", "2026-01-01 00:30:00"),
    # r4: a zero-amount purchase on 2026-02-15 makes a cohort; the next day is after as_of.
    order("r4", "c4a", "2026-02-15 12:00:00", amount="0.00"),
    order("r4", "c4b", "2026-02-16 12:00:00"),
    order("r5", "c5a", "2026-02-16 09:00:00"),
    order("r6", "c6r", "2025-12-10 10:00:00", amount="-50.00", order_type="return"),
]


def test_cohorts_fill_every_month_and_flag_the_partial_one(spark):
    orders = frame(spark, ORDERS_DDL, COHORT_ORDERS)
    ds = date(2026, 2, 15)
    actual = retention_cohort.build(orders, ds, retention_cohort.Params(cohort_months=4))
    nov, dec, feb = date(2025, 11, 1), date(2025, 12, 1), date(2026, 2, 1)
    expected = frame(spark, COHORT_DDL, [
        (ds, nov, 0, 2, 2, 1.0, False),
        (ds, nov, 1, 2, 0, 0.0, False),
        (ds, nov, 2, 2, 1, 0.5, False),
        (ds, nov, 3, 2, 1, 0.5, True),
        (ds, dec, 0, 1, 1, 1.0, False),
        (ds, dec, 1, 1, 1, 1.0, False),
        (ds, dec, 2, 1, 0, 0.0, True),
        (ds, feb, 0, 1, 1, 1.0, True),
    ])
    assertDataFrameEqual(actual, expected)


def test_cohorts_ignore_later_orders_and_a_month_ending_on_as_of_is_whole(spark):
    orders = frame(spark, ORDERS_DDL, COHORT_ORDERS)
    ds = date(2026, 1, 31)
    actual = retention_cohort.build(orders, ds)
    oct_, nov, dec = date(2025, 10, 1), date(2025, 11, 1), date(2025, 12, 1)
    expected = frame(spark, COHORT_DDL, [
        (ds, oct_, 0, 1, 1, 1.0, False),
        (ds, oct_, 1, 1, 0, 0.0, False),
        (ds, oct_, 2, 1, 1, 1.0, False),
        (ds, oct_, 3, 1, 0, 0.0, False),
        (ds, nov, 0, 2, 2, 1.0, False),
        (ds, nov, 1, 2, 0, 0.0, False),
        (ds, nov, 2, 2, 1, 0.5, False),
        (ds, dec, 0, 1, 1, 1.0, False),
        (ds, dec, 1, 1, 1, 1.0, False),
    ])
    assertDataFrameEqual(actual, expected)


# --- funnel and cohorts against pandas -------------------------------------------------------

ORACLE_AS_OF = date(2026, 3, 20)


def random_orders(seed: int = 7) -> list[tuple]:
    """Orders of 40 buyers from 2024-09 to after ORACLE_AS_OF, with returns, unpaid sales and
    same-second ties."""
    rng = random.Random(seed)
    start = datetime(2024, 9, 1)
    rows = []
    for buyer in range(40):
        at = start
        for number in range(rng.randint(0, 9)):
            if number == 0 or rng.random() > 0.2:
                at = start + timedelta(days=rng.randint(0, 580), seconds=3600 * rng.randint(0, 23))
            kind = rng.choices(["sale", "return", "unpaid"], weights=[8, 1, 1])[0]
            channel_group = rng.choice(["store", "ecom", "wechat"])
            rows.append(order(
                f"b{buyer:02d}", f"k{buyer:02d}-{number}", at.isoformat(sep=" "), channel_group,
                "-10.00" if kind == "return" else "10.00", "return" if kind == "return" else "sale",
                is_purchase=kind == "sale",
            ))
    return rows


def funnel_oracle(orders: pd.DataFrame, as_of: date, params: repurchase_funnel.Params) -> list[tuple]:
    purchases = orders[orders.is_purchase & (orders.order_date <= as_of)]
    if params.window_days is not None:
        purchases = purchases[purchases.order_date > as_of - timedelta(days=params.window_days)]
    rows = []
    per_channel = [("all", purchases)] + list(purchases.groupby("channel_group"))
    for channel, bought in per_channel:
        gaps: dict[int, list[int]] = {}
        buyers: dict[int, int] = {}
        for _, own in bought.sort_values(["order_at", "order_key"]).groupby("one_id"):
            dates = list(own.order_date)
            for n in range(1, min(len(dates), params.max_purchases) + 1):
                buyers[n] = buyers.get(n, 0) + 1
                gaps.setdefault(n, [])
                if n < len(dates):
                    gaps[n].append((dates[n] - dates[n - 1]).days)
        for n, count in buyers.items():
            went_on = gaps[n]
            average = half_up(Fraction(sum(went_on), len(went_on)), 1) if went_on else None
            rows.append((as_of, channel, n, count, len(went_on), half_up(Fraction(len(went_on), count), 4), average))
    return rows


def cohort_oracle(orders: pd.DataFrame, as_of: date, params: retention_cohort.Params) -> list[tuple]:
    purchases = orders[orders.is_purchase & (orders.order_date <= as_of)]
    month = purchases.order_date.map(lambda day: day.year * 12 + day.month - 1)
    bought = pd.DataFrame({"one_id": purchases.one_id, "month": month}).drop_duplicates()
    cohort_of = bought.groupby("one_id").month.min()
    last = as_of.year * 12 + as_of.month - 1
    partial = (as_of + timedelta(days=1)).day != 1
    rows = []
    for cohort, members in cohort_of.groupby(cohort_of):
        if cohort <= last - params.cohort_months:
            continue
        active = bought[bought.one_id.isin(members.index)]
        for k in range(last - cohort + 1):
            retained = active[active.month == cohort + k].one_id.nunique()
            rows.append((
                as_of, date(cohort // 12, cohort % 12 + 1, 1), k, len(members), retained,
                half_up(Fraction(retained, len(members)), 4), partial and cohort + k == last,
            ))
    return rows


@pytest.fixture(scope="module")
def random_order_frames(spark):
    rows = random_orders()
    columns = [part.split()[0] for part in ORDERS_DDL.split(", ")]
    return frame(spark, ORDERS_DDL, rows), pd.DataFrame(rows, columns=columns)


def test_funnel_matches_pandas_on_random_orders(spark, random_order_frames):
    orders, table = random_order_frames
    params = repurchase_funnel.Params(max_purchases=4, window_days=200)
    actual = repurchase_funnel.build(orders, ORACLE_AS_OF, params)
    assertDataFrameEqual(actual, frame(spark, FUNNEL_DDL, funnel_oracle(table, ORACLE_AS_OF, params)))


def test_cohorts_match_pandas_on_random_orders(spark, random_order_frames):
    orders, table = random_order_frames
    params = retention_cohort.Params(cohort_months=12)
    actual = retention_cohort.build(orders, ORACLE_AS_OF, params)
    assertDataFrameEqual(actual, frame(spark, COHORT_DDL, cohort_oracle(table, ORACLE_AS_OF, params)))


# --- channel overlap -------------------------------------------------------------------------

OVERLAP_AS_OF = date(2026, 3, 31)


def test_overlap_counts_persons_and_the_keys_sources_would_see_per_combination(spark):
    orders = frame(spark, ORDERS_DDL, [
        # c1: store and Tmall (the same buyer twice) and two WeChat accounts.
        order("c1", "p1a", "2026-01-10 10:00:00", "store", buyer_key="member:M1"),
        order("c1", "p1b", "2026-02-01 10:00:00", "ecom", buyer_key="buyer:tmall:t1"),
        order("c1", "p1c", "2026-02-02 10:00:00", "ecom", buyer_key="buyer:tmall:t1"),
        # c2: two store keys, one of them on as_of.
        order("c2", "p2a", "2026-03-31 21:00:00", "store", buyer_key="member:M2"),
        order("c2", "p2b", "2026-03-01 10:00:00", "store", buyer_key="order:pos:9"),
        # c3: its store purchase is exactly 90 days old, so only e-commerce (first window day).
        order("c3", "p3a", "2026-01-01 00:00:00", "ecom", buyer_key="buyer:jd:j3"),
        order("c3", "p3b", "2025-12-31 10:00:00", "store", buyer_key="member:M3"),
        # c4: a store return is not a store purchase.
        order("c4", "p4a", "2026-02-10 10:00:00", "ecom", buyer_key="buyer:tmall:t4"),
        order("c4", "p4r", "2026-02-11 10:00:00", "store", "-100.00", "return", buyer_key="member:M4"),
        # c5 and c9 purchased outside the window only: WeChat alone does not make a person.
        order("c5", "p5a", "2025-12-31 10:00:00", "store", buyer_key="member:M5"),
        order("c9", "p9a", "2026-04-01 10:00:00", "store", buyer_key="member:M9"),
        # c6 bought in the mini program and has an account; c7 has no known account.
        order("c6", "p6a", "2026-03-05 10:00:00", "wechat", buyer_key="member:M6"),
        order("c7", "p7a", "2026-03-06 10:00:00", "wechat", buyer_key="order:wx:7"),
        order("c8", "p8a", "2026-03-10 10:00:00", "store", "0.00", buyer_key="member:M8"),
    ])
    wechat = frame(spark, "one_id string, wechat_key string", [
        ("c1", "wx:a1"), ("c1", "wx:a2"), ("c3", "wx:c3"), ("c5", "wx:c5"), ("c6", "wx:c6"),
    ])
    actual = channel_overlap.build(orders, wechat, OVERLAP_AS_OF, channel_overlap.Params(window_days=90))
    ds = OVERLAP_AS_OF
    expected = frame(spark, OVERLAP_DDL, [
        (ds, "pos+ecom+wechat", "POS+电商+微信", True, True, True, 1, 0.1429, 4),
        (ds, "pos+ecom", "POS+电商", True, True, False, 0, 0.0, 0),
        (ds, "pos+wechat", "POS+微信", True, False, True, 0, 0.0, 0),
        (ds, "ecom+wechat", "电商+微信", False, True, True, 1, 0.1429, 2),
        (ds, "pos", "仅POS", True, False, False, 2, 0.2857, 3),
        (ds, "ecom", "仅电商", False, True, False, 1, 0.1429, 1),
        (ds, "wechat", "仅微信", False, False, True, 1, 0.1429, 2),
        (ds, "other", "其他渠道", False, False, False, 1, 0.1429, 1),
        (ds, "all", "全部", None, None, None, 7, 1.0, 13),
    ])
    assertDataFrameEqual(actual, expected)


def test_overlap_without_purchases_has_zero_rows_and_no_share(spark):
    orders = frame(spark, ORDERS_DDL, [order("c5", "p5a", "2025-12-31 10:00:00")])
    wechat = frame(spark, "one_id string, wechat_key string", [("c5", "wx:c5")])
    actual = channel_overlap.build(orders, wechat, OVERLAP_AS_OF, channel_overlap.Params(window_days=90))
    expected = frame(spark, OVERLAP_DDL, [
        (OVERLAP_AS_OF, code, name, *flags, 0, None, 0) for code, name, *flags in channel_overlap.COMBINATIONS
    ] + [(OVERLAP_AS_OF, "all", "全部", None, None, None, 0, None, 0)])
    assertDataFrameEqual(actual, expected)


# --- AIPL ------------------------------------------------------------------------------------

AIPL_AS_OF = date(2026, 3, 31)


def test_aipl_flags_stage_and_summary_of_every_identity(spark):
    identities = frame(spark, "one_id string, first_seen_date date", [
        (f"a{number}", date(2025, 1, 1)) for number in range(1, 14)
    ])
    events = frame(spark, EVENTS_DDL, [
        event("a1", "e1", "2026-03-01 10:00:00", "page_view"),
        event("a3", "e3a", "2026-03-01 10:00:00", "product_view"),
        event("a3", "e3b", "2026-03-02 10:00:00", "product_view"),
        event("a3", "e3c", "2026-03-03 10:00:00", "product_view"),
        # a4: the third product view is exactly 90 days old.
        event("a4", "e4a", "2026-03-01 10:00:00", "product_view"),
        event("a4", "e4b", "2026-03-02 10:00:00", "product_view"),
        event("a4", "e4c", "2025-12-31 10:00:00", "product_view"),
        # a5 searched without any awareness event: interested, not aware.
        event("a5", "e5", "2026-01-01 00:00:00", "search"),
        event("a10", "e10", "2026-04-01 10:00:00", "coupon_claim"),
        event("a11", "e11", "2026-04-01 10:00:00", "sign_in"),
        event("ghost", "eg", "2026-03-01 10:00:00", "sign_in"),
    ])
    followers = frame(spark, "one_id string", [("a2",), ("a8",), ("a8",)])
    orders = frame(spark, ORDERS_DDL, [
        # Window net paid of the purchasers: 0, 5, 50, 50, 100, 500; the 0.8 percentile is 100.
        order("a6", "q6a", "2026-02-01 10:00:00", amount="10.00"),
        order("a6", "q6r", "2026-02-02 10:00:00", amount="-5.00", order_type="return"),
        order("a7", "q7a", "2026-02-01 10:00:00", amount="20.00"),
        order("a7", "q7b", "2026-03-01 10:00:00", "ecom", "30.00"),
        order("a8", "q8a", "2026-03-15 10:00:00", "ecom", "500.00"),
        order("a9", "q9a", "2026-03-20 10:00:00", amount="0.00"),
        order("a10", "q10a", "2025-12-31 10:00:00", amount="900.00"),
        order("a11", "q11r", "2026-03-01 10:00:00", amount="-80.00", order_type="return"),
        order("a12", "q12a", "2026-03-01 10:00:00", amount="50.00"),
        order("a12", "q12b", "2025-12-31 10:00:00", amount="900.00"),
        order("a13", "q13a", "2026-03-02 10:00:00", amount="100.00"),
    ])
    actual = aipl.build_members(orders, events, followers, identities, AIPL_AS_OF)
    ds = AIPL_AS_OF
    expected = frame(spark, MEMBER_DDL, [
        (ds, "a1", "A", True, False, False, False),
        (ds, "a2", "A", True, False, False, False),
        (ds, "a3", "I", True, True, False, False),
        (ds, "a4", "A", True, False, False, False),
        (ds, "a5", "I", False, True, False, False),
        (ds, "a6", "P", False, False, True, False),
        (ds, "a7", "L", False, False, True, True),
        (ds, "a8", "L", True, False, True, True),
        (ds, "a9", "P", False, False, True, False),
        (ds, "a10", "none", False, False, False, False),
        (ds, "a11", "none", False, False, False, False),
        (ds, "a12", "P", False, False, True, False),
        (ds, "a13", "L", False, False, True, True),
    ])
    assertDataFrameEqual(actual, expected)
    # The summary of a second, smaller ds shows every stage even when nobody is in it.
    before = date(2026, 3, 30)
    members = expected.unionByName(frame(spark, MEMBER_DDL, [
        (before, "a1", "L", False, False, True, True),
        (before, "a2", "none", False, False, False, False),
        (before, "a3", "none", False, False, False, False),
    ]))
    assertDataFrameEqual(aipl.summarize(members), frame(spark, SUMMARY_DDL, [
        (ds, "L", 4, 3, 3, 0.2308),
        (ds, "P", 3, 3, 6, 0.2308),
        (ds, "I", 2, 2, 8, 0.1538),
        (ds, "A", 1, 3, 11, 0.2308),
        (ds, "none", 0, 2, 13, 0.1538),
        (before, "L", 4, 1, 1, 0.3333),
        (before, "P", 3, 0, 1, 0.0),
        (before, "I", 2, 0, 1, 0.0),
        (before, "A", 1, 0, 1, 0.0),
        (before, "none", 0, 2, 3, 0.6667),
    ]))


@pytest.mark.parametrize("make", [
    lambda: repurchase_funnel.Params(max_purchases=0),
    lambda: repurchase_funnel.Params(window_days=0),
    lambda: retention_cohort.Params(cohort_months=0),
    lambda: channel_overlap.Params(window_days=0),
    lambda: aipl.Params(loyal_top_share=0.0),
    lambda: aipl.Params(loyal_top_share=1.5),
])
def test_params_refuse_values_without_meaning(make):
    with pytest.raises(ValueError):
        make()


# --- channel overlap and AIPL against pandas --------------------------------------------------

RANDOM_AS_OF = date(2026, 3, 31)


def random_person_frames(seed: int = 1) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
    """Orders, events, WeChat accounts and followers of 60 identities around RANDOM_AS_OF:
    every channel group (and none), returns and unpaid sales, buyer keys and accounts shared
    between persons, days on both edges of a 30-day window and after as_of, unknown event
    types, duplicate followers and a follower that is no identity."""
    rng = random.Random(seed)
    orders, events = [], []
    for person in range(60):
        one_id = f"p{person:02d}"
        for number in range(rng.choice([0, 1, 2, 3, 4, 6])):
            at = datetime.combine(RANDOM_AS_OF, datetime.min.time()) - timedelta(days=rng.randint(-2, 35), hours=rng.randint(0, 23))
            kind = rng.choices(["sale", "return", "unpaid"], weights=[8, 1, 1])[0]
            amount = D(rng.choice([0, 10, 20, 30, 50, 80])) * (-1 if kind == "return" else 1)
            orders.append(order(
                one_id, f"{one_id}-{number}", at.isoformat(sep=" "), rng.choices(["store", "ecom", "wechat", None], weights=[4, 4, 1, 1])[0],
                f"{amount:.2f}", "return" if kind == "return" else "sale", is_purchase=kind == "sale",
                buyer_key=f"key:{rng.randint(0, 70)}",
            ))
        for number in range(rng.choice([0, 1, 2, 4])):
            at = datetime.combine(RANDOM_AS_OF, datetime.min.time()) - timedelta(days=rng.randint(-2, 35), hours=rng.randint(0, 23))
            kind = rng.choice([*aipl.AWARE_EVENTS, *aipl.INTEREST_EVENTS, aipl.PRODUCT_VIEW, aipl.PRODUCT_VIEW, "pay_success"])
            events.append(event(one_id, f"{one_id}-e{number}", at.isoformat(sep=" "), kind))
    accounts = [(f"p{rng.randint(0, 59):02d}", f"wx:{rng.randint(0, 40)}") for _ in range(30)]
    followers = [(f"p{rng.randint(0, 59):02d}",) for _ in range(25)] + [("nobody",)]
    return orders, events, accounts, followers


def in_window(days: pd.Series, as_of: date, window_days: int) -> pd.Series:
    return (days > as_of - timedelta(days=window_days)) & (days <= as_of)


def overlap_oracle(orders: pd.DataFrame, accounts: pd.DataFrame, as_of: date, window_days: int) -> list[tuple]:
    bought = orders[orders.is_purchase & in_window(orders.order_date, as_of, window_days)]
    persons = sorted(set(bought.one_id))
    keys_of = {one_id: set(bought[bought.one_id == one_id].buyer_key) for one_id in persons}
    accounts_of = {one_id: set(accounts[accounts.one_id == one_id].wechat_key) for one_id in persons}
    flags_of = {
        one_id: (
            (bought[bought.one_id == one_id].channel_group == "store").any(),
            (bought[bought.one_id == one_id].channel_group == "ecom").any(),
            bool(accounts_of[one_id]),
        )
        for one_id in persons
    }

    def measures(members: list[str]) -> tuple[int, int]:
        buyer_keys = set().union(*(keys_of[one_id] for one_id in members))
        wechat_keys = set().union(*(accounts_of[one_id] for one_id in members))
        return len(members), len(buyer_keys) + len(wechat_keys)

    total = len(persons)
    rows = []
    for code, name, *flags in channel_overlap.COMBINATIONS:
        count, keys = measures([one_id for one_id in persons if flags_of[one_id] == tuple(flags)])
        rows.append((as_of, code, name, *flags, count, half_up(Fraction(count, total), 4) if total else None, keys))
    count, keys = measures(persons)
    rows.append((as_of, "all", "全部", None, None, None, count, 1.0 if total else None, keys))
    return rows


def aipl_oracle(orders: pd.DataFrame, events: pd.DataFrame, followers: set[str], identities: list[str], as_of: date,
                params: aipl.Params) -> list[tuple]:
    seen = events[in_window(events.event_date, as_of, params.window_days)]
    window_orders = orders[in_window(orders.order_date, as_of, params.window_days)]
    purchases = window_orders[window_orders.is_purchase].groupby("one_id").size()
    net_paid = window_orders.groupby("one_id").net_paid_amount.sum()
    threshold = spark_percentile([float(net_paid[one_id]) for one_id in purchases.index], 1 - params.loyal_top_share) \
        if len(purchases) else None
    rows = []
    for one_id in identities:
        own = seen[seen.one_id == one_id].event_type
        is_aware = bool(own.isin(aipl.AWARE_EVENTS).any()) or one_id in followers
        is_interested = bool(own.isin(aipl.INTEREST_EVENTS).any()) or (own == aipl.PRODUCT_VIEW).sum() >= params.interest_min_product_views
        is_purchaser = one_id in purchases.index
        is_loyal = is_purchaser and (
            purchases[one_id] >= params.loyal_min_purchases or float(net_paid[one_id]) >= threshold
        )
        stage = next((name for name, flag in (("L", is_loyal), ("P", is_purchaser), ("I", is_interested), ("A", is_aware))
                      if flag), "none")
        rows.append((as_of, one_id, stage, is_aware, bool(is_interested), is_purchaser, bool(is_loyal)))
    return rows


@pytest.fixture(scope="module")
def random_person_data():
    orders, events, accounts, followers = random_person_frames()
    order_columns = [part.split()[0] for part in ORDERS_DDL.split(", ")]
    event_columns = [part.split()[0] for part in EVENTS_DDL.split(", ")]
    return orders, events, accounts, followers, pd.DataFrame(orders, columns=order_columns), pd.DataFrame(
        events, columns=event_columns)


def test_overlap_matches_pandas_on_random_persons(spark, random_person_data):
    orders, _, accounts, _, order_table, _ = random_person_data
    params = channel_overlap.Params(window_days=30)
    actual = channel_overlap.build(
        frame(spark, ORDERS_DDL, orders), frame(spark, "one_id string, wechat_key string", accounts), RANDOM_AS_OF, params
    )
    account_table = pd.DataFrame(accounts, columns=["one_id", "wechat_key"])
    expected = overlap_oracle(order_table, account_table, RANDOM_AS_OF, params.window_days)
    # The random draw puts somebody in every combination.
    assert all(row[6] > 0 for row in expected)
    assertDataFrameEqual(actual, frame(spark, OVERLAP_DDL, expected))


def test_aipl_matches_pandas_on_random_persons(spark, random_person_data):
    orders, events, _, followers, order_table, event_table = random_person_data
    identities = [f"p{person:02d}" for person in range(60)]
    params = aipl.Params(window_days=30, interest_min_product_views=2, loyal_min_purchases=3, loyal_top_share=0.25)
    actual = aipl.build_members(
        frame(spark, ORDERS_DDL, orders), frame(spark, EVENTS_DDL, events), frame(spark, "one_id string", followers),
        frame(spark, "one_id string, first_seen_date date", [(one_id, date(2025, 1, 1)) for one_id in identities]),
        RANDOM_AS_OF, params,
    )
    expected = aipl_oracle(order_table, event_table, {row[0] for row in followers}, identities, RANDOM_AS_OF, params)
    assert {row[2] for row in expected} == {"L", "P", "I", "A", "none"}
    assertDataFrameEqual(actual, frame(spark, MEMBER_DDL, expected))
