"""The landing zone: a chunk's rows cut into per-dt extracts, their file-level quirks, and the
files written under ``{source}/{entity}/dt=YYYY-MM-DD/``."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from pathlib import Path
from random import Random
from typing import Any

from jobs.sample_data.contract import MEMBERS, POS_ORDERS, EntitySpec
from jobs.sample_data.simulation import Row
from jobs.sample_data.truth import TRUTH_DIR, Truth
from jobs.sample_data.world import Window

BOM_SHARE = 1 / 3  # of UTF-8 CSV files
SECOND_PART_SHARE = 0.3
MIN_ROWS_FOR_SECOND_PART = 20
EMPTY_STRING_NULL_SHARE = 0.1  # JSON nulls written as "" instead
JSON_LINE = json.JSONEncoder(ensure_ascii=False).encode
EXTRA_COLUMN = (MEMBERS, "remark", ("", "", "", "VIP客户", "门店迁移", "老会员"))
DROPPED_COLUMN = (POS_ORDERS, "guide_id")


@dataclass(slots=True)
class Line:
    """One record as written; a defective one says what the parser must report."""

    values: dict[str, Any]
    reason: str | None = None
    breakage: str | None = None  # how a malformed record is broken when serialized


@dataclass
class Batch:
    """What one entity extracted on one dt, for one chunk: one file, or two parts."""

    spec: EntitySpec
    dt: date
    columns: tuple[str, ...]
    parts: list[list[Line]]
    fixed_layout: bool = False  # carries a column quirk: stays one file


def assemble(rng: Random, contract: dict[str, EntitySpec], rows: list[Row], window: Window,
             truth: Truth) -> list[Batch]:
    """Cut the simulated rows into per-dt extracts and record the truth they carry."""
    buckets: dict[tuple[str, date], list[Row]] = {}
    end = window.end
    for row in rows:
        if row.at < end:  # later rows are not extracted yet
            buckets.setdefault((row.entity, window.dt_of(row.at)), []).append(row)
    batches = []
    for spec in contract.values():
        for dt in window.dts:
            bucket = buckets.get((spec.name, dt))
            if not bucket:
                continue
            bucket.sort(key=lambda r: r.at)
            names = spec.column_names
            blankable = blankable_columns(spec)
            lines = []
            for row in bucket:
                if tuple(row.values) != names:
                    raise ValueError(f"{spec.name} record off the contract: {list(row.values)}")
                truth.record(row.evidence)
                blank_some_nulls(rng, blankable, row.values)
                lines.append(Line(row.values))
            batches.append(Batch(spec, dt, spec.column_names, [lines]))
    return batches


def blankable_columns(spec: EntitySpec) -> tuple[str, ...]:
    """Columns whose null a JSON exporter may write as "": optional scalars of JSON entities."""
    if spec.format != "jsonl":
        return ()
    return tuple(c.name for c in spec.columns
                 if not c.required and c.type not in ("list", "object", "items"))


def blank_some_nulls(rng: Random, columns: tuple[str, ...], values: dict) -> None:
    for name in columns:
        if values[name] is None and rng.random() < EMPTY_STRING_NULL_SHARE:
            values[name] = ""


def apply_column_quirks(rng: Random, batches: list[Batch], window: Window) -> None:
    """One members file with an unexpected column, one store orders file without guide_id."""
    entity, extra, extra_values = EXTRA_COLUMN
    batch = quirk_batch(rng, batches, entity, window)
    if batch is not None:
        batch.columns = (*batch.columns, extra)
        batch.fixed_layout = True
        for line in batch.parts[0]:
            line.values[extra] = rng.choice(extra_values)
    entity, dropped = DROPPED_COLUMN
    batch = quirk_batch(rng, batches, entity, window)
    if batch is not None:
        batch.columns = tuple(c for c in batch.columns if c != dropped)
        batch.fixed_layout = True


def quirk_batch(rng: Random, batches: list[Batch], entity: str, window: Window) -> Batch | None:
    # An increment when there is one: a quirk is news, not part of the initial extract.
    own = [b for b in batches if b.spec.name == entity]
    later = [b for b in own if b.dt != window.start]
    return rng.choice(later) if later else (own[0] if own else None)


def split_parts(rng: Random, batch: Batch) -> None:
    lines = batch.parts[0]
    if batch.fixed_layout or len(lines) < MIN_ROWS_FOR_SECOND_PART or rng.random() >= SECOND_PART_SHARE:
        return
    cut = rng.randint(len(lines) // 3, 2 * len(lines) // 3)
    batch.parts = [lines[:cut], lines[cut:]]


def clear_output(out: Path, contract: dict[str, EntitySpec]) -> None:
    """Remove what an earlier run wrote: dt folders of the contract's entities and the truth."""
    for spec in contract.values():
        folder = out / spec.source / spec.entity
        if folder.is_dir():
            for child in sorted(folder.iterdir()):
                if child.is_dir() and child.name.startswith("dt="):
                    shutil.rmtree(child)
    shutil.rmtree(out / TRUTH_DIR, ignore_errors=True)


def write_batch(rng: Random, out: Path, batch: Batch, chunk: int, truth: Truth) -> int:
    """Write the batch's part files; returns how many files.

    A chunk's files are ``part-{chunk}-{n}``, in the order of its parts, so a duplicate planted
    in a later part still comes after its original; chunks never duplicate each other's rows.
    """
    spec = batch.spec
    folder = out / spec.source / spec.entity / f"dt={batch.dt.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    for number, lines in enumerate(batch.parts, start=1):
        path = folder / f"part-{chunk:05d}-{number}.{spec.format}"
        relative = path.relative_to(out).as_posix()
        if spec.format == "csv":
            body, first_line = csv_text(batch.columns, lines), 2  # line 1 is the header
            encoding = spec.encoding
            if encoding == "utf-8" and rng.random() < BOM_SHARE:
                encoding = "utf-8-sig"
        else:
            body, first_line, encoding = jsonl_text(rng, spec, batch.columns, lines), 1, "utf-8"
        path.write_bytes(body.encode(encoding))
        for number_in_file, line in enumerate(lines, start=first_line):
            if line.reason is not None:
                truth.bad_rows.append((spec.source, spec.entity, batch.dt.isoformat(), relative,
                                       number_in_file, line.reason))
    return len(batch.parts)


def csv_text(columns: tuple[str, ...], lines: list[Line]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)  # None is written as ""
    writer.writerow(columns)
    fields_of = itemgetter(*columns)
    for line in lines:
        fields = fields_of(line.values)
        if line.breakage == "short":
            fields = fields[:-1]
        elif line.breakage == "long":
            fields = (*fields, fields[0])
        writer.writerow(fields)
    return buffer.getvalue()


def jsonl_text(rng: Random, spec: EntitySpec, columns: tuple[str, ...], lines: list[Line]) -> str:
    # A record holds the contract's columns in order (assemble checks), so unless a quirk
    # changed the layout it is written as it is.
    as_recorded = columns == spec.column_names
    texts = []
    for line in lines:
        text = JSON_LINE(line.values if as_recorded else {c: line.values[c] for c in columns})
        if line.breakage == "truncated":
            text = text[:rng.randint(len(text) // 3, len(text) - 2)]
        elif line.breakage == "string":
            text = JSON_LINE(text)
        texts.append(text + "\n")
    return "".join(texts)
