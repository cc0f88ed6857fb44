"""The OneID job over three golden days: merges, a shared value that splits an identity, weak
links that join (a device, an own receiver mobile) and leave when contested later (a family
device, a gift recipient who registers), stable ids, incremental == full table for table,
reruns, refusal of an out-of-order day, profile, trade."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from generated_build import conf_in_use
from jobs import build_oneid
from jobs.catalog import register_tables
from jobs.config import load_catalog
from oneid import weak

REPO = Path(__file__).resolve().parents[1]
DAY1, DAY2, DAY3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
MOBILE_A, MOBILE_B, MOBILE_D, MOBILE_E, MOBILE_F = "13800138000", "13900139000", "13700137000", "13600136000", "13500135000"
STORE_PHONE = "13512345678"
PHONE, FAMILY_TABLET = "device_id:a1b2c3d4", "device_id:f00df00d"


def record(day, key, source_entity, fields):
    source, entity = source_entity.split(".")
    return [(day, source, entity, key, field, id_type, raw, scope) for field, id_type, raw, scope in fields]


def golden_evidence():
    day1 = (
        record(DAY1, "crm.members:M1", "crm.members", [
            ("member_id", "member_id", "M1", None), ("card_no", "card_no", "c1", None),
            ("mobile", "mobile", "+86 138 0013 8000", None), ("email", "email", " Ann@QQ.com ", None)])
        + record(DAY1, "pos.orders:P1", "pos.orders", [("card_no", "card_no", "C1", None), ("mobile", "mobile", MOBILE_A, None)])
        + record(DAY1, "wechat.users:wxapp:o1", "wechat.users", [
            ("openid", "wx_openid", "o1", "wxapp"), ("unionid", "wx_unionid", "U1", None), ("member_id", "member_id", "M1", None)])
        + record(DAY1, "ecom.orders:tmall:E1", "ecom.orders", [
            ("buyer_id", "ecom_buyer_id", "tb1", "tmall"), ("receiver_mobile", "mobile", MOBILE_B, None)])
        + record(DAY1, "pos.orders:P2", "pos.orders", [("mobile", "mobile", "13800000000", None)])
        + record(DAY1, "crm.members:M2", "crm.members", [
            ("member_id", "member_id", "M2", None), ("card_no", "card_no", "C2", None), ("mobile", "mobile", MOBILE_D, None)])
        + record(DAY1, "crm.members:M4", "crm.members", [
            ("member_id", "member_id", "M4", None), ("card_no", "card_no", "C4", None), ("mobile", "mobile", MOBILE_F, None)])
        # o1's phone and, so far, only o1 on the tablet: both uncontested, both join M1.
        + record(DAY1, "wechat.events:ev1", "wechat.events", [
            ("openid", "wx_openid", "o1", "wxapp"), ("device_id", "device_id", "A1B2C3D4", None)])
        + record(DAY1, "wechat.events:ev2", "wechat.events", [
            ("openid", "wx_openid", "o1", "wxapp"), ("device_id", "device_id", "f00df00d", None)])
    )
    day2 = (
        record(DAY2, "crm.members:M3", "crm.members", [
            ("member_id", "member_id", "M3", None), ("card_no", "card_no", "C3", None), ("mobile", "mobile", MOBILE_E, None)])
        + record(DAY2, "wechat.users:wxapp:o3", "wechat.users", [
            ("openid", "wx_openid", "o3", "wxapp"), ("unionid", "wx_unionid", "U3", None)])
        # The flagship's phone typed for two members: under the limit, so it joins them today.
        + record(DAY2, "pos.orders:P4", "pos.orders", [("card_no", "card_no", "C2", None), ("mobile", "mobile", STORE_PHONE, None)])
        + record(DAY2, "pos.orders:P5", "pos.orders", [("card_no", "card_no", "C4", None), ("mobile", "mobile", STORE_PHONE, None)])
        # o3, another person, uses the tablet too: a family device, it leaves M1.
        + record(DAY2, "wechat.events:ev3", "wechat.events", [
            ("openid", "wx_openid", "o3", "wxapp"), ("device_id", "device_id", "f00df00d", None)])
    )
    day3 = record(DAY3, "pos.orders:P3", "pos.orders", [("card_no", "card_no", "C3", None), ("mobile", "mobile", MOBILE_A, None)])
    # tb1's parcel was a gift: its receiver registers as a member with that mobile.
    day3 += record(DAY3, "crm.members:M9", "crm.members", [("member_id", "member_id", "M9", None), ("mobile", "mobile", MOBILE_B, None)])
    for n in range(5, 9):  # four more cards typed with the store phone: 6 anchors > 5, it is shared
        day3 += record(DAY3, f"pos.orders:P{n + 10}", "pos.orders",
                       [("card_no", "card_no", f"C{n}", None), ("mobile", "mobile", STORE_PHONE, None)])
    return day1 + day2 + day3


def one_id(day: date, smallest_node: str) -> str:
    return f"O{day:%Y%m%d}" + hashlib.sha256(smallest_node.encode()).hexdigest()[:16]


@pytest.fixture
def lakehouse(spark, settings_for, tmp_path):
    settings = settings_for()
    catalog = load_catalog()
    rows = [
        (*row[:7], row[7], datetime.combine(row[0], datetime.min.time()) + timedelta(hours=10, minutes=n))
        for n, row in enumerate(golden_evidence())
    ]
    evidence = spark.createDataFrame(
        rows, "dt date, source string, entity string, record_key string, field string, id_type string, raw_value string, "
              "scope string, event_at timestamp_ntz",
    )
    evidence.write.format("delta").partitionBy("dt").save(catalog.table("cdm.identity_evidence").path(settings.lakehouse))
    members = spark.createDataFrame(
        [("M1", True, False, "安娜", "F", date(1990, 5, 1), datetime(2026, 3, 1, 9)),
         ("M3", True, False, "安安", "F", None, datetime(2026, 3, 2, 9))],
        "member_id string, is_current boolean, is_inferred boolean, member_name string, gender string, birthday date, "
        "attributes_at timestamp_ntz",
    )
    members.write.format("delta").save(catalog.table("cdm.dim_member").path(settings.lakehouse))
    orders = spark.createDataFrame(
        [("pos.orders:P1", "pos:P1", None, None, datetime(2026, 3, 1, 10), DAY1, True, Decimal("100.00")),
         ("pos.orders:P3", "pos:P3", None, None, datetime(2026, 3, 3, 10), DAY3, True, Decimal("50.00")),
         ("ecom.orders:tmall:E1", "ecom:tmall:E1", "浙江省", "杭州市", datetime(2026, 3, 1, 11), DAY1, True, Decimal("80.00"))],
        "record_key string, order_key string, ship_province string, ship_city string, order_at timestamp_ntz, "
        "order_date date, is_purchase boolean, net_paid_amount decimal(18,2)",
    )
    orders.write.format("delta").save(catalog.table("cdm.fct_order").path(settings.lakehouse))
    register_tables(spark, settings, catalog)
    return settings, catalog


def run(spark, lakehouse, ds, **kwargs):
    settings, catalog = lakehouse
    result = build_oneid.run(spark, settings, catalog, ds, **kwargs)
    assert result.failure is None, result.failure
    return result


def partition(spark) -> set[frozenset[str]]:
    rows = spark.sql("SELECT one_id, concat(id_type, ':', id_value) AS node FROM oneid.id_mapping").collect()
    groups: dict[str, set[str]] = {}
    for row in rows:
        groups.setdefault(row.one_id, set()).add(row.node)
    return {frozenset(nodes) for nodes in groups.values()}


def snapshot(spark, table: str) -> list:
    return sorted(spark.table(table).collect(), key=repr)


WITHDRAWN = "links to the rest were removed (a value judged shared or unbound, a weak join withdrawn, or a rule change)"
M1_IDENTITY = {"member_id:M1", "card_no:C1", f"mobile:{MOBILE_A}", "email:ann@qq.com", "wx_openid:o1", "wx_unionid:U1"}
M2_IDENTITY = {"member_id:M2", "card_no:C2", f"mobile:{MOBILE_D}"}
M4_IDENTITY = {"member_id:M4", "card_no:C4", f"mobile:{MOBILE_F}"}
M3_IDENTITY = {"member_id:M3", "card_no:C3", f"mobile:{MOBILE_E}"}


@pytest.mark.slow
def test_three_days_of_identities(spark, lakehouse, tmp_path):
    first = run(spark, lakehouse, DAY1)
    assert first.mode == build_oneid.FULL
    # Weak links join when uncontested: o1's devices, and tb1's receiver mobile nobody else holds.
    assert partition(spark) == {frozenset(M1_IDENTITY | {PHONE, FAMILY_TABLET}), frozenset(M2_IDENTITY),
                                frozenset(M4_IDENTITY), frozenset({"ecom_buyer_id:tmall:tb1", f"mobile:{MOBILE_B}"})}
    stats = {(r.metric, r.dimension): r.value for r in spark.table("oneid.stats").where(F.col("ds") == DAY1).collect()}
    assert stats[("rejected_values", "mobile/placeholder")] == 1
    assert stats[("identities", "")] == 4 and stats[("largest_cluster", "")] == 8
    assert stats[("identities_by_types", "ecom_buyer_id+mobile")] == 1
    assert stats[("identities_by_types", "card_no+member_id+mobile")] == 2
    assert stats[("weak_links", f"wx_event_device/{weak.JOINED}")] == 2

    second = run(spark, lakehouse, DAY2)
    assert second.mode == build_oneid.INCREMENTAL
    id_m2, id_m4 = one_id(DAY1, "card_no:C2"), one_id(DAY1, "card_no:C4")
    survivor, merged = min(id_m2, id_m4), max(id_m2, id_m4)
    day2_log = {tuple(r) for r in spark.table("oneid.merge_log").where(F.col("ds") == DAY2)
                .select("from_one_id", "to_one_id", "kind", "reason").collect()}
    assert day2_log == {(merged, survivor, "merge", "a new identifier linked to both"),
                        (one_id(DAY1, "card_no:C1"), one_id(DAY2, FAMILY_TABLET), "split", WITHDRAWN)}
    tablet = spark.table("oneid.weak_links").where(F.col("id_value") == "f00df00d").select("claimant", "claimant_identities", "decision")
    assert sorted(tuple(r) for r in tablet.collect()) == [("wx_openid:o1", 2, weak.CONTESTED),
                                                          ("wx_openid:o3", 2, weak.CONTESTED)]
    untouched = {r.one_id for r in spark.table("oneid.id_mapping").where(F.col("id_value") == "M1").collect()}
    assert untouched == {one_id(DAY1, "card_no:C1")}

    run(spark, lakehouse, DAY3)
    # The gift recipient's member holds tb1's receiver mobile now: one order does not
    # corroborate tb1's claim against it, so the mobile moves to the recipient.
    expected = {frozenset(M1_IDENTITY | M3_IDENTITY | {PHONE}), frozenset(M2_IDENTITY), frozenset(M4_IDENTITY),
                frozenset({"ecom_buyer_id:tmall:tb1"}), frozenset({"member_id:M9", f"mobile:{MOBILE_B}"}),
                frozenset({FAMILY_TABLET}), frozenset({"wx_openid:o3", "wx_unionid:U3"}),
                *(frozenset({f"card_no:C{n}"}) for n in range(5, 9))}
    assert partition(spark) == expected
    ids = {r.id_value: r.one_id for r in spark.table("oneid.id_mapping").collect()}
    # The older identity survives the merge; the C2 part keeps the merged id (a 3–3 tie goes
    # to the smaller key), the C4 part splits off with a new id.
    assert ids["M1"] == ids["M3"] == one_id(DAY1, "card_no:C1")
    assert ids["M2"] == survivor and ids["M4"] == one_id(DAY3, "card_no:C4")
    day3_log = {tuple(r) for r in spark.table("oneid.merge_log").where(F.col("ds") == DAY3)
                .select("from_one_id", "to_one_id", "kind", "reason").collect()}
    assert day3_log == {
        (one_id(DAY2, "card_no:C3"), one_id(DAY1, "card_no:C1"), "merge", "linked by pos_card_mobile"),
        (survivor, one_id(DAY3, "card_no:C4"), "split", WITHDRAWN),
        (one_id(DAY1, "ecom_buyer_id:tmall:tb1"), one_id(DAY3, "member_id:M9"), "split", WITHDRAWN),
    }
    shared = spark.table("oneid.shared_identifiers").collect()
    assert [(r.id_type, r.id_value, r.anchors, dict(r.anchors_by_type), r.first_shared_ds) for r in shared] == [
        ("mobile", STORE_PHONE, 6, {"card_no": 6}, DAY3)]
    aliases = {r.alias_one_id: r.one_id for r in spark.table("oneid.one_id_alias").collect()}
    assert aliases == {merged: survivor, one_id(DAY2, "card_no:C3"): one_id(DAY1, "card_no:C1")}

    golden = spark.table("oneid.profile").where(F.col("one_id") == one_id(DAY1, "card_no:C1")).first()
    assert (golden.member_id, golden.mobile_masked, golden.name, golden.birthday, golden.identifier_count) == (
        "M3", "138****8000", "安安", date(1990, 5, 1), 10)
    assert golden.mobile_hash == hashlib.sha256((os.environ["CDP_PII_SALT"] + MOBILE_A).encode()).hexdigest()
    assert (golden.member_id_source, golden.mobile_source, golden.name_source, golden.birthday_source) == ("crm", "crm", "crm", "crm")
    # A gift's address is not the buyer's: tb1's receiver is someone else.
    buyer = spark.table("oneid.profile").where(F.col("one_id") == ids["tmall:tb1"]).first()
    assert buyer.city is None and buyer.mobile_masked is None

    trade = {r.one_id: (r.orders_lifetime, r.net_paid_lifetime) for r in
             spark.table("cdm.agg_one_id_trade").where(F.col("dt") == DAY3).collect()}
    assert trade == {one_id(DAY1, "card_no:C1"): (2, Decimal("150.00")), ids["tmall:tb1"]: (1, Decimal("80.00"))}

    # A rerun of the day gives the same tables.
    tables = ["oneid.id_mapping", "oneid.merge_log", "oneid.one_id_alias", "oneid.profile", "oneid.shared_identifiers",
              "oneid.record_identity", "oneid.weak_links", "oneid.overrides", "oneid.stats"]
    before = {table: snapshot(spark, table) for table in tables}
    trade_rows = snapshot(spark, "cdm.agg_one_id_trade")
    run(spark, lakehouse, DAY3)
    assert {table: snapshot(spark, table) for table in tables} == before

    # The first day run again replays the two after it, in order, to the same tables.
    settings, catalog = lakehouse
    rerun = build_oneid.run(spark, settings, catalog, DAY1)
    assert rerun.failure is None and [(day, replay.failure) for day, replay in rerun.replayed] == [(DAY2, None), (DAY3, None)]
    assert {table: snapshot(spark, table) for table in tables} == before
    assert snapshot(spark, "cdm.agg_one_id_trade") == trade_rows

    # A merged-away id answers with the survivor's identifiers.
    found = build_oneid.lookup(spark, settings, catalog, one_id(DAY2, "card_no:C3")).collect()
    assert {r.one_id for r in found} == {one_id(DAY1, "card_no:C1")} and len(found) == 10

    # Preview: the same rules change nothing; a weaker cashier mobile undoes the day-3 merge
    # and frees the store phone (weak links make no value shared), writing nothing.
    versions = {table: spark.sql(f"DESCRIBE HISTORY {table}").count() for table in tables}
    same = build_oneid.preview(spark, settings, catalog, REPO / "conf" / "oneid.yml")
    assert "same partition as the published mapping" in same[same.index("") - 1] and same[same.index("") - 1].endswith("yes")
    assert any(line.strip().startswith(weak.CONTESTED) and line.split()[-1] == "2" for line in same)
    weaker = tmp_path / "oneid.yml"
    conf_text = (REPO / "conf" / "oneid.yml").read_text(encoding="utf-8")
    weaker.write_text(conf_text.replace("to: mobile, confidence: medium", "to: mobile, confidence: weak"), encoding="utf-8")
    lines = build_oneid.preview(spark, settings, catalog, weaker)
    figures = {line.rsplit(None, 1)[0].strip(): line.rsplit(None, 1)[1] for line in lines[1:lines.index("")]}
    assert figures["identities that would split (one_ids spread over 2+ identities)"] == "1"
    assert figures["identities that would merge (new identities holding 2+ one_ids)"] == "0"
    assert figures["shared values under the new rules"] == "0"
    assert figures["identifiers mapped only under the new rules"] == "1"
    assert figures["same partition as the published mapping"] == "no"
    assert {table: spark.sql(f"DESCRIBE HISTORY {table}").count() for table in tables} == versions

    # Manual overrides apply on the next run, incrementally, without a rebuild: the gift
    # mobile unbound, M1 and M3 kept apart (the cut takes the weakest links, the phone's too),
    # tb1 forced together with M2.
    overridden = tmp_path / "conf"
    shutil.copytree(REPO / "conf", overridden)
    (overridden / "oneid.yml").write_text(
        conf_text.replace("  unbind: []", f'  unbind: [{{value: "mobile:{MOBILE_B}", reason: "a reseller"}}]')
        .replace("  keep_apart: []", '  keep_apart: [{a: "member_id:M1", b: "member_id:M3", reason: "two persons"}]')
        .replace("  force_together: []", '  force_together: [{a: "ecom_buyer_id:tmall:tb1", b: "member_id:M2", reason: "by phone"}]'),
        encoding="utf-8")
    listed = build_oneid.preview(spark, settings, catalog, overridden / "oneid.yml")
    assert "manual overrides: 3" in listed and listed[listed.index("") - 2].endswith(" 0")
    with conf_in_use(overridden):
        assert run(spark, lakehouse, DAY3).mode == build_oneid.INCREMENTAL
    assert partition(spark) == {
        frozenset(M1_IDENTITY), frozenset(M3_IDENTITY), frozenset({PHONE}), frozenset(M2_IDENTITY | {"ecom_buyer_id:tmall:tb1"}),
        frozenset(M4_IDENTITY), frozenset({"member_id:M9"}), frozenset({FAMILY_TABLET}), frozenset({"wx_openid:o3", "wx_unionid:U3"}),
        *(frozenset({f"card_no:C{n}"}) for n in range(5, 9))}
    unbound = spark.table("oneid.shared_identifiers").where(F.col("id_value") == MOBILE_B).first()
    assert unbound.decision == "unbound by override: a reseller"

    # Incremental equals a full recompute of all evidence, table for table. The full run is the
    # one a day after an older release's run takes: that run kept no record owners to build on.
    spark.sql(f"UPDATE oneid.runs SET versions = map_filter(versions, (name, version) -> name != 'record_identity') "
              f"WHERE ds = DATE'{DAY2}'")
    full = run(spark, lakehouse, DAY3)
    assert full.mode == build_oneid.FULL
    assert {table: snapshot(spark, table) for table in [*tables, "cdm.agg_one_id_trade"] if table != "oneid.stats"} == {
        table: rows for table, rows in {**before, "cdm.agg_one_id_trade": trade_rows}.items() if table != "oneid.stats"}
