"""Types split landing records per the contract and gives every bad one its reasons.

Pure transforms of native Spark expressions: ``check_records`` adds typed columns and a
``reject_reason`` to every record; ``accepted_rows`` and ``rejected_rows`` select the two
published shapes from it, so the caller can cache once and write both.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from models.ods import reasons
from models.ods.contract import ColumnSpec, EntityContract
from models.ods.records import KIND_RECORD

MONEY = T.DecimalType(18, 2)
DECIMAL_PATTERN = r"^-?\d+(\.\d{1,2})?$"
INT_PATTERN = r"^-?\d+$"
ITEM_TEXT = T.ArrayType(
    T.StructType([T.StructField(name, T.StringType()) for name in ("sku_id", "qty", "unit_price", "amount")])
)
LINEAGE_COLUMNS = ("source_file", "source_line", "ingest_run_id", "dt")
REJECT_COLUMNS = ("source", "entity", "source_file", "source_line", "raw_text", "reason", "ingest_run_id", "dt")
REASON = "reject_reason"


def _typed_items(parsed: Column) -> Column:
    return F.transform(
        parsed,
        lambda item: F.struct(
            item["sku_id"].alias("sku_id"),
            item["qty"].try_cast("int").alias("qty"),
            item["unit_price"].try_cast(MONEY).alias("unit_price"),
            item["amount"].try_cast(MONEY).alias("amount"),
        ),
    )


def _bad_items(items: Column) -> Column:
    return F.exists(
        items,
        lambda item: item["sku_id"].isNull()
        | item["qty"].isNull()
        | item["amount"].isNull()
        | (item["amount"] < 0)
        | (item["unit_price"] < 0),
    )


def _first_reason(*candidates: Column | None) -> Column | None:
    """The first non-null reason among the checks that apply to a column."""
    present = [candidate for candidate in candidates if candidate is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else F.coalesce(*present)


def typed_column(spec: ColumnSpec, contract: EntityContract, text: Column) -> tuple[Column, Column | None]:
    """The typed value of one column and the reason it is bad (null when it is fine).

    Args:
        spec: the column's contract.
        contract: the entity (time and date formats).
        text: the raw string value, null when absent.
    """
    blank = text.isNull() | (F.trim(text) == "")
    value = F.when(~blank, F.trim(text))
    missing = F.when(blank, F.lit(reasons.column_reason(reasons.MISSING_VALUE, spec.name))) if spec.required else None

    def unless_blank(code: str, bad: Column) -> Column:
        return F.when(~blank & bad, F.lit(reasons.column_reason(code, spec.name)))

    if spec.type == "string":
        return F.when(~blank, text), missing
    if spec.type == "enum":
        return value, _first_reason(missing, unless_blank(reasons.BAD_ENUM, ~value.isin(*spec.values)))
    if spec.type == "timestamp":
        # Landing times are Asia/Shanghai wall-clock times; TIMESTAMP_NTZ keeps them as written
        # for every reader (Python, pandas, JDBC) whatever its own time zone. Parsing and the
        # cast use the same session zone, so the wall-clock value survives exactly.
        parsed = F.coalesce(*[F.try_to_timestamp(value, F.lit(pattern)) for pattern in contract.time_formats])
        typed = parsed.cast(T.TimestampNTZType())
        return typed, _first_reason(missing, unless_blank(reasons.BAD_TIMESTAMP, typed.isNull()))
    if spec.type == "date":
        typed = F.try_to_date(value, contract.date_format)
        return typed, _first_reason(missing, unless_blank(reasons.BAD_DATE, typed.isNull()))
    if spec.type in ("decimal", "int"):
        pattern, target = (DECIMAL_PATTERN, MONEY) if spec.type == "decimal" else (INT_PATTERN, T.IntegerType())
        typed = F.when(value.rlike(pattern), value.try_cast(target))
        below_min = None
        if spec.min is not None:
            below_min = F.when(typed < F.lit(spec.min), F.lit(reasons.column_reason(reasons.OUT_OF_RANGE, spec.name)))
        return typed, _first_reason(missing, unless_blank(reasons.BAD_NUMBER, typed.isNull()), below_min)
    if spec.type == "items":
        parsed = F.from_json(value, ITEM_TEXT)
        typed = _typed_items(parsed)
        return typed, _first_reason(missing, unless_blank(reasons.BAD_STRUCTURE, parsed.isNull() | _bad_items(typed)))
    shape = T.ArrayType(T.StringType()) if spec.type == "list" else T.MapType(T.StringType(), T.StringType())
    typed = F.from_json(value, shape)
    return typed, _first_reason(missing, unless_blank(reasons.BAD_STRUCTURE, typed.isNull()))


def check_records(records: DataFrame, contract: EntityContract, ds: date, run_id: str) -> DataFrame:
    """Adds the typed contract columns, lineage and ``reject_reason`` to split records.

    A record is rejected when it is malformed, when any column breaks the contract (all its
    reasons are listed in column order) or when it repeats an earlier record of the day
    exactly (the first by file and line is kept).

    Args:
        records: output of ``models.ods.records.split_records`` for one entity and ds.
        contract: the entity's landing contract.
        ds: the business date being loaded.
        run_id: the ingestion run, kept as lineage.
    """
    rows = records.where(F.col("kind") == KIND_RECORD)
    first_copy = Window.partitionBy("content_key").orderBy("source_file", "source_line")
    typed_columns = []
    column_reasons = []
    for index, spec in enumerate(contract.columns):
        typed, reason = typed_column(spec, contract, F.col("values")[index])
        typed_columns.append(typed.alias(spec.name))
        if reason is not None:
            column_reasons.append(reason)
    duplicate = F.when(
        ~F.col("is_malformed") & (F.row_number().over(first_copy) > 1), F.lit(reasons.DUPLICATE_ROW)
    )
    reason = F.when(F.col("is_malformed"), F.lit(reasons.MALFORMED_RECORD)).otherwise(
        F.nullif(F.concat_ws(reasons.REASON_SEPARATOR, *column_reasons, duplicate), F.lit(""))
    )
    return rows.select(
        *typed_columns,
        "source_file",
        "source_line",
        "raw_text",
        F.lit(run_id).alias("ingest_run_id"),
        F.lit(ds).alias("dt"),
        reason.alias(REASON),
    )


def accepted_rows(checked: DataFrame, contract: EntityContract) -> DataFrame:
    """The typed ODS table rows: contract columns then lineage."""
    return checked.where(F.col(REASON).isNull()).select(*contract.column_names, *LINEAGE_COLUMNS)


def rejected_rows(checked: DataFrame, contract: EntityContract) -> DataFrame:
    """The ``ods.rejects`` rows: where the record came from, its raw text and why."""
    return checked.where(F.col(REASON).isNotNull()).select(
        F.lit(contract.source).alias("source"),
        F.lit(contract.entity).alias("entity"),
        "source_file",
        "source_line",
        "raw_text",
        F.col(REASON).alias("reason"),
        "ingest_run_id",
        "dt",
    )
