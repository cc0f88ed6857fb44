"""Splitting landing files into records: encodings, BOM, line numbers, header problems."""

from __future__ import annotations

import json

import pytest

from models.ods.contract import ColumnSpec, EntityContract, parse_contract
from models.ods.records import (
    KIND_FILE,
    KIND_FILE_WARNING,
    KIND_RECORD,
    FileRejected,
    landing_relative_path,
    split_file,
)

TIME_FORMATS = ("yyyy-MM-dd HH:mm:ss",)


def contract(fmt: str = "csv", encodings: tuple[str, ...] = ("utf-8",)) -> EntityContract:
    return EntityContract(
        source="pos",
        entity="orders",
        format=fmt,
        encodings=encodings,
        columns=(
            ColumnSpec("order_id", "string", required=True),
            ColumnSpec("name", "string"),
            ColumnSpec("amount", "decimal", min=0),
        ),
        time_formats=TIME_FORMATS,
        date_format="yyyy-MM-dd",
    )


def records(rows: list[dict]) -> list[tuple]:
    return [(r["source_line"], r["raw_text"], r["values"]) for r in rows if r["kind"] == KIND_RECORD]


def warnings(rows: list[dict]) -> list[str]:
    return [r["message"] for r in rows if r["kind"] == KIND_FILE_WARNING]


def encoding_used(rows: list[dict]) -> list[str]:
    return [r["message"] for r in rows if r["kind"] == KIND_FILE]


def test_csv_with_bom_gives_physical_line_numbers_and_raw_text():
    content = "\ufefforder_id,name,amount\r\nO1,张三,10.00\r\n\r\nO2,\"Li, Si\",5\r\n".encode("utf-8")
    rows = split_file(content, "f.csv", contract())
    assert records(rows) == [
        (2, "O1,张三,10.00", ["O1", "张三", "10.00"]),
        (4, 'O2,"Li, Si",5', ["O2", "Li, Si", "5"]),
    ]
    assert warnings(rows) == []


ORDER = "order_id,name,amount\nO1,王小明,1.00\n"


@pytest.mark.parametrize(
    ("content", "declared", "used"),
    [
        (ORDER.encode("gbk"), ("gbk",), "f.csv: gbk"),
        (ORDER.encode("gbk"), ("utf-8", "gbk"), "f.csv: gbk"),
        (ORDER.encode("utf-8"), ("utf-8", "gbk"), "f.csv: utf-8"),
        # A BOM means UTF-8 whatever is declared: read as GBK these bytes would be other characters.
        (ORDER.encode("utf-8-sig"), ("gbk",), "f.csv: utf-8 (BOM)"),
        (ORDER.encode("utf-8-sig"), ("utf-8", "gbk"), "f.csv: utf-8 (BOM)"),
    ],
)
def test_each_file_is_read_in_the_first_declared_encoding_that_reads_it(content, declared, used):
    rows = split_file(content, "f.csv", contract(encodings=declared))
    assert records(rows) == [(2, "O1,王小明,1.00", ["O1", "王小明", "1.00"])]
    assert encoding_used(rows) == [used]


@pytest.mark.parametrize(
    ("content", "declared", "message"),
    [
        (
            ORDER.encode("gbk"),
            ("utf-8",),
            "f.csv: unreadable as utf-8 (utf-8: 'utf-8' codec can't decode byte 0xcd in position 24: "
            "invalid continuation byte)",
        ),
        (
            b"order_id\n\xff\xff\n",
            ("utf-8", "gbk"),
            "f.csv: unreadable as utf-8 or gbk (utf-8: 'utf-8' codec can't decode byte 0xff in position 9: "
            "invalid start byte; gbk: 'gbk' codec can't decode byte 0xff in position 9: illegal multibyte sequence)",
        ),
        (
            "\ufefforder_id\n".encode("utf-8") + "王".encode("gbk"),
            ("gbk",),
            "f.csv: starts with a UTF-8 BOM but is not UTF-8: 'utf-8' codec can't decode byte 0xcd in position 12: "
            "invalid continuation byte",
        ),
    ],
)
def test_file_no_declared_encoding_reads_is_rejected_naming_file_and_encodings_tried(content, declared, message):
    with pytest.raises(FileRejected) as rejected:
        split_file(content, "f.csv", contract(encodings=declared))
    assert str(rejected.value) == message


