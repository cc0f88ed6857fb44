"""Weak links that join when uncontested and corroborated, and the manual overrides, on golden graphs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.config import load_oneid_settings
from oneid import graph, overrides, weak
from oneid.components import connected_components
from oneid.weak import Corroboration, WeakJoin

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 1, 10)
POLICIES = (
    WeakJoin("wx_event_device", Corroboration(), None),
    WeakJoin("ecom_buyer_receiver", Corroboration(), Corroboration(min_records=3, min_days=7, min_share=0.66)),
)
LINK_SCHEMA = "rule string, src string, dst string, record_key string, event_at timestamp_ntz"


def cc(nodes, edge_frame):
    return connected_components(nodes, edge_frame, engine="driver")


def link(rule, src, dst, key, days=0):
    return rule, src, dst, key, T0 + timedelta(days=days)


def device(openid, device_id, key, days=0):
    return link("wx_event_device", f"wx_openid:{openid}", f"device_id:{device_id}", key, days)


def shipped(buyer, mobile, key, days=0):
    return link("ecom_buyer_receiver", f"ecom_buyer_id:tmall:{buyer}", f"mobile:{mobile}", key, days)


STRONG = [
    ("wx_openid:oA1", "wx_unionid:UA"), ("wx_openid:oA2", "wx_unionid:UA"),  # person A: two openids
    ("wx_openid:oB", "wx_unionid:UB"),  # person B, A's housemate
    ("member_id:M2", "mobile:13900000002"),  # a gift recipient's own member
    ("member_id:M3", "mobile:13900000003"),  # the buyer b3's own member
    ("member_id:M5", "mobile:13900000005"),  # b4's spouse
    ("ecom_buyer_id:tmall:b5", "member_id:M6"), ("member_id:M6", "mobile:13900000007"),  # a bound buyer
]
WEAK = [
    # A's phone, seen with both of A's openids: one identity claims it.
    device("oA1", "dA", "e1"), device("oA2", "dA", "e2", 3),
    # The family tablet: A and B both use it.
    device("oA1", "dF", "e3"), device("oB", "dF", "e4", 1),
    # b1 ships to a mobile no stronger link holds: the buyer's own.
    shipped("b1", "13900000001", "o1"),
    # b2 sends one gift to M2's mobile.
    shipped("b2", "13900000002", "o2"),
    # b3 ships three times over a month to its own member's mobile, once to a friend's new number.
    shipped("b3", "13900000003", "o3", 0), shipped("b3", "13900000003", "o4", 12), shipped("b3", "13900000003", "o5", 30),
    shipped("b3", "13900000004", "o6", 31),
    # b4 ships twice to the spouse's mobile and twice to its own (unheld): half is not two thirds.
    shipped("b4", "13900000005", "o7", 0), shipped("b4", "13900000005", "o8", 20),
    shipped("b4", "13900000008", "o9", 5), shipped("b4", "13900000008", "o10", 25),
    # b5's receiver mobile is its own member's already.
    shipped("b5", "13900000007", "o11"),
]


def decisions(spark, weak_links, strong, excluded=()):
    strong_edges = spark.createDataFrame(strong, "src string, dst string")
    gone = spark.createDataFrame([(node,) for node in excluded], "node string")
    claims = weak.claims(spark.createDataFrame(weak_links, LINK_SCHEMA), POLICIES)
    return weak.decide(claims, strong_edges, gone, POLICIES, cc)


def test_weak_links_join_when_uncontested_and_corroborated(spark):
    got = decisions(spark, WEAK, STRONG).drop("first_at", "last_at")
    receiver, dev = "ecom_buyer_receiver", "wx_event_device"
    expected = [
        (dev, "device_id", "dA", "wx_openid:oA1", 1, False, 2, 2 / 3, weak.JOINED),
        (dev, "device_id", "dF", "wx_openid:oA1", 2, False, 1, 1 / 3, weak.CONTESTED),
        (dev, "device_id", "dF", "wx_openid:oB", 2, False, 1, 1.0, weak.CONTESTED),
        (receiver, "mobile", "13900000001", "ecom_buyer_id:tmall:b1", 1, False, 1, 1.0, weak.JOINED),
        (receiver, "mobile", "13900000002", "ecom_buyer_id:tmall:b2", 1, True, 1, 1.0, weak.HELD_UNCORROBORATED),
        (receiver, "mobile", "13900000003", "ecom_buyer_id:tmall:b3", 1, True, 3, 0.75, weak.JOINED_HELD),
        (receiver, "mobile", "13900000004", "ecom_buyer_id:tmall:b3", 1, False, 1, 0.25, weak.JOINED),
        (receiver, "mobile", "13900000005", "ecom_buyer_id:tmall:b4", 1, True, 2, 0.5, weak.HELD_UNCORROBORATED),
        (receiver, "mobile", "13900000008", "ecom_buyer_id:tmall:b4", 1, False, 2, 0.5, weak.JOINED),
        (receiver, "mobile", "13900000007", "ecom_buyer_id:tmall:b5", 1, True, 1, 1.0, weak.ALREADY_JOINED),
    ]
    assertDataFrameEqual(got, spark.createDataFrame(
        expected, "rule string, id_type string, id_value string, claimant string, claimant_identities int, held boolean, "
                  "records long, share double, decision string"))


def test_a_device_never_joins_a_stronger_holder_and_excluded_values_claim_nothing(spark):
    # dA is also seen with a shared openid: that claim does not count, A's phone still joins.
    links = [device("oA1", "dA", "e1"), device("oShared", "dA", "e2")]
    got = {(row.id_value, row.claimant, row.decision) for row in
           decisions(spark, links, STRONG, excluded=["wx_openid:oShared"]).collect()}
    assert got == {("dA", "wx_openid:oA1", weak.JOINED)}
    # A device some strong link holds elsewhere (no rule does today) is never joined by a device link.
    held = decisions(spark, [device("oB", "dX", "e3")], [*STRONG, ("member_id:M9", "device_id:dX")]).collect()
    assert [(row.held, row.decision) for row in held] == [(True, weak.HELD_NEVER)]


def test_the_configured_weak_joins_are_the_ones_tested(spark):
    assert load_oneid_settings().weak_joins == POLICIES


def test_weak_join_settings_are_checked(tmp_path):
    text = (REPO / "conf" / "oneid.yml").read_text(encoding="utf-8")
    for wrong, message in [
        ("  wx_event_device: {unclaimed: {}, held: never}", "names rule 'wx_device'"),
        ("  wx_event_device: {unclaimed: {min_orders: 2}, held: never}", "takes min_records"),
    ]:
        conf = tmp_path / "oneid.yml"
        changed = wrong.replace("wx_event_device:", "wx_device:") if "wx_device" in message else wrong
        conf.write_text(text.replace("  wx_event_device: {unclaimed: {}, held: never}", changed), encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            load_oneid_settings(conf)
    strong = tmp_path / "strong.yml"
    strong.write_text(text.replace("  wx_event_device: {unclaimed: {}, held: never}",
                                   "  wx_member_binding: {unclaimed: {}, held: never}"), encoding="utf-8")
    with pytest.raises(ValueError, match="joins anyway"):
        load_oneid_settings(strong)


def test_overrides_are_read_and_checked(tmp_path):
    text = (REPO / "conf" / "oneid.yml").read_text(encoding="utf-8")
    conf = tmp_path / "oneid.yml"
    conf.write_text(text.replace(
        "  unbind: []", '  unbind: [{value: "mobile:13912345678", reason: "a reseller"}]').replace(
        "  keep_apart: []", '  keep_apart: [{a: "member_id:M1", b: "member_id:M2", reason: "twins"}]'),
        encoding="utf-8")
    assert load_oneid_settings(conf).overrides == (
        overrides.Override(overrides.UNBIND, "mobile:13912345678", None, "a reseller"),
        overrides.Override(overrides.KEEP_APART, "member_id:M1", "member_id:M2", "twins"),
    )
    for wrong, message in [('[{value: "phone:139", reason: "x"}]', "is not 'id_type:value'"),
                           ('[{value: "mobile:13912345678"}]', "needs a reason")]:
        conf.write_text(text.replace("  unbind: []", f"  unbind: {wrong}"), encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            load_oneid_settings(conf)


def test_keep_apart_cuts_the_weakest_links_between_the_pair(spark):
    # M1 and M2 share an email (medium) and a card (strong to M1 only): keeping them apart
    # cuts the medium links; a pair only strong links hold together stays, and is reported.
    rows = [("email:fam@qq.com", "member_id:M1", 0.6), ("email:fam@qq.com", "member_id:M2", 0.6),
            ("card_no:C1", "member_id:M1", 0.9), ("member_id:M3", "member_id:M4", 0.9)]
    edge_frame = spark.createDataFrame(rows, "src string, dst string, confidence double")
    nodes = edge_frame.select(F.col("src").alias("node")).union(edge_frame.select(F.col("dst").alias("node"))).distinct()
    clusters = cc(nodes, edge_frame.select("src", "dst")).withColumnRenamed("component", "cluster")
    apart = spark.createDataFrame([("member_id:M1", "member_id:M2"), ("member_id:M3", "member_id:M4")], "a string, b string")
    got = graph.guard_identities(clusters, edge_frame, {}, cc, apart)
    components = {row.node: row.component for row in got.collect()}
    assert components["member_id:M1"] == components["card_no:C1"] != components["member_id:M2"]
    assert components["member_id:M3"] == components["member_id:M4"]
    assert graph.together(got, apart).count() == 1


def test_forced_pairs_and_changed_overrides(spark):
    current = overrides.frame(spark, [overrides.Override(overrides.FORCE_TOGETHER, "member_id:M1", "ecom_buyer_id:tmall:b1", "call"),
                                      overrides.Override(overrides.UNBIND, "mobile:13912345678", None, "reseller")])
    before = overrides.frame(spark, [overrides.Override(overrides.UNBIND, "mobile:13912345678", None, "reseller"),
                                     overrides.Override(overrides.KEEP_APART, "member_id:M7", "member_id:M8", "twins")])
    forced = overrides.forced_edges(current).select("src", "dst", "confidence", "rules").collect()
    assert [tuple(row) for row in forced] == [("ecom_buyer_id:tmall:b1", "member_id:M1", 1.0, [overrides.FORCED_RULE])]
    assert {row.node for row in overrides.changed_nodes(current, before).collect()} == {
        "member_id:M1", "ecom_buyer_id:tmall:b1", "member_id:M7", "member_id:M8"}
    unbound = graph.unbound_values(overrides.unbound(current)).select("node", "decision").collect()
    assert [tuple(row) for row in unbound] == [("mobile:13912345678", "unbound by override: reseller")]
