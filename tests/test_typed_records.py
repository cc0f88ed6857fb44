"""Typing and checking records: every bad-row kind gets its reason, good rows their types."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from models.ods.contract import ColumnSpec, EntityContract
from models.ods.records import RECORD_SCHEMA, split_file
from models.ods.typed_records import accepted_rows, check_records, rejected_rows

DS = date(2026, 1, 5)
CONTRACT = EntityContract(
    source="pos",
    entity="orders",
    format="csv",
    encoding="utf-8",
    columns=(
        ColumnSpec("order_id", "string", required=True),
        ColumnSpec("order_time", "timestamp", required=True),
        ColumnSpec("birthday", "date"),
        ColumnSpec("order_type", "enum", values=("sale", "return"), required=True),
        ColumnSpec("qty", "int", min=1),
        ColumnSpec("amount", "decimal", min=0, required=True),
        ColumnSpec("note", "string"),
    ),
    time_formats=("yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.SSS"),
    date_format="yyyy-MM-dd",
)
LANDING = """order_id,order_time,birthday,order_type,qty,amount,note
O1,2026-01-05 10:00:00,1990-02-03,sale,2,100.50,  keep spaces
O2,2026-01-05T11:30:00,,return,,0,
O3,2026-01-05T11:30:00.250, , sale ,1, 7 ,""
O4,2026-02-30 10:00:00,,sale,1,1.00,
O5,2026-01-05 10:00:00,1990-13-01,sale,1,1.00,
O6,2026-01-05 10:00:00,,gift,1,1.00,
O7,2026-01-05 10:00:00,,sale,x,1.00,
O8,2026-01-05 10:00:00,,sale,0,-3.00,
O9,2026-01-05 10:00:00,,sale,1,12.345,
,2026-01-05 10:00:00,,sale,1,1.00,
O11,,,,1,1.00,
O12,2026-01-05 10:00:00
O1,2026-01-05 10:00:00,1990-02-03,sale,2,100.50,  keep spaces
"""


def checked_frame(spark):
    rows = split_file(LANDING.encode("utf-8"), "pos/orders/dt=2026-01-05/a.csv", CONTRACT)
    records = spark.createDataFrame(rows, RECORD_SCHEMA)
    return check_records(records, CONTRACT, DS, "run-1")


def test_good_rows_are_typed_with_both_time_forms_and_blank_as_null(spark):
    accepted = accepted_rows(checked_frame(spark), CONTRACT)
    expected = spark.createDataFrame(
        [
            ("O1", datetime(2026, 1, 5, 10), date(1990, 2, 3), "sale", 2, Decimal("100.50"), "  keep spaces", 2),
            ("O2", datetime(2026, 1, 5, 11, 30), None, "return", None, Decimal("0.00"), None, 3),
            ("O3", datetime(2026, 1, 5, 11, 30, 0, 250000), None, "sale", 1, Decimal("7.00"), None, 4),
        ],
        "order_id string, order_time timestamp_ntz, birthday date, order_type string, qty int, "
        "amount decimal(18,2), note string, source_line long",
    ).select(
        "*",
        F.lit("pos/orders/dt=2026-01-05/a.csv").alias("source_file"),
        F.lit("run-1").alias("ingest_run_id"),
        F.lit(DS).alias("dt"),
    )
    assertDataFrameEqual(accepted, expected.select(*accepted.columns), checkRowOrder=False)


def test_every_bad_row_is_rejected_with_its_reasons_and_raw_text(spark):
    rejected = rejected_rows(checked_frame(spark), CONTRACT).select("source_line", "reason", "raw_text")
    expected = spark.createDataFrame(
        [
            (5, "bad_timestamp:order_time", "O4,2026-02-30 10:00:00,,sale,1,1.00,"),
            (6, "bad_date:birthday", "O5,2026-01-05 10:00:00,1990-13-01,sale,1,1.00,"),
            (7, "bad_enum:order_type", "O6,2026-01-05 10:00:00,,gift,1,1.00,"),
            (8, "bad_number:qty", "O7,2026-01-05 10:00:00,,sale,x,1.00,"),
            (9, "out_of_range:qty; out_of_range:amount", "O8,2026-01-05 10:00:00,,sale,0,-3.00,"),
            (10, "bad_number:amount", "O9,2026-01-05 10:00:00,,sale,1,12.345,"),
            (11, "missing_value:order_id", ",2026-01-05 10:00:00,,sale,1,1.00,"),
            (12, "missing_value:order_time; missing_value:order_type", "O11,,,,1,1.00,"),
            (13, "malformed_record", "O12,2026-01-05 10:00:00"),
            (14, "duplicate_row", "O1,2026-01-05 10:00:00,1990-02-03,sale,2,100.50,  keep spaces"),
        ],
        "source_line long, reason string, raw_text string",
    )
    assertDataFrameEqual(rejected, expected, checkRowOrder=False)


def test_rejects_carry_source_entity_and_lineage(spark):
    rejected = rejected_rows(checked_frame(spark), CONTRACT)
    assert rejected.columns == [
        "source", "entity", "source_file", "source_line", "raw_text", "reason", "ingest_run_id", "dt",
    ]
    assert {tuple(r) for r in rejected.select("source", "entity", "ingest_run_id", "dt").distinct().collect()} == {
        ("pos", "orders", "run-1", DS)
    }


JSON_CONTRACT = EntityContract(
    source="ecom",
    entity="orders",
    format="jsonl",
    encoding="utf-8",
    columns=(
        ColumnSpec("order_id", "string", required=True),
        ColumnSpec("coupon_ids", "list"),
        ColumnSpec("items", "items"),
        ColumnSpec("properties", "object"),
    ),
    time_formats=("yyyy-MM-dd HH:mm:ss",),
    date_format="yyyy-MM-dd",
)


def test_nested_json_fields_are_typed_and_bad_shapes_rejected(spark):
    lines = "\n".join(
        [
            '{"order_id": "E1", "coupon_ids": ["c1"], "items": [{"sku_id": "S1", "qty": 2, "unit_price": "5.00", "amount": 10}], "properties": {"k": "v"}}',
            '{"order_id": "E2", "coupon_ids": "c1"}',
            '{"order_id": "E3", "items": [{"sku_id": "S1", "qty": "two", "amount": 1}]}',
            '{"order_id": "E4", "items": [{"sku_id": "S1", "qty": 1, "amount": -1}]}',
        ]
    )
    records = spark.createDataFrame(split_file(lines.encode(), "e.jsonl", JSON_CONTRACT), RECORD_SCHEMA)
    checked = check_records(records, JSON_CONTRACT, DS, "run-1")
    accepted = accepted_rows(checked, JSON_CONTRACT).select("order_id", "coupon_ids", "items", "properties")
    expected = spark.createDataFrame(
        [("E1", ["c1"], [("S1", 2, Decimal("5.00"), Decimal("10.00"))], {"k": "v"})],
        "order_id string, coupon_ids array<string>, "
        "items array<struct<sku_id:string,qty:int,unit_price:decimal(18,2),amount:decimal(18,2)>>, "
        "properties map<string,string>",
    )
    assertDataFrameEqual(accepted, expected)
    rejected = rejected_rows(checked, JSON_CONTRACT).select("source_line", "reason")
    assertDataFrameEqual(
        rejected,
        spark.createDataFrame(
            [(2, "bad_structure:coupon_ids"), (3, "bad_structure:items"), (4, "bad_structure:items")],
            "source_line long, reason string",
        ),
        checkRowOrder=False,
    )
