"""Names and small column helpers every CDM model shares."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

# ODS lineage columns (models.ods): the business date of the extract, file and physical line.
ODS_DT = "dt"
SOURCE_FILE = "source_file"
SOURCE_LINE = "source_line"

# Every CDM row that a newer extract may replace carries the version it came from, a string
# that sorts like the extracts do: a later dt, then a later file, then a later line wins.
SOURCE_VERSION = "source_version"
SOURCE_DT = "source_dt"
LINE_NUMBER_WIDTH = 10

UNKNOWN = "未知"
UNKNOWN_KEY = "unknown"

ORDER_SOURCE_POS = "pos"
ORDER_SOURCE_ECOM = "ecom"
ORDER_TYPE_SALE = "sale"
ORDER_TYPE_RETURN = "return"

CENTS = 100


def source_version(updated_at: Column | None = None) -> Column:
    """The sortable version of an ODS row: [updated_at|] dt | file | zero-padded line."""
    parts = [
        F.date_format(F.col(ODS_DT), "yyyy-MM-dd"),
        F.col(SOURCE_FILE),
        F.lpad(F.col(SOURCE_LINE).cast("string"), LINE_NUMBER_WIDTH, "0"),
    ]
    if updated_at is not None:
        parts.insert(0, F.coalesce(F.date_format(updated_at, "yyyy-MM-dd HH:mm:ss.SSS"), F.lit("")))
    return F.concat_ws("|", *parts)


def newest_per_key(frame: DataFrame, keys: list[str], version: Column) -> DataFrame:
    """Keeps one row per key, the one with the highest ``version``."""
    ranked = Window.partitionBy(*keys).orderBy(version.desc())
    return frame.withColumn("_rank", F.row_number().over(ranked)).where(F.col("_rank") == 1).drop("_rank")


def trimmed(column: str) -> Column:
    """Trimmed text with empty strings as null, the way every key is compared."""
    return trimmed_column(F.col(column))


def ecom_order_key(platform: Column, order_id: Column) -> Column:
    return F.concat_ws(":", F.lit(ORDER_SOURCE_ECOM), platform, order_id)


def pos_order_key(order_id: Column) -> Column:
    return F.concat_ws(":", F.lit(ORDER_SOURCE_POS), order_id)


def record_key(source: str, entity: str, *parts: Column) -> Column:
    """The id of one source record, shared by its fact row and its identity evidence."""
    return F.concat_ws(":", F.lit(f"{source}.{entity}"), *parts)


def store_channel_id(store_id: Column) -> Column:
    return F.concat(F.lit("store:"), store_id)


def ecom_channel_id(platform: Column) -> Column:
    return F.concat(F.lit("ecom:"), platform)


def wechat_channel_id(app_id: Column) -> Column:
    return F.concat(F.lit("wechat:"), app_id)


def signed(amount: Column, order_type: Column) -> Column:
    """Returns are stored negative so that sums over a period net themselves."""
    return F.when(order_type == ORDER_TYPE_RETURN, -amount).otherwise(amount)


def trimmed_column(value: Column) -> Column:
    """:func:`trimmed` for an expression rather than a column name."""
    stripped = F.trim(value)
    return F.when(stripped != "", stripped)


def unknown_keys(referenced: DataFrame, key: str, *known: DataFrame) -> DataFrame:
    """The distinct non-null ``key`` values of ``referenced`` that none of ``known`` holds:
    the keys a dimension must add inferred members for."""
    missing = referenced.select(key).where(F.col(key).isNotNull()).distinct()
    for frame in known:
        missing = missing.join(frame.select(key), on=key, how="left_anti")
    return missing


def zero_amount() -> Column:
    """0.00 in the money type, for sums over no rows."""
    return F.lit(0).cast("decimal(18,2)")
