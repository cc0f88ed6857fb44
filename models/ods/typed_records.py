"""Types split landing records per the contract and gives every bad one its reasons.

Pure transforms of native Spark expressions: ``check_records`` adds typed columns and a
``reject_reason`` to every record; ``accepted_rows`` and ``rejected_rows`` select the two
published shapes from it, so the caller can cache once and write both; ``file_summary`` counts
each file's rows and the values of each column that did not parse, from which
``type_changes`` finds the files whose source changed a column's type.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame, Row, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from models.ods import anomalies, reasons
from models.ods.contract import ColumnSpec, EntityContract, SignConvention
from models.ods.records import KIND_RECORD

MONEY = T.DecimalType(18, 2)
DECIMAL_PATTERN = r"^-?\d+(\.\d{1,2})?$"
INT_PATTERN = r"^-?\d+$"
ITEM_TEXT = T.ArrayType(
    T.StructType([T.StructField(name, T.StringType()) for name in ("sku_id", "qty", "unit_price", "amount")])
)
LINEAGE_COLUMNS = ("source_file", "source_line", "ingest_run_id", "dt")
WRITTEN_NEGATIVE = "written_negative"
REJECT_COLUMNS = ("source", "entity", "source_file", "source_line", "raw_text", "reason", "ingest_run_id", "dt")
REASON = "reject_reason"
NUMBER_TYPES = {"decimal": MONEY, "int": T.IntegerType()}
# Column → raw value of the values that did not parse as their column's type; a map, so the
# per-file summary looks each column up instead of scanning a list (smaller generated code).
UNPARSED = "unparsed"
# A file whose values of one column mostly do not parse has a changed column, not bad rows;
# below this many values a file is too small to tell the two apart.
TYPE_CHANGE_MIN_VALUES = 10
TYPE_CHANGE_SHARE = 0.9


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


@dataclass(frozen=True)
class TypedColumn:
    """One contract column checked: its typed value and what may be wrong with it.

    Attributes:
        value: the typed value, null when blank or when the text does not parse.
        reason: why the value is bad apart from its range (null when fine or not checked).
        unparsed: true when a value is present but is not of the column's type at all.
    """

    value: Column
    reason: Column | None
    unparsed: Column | None


def _within_calendar(moment: Column) -> Column:
    """The date or time, null outside years 1 to 9999: Spark parses "0000-01-01" and
    "+10000-01-01", which Python, pandas and most clients cannot hold."""
    return F.when(F.year(moment).between(1, 9999), moment)


def typed_column(spec: ColumnSpec, contract: EntityContract, text: Column, is_nested: Column) -> TypedColumn:
    """Types one column and says why it is bad; the range check (``min``) comes later, once
    the row's sign convention is applied (:func:`signed_values`).

    Args:
        spec: the column's contract.
        contract: the entity (time and date formats).
        text: the raw string value, null when absent.
        is_nested: true when the JSON value was an object or array.
    """
    blank = text.isNull() | (F.trim(text) == "")
    value = F.when(~blank, F.trim(text))
    missing = F.when(blank, F.lit(reasons.column_reason(reasons.MISSING_VALUE, spec.name))) if spec.required else None

    def unless_blank(code: str, bad: Column) -> Column:
        return F.when(~blank & bad, F.lit(reasons.column_reason(code, spec.name)))

    def parsed(typed: Column, code: str) -> TypedColumn:
        return TypedColumn(typed, _first_reason(missing, unless_blank(code, typed.isNull())), ~blank & typed.isNull())

    if spec.type == "string":
        # A JSON object or array where the source used to send text is a changed field, not text.
        return TypedColumn(
            F.when(~blank, text), _first_reason(missing, unless_blank(reasons.BAD_STRUCTURE, is_nested)), is_nested
        )
    if spec.type == "enum":
        unknown = unless_blank(reasons.BAD_ENUM, ~value.isin(*spec.values))
        return TypedColumn(value, _first_reason(missing, unknown), None)
    if spec.type == "timestamp":
        # Landing times are Asia/Shanghai wall-clock times; TIMESTAMP_NTZ keeps them as written
        # for every reader (Python, pandas, JDBC) whatever its own time zone. Parsing and the
        # cast use the same session zone, so the wall-clock value survives exactly.
        timestamp = F.coalesce(*[F.try_to_timestamp(value, F.lit(pattern)) for pattern in contract.time_formats])
        return parsed(_within_calendar(timestamp.cast(T.TimestampNTZType())), reasons.BAD_TIMESTAMP)
    if spec.type == "date":
        return parsed(_within_calendar(F.try_to_date(value, contract.date_format)), reasons.BAD_DATE)
    if spec.type in ("decimal", "int"):
        pattern = DECIMAL_PATTERN if spec.type == "decimal" else INT_PATTERN
        return parsed(F.when(value.rlike(pattern), value.try_cast(NUMBER_TYPES[spec.type])), reasons.BAD_NUMBER)
    if spec.type == "items":
        items = F.from_json(value, ITEM_TEXT)
        typed = _typed_items(items)
        bad = unless_blank(reasons.BAD_STRUCTURE, items.isNull() | _bad_items(typed))
        return TypedColumn(typed, _first_reason(missing, bad), ~blank & items.isNull())
    shape = T.ArrayType(T.StringType()) if spec.type == "list" else T.MapType(T.StringType(), T.StringType())
    return parsed(F.from_json(value, shape), reasons.BAD_STRUCTURE)


def _any(conditions: list[Column]) -> Column:
    return functools.reduce(operator.or_, [F.coalesce(condition, F.lit(False)) for condition in conditions])


def written_negative(values: dict[str, Column], rule: SignConvention) -> Column:
    """Whether a row is written in the negative sign convention: the rule's ``columns`` hold at
    least one negative value and no positive one, and its ``allowed_column`` (if any) holds an
    allowed value."""
    signed = [values[name] for name in rule.columns]
    negative = _any([value < 0 for value in signed]) & ~_any([value > 0 for value in signed])
    if rule.allowed_column is not None:
        negative = negative & values[rule.allowed_column].isin(*rule.allowed_values)
    return negative


def signed_values(values: dict[str, Column], contract: EntityContract) -> dict[str, Column]:
    """The typed values with a row written negative (``contract.sign_convention``,
    :func:`written_negative`) turned positive.

    Other rows keep their values, so a stray negative still fails its range check. A value
    whose negation does not fit its type (the smallest int) becomes null, for the range check
    to report.
    """
    rule = contract.sign_convention
    if rule is None:
        return values
    types = {column.name: column.type for column in contract.columns}
    negated = written_negative(values, rule)
    return {
        # try_subtract widens a decimal by one digit; the cast gives back the column's type.
        name: F.when(negated, F.try_subtract(F.lit(0), value).cast(NUMBER_TYPES[types[name]])).otherwise(value)
        if name in rule.columns
        else value
        for name, value in values.items()
    }


def sign_columns(contract: EntityContract) -> tuple[str, ...]:
    """The column an entity with a sign convention keeps: whether the row was written negative,
    for the CDM to check against what the row belongs to (a POS line carries no order type;
    its ticket does)."""
    return (WRITTEN_NEGATIVE,) if contract.sign_convention is not None else ()


def _range_reason(spec: ColumnSpec, typed: Column, value: Column, rule: SignConvention | None) -> Column | None:
    """``out_of_range`` when the value, after the sign convention, is below the column's
    minimum (zero for a column that changes sign with its row) or lost in the negation."""
    signed = rule is not None and spec.name in rule.columns
    low = spec.min if spec.min is not None else (0 if signed else None)
    if low is None:
        return None
    out_of_range = (value < F.lit(low)) | (typed.isNotNull() & value.isNull())
    return F.when(out_of_range, F.lit(reasons.column_reason(reasons.OUT_OF_RANGE, spec.name)))


def _is_nested(name: str) -> Column:
    return F.coalesce(F.array_contains("nested_columns", name), F.lit(False))


def check_records(records: DataFrame, contract: EntityContract, ds: date, run_id: str) -> DataFrame:
    """Adds the typed contract columns, lineage and ``reject_reason`` to split records.

    A record is rejected when it is malformed, when any column breaks the contract (all its
    reasons are listed in column order) or when it repeats an earlier record of the day
    exactly (the first by file and line is kept). A row written in the negative sign
    convention (``contract.sign_convention``) loads with those numbers positive.

    Args:
        records: output of ``models.ods.records.split_records`` for one entity and ds.
        contract: the entity's landing contract.
        ds: the business date being loaded.
        run_id: the ingestion run, kept as lineage.
    """
    rows = records.where(F.col("kind") == KIND_RECORD)
    first_copy = Window.partitionBy("content_key").orderBy("source_file", "source_line")
    checked = {
        spec.name: typed_column(spec, contract, F.col("values")[index], _is_nested(spec.name))
        for index, spec in enumerate(contract.columns)
    }
    unparsed = [
        item
        for index, (name, column) in enumerate(checked.items())
        if column.unparsed is not None
        for item in (F.lit(name), F.when(column.unparsed, F.col("values")[index]))
    ]
    # Typed first, in a projection of its own: the sign convention and the range checks then
    # refer to each typed value by name instead of repeating its parsing expression, which
    # would grow the generated code past Spark's 64 KB limit.
    typed = rows.select(
        *[column.value.alias(name) for name, column in checked.items()],
        *[column.reason.alias(_parse_reason(name)) for name, column in checked.items() if column.reason is not None],
        "source_file",
        "source_line",
        "raw_text",
        "is_malformed",
        "content_key",
        F.map_filter(F.create_map(*unparsed), lambda _, raw: raw.isNotNull()).alias(UNPARSED)
        if unparsed
        else F.create_map().cast("map<string,string>").alias(UNPARSED),
    )
    typed_values = {name: F.col(name) for name in contract.column_names}
    values = signed_values(typed_values, contract)
    column_reasons = []
    for spec in contract.columns:
        parsing = F.col(_parse_reason(spec.name)) if checked[spec.name].reason is not None else None
        out_of_range = _range_reason(spec, F.col(spec.name), values[spec.name], contract.sign_convention)
        reason = _first_reason(parsing, out_of_range)
        if reason is not None:
            column_reasons.append(reason)
    duplicate = F.when(
        ~F.col("is_malformed") & (F.row_number().over(first_copy) > 1), F.lit(reasons.DUPLICATE_ROW)
    )
    reason = F.when(F.col("is_malformed"), F.lit(reasons.MALFORMED_RECORD)).otherwise(
        F.nullif(F.concat_ws(reasons.REASON_SEPARATOR, *column_reasons, duplicate), F.lit(""))
    )
    negative = [] if contract.sign_convention is None else [
        written_negative(typed_values, contract.sign_convention).alias(WRITTEN_NEGATIVE)
    ]
    return typed.select(
        *[values[name].alias(name) for name in contract.column_names],
        *negative,
        "source_file",
        "source_line",
        "raw_text",
        F.lit(run_id).alias("ingest_run_id"),
        F.lit(ds).alias("dt"),
        reason.alias(REASON),
        UNPARSED,
    )


def _parse_reason(name: str) -> str:
    return f"_parse_reason_{name}"


def accepted_rows(checked: DataFrame, contract: EntityContract) -> DataFrame:
    """The typed ODS table rows: contract columns, the anomaly flags and the sign written, then
    lineage."""
    extra = (*anomalies.flag_columns(contract.anomalies), *sign_columns(contract))
    return checked.where(F.col(REASON).isNull()).select(*contract.column_names, *extra, *LINEAGE_COLUMNS)


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


def _type_checked(contract: EntityContract) -> tuple[str, ...]:
    # An enum's unknown value is a value problem, not a type change.
    return tuple(column.name for column in contract.columns if column.type != "enum")


def file_summary(checked: DataFrame, contract: EntityContract) -> DataFrame:
    """Per file: records checked, records rejected, and per column the values present and
    those that did not parse, as input to :func:`type_changes`.

    Counts only: a string aggregate (an example value) per column made the generated code of
    this aggregation exceed Spark's 64 KB; examples are looked up only for a changed column
    (:func:`unparsed_examples`).
    """
    per_column = []
    for name in _type_checked(contract):
        raw = F.try_element_at(UNPARSED, F.lit(name))
        per_column += [
            F.count(F.when(F.col(name).isNotNull() | raw.isNotNull(), True)).alias(f"{name}__present"),
            F.count(raw).alias(f"{name}__unparsed"),
        ]
    return checked.groupBy("source_file").agg(
        F.count(F.lit(1)).alias("checked"), F.count(REASON).alias("rejected"), *per_column
    )


@dataclass(frozen=True)
class TypeChange:
    """A column of one file whose values mostly do not parse as the column's type."""

    source_file: str
    column: str
    column_type: str
    unparsed: int
    present: int


