"""Shipped tags against pandas, on the shared generated build's last day: a statistic of every
source (orders, order_items, events, coupons, spendable and grade points) recomputed from the
CDM facts and OneID's owners, a fact of every source (profile, rfm, lifecycle, aipl) read from
its table, a rule and a quantile bucket recomputed from those, and the model tag's population.
Each expected value follows the tag's YAML definition, not the engine's code: windows count
whole days back from the run date (age < window_days), defaults fill identities without rows,
a mode takes the smallest of the most frequent values, quantile cuts interpolate linearly."""

from __future__ import annotations

import math
from decimal import Decimal

import pandas as pd
import pytest

from generated_build import DAYS
from jobs.catalog import read_table
from jobs.config import load_catalog
from oracles import spark_percentile

pytestmark = pytest.mark.slow

AS_OF = DAYS[-1]
DECIMALS = 4


@pytest.fixture(scope="module")
def tables(built, spark):
    """The built tables the oracle reads, as pandas frames with dates as ``date``."""

    def read(name: str, columns: list[str] | None = None, where: str | None = None) -> pd.DataFrame:
        frame = read_table(spark, built.settings, load_catalog().table(name))
        frame = frame.where(where) if where else frame
        table = (frame.select(*columns) if columns else frame).toPandas()
        for column in table.columns:
            if column.endswith("_date") or column in ("ds", "dt"):
                table[column] = pd.to_datetime(table[column]).dt.date
        return table

    day = f"ds = DATE'{AS_OF}'"
    return {
        "owners": read("oneid.record_identity", ["record_key", "one_id"]),
        "mapping": read("oneid.id_mapping", ["id_type", "id_value", "one_id"]),
        "profile": read("oneid.profile", ["one_id", "member_id", "first_seen"]),
        "fct_order": read("cdm.fct_order", ["record_key", "order_key", "order_date", "is_purchase", "net_paid_amount"]),
        "fct_order_item": read("cdm.fct_order_item", ["order_key", "sku_id"]),
        "dim_product": read("cdm.dim_product", ["sku_id", "category_l1", "category_l2"]),
        "fct_event": read("cdm.fct_event", ["record_key", "event_date"]),
        "fct_coupon": read("cdm.fct_coupon", ["member_id", "issue_date", "coupon_status"]),
        "fct_points": read("cdm.fct_points", ["member_id", "txn_date", "points_type", "points_change"]),
        # Whole rows would bring the open versions' 9999-12-31 end, which pandas cannot hold.
        "dim_member": read("cdm.dim_member", ["member_id", "level"], "is_current AND NOT is_inferred"),
        "member_rfm": read("ads.member_rfm", ["one_id", "rfm_segment"], day),
        "member_lifecycle": read("ads.member_lifecycle", ["one_id", "stage"], day),
        "aipl_member": read("ads.aipl_member", ["one_id", "aipl_stage"], day),
        "tag_wide": read("ads.tag_wide", None, day).set_index("one_id"),
    }


def population(tables) -> list[str]:
    seen = pd.to_datetime(tables["profile"].first_seen).dt.date
    return sorted(tables["profile"][seen <= AS_OF].one_id)


def in_window(days: pd.Series, window_days: int | None) -> pd.Series:
    age = days.map(lambda day: (AS_OF - day).days)
    return (age >= 0) & (age < window_days) if window_days else age >= 0


def owned_orders(tables) -> pd.DataFrame:
    orders = tables["fct_order"].merge(tables["owners"], on="record_key")
    return orders[orders.order_date <= AS_OF]


def member_rows(tables, fact: str) -> pd.DataFrame:
    members = tables["mapping"][tables["mapping"].id_type == "member_id"][["id_value", "one_id"]]
    return tables[fact].merge(members.rename(columns={"id_value": "member_id"}), on="member_id")


def money(total) -> float:
    return round(float(Decimal(total)), DECIMALS)


def actual(tables, code: str) -> dict:
    values = tables["tag_wide"][code]
    return {one_id: (None if value is None or (isinstance(value, float) and math.isnan(value)) else value)
            for one_id, value in values.items()}


def filled(per_identity: dict, everyone: list[str], default) -> dict:
    return {one_id: per_identity.get(one_id, default) for one_id in everyone}


def spend(tables, window_days: int) -> dict:
    orders = owned_orders(tables)
    orders = orders[in_window(orders.order_date, window_days)]
    return {one_id: money(sum(group.net_paid_amount, Decimal(0))) for one_id, group in orders.groupby("one_id")}


def test_order_statistic_spend_365d(tables):
    assert actual(tables, "spend_365d") == filled(spend(tables, 365), population(tables), 0.0)


