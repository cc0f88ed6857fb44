"""Match rules, shared-value protection and the identity guard on small golden graphs."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.config import load_oneid_settings
from oneid import graph, rules
from oneid.components import connected_components

REPO = Path(__file__).resolve().parents[1]
DAY = date(2026, 3, 1)
AT = datetime(2026, 3, 1, 10, 0)
EVIDENCE_SCHEMA = (
    "dt date, source string, entity string, record_key string, field string, id_type string, raw_value string, "
    "scope string, event_at timestamp_ntz, id_value string, invalid_reason string"
)


def evidence(spark, rows):
    """Normalized evidence rows: (record_key, source.entity, field, id_type, id_value or None)."""
    return spark.createDataFrame(
        [
            (DAY, record.split(".")[0], record.split(".")[1], key, field, id_type, value or "junk", None, AT, value,
             None if value else "placeholder")
            for key, record, field, id_type, value in rows
        ],
        EVIDENCE_SCHEMA,
    )


def test_links_are_drawn_by_the_configured_rules_between_valid_values_only(spark):
    rows = [
        ("m1", "crm.members", "member_id", "member_id", "M1"),
        ("m1", "crm.members", "card_no", "card_no", "C1"),
        ("m1", "crm.members", "mobile", "mobile", "13800138000"),
        ("m1", "crm.members", "email", "email", None),  # an invalid email links nothing
        ("p1", "pos.orders", "card_no", "card_no", "C1"),
        ("p1", "pos.orders", "mobile", "mobile", "13900139000"),
        ("e1", "ecom.orders", "buyer_id", "ecom_buyer_id", "tmall:tb1"),
        ("e1", "ecom.orders", "receiver_mobile", "mobile", "13700137000"),
        ("w1", "wechat.events", "openid", "wx_openid", "o1"),
        ("w1", "wechat.events", "device_id", "device_id", "d1"),
        ("x1", "crm.points_ledger", "member_id", "member_id", "M1"),  # no rule for ledger rows
    ]
    conf = load_oneid_settings()
    got = rules.links(evidence(spark, rows), conf.rules).select("record_key", "rule", "src", "dst", "confidence")
    expected = spark.createDataFrame(
        [
            ("m1", "crm_member_card", "member_id:M1", "card_no:C1", 0.9),
            ("m1", "crm_member_mobile", "member_id:M1", "mobile:13800138000", 0.9),
            ("p1", "pos_card_mobile", "card_no:C1", "mobile:13900139000", 0.6),
            ("e1", "ecom_buyer_receiver", "ecom_buyer_id:tmall:tb1", "mobile:13700137000", 0.3),
            ("w1", "wx_event_device", "wx_openid:o1", "device_id:d1", 0.3),
        ],
        "record_key string, rule string, src string, dst string, confidence double",
    )
    assertDataFrameEqual(got, expected)


def test_node_keys_split_on_the_first_colon(spark):
    frame = spark.createDataFrame([("ecom_buyer_id:tmall:tb1",)], "node string")
    got = frame.select(rules.node_type(F.col("node")).alias("t"), rules.node_value(F.col("node")).alias("v")).first()
    assert (got.t, got.v) == ("ecom_buyer_id", "tmall:tb1")


def test_a_rule_naming_an_unknown_field_is_refused(tmp_path):
    conf = (REPO / "conf" / "oneid.yml").read_text(encoding="utf-8")
    changed = tmp_path / "oneid.yml"
    changed.write_text(conf.replace("to: card_no, confidence: strong", "to: card_number, confidence: strong"), encoding="utf-8")
    with pytest.raises(ValueError, match="crm_member_card.*card_number"):
        load_oneid_settings(changed)


def edges_frame(spark, rows):
    return spark.createDataFrame(
        [(src, dst, confidence, [rule], DAY, DAY) for src, dst, confidence, rule in rows],
        "src string, dst string, confidence double, rules array<string>, first_dt date, last_dt date",
    )


def test_a_value_linked_to_more_anchors_than_its_limit_is_shared(spark):
    store_phone = [(f"card_no:C{n}", "mobile:13512345678", 0.6, "pos_card_mobile") for n in range(7)]
    family = [("card_no:C0", "mobile:13600000001", 0.6, "pos_card_mobile"),
              ("card_no:C1", "mobile:13600000001", 0.6, "pos_card_mobile")]
    got = graph.shared_values(edges_frame(spark, store_phone + family), ["card_no", "member_id"], {"mobile": 5})
    expected = spark.createDataFrame(
        [("mobile:13512345678", "mobile", "13512345678", 7, {"card_no": 7}, 5, graph.SHARED_DECISION)],
        "node string, id_type string, id_value string, anchors long, anchors_by_type map<string,long>, max_anchors int, "
        "decision string",
    )
    assertDataFrameEqual(got, expected)


def cc(nodes, edge_frame):
    return connected_components(nodes, edge_frame, engine="driver")


def test_the_identity_guard_cuts_the_weakest_links_of_an_oversized_identity(spark):
    # Seven members joined only through medium links to one email; two of them hold a card
    # strongly. With at most six members per identity, the medium links go.
    rows = [(f"member_id:M{n}", "email:family@qq.com", 0.6, "r_medium") for n in range(1, 8)]
    rows += [("member_id:M1", "card_no:C1", 0.9, "r_strong"), ("member_id:M2", "card_no:C2", 0.9, "r_strong")]
    edge_frame = edges_frame(spark, rows)
    nodes = edge_frame.select(F.col("src").alias("node")).union(edge_frame.select(F.col("dst").alias("node"))).distinct()
    clusters = cc(nodes, edge_frame.select("src", "dst")).withColumnRenamed("component", "cluster")
    got = graph.guard_identities(clusters, edge_frame, {"member_id": 6}, cc)
    everything = "card_no:C1"  # the smallest node of the single cluster
    expected = [("card_no:C1", everything, "card_no:C1"), ("member_id:M1", everything, "card_no:C1"),
                ("card_no:C2", everything, "card_no:C2"), ("member_id:M2", everything, "card_no:C2"),
                ("email:family@qq.com", everything, "email:family@qq.com")]
    expected += [(f"member_id:M{n}", everything, f"member_id:M{n}") for n in range(3, 8)]
    assertDataFrameEqual(got, spark.createDataFrame(expected, "node string, cluster string, component string"))


def test_the_identity_guard_never_cuts_the_strongest_links(spark):
    rows = [(f"member_id:M{n}", f"member_id:M{n + 1}", 0.9, "r_strong") for n in range(1, 9)]
    edge_frame = edges_frame(spark, rows)
    nodes = edge_frame.select(F.col("src").alias("node")).union(edge_frame.select(F.col("dst").alias("node"))).distinct()
    clusters = cc(nodes, edge_frame.select("src", "dst")).withColumnRenamed("component", "cluster")
    got = graph.guard_identities(clusters, edge_frame, {"member_id": 6}, cc)
    assert {row.component for row in got.collect()} == {"member_id:M1"}
