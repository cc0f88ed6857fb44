"""Defective rows: extra, mutated copies of good lines, each with exactly one reason code."""

from __future__ import annotations

import itertools
from operator import itemgetter
from random import Random
from typing import Iterator

from jobs.sample_data.contract import Column, EntitySpec, money
from jobs.sample_data.landing import Batch, Line
from models.ods.reasons import (
    BAD_DATE,
    BAD_ENUM,
    BAD_NUMBER,
    BAD_TIMESTAMP,
    DUPLICATE_ROW,
    MALFORMED_RECORD,
    MISSING_VALUE,
    OUT_OF_RANGE,
    column_reason,
)

BAD_ROW_RATE_FIRST_DT = 0.015
BAD_ROW_RATE_LATER_DT = 0.01
BAD_TIMESTAMPS = ("2026-02-30 10:00:00", "yesterday", "2026/01/05 10:00", "2025-13-01 09:30:00",
                  "2025-06-31T08:00:00", "20250105 103000", "0000-00-00 00:00:00")
BAD_DATES = ("1990-02-30", "1990/05/12", "19900512", "unknown", "0000-00-00")
BAD_NUMBERS = ("12.3.4", "abc", "￥12", "12.345", "1,280.00", "N/A")
BAD_ENUM_EXTRAS = ("unknown", "gift", "N/A")
CSV_BREAKAGES = ("short", "long")  # a field lost or an extra field
JSON_BREAKAGES = ("truncated", "truncated", "string")  # cut mid-object, or JSON-encoded twice

Plan = tuple[Iterator[str], dict[str, list[Column]]]


def defect_columns(spec: EntitySpec) -> dict[str, list[Column]]:
    """For each reason code that can happen to this entity, the columns it can hit."""
    options: dict[str, list[Column]] = {MALFORMED_RECORD: [], DUPLICATE_ROW: []}
    for column in spec.columns:
        codes = [MISSING_VALUE] if column.required else []
        codes += {"timestamp": [BAD_TIMESTAMP], "date": [BAD_DATE], "enum": [BAD_ENUM],
                  "decimal": [BAD_NUMBER], "int": [BAD_NUMBER]}.get(column.type, [])
        if column.type in ("decimal", "int") and column.min is not None:
            codes.append(OUT_OF_RANGE)
        for code in codes:
            options.setdefault(code, []).append(column)
    return options


def defect_plans(rng: Random, contract: dict[str, EntitySpec]) -> dict[str, Plan]:
    """Per entity: its reason codes in a shuffled rotation, so that every kind comes up even
    where defects are few, and the columns each code can hit."""
    plans = {}
    for name, spec in contract.items():
        options = defect_columns(spec)
        codes = sorted(options)
        rng.shuffle(codes)
        plans[name] = (itertools.cycle(codes), options)
    return plans


def inject_bad_rows(rng: Random, batch: Batch, rate: float, codes: Iterator[str],
                    options: dict[str, list[Column]]) -> None:
    """Add defective copies of good lines; a duplicate always lands after its original."""
    slots = [(p, i) for p, part in enumerate(batch.parts) for i in range(len(part))]
    expected = len(slots) * rate
    count = int(expected) + (rng.random() < expected - int(expected))
    if count == 0:
        return
    keyed = [[(float(i), line) for i, line in enumerate(part)] for part in batch.parts]
    # Distinct templates, so no defective line can equal another one.
    for p, i in rng.sample(slots, count):
        template = batch.parts[p][i]
        code = next(codes)
        line = defective_copy(rng, batch.spec, template, code, options[code])
        if code == DUPLICATE_ROW:
            target = rng.randrange(p, len(keyed))
            low = i + 1 if target == p else 0
        else:
            target, low = rng.randrange(len(keyed)), 0
        keyed[target].append((rng.randint(low, len(batch.parts[target])) - 0.5, line))
    batch.parts = [[line for _, line in sorted(part, key=itemgetter(0))] for part in keyed]


def defective_copy(rng: Random, spec: EntitySpec, template: Line, code: str,
                   columns: list[Column]) -> Line:
    if code == DUPLICATE_ROW:
        return Line(template.values, DUPLICATE_ROW)
    is_json = spec.format == "jsonl"
    if code == MALFORMED_RECORD:
        return Line(template.values, MALFORMED_RECORD,
                    rng.choice(JSON_BREAKAGES if is_json else CSV_BREAKAGES))
    column = rng.choice(columns)
    values = dict(template.values)
    values[column.name] = bad_value(rng, code, column, is_json)
    return Line(values, column_reason(code, column.name))


def bad_value(rng: Random, code: str, column: Column, is_json: bool) -> str | None:
    if code == MISSING_VALUE:
        return None if is_json and rng.random() < 0.5 else ""
    if code == BAD_TIMESTAMP:
        return rng.choice(BAD_TIMESTAMPS)
    if code == BAD_DATE:
        return rng.choice(BAD_DATES)
    if code == BAD_NUMBER:
        return rng.choice(BAD_NUMBERS)
    if code == OUT_OF_RANGE:
        if column.type == "int":
            return str(int(column.min) - rng.randint(1, 3))
        return money(round(column.min * 100) - rng.randint(1, 50_000))
    candidates = [v for allowed in column.values for v in (allowed.capitalize(), allowed.upper(),
                                                             allowed.lower())]
    candidates += BAD_ENUM_EXTRAS
    return rng.choice([v for v in dict.fromkeys(candidates) if v not in column.values])