def test_order_item_statistics_category_breadth_and_favourite_category(tables):
    orders = owned_orders(tables)[["order_key", "one_id", "is_purchase", "order_date"]]
    lines = tables["fct_order_item"].merge(orders, on="order_key")
    lines = lines.merge(tables["dim_product"][["sku_id", "category_l1", "category_l2"]], on="sku_id", how="left")
    bought = lines[lines.is_purchase & in_window(lines.order_date, 365)]
    breadth = {one_id: group.category_l2.dropna().nunique() for one_id, group in bought.groupby("one_id")}
    assert actual(tables, "category_breadth_365d") == filled(breadth, population(tables), 0)

    favourite = {}
    for one_id, group in bought.groupby("one_id"):
        counts = group.category_l1.dropna().value_counts()
        if len(counts):
            favourite[one_id] = min(counts[counts == counts.max()].index)
    assert actual(tables, "favourite_category_l1") == filled(favourite, population(tables), None)
    assert len(favourite) > 10


def test_event_statistic_active_days_30d(tables):
    events = tables["fct_event"].merge(tables["owners"], on="record_key")
    events = events[in_window(events.event_date, 30)]
    active = {one_id: group.event_date.nunique() for one_id, group in events.groupby("one_id")}
    assert actual(tables, "active_days_30d") == filled(active, population(tables), 0)
    assert any(active.values())


def test_coupon_and_points_statistics(tables):
    coupons = member_rows(tables, "fct_coupon")
    used = coupons[in_window(coupons.issue_date, 180) & (coupons.coupon_status == "used")]
    assert actual(tables, "coupons_used_180d") == filled(used.groupby("one_id").size().to_dict(), population(tables), 0)

    ledger = member_rows(tables, "fct_points")
    ledger = ledger[in_window(ledger.txn_date, None)]

    def summed(entries: pd.DataFrame) -> dict:
        totals = entries.groupby("one_id").points_change.sum()
        return {one_id: round(float(total), DECIMALS) for one_id, total in totals.items()}

    # Base and bonus points can be spent; grade points (成长值) only move the member level.
    spendable = ledger[ledger.points_type.isin(["base", "bonus"])]
    grade = ledger[ledger.points_type == "grade"]
    balance = summed(spendable)
    assert actual(tables, "points_balance") == filled(balance, population(tables), 0.0)
    earned = summed(spendable[(spendable.points_change > 0) & in_window(spendable.txn_date, 365)])
    assert actual(tables, "points_earned_365d") == filled(earned, population(tables), 0.0)
    grade_points = summed(grade)
    assert actual(tables, "grade_points") == filled(grade_points, population(tables), 0.0)
    assert len(used) > 0 and any(balance.values()) and any(grade_points.values())


def test_facts_of_the_profile_rfm_lifecycle_and_aipl(tables):
    levels = tables["profile"][["one_id", "member_id"]].merge(
        tables["dim_member"][["member_id", "level"]], on="member_id", how="left")
    expected_levels = {row.one_id: (None if pd.isna(row.level) else row.level) for row in levels.itertuples()}
    assert actual(tables, "member_level") == filled(expected_levels, population(tables), None)
    for code, table, column in (("rfm_segment", "member_rfm", "rfm_segment"), ("lifecycle_stage", "member_lifecycle", "stage"),
                                ("aipl_stage", "aipl_member", "aipl_stage")):
        source = dict(zip(tables[table].one_id, tables[table][column]))
        assert actual(tables, code) == filled(source, population(tables), None), code


def test_rule_is_repurchaser_counts_lifetime_purchases(tables):
    orders = owned_orders(tables)
    purchases = orders[orders.is_purchase].groupby("one_id").size().to_dict()
    expected = {one_id: purchases.get(one_id, 0) >= 2 for one_id in population(tables)}
    assert actual(tables, "is_repurchaser") == expected
    assert 0 < sum(expected.values()) < len(expected)


def test_bucket_value_tier_cuts_spend_180d_at_its_quantiles(tables):
    spend_180d = filled(spend(tables, 180), population(tables), 0.0)
    spenders = {one_id: value for one_id, value in spend_180d.items() if value > 0}
    cuts = [spark_percentile(list(spenders.values()), q) for q in (0.2, 0.4, 0.6, 0.8)]
    labels = ["V1", "V2", "V3", "V4", "V5"]
    expected = {one_id: (labels[sum(value >= cut for cut in cuts)] if one_id in spenders else None)
                for one_id, value in spend_180d.items()}
    assert actual(tables, "value_tier") == expected
    assert len(set(expected.values())) == 6


def test_model_tag_scores_every_identity_with_a_purchase(tables):
    orders = owned_orders(tables)
    buyers = set(orders[orders.is_purchase].one_id)
    scored = {one_id: value for one_id, value in actual(tables, "purchase_prob_90d").items() if value is not None}
    assert set(scored) == buyers
    assert all(0 <= value <= 1 for value in scored.values()) and len(set(scored.values())) > 1

