"""ODS ingestion end to end on a small landing zone: tables, rejects, audit, reruns, failures."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from jobs import ingest_ods
from jobs.catalog import overwrite as write_table
from jobs.catalog import read_table
from jobs.config import load_catalog, load_contracts

DS = date(2026, 1, 5)
DT = f"dt={DS.isoformat()}"
ENTITIES = {
    ("pos", "orders"), ("pos", "stores"), ("crm", "members"), ("wechat", "events"), ("product", "products"),
    ("crm", "points_ledger"),
}

POS_ORDERS = """order_id,store_id,card_no,mobile,guide_id,order_time,order_type,orig_order_id,total_amount,discount_amount,pay_amount,pay_method
P1,S01,c001,+86 138 0013 8000,G1,2026-01-05 10:00:00,sale,,100.00,10.00,90.00,微信
P2,S01,,,G1,2026-01-05T11:00:00,return,P0,20.00,0,20.00,现金
P3,S01,,,G1,2026-01-05 12:00:00,sale,,-5.00,0,1.00,现金
P1,S01,c001,+86 138 0013 8000,G1,2026-01-05 10:00:00,sale,,100.00,10.00,90.00,微信
"""
CRM_MEMBERS = """member_id,card_no,mobile,email,name,gender,birthday,join_channel,join_store_id,join_time,level,status,updated_at,remark
M1,C001,13800138000, A@B.COM ,张三,男,1990-01-02,store,S01,2024-01-01 09:00:00,gold,active,2026-01-05 08:00:00,vip
M2,,,,李四,X,,,,,silver,active,2026-01-05 08:00:00,
"""
# A newer till: UTF-8 with a BOM (the SPEC's default form), returns written negative.
POS_ORDERS_NEW_TILL = """order_id,store_id,card_no,mobile,guide_id,order_time,order_type,orig_order_id,total_amount,discount_amount,pay_amount,pay_method
P4,S02,,,,2026-01-05 14:00:00,sale,,30.00,0,30.00,支付宝
R4,S02,,,,2026-01-05 15:00:00,return,P4,-30.00,0,-30.00,支付宝
"""
STORES_WITHOUT_ID = "store_name,province\n一号店,上海\n"
# The CRM started writing points with a unit: every value of a file, not a few bad rows.
LEDGER_WITH_UNITS = "ledger_id,member_id,txn_time,points_type,change,reason\n" + "".join(
    f"L{i},M1,2026-01-05 10:00:00,base,{i}分,order\n" for i in range(12)
)
# Declared UTF-8 but written by a tool that used GBK: undecodable, the whole file fails.
PRODUCTS_IN_GBK = "sku_id,spu_id,sku_name\nK1,P1,羊毛大衣\n".encode("gbk")
EVENTS = [
    {"event_id": "e1", "event_time": "2026-01-05 09:00:00", "app_id": "wx1", "openid": "o1",
     "event": "page_view", "properties": {"page": "home"}, "channel": "ad"},
    '{"event_id": "e2", "event_time": "2026-01-05 09:01:00", "app_id": "wx1"',
]


def write_landing(root: Path) -> None:
    def put(source: str, entity: str, name: str, data: bytes) -> None:
        folder = root / source / entity / DT
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)

    put("pos", "orders", "part-0001.csv", POS_ORDERS.encode("gbk"))
    put("pos", "orders", "part-0002.csv", POS_ORDERS_NEW_TILL.encode("utf-8-sig"))
    put("crm", "points_ledger", "part-0001.csv", LEDGER_WITH_UNITS.encode("utf-8"))
    put("crm", "members", "part-0001.csv", b"\xef\xbb\xbf" + CRM_MEMBERS.encode("utf-8"))
    put("pos", "stores", "part-0001.csv", STORES_WITHOUT_ID.encode("gbk"))
    put("product", "products", "part-0001.csv", PRODUCTS_IN_GBK)
    lines = [json.dumps(e, ensure_ascii=False) if isinstance(e, dict) else e for e in EVENTS]
    put("wechat", "events", "part-0001.jsonl", "\n".join(lines).encode("utf-8"))


@pytest.fixture(scope="module")
def landed(spark, base_settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("ingest")
    settings = dataclasses.replace(base_settings, landing=str(root / "landing"), lakehouse=str(root / "lakehouse"))
    write_landing(root / "landing")
    contracts = tuple(c for c in load_contracts() if (c.source, c.entity) in ENTITIES)
    first = ingest_ods.run(spark, settings, load_catalog(), contracts, DS)
    snapshot = {name: read_table(spark, settings, load_catalog().table(name)).drop("ingest_run_id").collect()
                for name in ("ods.pos_orders", "ods.crm_members", "ods.rejects")}
    second = ingest_ods.run(spark, settings, load_catalog(), contracts, DS)
    return settings, first, second, snapshot


def by_table(loads):
    return {load.table: load for load in loads}


def test_each_entity_reports_files_rows_and_status(landed):
    _, first, _, _ = landed
    summary = {l.table: (l.files, l.rows_in, l.rows_kept, l.rows_rejected, l.status) for l in first}
    assert summary == {
        "ods.crm_members": (1, 2, 1, 1, "loaded"),
        "ods.pos_stores": (None, None, None, None, "failed"),
        "ods.product_products": (None, None, None, None, "failed"),
        "ods.pos_orders": (2, 6, 4, 2, "loaded"),
        "ods.wechat_events": (1, 2, 1, 1, "loaded"),
        "ods.crm_points_ledger": (None, None, None, None, "failed"),
    }


def test_each_file_records_the_encoding_it_was_read_in(landed):
    _, first, _, _ = landed
    assert {l.table: l.encodings for l in first if l.status == "loaded"} == {
        "ods.pos_orders": [f"pos/orders/{DT}/part-0001.csv: gbk", f"pos/orders/{DT}/part-0002.csv: utf-8 (BOM)"],
        "ods.crm_members": [f"crm/members/{DT}/part-0001.csv: utf-8 (BOM)"],
        "ods.wechat_events": [f"wechat/events/{DT}/part-0001.jsonl: utf-8"],
    }


def test_a_column_whose_type_changed_fails_its_entity_naming_file_and_column(landed):
    _, first, _, _ = landed
    assert by_table(first)["ods.crm_points_ledger"].message == (
        f"column change of file crm/points_ledger/{DT}/part-0001.csv: 12 of 12 values do not parse as int "
        "(e.g. '0分'); the source's column type seems to have changed"
    )


def test_missing_required_column_fails_its_entity_by_file_and_column(landed):
    _, first, _, _ = landed
    assert by_table(first)["ods.pos_stores"].message == (
        f"pos/stores/{DT}/part-0001.csv: missing required column(s) store_id"
    )


def test_unreadable_file_fails_its_entity_by_file_and_encoding(landed):
    _, first, _, _ = landed
    assert by_table(first)["ods.product_products"].message == (
        f"product/products/{DT}/part-0001.csv: unreadable as utf-8 "
        "(utf-8: 'utf-8' codec can't decode byte 0xd1 in position 29: invalid continuation byte)"
    )


def test_extra_and_missing_optional_columns_are_warnings(landed):
    _, first, _, _ = landed
    assert by_table(first)["ods.crm_members"].warnings == [f"crm/members/{DT}/part-0001.csv: unexpected column 'remark' ignored"]
    assert by_table(first)["ods.wechat_events"].warnings == [
        f"wechat/events/{DT}/part-0001.jsonl: unexpected field 'channel' ignored"
    ]


def test_gbk_and_bom_files_load_typed_values_with_returns_positive(landed, spark):
    settings, *_ = landed
    orders = read_table(spark, settings, load_catalog().table("ods.pos_orders"))
    assert sorted((r.order_id, r.order_type, r.pay_method, str(r.pay_amount)) for r in orders.collect()) == [
        ("P1", "sale", "微信", "90.00"), ("P2", "return", "现金", "20.00"),
        ("P4", "sale", "支付宝", "30.00"), ("R4", "return", "支付宝", "30.00"),
    ]
    members = read_table(spark, settings, load_catalog().table("ods.crm_members"))
    assert [(r.member_id, r.name, r.email) for r in members.collect()] == [("M1", "张三", " A@B.COM ")]


def test_rejects_hold_source_file_line_raw_text_and_reason(landed, spark):
    settings, *_ = landed
    rejects = read_table(spark, settings, load_catalog().table("ods.rejects")).select(
        "source", "entity", "source_file", "source_line", "reason", "dt"
    )
    expected = spark.createDataFrame(
        [
            ("pos", "orders", f"pos/orders/{DT}/part-0001.csv", 4, "out_of_range:total_amount", DS),
            ("pos", "orders", f"pos/orders/{DT}/part-0001.csv", 5, "duplicate_row", DS),
            ("crm", "members", f"crm/members/{DT}/part-0001.csv", 3, "bad_enum:gender", DS),
            ("wechat", "events", f"wechat/events/{DT}/part-0001.jsonl", 2, "malformed_record", DS),
        ],
        "source string, entity string, source_file string, source_line long, reason string, dt date",
    )
    assertDataFrameEqual(rejects, expected, checkRowOrder=False)


def test_rerun_of_the_same_ds_gives_the_same_tables(landed, spark):
    settings, first, second, snapshot = landed
    assert [l.audit_row("x") for l in first] == [l.audit_row("x") for l in second]
    for name, rows in snapshot.items():
        again = read_table(spark, settings, load_catalog().table(name)).drop("ingest_run_id")
        assertDataFrameEqual(again, rows, checkRowOrder=False)


def test_audit_and_quality_results_are_kept(landed, spark):
    settings, *_ = landed
    audit = read_table(spark, settings, load_catalog().table("ods.load_audit"))
    assert audit.count() == len(ENTITIES)
    assert audit.where(F.col("status") == "loaded").where(
        F.col("rows_in") != F.col("rows_kept") + F.col("rows_rejected")
    ).count() == 0
    results = read_table(spark, settings, load_catalog().table("ods.dq_results"))
    assert {r.table_name for r in results.select("table_name").distinct().collect()} == {
        "ods.pos_orders", "ods.crm_members", "ods.wechat_events"
    }
    assert results.where(~F.col("success")).count() == 0


def test_tables_are_queryable_by_name(landed, spark):
    assert spark.sql("SELECT count(*) AS n FROM ods.pos_orders").first().n == 4


def test_sources_loading_at_the_same_time_do_not_conflict(landed, spark):
    """The DAG loads each source in its own task; they share rejects, audit and results."""
    settings, _, _, snapshot = landed
    by_source = {}
    for contract in load_contracts():
        if (contract.source, contract.entity) in ENTITIES:
            by_source.setdefault(contract.source, []).append(contract)
    with ThreadPoolExecutor(max_workers=len(by_source)) as pool:
        runs = pool.map(
            lambda contracts: ingest_ods.run(spark, settings, load_catalog(), tuple(contracts), DS, parallelism=1),
            by_source.values(),
        )
        statuses = {load.table: load.status for loads in runs for load in loads}
    assert statuses == {
        "ods.crm_members": "loaded", "ods.pos_orders": "loaded", "ods.wechat_events": "loaded",
        "ods.pos_stores": "failed", "ods.product_products": "failed", "ods.crm_points_ledger": "failed",
    }
    rejects = read_table(spark, settings, load_catalog().table("ods.rejects")).drop("ingest_run_id")
    assertDataFrameEqual(rejects, snapshot["ods.rejects"], checkRowOrder=False)
    audit = read_table(spark, settings, load_catalog().table("ods.load_audit"))
    assert audit.count() == len(ENTITIES)


def test_an_audit_table_written_before_encodings_were_recorded_gains_the_column(spark, settings_for):
    settings = settings_for()
    catalog = load_catalog()
    earlier = date(2026, 1, 4)
    names = ingest_ods.AUDIT_SCHEMA.fieldNames()
    old_schema = T.StructType(ingest_ods.AUDIT_SCHEMA.fields[: names.index("ingest_run_id") + 1])
    old_row = ("crm", "members", 1, 1, 1, 0, "loaded", None, [], "run-0")
    write_table(spark, settings, catalog.table("ods.load_audit"),
                spark.createDataFrame([old_row], old_schema).withColumn("dt", F.lit(earlier)))
    folder = Path(settings.landing) / "crm" / "members" / DT
    folder.mkdir(parents=True)
    (folder / "part-0001.csv").write_bytes(CRM_MEMBERS.encode("utf-8"))
    members = tuple(c for c in load_contracts() if c.table_name == "crm_members")
    ingest_ods.run(spark, settings, catalog, members, DS)
    audit = read_table(spark, settings, catalog.table("ods.load_audit"))
    assert sorted((r.dt, r.rows_in, r.encodings) for r in audit.collect()) == [
        (earlier, 1, None), (DS, 2, [f"crm/members/{DT}/part-0001.csv: utf-8"]),
    ]
