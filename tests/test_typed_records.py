"""Typing and checking records: every bad-row kind gets its reason, good rows their types."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.config import load_contracts
from models.cdm import fct_order, fct_order_item, references
from models.ods.contract import ColumnSpec, EntityContract, parse_contract
from models.ods.records import RECORD_SCHEMA, split_file
from models.ods.typed_records import (
    LINEAGE_COLUMNS,
    TYPE_CHANGE_MIN_VALUES,
    accepted_rows,
    check_records,
    file_summary,
    rejected_rows,
    type_change_messages,
    type_changes,
    unparsed_examples,
)

DS = date(2026, 1, 5)
CONTRACT = EntityContract(
    source="pos",
    entity="orders",
    format="csv",
    encodings=("utf-8",),
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
    encodings=("utf-8",),
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


def test_a_json_object_where_text_was_sent_is_a_bad_structure(spark):
    lines = "\n".join(['{"order_id": "E1"}', '{"order_id": {"id": "E2"}}', '{"order_id": ["E3"]}', '{"order_id": 4}'])
    records = spark.createDataFrame(split_file(lines.encode(), "e.jsonl", JSON_CONTRACT), RECORD_SCHEMA)
    checked = check_records(records, JSON_CONTRACT, DS, "r")
    assertDataFrameEqual(accepted_rows(checked, JSON_CONTRACT).select("order_id", "source_line"),
                         spark.createDataFrame([("E1", 1), ("4", 4)], "order_id string, source_line long"),
                         checkRowOrder=False)
    assertDataFrameEqual(
        rejected_rows(checked, JSON_CONTRACT).select("source_line", "reason"),
        spark.createDataFrame([(2, "bad_structure:order_id"), (3, "bad_structure:order_id")],
                              "source_line long, reason string"),
        checkRowOrder=False,
    )


# --- returns in either sign convention ---------------------------------------------------

POS_CONTRACTS = {c.entity: c for c in load_contracts() if c.source == "pos"}
ORDERS_HEADER = "order_id,store_id,card_no,mobile,guide_id,order_time,order_type,orig_order_id,total_amount,discount_amount,pay_amount,pay_method"
# The same day from a till that writes returns positive and from one that writes them negative.
POSITIVE_RETURNS = {
    "orders": f"""{ORDERS_HEADER}
S1,T01,,,,2026-01-05 10:00:00,sale,,100.00,10.00,90.00,cash
R1,T01,,,,2026-01-05 11:00:00,return,S1,50.00,5.00,45.00,cash
R2,T01,,,,2026-01-05 11:30:00,return,S1,20.00,0,20.00,cash
""",
    "order_items": """order_id,line_no,sku_id,qty,unit_price,amount
S1,1,A,2,50.00,100.00
R1,1,A,1,50.00,50.00
R2,1,B,2,10.00,20.00
""",
}
NEGATIVE_RETURNS = {
    "orders": f"""{ORDERS_HEADER}
S1,T01,,,,2026-01-05 10:00:00,sale,,100.00,10.00,90.00,cash
R1,T01,,,,2026-01-05 11:00:00,return,S1,-50.00,-5.00,-45.00,cash
R2,T01,,,,2026-01-05 11:30:00,return,S1,-20.00,0,-20.00,cash
""",
    "order_items": """order_id,line_no,sku_id,qty,unit_price,amount
S1,1,A,2,50.00,100.00
R1,1,A,-1,50.00,-50.00
R2,1,B,-2,10.00,-20.00
""",
}
# Negative where the convention does not allow it: after the good rows, so lines 2-4 match.
NOT_RETURNS = {
    "orders": """S9,T01,,,,2026-01-05 12:00:00,sale,,-100.00,-10.00,-90.00,cash
R9,T01,,,,2026-01-05 12:30:00,return,S1,-50.00,5.00,-45.00,cash
""",
    "order_items": """S9,1,A,-2,50.00,100.00
