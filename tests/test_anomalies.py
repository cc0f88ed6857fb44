"""Cross-field anomaly rules: a reject rule sends the row to the rejects with its reason, a flag
rule keeps it flagged and counted; no row is lost and a wrong rule is refused by name."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import pytest
from pyspark.testing import assertDataFrameEqual

from models.ods.anomalies import apply, flagged_counts, parse_rules
from models.ods.contract import ColumnSpec, EntityContract
from models.ods.records import RECORD_SCHEMA, split_file
from models.ods.typed_records import REASON, accepted_rows, check_records, rejected_rows

DS = date(2026, 1, 5)
RULES = parse_rules([
    {"name": "paid_before_created", "when": "paid_at < created_at", "action": "flag", "nulls": ["minutes_to_pay"]},
    {"name": "created_in_future", "when": "created_at >= business_date + INTERVAL 2 DAYS", "action": "reject"},
    {"name": "zero_quantity", "when": "qty = 0", "action": "reject"},
], "ecom/orders")
CONTRACT = EntityContract(
    source="ecom", entity="orders", format="csv", encodings=("utf-8",),
    columns=(
        ColumnSpec("order_id", "string", required=True),
        ColumnSpec("created_at", "timestamp", required=True),
        ColumnSpec("paid_at", "timestamp"),
        ColumnSpec("qty", "int", min=0),
    ),
    time_formats=("yyyy-MM-dd HH:mm:ss",), date_format="yyyy-MM-dd", anomalies=RULES,
)
LANDING = """order_id,created_at,paid_at,qty
A1,2026-01-05 10:00:00,2026-01-05 10:05:00,1
A2,2026-01-05 10:00:00,2026-01-05 09:58:00,2
A3,2026-01-07 00:00:00,,1
A4,2026-01-06 23:59:59,,1
A5,2026-01-05 10:00:00,2026-01-05 09:00:00,0
A6,2026-13-05 10:00:00,2026-01-05 09:00:00,0
A7,2026-01-05 10:00:00,,
"""
FILE = "ecom/orders/dt=2026-01-05/a.csv"


def checked(spark, contract: EntityContract = CONTRACT):
    records = spark.createDataFrame(split_file(LANDING.encode(), FILE, contract), RECORD_SCHEMA)
    return apply(check_records(records, contract, DS, "run-1"), contract.anomalies, DS, REASON)


def test_reject_rules_add_their_reason_and_flag_rules_keep_the_row_flagged(spark):
    frame = checked(spark).cache()

    kept = accepted_rows(frame, CONTRACT)
    expected_kept = spark.createDataFrame([
        ("A1", datetime(2026, 1, 5, 10), datetime(2026, 1, 5, 10, 5), 1, []),
        ("A2", datetime(2026, 1, 5, 10), datetime(2026, 1, 5, 9, 58), 2, ["paid_before_created"]),
        ("A4", datetime(2026, 1, 6, 23, 59, 59), None, 1, []),
        ("A7", datetime(2026, 1, 5, 10), None, None, []),
    ], "order_id string, created_at timestamp_ntz, paid_at timestamp_ntz, qty int, anomaly_flags array<string>")
    assertDataFrameEqual(kept.drop("source_file", "source_line", "ingest_run_id", "dt"), expected_kept)
    rejects = rejected_rows(frame, CONTRACT).select("source_line", "reason")
    expected_rejects = spark.createDataFrame([
        (4, "anomaly:created_in_future"),
        # A row can break several rules; every reason is listed, typing problems first.
        (6, "anomaly:zero_quantity"),
        (7, "bad_timestamp:created_at; anomaly:zero_quantity"),
    ], "source_line long, reason string")
    assertDataFrameEqual(rejects, expected_rejects)
    assert kept.count() + rejects.count() == 7
    assert flagged_counts(kept, RULES) == {"paid_before_created": 1}


def test_an_entity_without_rules_is_unchanged(spark):
    plain = dataclasses.replace(CONTRACT, anomalies=())
    frame = checked(spark, plain)
    assert "anomaly_flags" not in accepted_rows(frame, plain).columns
    assert rejected_rows(frame, plain).count() == 1


@pytest.mark.parametrize("entry, message", [
    ({"name": "x", "when": "a > b", "action": "drop"}, "ecom/orders: anomaly rule 'x': action 'drop', expected one of"),
    ({"name": "x", "when": "a > b", "action": "reject", "nulls": ["m"]}, "only a flag rule nulls measures"),
    ({"name": "x", "when": "a > b", "action": "flag", "severity": "high"}, "has unknown key(s) ['severity']"),
    ({"name": "Bad Name", "when": "a > b", "action": "flag"}, "a name is lower-case letters, digits and _"),
    ({"name": "x", "action": "flag"}, "anomaly rule 'x' lacks 'when'"),
])
def test_a_wrong_rule_is_refused_naming_the_entity_and_rule(entry, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_rules([entry], "ecom/orders")
