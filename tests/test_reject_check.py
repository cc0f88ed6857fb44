"""The comparison of ods.rejects with the generator's planted bad rows must fire on every kind of
difference: a planted row not rejected, a row rejected that nobody planted, and a row rejected
for another reason; truth of a day that was not loaded is left out."""

from __future__ import annotations

from datetime import date

from jobs import reject_check

DAY, NOT_LOADED = date(2026, 4, 1), date(2026, 4, 2)
TRUTH_DDL = "source string, entity string, dt date, source_file string, source_line long, expected_reason string"
REJECTS_DDL = "source string, entity string, dt date, source_file string, source_line long, reason string"


def test_every_kind_of_difference_is_a_mismatch(spark):
    truth = spark.createDataFrame([
        ("pos", "orders", DAY, "pos/orders/a.csv", 3, "bad_date"),
        ("pos", "orders", DAY, "pos/orders/a.csv", 7, "missing_key"),
        ("pos", "orders", DAY, "pos/orders/a.csv", 9, "bad_amount"),
        ("crm", "members", DAY, "crm/members/m.jsonl", 2, "bad_mobile"),
        # Its day was not loaded: the check leaves it out instead of calling it missed.
        ("crm", "members", NOT_LOADED, "crm/members/n.jsonl", 5, "bad_mobile"),
    ], TRUTH_DDL)
    rejects = spark.createDataFrame([
        ("pos", "orders", DAY, "pos/orders/a.csv", 3, "bad_date"),
        ("pos", "orders", DAY, "pos/orders/a.csv", 7, "bad_date"),
        ("pos", "orders", DAY, "pos/orders/a.csv", 12, "bad_amount"),
        ("crm", "members", DAY, "crm/members/m.jsonl", 2, "bad_mobile"),
    ], REJECTS_DDL)
    loaded = spark.createDataFrame([("pos", "orders", DAY), ("crm", "members", DAY)], "source string, entity string, dt date")

    result = reject_check.compare(truth, rejects, loaded)

    assert not result.ok
    assert result.mismatches == [
        "pos/orders/a.csv:7 planted='missing_key' rejected='bad_date'",
        "pos/orders/a.csv:9 planted='bad_amount' rejected=None",
        "pos/orders/a.csv:12 planted=None rejected='bad_amount'",
    ]
    assert result.lines[2:] == [
        f"{'crm/members':<22} {1:>8} {1:>9} {1:>9}",
        f"{'pos/orders':<22} {3:>8} {3:>9} {1:>9}",
    ]


def test_the_same_rows_for_the_same_reasons_match(spark):
    rows = [("pos", "orders", DAY, "pos/orders/a.csv", 3, "bad_date")]
    result = reject_check.compare(
        spark.createDataFrame(rows, TRUTH_DDL), spark.createDataFrame(rows, REJECTS_DDL),
        spark.createDataFrame([("pos", "orders", DAY)], "source string, entity string, dt date"),
    )
    assert result.ok and result.mismatches == []
