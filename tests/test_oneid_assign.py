"""Stable one_ids: survival on merge and split, new ids, retirement, alias resolution."""

from __future__ import annotations

import hashlib
from datetime import date

from pyspark.testing import assertDataFrameEqual

from oneid import assign

DS = date(2026, 3, 5)
OLD = "O20260101aaaaaaaaaaaaaaaa"  # the oldest id
MID = "O20260102bbbbbbbbbbbbbbbb"
NEW = "O20260103cccccccccccccccc"


def new_id(component: str) -> str:
    return f"O{DS:%Y%m%d}" + hashlib.sha256(component.encode()).hexdigest()[:16]


def frames(spark, components, previous, edges=()):
    return (
        spark.createDataFrame(components, "node string, cluster string, component string"),
        spark.createDataFrame(list(previous), "node string, one_id string"),
        spark.createDataFrame([(s, d, 0.9, [r]) for s, d, r in edges],
                              "src string, dst string, confidence double, rules array<string>"),
    )


def events_frame(spark, rows):
    return spark.createDataFrame([(DS, *row) for row in rows],
                                 "ds date, from_one_id string, to_one_id string, kind string, reason string")


def test_an_unchanged_identity_keeps_its_id_and_logs_nothing(spark):
    components, previous, edges = frames(spark, [("a", "a", "a"), ("b", "a", "a")], [("a", OLD), ("b", OLD)])
    assigned, events = assign.assign(components, previous, edges, DS)
    assertDataFrameEqual(assigned, spark.createDataFrame([("a", "a", OLD), ("b", "a", OLD)], "node string, cluster string, one_id string"))
    assert events.count() == 0


def test_a_merge_keeps_the_oldest_id_and_logs_the_others_with_the_rules_that_joined_them(spark):
    components, previous, edges = frames(
        spark,
        [("a", "a", "a"), ("b", "a", "a"), ("c", "a", "a"), ("d", "a", "a")],
        [("a", MID), ("b", OLD), ("c", NEW)],
        edges=[("a", "b", "pos_card_mobile"), ("b", "c", "wx_member_binding"), ("c", "d", "crm_member_card")],
    )
    assigned, events = assign.assign(components, previous, edges, DS)
    assert {row.one_id for row in assigned.collect()} == {OLD}
    assertDataFrameEqual(events, events_frame(spark, [
        (MID, OLD, "merge", "linked by pos_card_mobile, wx_member_binding"),
        (NEW, OLD, "merge", "linked by pos_card_mobile, wx_member_binding"),
    ]))


def test_a_split_leaves_the_id_with_the_part_holding_most_old_identifiers(spark):
    # The cluster stayed one graph component: the identity guard cut it.
    components, previous, edges = frames(
        spark, [("a", "a", "a"), ("b", "a", "b"), ("c", "a", "b")], [("a", OLD), ("b", OLD), ("c", OLD)]
    )
    assigned, events = assign.assign(components, previous, edges, DS)
    assertDataFrameEqual(assigned, spark.createDataFrame(
        [("a", "a", new_id("a")), ("b", "a", OLD), ("c", "a", OLD)], "node string, cluster string, one_id string"
    ))
    assertDataFrameEqual(events, events_frame(spark, [(OLD, new_id("a"), "split", "identity guard cut its weakest links")]))


def test_an_even_split_leaves_the_id_with_the_smaller_part_key_and_names_a_removed_link(spark):
    components, previous, edges = frames(spark, [("a", "a", "a"), ("b", "b", "b")], [("a", OLD), ("b", OLD)])
    assigned, events = assign.assign(components, previous, edges, DS)
    assertDataFrameEqual(assigned, spark.createDataFrame(
        [("a", "a", OLD), ("b", "b", new_id("b"))], "node string, cluster string, one_id string"
    ))
    assertDataFrameEqual(events, events_frame(spark, [
        (OLD, new_id("b"), "split", "links to the rest were removed (a value judged shared or unbound, a weak join withdrawn, or a rule change)"),
    ]))


def test_an_identifier_moving_between_two_ids_that_live_on_is_logged(spark):
    # b joined OLD weakly; a stronger claim puts it with c and d (MID). Both ids live on, so
    # neither a merge nor a split explains b's new id: the move is logged as a split.
    components, previous, edges = frames(spark, [("a", "a", "a"), ("b", "b", "b"), ("c", "b", "b"), ("d", "b", "b")],
                                         [("a", OLD), ("b", OLD), ("c", MID), ("d", MID)])
    assigned, events = assign.assign(components, previous, edges, DS)
    assertDataFrameEqual(assigned, spark.createDataFrame(
        [("a", "a", OLD), ("b", "b", MID), ("c", "b", MID), ("d", "b", MID)], "node string, cluster string, one_id string"))
    assertDataFrameEqual(events, events_frame(spark, [
        (OLD, MID, "split", "identifiers moved to an identity with a stronger claim (a weak join contested)"),
    ]))


def test_a_weakly_joined_value_leaving_for_a_stronger_claim_never_takes_the_id_with_it(spark):
    # c (a buyer) shipped to b, its one receiver mobile, which joined it weakly (OLD); b's owner
    # a (MID) has registered since. By count alone, OLD's two parts tie and the smaller key "a"
    # would take OLD and swallow MID; b is a weak value, so OLD stays with the buyer.
    components, previous, edges = frames(spark, [("a", "a", "a"), ("b", "a", "a"), ("c", "c", "c")],
                                         [("a", MID), ("b", OLD), ("c", OLD)])
    weak_values = spark.createDataFrame([("b",)], "node string")
    assigned, events = assign.assign(components, previous, edges, DS, weak_values)
    assertDataFrameEqual(assigned, spark.createDataFrame(
        [("a", "a", MID), ("b", "a", MID), ("c", "c", OLD)], "node string, cluster string, one_id string"))
    assertDataFrameEqual(events, events_frame(spark, [
        (OLD, MID, "split", "identifiers moved to an identity with a stronger claim (a weak join contested)"),
    ]))


def test_new_identities_get_deterministic_ids_and_vanished_ones_are_retired(spark):
    # "s" was judged shared: it left the graph, and with it the only identifier of MID.
    components, previous, edges = frames(spark, [("x", "x", "x"), ("y", "x", "x")], [("s", MID)])
    assigned, events = assign.assign(components, previous, edges, DS)
    assertDataFrameEqual(assigned, spark.createDataFrame(
        [("x", "x", new_id("x")), ("y", "x", new_id("x"))], "node string, cluster string, one_id string"
    ))
    assertDataFrameEqual(events, events_frame(spark, [(MID, None, "retired", "all its identifiers were judged shared")]))


def test_aliases_of_an_id_merged_today_follow_it_to_the_survivor(spark):
    earlier = spark.createDataFrame([("O20251201dddddddddddddddd", MID, date(2026, 2, 1))],
                                    "alias_one_id string, one_id string, merged_ds date")
    events = events_frame(spark, [(MID, OLD, "merge", "linked by r"), (NEW, "O20260104eeeeeeeeeeeeeeee", "split", "x")])
    got = assign.resolve_aliases(earlier, events, DS)
    assertDataFrameEqual(got, spark.createDataFrame(
        [("O20251201dddddddddddddddd", OLD, date(2026, 2, 1)), (MID, OLD, DS)],
        "alias_one_id string, one_id string, merged_ds date",
    ))