def test_encoding_is_declared_as_one_name_or_a_list_and_must_exist():
    def entity(**declared) -> dict:
        orders = {"format": "csv", "columns": [{"name": "order_id", "type": "string"}], **declared}
        return {"entities": {"orders": orders}}

    sources = {"pos": {"encoding": "gbk", **entity()}, "crm": entity(encoding=["utf-8", "gbk"])}
    contracts = parse_contract({"sources": sources})
    assert [c.encodings for c in contracts] == [("gbk",), ("utf-8", "gbk")]
    with pytest.raises(ValueError, match=r"pos/orders: unknown encoding 'gbk2312'"):
        parse_contract({"sources": {"pos": entity(encoding=["utf-8", "gbk2312"])}})


def test_quoted_field_spanning_lines_keeps_its_first_line_and_later_numbers_stay_right():
    content = b'order_id,name,amount\nO1,"two\nlines",1\nO2,x,2\n'
    assert records(split_file(content, "f.csv", contract())) == [
        (2, 'O1,"two\nlines",1', ["O1", "two\nlines", "1"]),
        (4, "O2,x,2", ["O2", "x", "2"]),
    ]


def test_wrong_field_count_is_a_malformed_record():
    rows = split_file(b"order_id,name,amount\nO1,x\nO2,x,1,extra\n", "f.csv", contract())
    assert [(r["source_line"], r["is_malformed"], r["values"]) for r in rows if r["kind"] == KIND_RECORD] == [
        (2, True, None),
        (3, True, None),
    ]


def test_missing_required_column_fails_the_file_naming_file_and_column():
    with pytest.raises(FileRejected, match=r"orders/x\.csv: missing required column\(s\) order_id"):
        split_file(b"name,amount\nx,1\n", "orders/x.csv", contract())


def test_missing_optional_and_extra_columns_load_with_warnings():
    rows = split_file(b"order_id,amount,remark\nO1,1,hello\n", "f.csv", contract())
    assert records(rows) == [(2, "O1,1,hello", ["O1", None, "1"])]
    assert warnings(rows) == [
        "f.csv: unexpected column 'remark' ignored",
        "f.csv: optional column 'name' missing, loaded as null",
    ]


def test_empty_csv_file_is_rejected():
    with pytest.raises(FileRejected, match="empty file"):
        split_file(b"", "f.csv", contract())


def test_jsonl_values_become_text_and_bad_lines_are_malformed():
    lines = [
        json.dumps({"order_id": "O1", "name": None, "amount": 12.5, "extra": 1}),
        '{"order_id": "O2", "amount": "3.00"',
        "[1, 2]",
        "",
        json.dumps({"order_id": "O3", "name": ["a", "b"], "amount": 1}, ensure_ascii=False),
    ]
    rows = split_file("\n".join(lines).encode("utf-8"), "f.jsonl", contract("jsonl"))
    assert [
        (r["source_line"], r["is_malformed"], r["values"], r["nested_columns"]) for r in rows if r["kind"] == KIND_RECORD
    ] == [
        (1, False, ["O1", None, "12.5"], None),
        (2, True, None, None),
        (3, True, None, None),
        (5, False, ["O3", '["a", "b"]', "1"], ["name"]),
    ]
    assert warnings(rows) == ["f.jsonl: unexpected field 'extra' ignored"]


def test_identical_records_share_a_content_key_whatever_their_line():
    rows = split_file(b"order_id,name,amount\nO1,x,1\nO1,x,1\nO1,y,1\n", "f.csv", contract())
    keys = [r["content_key"] for r in rows if r["kind"] == KIND_RECORD]
    assert keys[0] == keys[1] != keys[2]


@pytest.mark.parametrize(
    "uri",
    [
        "file:/data/landing/pos/orders/dt=2026-01-05/part-0001.csv",
        "hdfs://namenode:8020/data/landing/pos/orders/dt=2026-01-05/part-0001.csv",
        "s3a://bucket/cdp/pos/orders/dt=2026-01-05/part-0001.csv",
    ],
)
def test_lineage_path_is_relative_to_the_landing_root_whatever_the_uri(uri):
    assert landing_relative_path(uri, "/pos/orders/dt=") == "pos/orders/dt=2026-01-05/part-0001.csv"
