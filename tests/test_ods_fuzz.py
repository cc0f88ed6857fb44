"""Fuzzing the landing parsers and the typing step: whatever arrives, nothing raises but the
documented ``FileRejected``, and every record read is accounted for (kept, malformed or
rejected with a reason).

Derandomized, so a run is repeatable. The typing fuzz draws many examples in Python and types
them as one Spark frame: one Spark job instead of one per example.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from models.ods import reasons
from models.ods.contract import ColumnSpec, EntityContract, SignConvention
from models.ods.records import (
    KIND_FILE,
    KIND_FILE_WARNING,
    KIND_RECORD,
    RECORD_SCHEMA,
    UTF8_WITH_BOM,
    FileRejected,
    decode,
    split_file,
)
from models.ods.typed_records import REASON, check_records, file_summary, type_changes

PARSER_FUZZ = settings(derandomize=True, deadline=None, max_examples=150)
ENCODINGS = ("utf-8", "gbk", "utf-16", "latin-1")
COLUMNS = (
    ColumnSpec("order_id", "string", required=True),
    ColumnSpec("order_time", "timestamp"),
    ColumnSpec("birthday", "date"),
    ColumnSpec("order_type", "enum", values=("sale", "return"), required=True),
    ColumnSpec("qty", "int"),
    ColumnSpec("amount", "decimal", min=0),
    ColumnSpec("coupon_ids", "list"),
    ColumnSpec("items", "items"),
    ColumnSpec("properties", "object"),
)
NAMES = tuple(column.name for column in COLUMNS)


def contract(fmt: str, encodings: tuple[str, ...] = ("utf-8",)) -> EntityContract:
    return EntityContract(
        source="pos",
        entity="orders",
        format=fmt,
        encodings=encodings,
        columns=COLUMNS,
        time_formats=("yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss"),
        date_format="yyyy-MM-dd",
        sign_convention=SignConvention(("qty", "amount"), "order_type", ("return",)),
    )


def records(rows: list[dict]) -> list[dict]:
    return [row for row in rows if row["kind"] == KIND_RECORD]


# Text with what breaks parsers: delimiters, quotes, line breaks, BOMs, NULs, wide characters.
awkward_text = st.text(
    alphabet=st.one_of(st.sampled_from(',"\n\r\t \ufeff\x00\u2028'), st.characters(codec="utf-8")), max_size=12
)


# --- decode -------------------------------------------------------------------------------


@PARSER_FUZZ
@given(
    content=st.binary(max_size=64),
    encodings=st.lists(st.sampled_from(ENCODINGS), min_size=1, max_size=3, unique=True),
)
@example(content="王".encode("utf-8")[:2], encodings=["utf-8"])  # a multibyte character cut short
@example(content=b"\xef\xbb\xbf" + "王".encode("gbk"), encodings=["gbk"])  # a BOM, then not UTF-8
def test_decode_reads_in_a_declared_encoding_or_rejects_the_file(content, encodings):
    try:
        text, used = decode(content, tuple(encodings), "f.csv")
    except FileRejected as rejected:
        assert str(rejected).startswith("f.csv: ")
        return
    if used == UTF8_WITH_BOM:
        assert content.decode("utf-8-sig") == text
    else:
        assert used == next(e for e in encodings if _reads(content, e))
        assert content.decode(used) == text


def _reads(content: bytes, encoding: str) -> bool:
    try:
        content.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


# --- split_file: CSV ------------------------------------------------------------------------

csv_row = st.lists(awkward_text, min_size=len(NAMES) - 2, max_size=len(NAMES) + 2)


@PARSER_FUZZ
@given(
    rows=st.lists(st.one_of(csv_row, st.just([])), max_size=12),
    line_end=st.sampled_from(["\n", "\r\n"]),
    extra=st.booleans(),
)
def test_every_csv_record_written_is_read_back_or_malformed_at_its_line(rows, line_end, extra):
    """Rows written by a CSV writer (fields of every shape, wrong counts, blank lines) come
    back one record each, at the physical line they start on, with their own fields."""
    header = [*NAMES, "remark"] if extra else list(NAMES)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end)
    writer.writerow(header)
    expected = []
    line = 2
    for fields in rows:
        before = buffer.tell()
        if fields:
            writer.writerow(fields)
        else:
            buffer.write(line_end)  # a blank line: no record
        written = buffer.getvalue()[before:]
        if fields:
            values = None if len(fields) != len(header) else [fields[header.index(name)] for name in NAMES]
            expected.append((line, values))
        line += written.count("\n")
    content = buffer.getvalue().encode("utf-8")
    try:
        split = split_file(content, "f.csv", contract("csv"))
    except FileRejected as rejected:
        # Only what the csv module itself refuses: a NUL or a lone CR outside quotes.
        assert "not readable as CSV" in str(rejected)
        return
    assert [(r["source_line"], r["values"]) for r in records(split)] == expected
    assert [r["is_malformed"] for r in records(split)] == [values is None for _, values in expected]
    assert [r["message"] for r in split if r["kind"] == KIND_FILE] == ["f.csv: utf-8"]
    assert [r["message"] for r in split if r["kind"] == KIND_FILE_WARNING] == (
        ["f.csv: unexpected column 'remark' ignored"] if extra else []
    )


@PARSER_FUZZ
@given(
    text=st.text(alphabet=st.sampled_from('ab,"\n\r \u738b'), max_size=80),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk"]),
    cut=st.integers(min_value=0, max_value=3),
)
def test_any_csv_bytes_are_split_or_the_file_rejected_and_no_line_is_lost(text, encoding, cut):
    """Arbitrary text with quotes and line breaks, in any encoding, possibly cut mid-character."""
    content = ("order_id,order_type\n" + text).encode(encoding)
    content = content[: len(content) - cut]
    try:
        split = split_file(content, "f.csv", contract("csv", ("utf-8", "gbk")))
    except FileRejected:
        return
    decoded, _ = decode(content, ("utf-8", "gbk"), "f.csv")
    lines = decoded.split("\n")
    covered: set[int] = set()
    for record in records(split):
        start = record["source_line"]
        extent = range(start, start + record["raw_text"].count("\n") + 1)
        assert not covered & set(extent), "records overlap"
        covered |= set(extent)
        assert "\n".join(lines[start - 1 : extent.stop - 1]).rstrip("\r") == record["raw_text"]
    first = min(covered, default=len(lines) + 1)
    # Every line after the header is inside a record or blank: nothing was dropped.
    after_header = [n for n in range(2, len(lines) + 1) if n not in covered and n > first]
    assert all(lines[n - 1].strip("\r") == "" for n in after_header)


def test_a_field_past_the_csv_module_limit_rejects_the_file_by_name():
    content = f"order_id,order_type\n{'x' * 200_000},sale\n".encode()
    with pytest.raises(FileRejected, match=r"^f\.csv: not readable as CSV: field larger than field limit"):
        split_file(content, "f.csv", contract("csv"))


# --- split_file: JSON lines ----------------------------------------------------------------

json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40), st.floats(), awkward_text
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(awkward_text, inner, max_size=3),
    max_leaves=8,
)
json_document = st.dictionaries(st.sampled_from([*NAMES, "surprise"]), json_value, max_size=6)


@st.composite
def json_lines(draw) -> str:
    kind = draw(st.sampled_from(["object", "object", "not_object", "truncated", "text", "blank"]))
    if kind == "object":
        return json.dumps(draw(json_document), ensure_ascii=draw(st.booleans()))
    if kind == "not_object":
        return json.dumps(draw(json_value))
    if kind == "truncated":
        whole = json.dumps(draw(json_document))
        return whole[: draw(st.integers(min_value=0, max_value=max(0, len(whole) - 1)))]
    if kind == "text":
        return draw(awkward_text).replace("\n", " ")
    return ""


@PARSER_FUZZ
@given(lines=st.lists(json_lines(), max_size=12))
@example(lines=["[" * 5000 + "]" * 5000, '{"qty": ' + "9" * 5000 + "}"])  # deep nesting, a huge integer
def test_every_json_line_is_one_record_or_blank(lines):
    content = "\n".join(lines).encode("utf-8")
    split = split_file(content, "f.jsonl", contract("jsonl"))
    physical = "\n".join(lines).split("\n")
    non_blank = [n for n, line in enumerate(physical, start=1) if line.rstrip("\r").strip()]
    assert [r["source_line"] for r in records(split)] == non_blank
    for record in records(split):
        assert record["raw_text"] == physical[record["source_line"] - 1].rstrip("\r")
        if record["values"] is not None:
            assert len(record["values"]) == len(NAMES)


# --- typing ----------------------------------------------------------------------------------

number_text = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(0, 4)
    .flatmap(lambda places: st.decimals(min_value=-(10**20), max_value=10**20, places=places))
    .map(str),
    st.sampled_from(["-2147483648", "2147483648", "1e9", "-0", "0.005", "１２", "12.", ".5", "--1", " 7 "]),
)
time_text = st.one_of(
    st.sampled_from(["2026-01-05 10:00:00", "2026-02-30 10:00:00", "0000-00-00 00:00:00", "9999-12-31T23:59:59",
                     "2026-01-05", "yesterday", "2026-01-05 25:61:61"]),
    awkward_text,
)
field_text = {
    "string": awkward_text,
    "timestamp": time_text,
    "date": st.one_of(st.sampled_from(["1990-02-03", "1990-13-01", "+10000-01-01", "0001-01-01"]), awkward_text),
    "enum": st.sampled_from(["sale", "return", "SALE", "", " return "]),
    "int": number_text,
    "decimal": number_text,
    "list": st.one_of(st.sampled_from(['["a"]', "[]", '"a"', "[1, [2]]", "{}"]), awkward_text),
    "items": st.one_of(
        st.sampled_from([
            '[{"sku_id": "A", "qty": 1, "amount": 2}]', '[{"qty": "x"}]', "[]",
            '[{"sku_id": "A", "qty": 99999999999, "amount": -1}]',
        ]),
        awkward_text,
    ),
    "object": st.one_of(st.sampled_from(['{"k": "v"}', '{"k": {"n": 1}}', "[]", "null"]), awkward_text),
}
record_values = st.tuples(*[st.one_of(st.none(), field_text[column.type]) for column in COLUMNS])


@st.composite
def record_rows(draw) -> list[dict]:
    rows = []
    for values in draw(st.lists(record_values, min_size=20, max_size=100)):
        malformed = draw(st.integers(0, 19)) == 0
        nested = draw(st.lists(st.sampled_from(NAMES), max_size=2, unique=True)) or None
        rows.append({
            "kind": KIND_RECORD, "source_file": "f.csv", "source_line": 0, "raw_text": "raw",
            "is_malformed": malformed, "values": None if malformed else list(values),
            "content_key": None if malformed else json.dumps(values), "message": None, "nested_columns": nested,
        })
    return rows


def drawn_records(examples: int) -> list[dict]:
    """The records of ``examples`` hypothesis draws, each in a file of its own, numbered by line."""
    batches: list[list[dict]] = []

    @settings(derandomize=True, database=None, deadline=None, max_examples=examples, phases=[Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(rows=record_rows())
    def draw(rows):
        batches.append(rows)

    draw()
    return [
        {**row, "source_file": f"f{batch}.csv", "source_line": line}
        for batch, rows in enumerate(batches)
        for line, row in enumerate(rows, start=2)
    ]


def test_typing_any_values_keeps_or_rejects_every_record_with_a_reason(spark):
    rows = drawn_records(examples=10)
    fuzz = contract("csv")
    checked = check_records(spark.createDataFrame(rows, RECORD_SCHEMA), fuzz, date(2026, 1, 5), "fuzz").cache()
    try:
        typed = checked.collect()
        summary = file_summary(checked, fuzz).collect()
    finally:
        checked.unpersist()
    assert len(typed) == len(rows)
    assert sum(row.checked for row in summary) == len(rows)
    assert sum(row.rejected for row in summary) == sum(row[REASON] is not None for row in typed)
    codes = {value for name, value in vars(reasons).items() if name.isupper() and isinstance(value, str)}
    drawn = {(row["source_file"], row["source_line"]): row for row in rows}
    for row in typed:
        values = drawn[(row.source_file, row.source_line)]["values"]
        if row[REASON] is None:
            assert row.order_id is not None and row.order_type in ("sale", "return"), values
            assert row.amount is None or row.amount >= 0, values
        else:
            assert {reason.split(":")[0] for reason in row[REASON].split(reasons.REASON_SEPARATOR)} <= codes, values
    assert all(change.unparsed <= change.present for change in type_changes(summary, fuzz))