def type_changes(summary: list[Row], contract: EntityContract) -> list[TypeChange]:
    """The columns of files whose values mostly do not parse as their type.

    A source that changed a column's type (a number now written with a currency sign, a
    field now an object) would otherwise turn every row of the file into a reject with the
    same reason; the file is refused instead so the change is seen. A few bad values among
    good ones stay row rejects.

    Args:
        summary: the collected rows of :func:`file_summary`.
        contract: the entity's landing contract.
    """
    types = {column.name: column.type for column in contract.columns}
    return [
        TypeChange(row.source_file, name, types[name], row[f"{name}__unparsed"], row[f"{name}__present"])
        for row in sorted(summary, key=lambda r: r.source_file)
        for name in _type_checked(contract)
        if row[f"{name}__present"] >= TYPE_CHANGE_MIN_VALUES
        and row[f"{name}__unparsed"] >= TYPE_CHANGE_SHARE * row[f"{name}__present"]
    ]


def unparsed_examples(checked: DataFrame, changes: list[TypeChange]) -> DataFrame:
    """The smallest value that did not parse per changed column and file
    (``source_file, column, example``), for :func:`type_change_messages`."""
    files = sorted({change.source_file for change in changes})
    columns = sorted({change.column for change in changes})
    unparsed = F.map_filter(UNPARSED, lambda column, _: column.isin(*columns))
    return (
        checked.where(F.col("source_file").isin(*files))
        .select("source_file", F.explode(unparsed).alias("column", "value"))
        .groupBy("source_file", "column")
        .agg(F.min("value").alias("example"))
    )


def type_change_messages(changes: list[TypeChange], examples: list[Row]) -> list[str]:
    """One message per changed column and file, naming both, the share and an example value."""
    example = {(row.source_file, row.column): row.example for row in examples}
    return [
        f"column {change.column} of file {change.source_file}: {change.unparsed} of {change.present} values do not "
        f"parse as {change.column_type} (e.g. {example.get((change.source_file, change.column))!r}); the source's "
        "column type seems to have changed"
        for change in changes
    ]