S9,2,A,2,-50.00,-100.00
S9,3,A,-2147483648,50.00,-100.00
""",
}


def pos_day(spark: SparkSession, landing: dict[str, str], entity: str) -> DataFrame:
    contract = POS_CONTRACTS[entity]
    path = f"pos/{entity}/dt={DS}/part-0001.csv"
    records = spark.createDataFrame(split_file(landing[entity].encode("gbk"), path, contract), RECORD_SCHEMA)
    return check_records(records, contract, DS, "run-1")


def no_ecom_orders(spark: SparkSession) -> DataFrame:
    ecom = next(c for c in load_contracts() if c.table_name == "ecom_orders")
    return check_records(spark.createDataFrame([], RECORD_SCHEMA), ecom, DS, "run-1").select(
        *ecom.column_names, *LINEAGE_COLUMNS
    )


def cdm_orders(spark: SparkSession, landing: dict[str, str]) -> tuple[DataFrame, DataFrame]:
    """(fct_order_item, fct_order) of a day that holds only these POS tickets."""
    ods_orders = accepted_rows(pos_day(spark, landing, "orders"), POS_CONTRACTS["orders"])
    ods_items = accepted_rows(pos_day(spark, landing, "order_items"), POS_CONTRACTS["order_items"])
    no_ecom = no_ecom_orders(spark)
    headers = fct_order.headers(ods_orders, no_ecom)
    items, _ = fct_order_item.build(fct_order_item.raw_lines(ods_items, no_ecom), headers)
    # Computed once: the order build reads the lines again.
    items = spark.createDataFrame(items.collect(), items.schema)
    no_cards = spark.createDataFrame([], "card_no string, member_id string, effective_from timestamp_ntz")
    no_stores = spark.createDataFrame([], "store_id string, region_id string")
    return items, fct_order.build(headers, items, no_cards, no_stores)


def test_a_return_written_negative_loads_as_the_same_positive_return(spark):
    orders = accepted_rows(pos_day(spark, NEGATIVE_RETURNS, "orders"), POS_CONTRACTS["orders"])
    expected = spark.createDataFrame(
        [
            ("S1", "sale", Decimal("100.00"), Decimal("10.00"), Decimal("90.00"), 2),
            ("R1", "return", Decimal("50.00"), Decimal("5.00"), Decimal("45.00"), 3),
            ("R2", "return", Decimal("20.00"), Decimal("0.00"), Decimal("20.00"), 4),
        ],
        "order_id string, order_type string, total_amount decimal(18,2), discount_amount decimal(18,2), "
        "pay_amount decimal(18,2), source_line long",
    )
    columns = ["order_id", "order_type", "total_amount", "discount_amount", "pay_amount", "source_line"]
    assertDataFrameEqual(orders.select(*columns), expected, checkRowOrder=False)
    items = accepted_rows(pos_day(spark, NEGATIVE_RETURNS, "order_items"), POS_CONTRACTS["order_items"])
    assertDataFrameEqual(
        items.select("order_id", "line_no", "qty", "unit_price", "amount"),
        spark.createDataFrame(
            [("S1", 1, 2, Decimal("50.00"), Decimal("100.00")), ("R1", 1, 1, Decimal("50.00"), Decimal("50.00")),
             ("R2", 1, 2, Decimal("10.00"), Decimal("20.00"))],
            "order_id string, line_no int, qty int, unit_price decimal(18,2), amount decimal(18,2)",
        ),
        checkRowOrder=False,
    )


def test_both_sign_conventions_give_the_same_cdm_orders_and_lines(spark):
    positive_items, positive_orders = cdm_orders(spark, POSITIVE_RETURNS)
    negative_items, negative_orders = cdm_orders(spark, NEGATIVE_RETURNS)
    assertDataFrameEqual(negative_items, positive_items, checkRowOrder=False)
    assertDataFrameEqual(negative_orders, positive_orders, checkRowOrder=False)
    # CDM signs a return itself: the refund is negative there, once.
    assert sorted((r.order_id, str(r.paid_amount)) for r in negative_orders.collect()) == [
        ("R1", "-45.00"), ("R2", "-20.00"), ("S1", "90.00"),
    ]


def test_a_line_written_negative_under_a_sale_ticket_is_reported_not_loaded_as_a_sale(spark):
    """A line carries no order type, so ODS takes a wholly negative line for a return's line and
    keeps its sign; the CDM, which knows the ticket, leaves out a negative line of a sale and
    reports it, instead of selling what the till wrote as taken back."""
    day = {
        "orders": NEGATIVE_RETURNS["orders"] + "S2,T01,,,,2026-01-05 12:00:00,sale,,80.00,0,80.00,cash\n",
        "order_items": NEGATIVE_RETURNS["order_items"] + "S2,1,A,1,50.00,50.00\nS2,2,B,-1,30.00,-30.00\n",
    }
    items = accepted_rows(pos_day(spark, day, "order_items"), POS_CONTRACTS["order_items"])
    assertDataFrameEqual(
        items.select("order_id", "line_no", "qty", "amount", "written_negative"),
        spark.createDataFrame(
            [("S1", 1, 2, Decimal("100.00"), False), ("R1", 1, 1, Decimal("50.00"), True),
             ("R2", 1, 2, Decimal("20.00"), True), ("S2", 1, 1, Decimal("50.00"), False),
             ("S2", 2, 1, Decimal("30.00"), True)],
            "order_id string, line_no int, qty int, amount decimal(18,2), written_negative boolean",
        ),
        checkRowOrder=False,
    )
    ods_orders = accepted_rows(pos_day(spark, day, "orders"), POS_CONTRACTS["orders"])
    lines = fct_order_item.raw_lines(items, no_ecom_orders(spark))
    placed, unplaced = fct_order_item.build(lines, fct_order.headers(ods_orders, no_ecom_orders(spark)))
    assert sorted((row.order_id, row.line_no, str(row.paid_amount)) for row in placed.collect()) == [
        ("R1", 1, "-45.00"), ("R2", 1, "-20.00"), ("S1", 1, "90.00"), ("S2", 1, "80.00"),
    ]
    assertDataFrameEqual(
        references.unplaced_lines(unplaced),
        spark.createDataFrame([("cdm.fct_order_item", "order_type", "cdm.fct_order", "pos:S2", 1)],
                              references.UNKNOWN_REFERENCE_SCHEMA),
    )


def test_a_negative_sale_or_a_return_of_mixed_signs_is_rejected(spark):
    day = {entity: NEGATIVE_RETURNS[entity] + NOT_RETURNS[entity] for entity in NOT_RETURNS}
    orders = rejected_rows(pos_day(spark, day, "orders"), POS_CONTRACTS["orders"])
    items = rejected_rows(pos_day(spark, day, "order_items"), POS_CONTRACTS["order_items"])
    assertDataFrameEqual(
        orders.unionByName(items).select("entity", "source_line", "reason"),
        spark.createDataFrame(
            [
                ("orders", 5, "out_of_range:total_amount; out_of_range:discount_amount; out_of_range:pay_amount"),
                ("orders", 6, "out_of_range:total_amount; out_of_range:pay_amount"),
                ("order_items", 5, "out_of_range:qty"),
                ("order_items", 6, "out_of_range:unit_price; out_of_range:amount"),
                # Its negation does not fit an int.
                ("order_items", 7, "out_of_range:qty"),
            ],
            "entity string, source_line long, reason string",
        ),
        checkRowOrder=False,
    )


@pytest.mark.parametrize(
    ("convention", "message"),
    [
        ({"columns": ["order_id"]}, "sign_convention column 'order_id' is not a number column"),
        ({"columns": ["amount"], "negative_allowed_when": {"column": "kind", "values": ["return"]}},
         "sign_convention column 'kind' is unknown"),
        ({"columns": ["amount"], "negative_allowed_when": {"column": "order_id"}},
         "sign_convention names 'order_id' but no values"),
    ],
)
def test_a_sign_convention_must_name_number_columns_and_allowed_values(convention, message):
    entity = {"format": "csv", "sign_convention": convention,
              "columns": [{"name": "order_id", "type": "string"}, {"name": "amount", "type": "decimal"}]}
    with pytest.raises(ValueError, match=f"pos/orders: {message}"):
        parse_contract({"sources": {"pos": {"entities": {"orders": entity}}}})


# --- a column whose type changed -----------------------------------------------------------


def changed_columns(checked: DataFrame, contract: EntityContract) -> list[str]:
    """What the ODS load says of the files of ``checked`` whose column types changed."""
    changes = type_changes(file_summary(checked, contract).collect(), contract)
    return type_change_messages(changes, unparsed_examples(checked, changes).collect() if changes else [])


def checked_files(spark: SparkSession, files: dict[str, str]) -> DataFrame:
    rows = [row for path, text in files.items() for row in split_file(text.encode(), path, CONTRACT)]
    return check_records(spark.createDataFrame(rows, RECORD_SCHEMA), CONTRACT, DS, "r")


def orders_file(amounts: list[str]) -> str:
    return "order_id,order_time,order_type,amount\n" + "".join(
        f"O{i},2026-01-05 10:00:00,sale,{amount}\n" for i, amount in enumerate(amounts)
    )


def test_a_file_whose_column_no_longer_parses_is_named_with_an_example(spark):
    many = TYPE_CHANGE_MIN_VALUES + 2
    files = {
        # Amounts now written with a currency sign: the column changed, not thousands of rows.
        "pos/orders/changed.csv": orders_file([f"￥{i}.00" for i in range(many)]),
        # Nine in ten that do not parse are still a change; the blank is not a value.
        "pos/orders/mostly.csv": orders_file(["1.00", ""] + [f"{i} yuan" for i in range(many * 9)]),
        # A few bad values among good ones stay row rejects.
        "pos/orders/few_bad.csv": orders_file(["abc"] + ["1.00"] * many),
        # Too few values to tell a change from bad rows.
        "pos/orders/small.csv": orders_file(["abc"] * (TYPE_CHANGE_MIN_VALUES - 1)),
    }
    assert changed_columns(checked_files(spark, files), CONTRACT) == [
        f"column amount of file pos/orders/changed.csv: {many} of {many} values do not parse as decimal "
        "(e.g. '￥0.00'); the source's column type seems to have changed",
        f"column amount of file pos/orders/mostly.csv: {many * 9} of {many * 9 + 1} values do not parse as decimal "
        "(e.g. '0 yuan'); the source's column type seems to have changed",
    ]


def test_a_json_field_that_became_an_object_is_a_type_change(spark):
    lines = "".join(f'{{"order_id": {{"id": "E{i}"}}, "properties": "p{i}"}}\n' for i in range(TYPE_CHANGE_MIN_VALUES))
    records = spark.createDataFrame(split_file(lines.encode(), "ecom/orders/a.jsonl", JSON_CONTRACT), RECORD_SCHEMA)
    assert changed_columns(check_records(records, JSON_CONTRACT, DS, "r"), JSON_CONTRACT) == [
        f"column order_id of file ecom/orders/a.jsonl: {TYPE_CHANGE_MIN_VALUES} of {TYPE_CHANGE_MIN_VALUES} values "
        "do not parse as string (e.g. '{\"id\": \"E0\"}'); the source's column type seems to have changed",
        f"column properties of file ecom/orders/a.jsonl: {TYPE_CHANGE_MIN_VALUES} of {TYPE_CHANGE_MIN_VALUES} values "
        "do not parse as object (e.g. 'p0'); the source's column type seems to have changed",
    ]


def test_file_summary_counts_every_checked_and_rejected_row(spark):
    files = {"pos/orders/a.csv": orders_file(["1.00", "-1", "x"]), "pos/orders/b.csv": orders_file(["2"])}
    summary = file_summary(checked_files(spark, files), CONTRACT).collect()
    assert sorted((r.source_file, r.checked, r.rejected, r.amount__present, r.amount__unparsed) for r in summary) == [
        ("pos/orders/a.csv", 3, 2, 3, 1), ("pos/orders/b.csv", 1, 0, 1, 0),
    ]


def test_dates_and_times_outside_years_1_to_9999_are_bad_values(spark):
    landing = """order_id,order_time,birthday,order_type,qty,amount,note
O1,0000-01-05 10:00:00,1990-01-01,sale,1,1.00,
O2,2026-01-05 10:00:00,+10000-01-01,sale,1,1.00,
O3,0001-01-01 00:00:00,9999-12-31,sale,1,1.00,
"""
    records = spark.createDataFrame(split_file(landing.encode(), "a.csv", CONTRACT), RECORD_SCHEMA)
    checked = check_records(records, CONTRACT, DS, "run-1")
    assertDataFrameEqual(
        rejected_rows(checked, CONTRACT).select("source_line", "reason"),
        spark.createDataFrame(
            [(2, "bad_timestamp:order_time"), (3, "bad_date:birthday")], "source_line long, reason string"
        ),
        checkRowOrder=False,
    )
    assert [(r.order_time, r.birthday) for r in accepted_rows(checked, CONTRACT).collect()] == [
        (datetime(1, 1, 1), date(9999, 12, 31))
    ]
