"""The benchmark's floor: the least any pipeline must do with a landing day, done by polars.

Every landing file of the day is read, its contract columns typed (timestamps, dates, 2-decimal
money, integers) and written as Parquet, in one process with no validation, no lineage, no
rejects and no history. The pipeline's time divided by this one says what the platform's
guarantees and its engine cost on top of reading the data at all.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from models.ods.contract import ColumnSpec, EntityContract
from models.ods.records import decode

# The contract's Java-style patterns as strptime formats; fractions are optional in ISO forms.
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S")
MONEY = pl.Decimal(18, 2)


@dataclass(frozen=True)
class FloorResult:
    files: int
    rows: int
    bytes_read: int
    seconds: float


def _typed(column: pl.Expr, spec: ColumnSpec) -> pl.Expr:
    text = column.cast(pl.Utf8)
    if spec.type == "timestamp":
        parsed = [text.str.strptime(pl.Datetime("us"), fmt, strict=False) for fmt in TIME_FORMATS]
        return pl.coalesce(parsed).alias(spec.name)
    if spec.type == "date":
        return text.str.strptime(pl.Date, "%Y-%m-%d", strict=False).alias(spec.name)
    if spec.type == "decimal":
        return text.cast(MONEY, strict=False).alias(spec.name)
    if spec.type == "int":
        return text.cast(pl.Int64, strict=False).alias(spec.name)
    return column.alias(spec.name)


def _read(path: Path, contract: EntityContract) -> pl.DataFrame:
    data = path.read_bytes()
    if contract.format == "jsonl":
        # Truncated lines (the landing's bad rows) would stop the reader: keep whole objects.
        lines = pl.Series(data.decode("utf-8", errors="replace").splitlines(), dtype=pl.Utf8)
        whole = lines.filter(lines.str.starts_with("{") & lines.str.ends_with("}"))
        try:
            return pl.read_ndjson(io.BytesIO("\n".join(whole).encode()), infer_schema_length=None, ignore_errors=True)
        except pl.exceptions.ComputeError:
            # A bad row can still look whole (300,000 persons' landing has one); only then is
            # every line parsed on its own, so the usual file keeps the fast path.
            parsed = [line for line in whole if _is_json_object(line)]
            return pl.read_ndjson(io.BytesIO("\n".join(parsed).encode()), infer_schema_length=None, ignore_errors=True)
    # The same decoding as the ODS load (BOM, then each declared encoding strictly), so the
    # floor reads what the pipeline reads.
    text, _ = decode(data, contract.encodings, str(path))
    return pl.read_csv(io.BytesIO(text.encode("utf-8")), infer_schema=False, truncate_ragged_lines=True)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def run(landing: Path, contracts: tuple[EntityContract, ...], ds: date, out: Path) -> FloorResult:
    """Reads, types and writes as Parquet every landing file of ``ds``."""
    started = time.monotonic()
    shutil.rmtree(out, ignore_errors=True)
    files = rows = size = 0
    for contract in contracts:
        folder = landing / contract.source / contract.entity / f"dt={ds.isoformat()}"
        for path in sorted(folder.glob(f"*.{contract.format}")):
            frame = _read(path, contract)
            present = [spec for spec in contract.columns if spec.name in frame.columns]
            typed = frame.select([_typed(pl.col(spec.name), spec) for spec in present])
            target = out / contract.source / contract.entity
            target.mkdir(parents=True, exist_ok=True)
            typed.write_parquet(target / f"{path.stem}.parquet")
            files, rows, size = files + 1, rows + typed.height, size + path.stat().st_size
    return FloorResult(files=files, rows=rows, bytes_read=size, seconds=round(time.monotonic() - started, 2))
