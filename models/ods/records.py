"""Splits landing files into records: the one step that must see raw bytes.

Runs per file inside Spark tasks (``mapInPandas``) because three things the contract asks
for are invisible to Spark's CSV and JSON readers: the declared encodings (tried in order)
with or without a BOM, the physical line number of every record, and the raw text of a record
that does not parse. Everything after this step is native Spark expressions
(``models.ods.typed_records``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from models.ods.contract import EntityContract

KIND_RECORD = "record"
KIND_FILE_ERROR = "file_error"
KIND_FILE_WARNING = "file_warning"
# One per file read, so the file count needs no second listing of the folder; its message is
# "<file>: <encoding it was read in>" (null when the file could not be read).
KIND_FILE = "file"
UTF8 = "utf-8"
# A file that starts with a BOM is read as UTF-8 whatever the contract declares.
UTF8_WITH_BOM = "utf-8 (BOM)"

RECORD_SCHEMA = T.StructType(
    [
        T.StructField("kind", T.StringType(), False),
        T.StructField("source_file", T.StringType(), False),
        T.StructField("source_line", T.LongType(), True),
        T.StructField("raw_text", T.StringType(), True),
        T.StructField("is_malformed", T.BooleanType(), True),
        T.StructField("values", T.ArrayType(T.StringType()), True),
        T.StructField("content_key", T.StringType(), True),
        T.StructField("message", T.StringType(), True),
        # Columns of a JSON record holding an object or array, so a scalar column that
        # receives one is told apart from one holding the same text as a string.
        T.StructField("nested_columns", T.ArrayType(T.StringType()), True),
    ]
)
_BOM = "\ufeff"


class FileRejected(Exception):
    """A whole file is unusable (encoding, header); the message names the file and why."""


def split_records(files: DataFrame, contract: EntityContract) -> DataFrame:
    """Turns a ``binaryFile`` frame (path, content) into one row per record or file problem.

    Args:
        files: the day's files of one entity, as read by Spark's ``binaryFile`` source.
        contract: the entity's landing contract.

    Returns:
        Rows of ``RECORD_SCHEMA``. ``kind`` is ``record`` (``values`` aligned with the
        contract's columns, ``is_malformed`` when the record cannot be split into them),
        ``file_error`` (the file cannot be used at all), ``file_warning`` (extra or missing
        optional columns) or ``file`` (one per file read, naming the encoding it was read in).
    """
    marker = f"/{contract.source}/{contract.entity}/dt="

    def split_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows: list[dict[str, Any]] = []
            for path, content in zip(batch["path"], batch["content"]):
                relative = landing_relative_path(path, marker)
                try:
                    rows.extend(split_file(bytes(content), relative, contract))
                except FileRejected as error:
                    rows.append(_file_row(KIND_FILE, relative, None))
                    rows.append(_file_row(KIND_FILE_ERROR, relative, str(error)))
            yield pd.DataFrame(rows, columns=RECORD_SCHEMA.fieldNames())

    return files.select("path", "content").mapInPandas(split_partition, RECORD_SCHEMA)


def landing_relative_path(path: str, marker: str) -> str:
    """``pos/orders/dt=.../part-0001.csv`` from any URI Spark lists (file:, hdfs://nn:8020, s3a:),
    so lineage does not depend on how the landing root was spelled."""
    return path[path.rindex(marker) + 1 :]


def _file_row(kind: str, source_file: str, message: str | None) -> dict[str, Any]:
    return {
        "kind": kind,
        "source_file": source_file,
        "source_line": None,
        "raw_text": None,
        "is_malformed": None,
        "values": None,
        "content_key": None,
        "message": message,
        "nested_columns": None,
    }


def _record_row(
    source_file: str, line: int, raw: str, values: list[str | None] | None, nested: list[str] | None = None
) -> dict[str, Any]:
    return {
        "kind": KIND_RECORD,
        "source_file": source_file,
        "source_line": line,
        "raw_text": raw,
        "is_malformed": values is None,
        "values": values,
        "content_key": None if values is None else json.dumps(values, ensure_ascii=False),
        "message": None,
        "nested_columns": nested or None,
    }


def decode(content: bytes, encodings: tuple[str, ...], source_file: str) -> tuple[str, str]:
    """Decodes a file with the first of its declared encodings that reads it strictly.

    A UTF-8 BOM settles the question: such a file is UTF-8 whatever is declared. Otherwise the
    order matters: UTF-8 first, because GBK reads most UTF-8 bytes too, as the wrong characters.

    Returns:
        The text without a leading BOM, and the encoding it was read in.

    Raises:
        FileRejected: no declared encoding reads the bytes; the message names the file and
            each encoding tried with where it failed.
    """
    if content.startswith(_BOM.encode(UTF8)):
        try:
            return content.decode(UTF8).removeprefix(_BOM), UTF8_WITH_BOM
        except UnicodeDecodeError as error:
            raise FileRejected(f"{source_file}: starts with a UTF-8 BOM but is not UTF-8: {error}") from error
    failures = []
    for encoding in encodings:
        try:
            return content.decode(encoding), encoding
        except UnicodeDecodeError as error:
            failures.append(f"{encoding}: {error}")
    raise FileRejected(f"{source_file}: unreadable as {' or '.join(encodings)} ({'; '.join(failures)})")


def split_file(content: bytes, source_file: str, contract: EntityContract) -> list[dict[str, Any]]:
    """Splits one file's bytes into its ``file`` row, record rows and file warnings
    (``RECORD_SCHEMA`` dicts).

    Raises:
        FileRejected: the file cannot be decoded, has no header or lacks a required column.
    """
    text, encoding = decode(content, contract.encodings, source_file)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    file_row = _file_row(KIND_FILE, source_file, f"{source_file}: {encoding}")
    if contract.format == "csv":
        return [file_row, *_split_csv(lines, source_file, contract)]
    return [file_row, *_split_jsonl(lines, source_file, contract)]


def _csv_rows(lines: list[str]) -> Iterator[tuple[int, str, list[str]]]:
    """Yields (first physical line, raw text, fields) per CSV record, skipping blank lines.

    A quoted field may span lines, so the reader is fed line by line and the lines it
    consumed give the record's extent.
    """
    consumed = 0

    def feed() -> Iterator[str]:
        nonlocal consumed
        for line in lines:
            consumed += 1
            yield line + "\n"

    start = 1
    for fields in csv.reader(feed()):
        end = consumed
        if fields:
            raw = "\n".join(lines[start - 1 : end]).rstrip("\r")
            yield start, raw, fields
        start = end + 1


def _split_csv(lines: list[str], source_file: str, contract: EntityContract) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        records = _csv_rows(lines)
        header_line = next(records, None)
        if header_line is None:
            raise FileRejected(f"{source_file}: empty file, no header row")
        header = [name.strip().removeprefix(_BOM) for name in header_line[2]]
        position = {name: index for index, name in enumerate(header)}
        if len(position) != len(header):
            raise FileRejected(f"{source_file}: header repeats a column name: {header}")
        missing_required = [name for name in contract.required_columns if name not in position]
        if missing_required:
            raise FileRejected(f"{source_file}: missing required column(s) {', '.join(missing_required)}")
        rows.extend(_header_warnings(source_file, contract, header))
        for line, raw, fields in records:
            if len(fields) != len(header):
                rows.append(_record_row(source_file, line, raw, None))
                continue
            values = [fields[position[name]] if name in position else None for name in contract.column_names]
            rows.append(_record_row(source_file, line, raw, values))
    except csv.Error as error:
        raise FileRejected(f"{source_file}: not readable as CSV: {error}") from error
    return rows


def _header_warnings(source_file: str, contract: EntityContract, present: list[str]) -> list[dict[str, Any]]:
    expected = set(contract.column_names)
    warnings = [
        _file_row(KIND_FILE_WARNING, source_file, f"{source_file}: unexpected column {name!r} ignored")
        for name in present
        if name not in expected
    ]
    warnings += [
        _file_row(KIND_FILE_WARNING, source_file, f"{source_file}: optional column {name!r} missing, loaded as null")
        for name in contract.column_names
        if name not in present
    ]
    return warnings


def _json_text(value: Any) -> str | None:
    """A JSON value as the string the typing step parses: scalars as text, structures as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _split_jsonl(lines: list[str], source_file: str, contract: EntityContract) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    unexpected: set[str] = set()
    expected = set(contract.column_names)
    for index, line in enumerate(lines, start=1):
        raw = line.rstrip("\r")
        if not raw.strip():
            continue
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError):
            # ValueError covers JSONDecodeError and integers past Python's digit limit;
            # RecursionError, arrays nested thousands deep.
            document = None
        if not isinstance(document, dict):
            rows.append(_record_row(source_file, index, raw, None))
            continue
        unexpected.update(key for key in document if key not in expected)
        values = [_json_text(document.get(name)) for name in contract.column_names]
        nested = [name for name in contract.column_names if isinstance(document.get(name), (dict, list))]
        rows.append(_record_row(source_file, index, raw, values, nested))
    rows += [
        _file_row(KIND_FILE_WARNING, source_file, f"{source_file}: unexpected field {name!r} ignored")
        for name in sorted(unexpected)
    ]
    return rows
