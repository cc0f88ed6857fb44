"""What the publish stage serves, as pure transforms of the Delta tables: one frame per table of
``schema.sql``, columns named as in Delta. No reads or writes here (``publish.py`` does them).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

# The 360° page shows each one_id's newest orders and events; older ones stay in the lakehouse.
RECENT_PER_ONE_ID = 20

# Columns of oneid.profile that may hold a mobile or email only in these forms (SPEC section 4).
MASKED_FORMS = {
    "mobile_masked": r"^1[3-9][0-9]\*{4}[0-9]{4}$",
    "email_masked": r"^[^@*]\*{3}@[^@\s]+$",
    "mobile_hash": r"^[0-9a-f]{64}$",
    "email_hash": r"^[0-9a-f]{64}$",
}
# A raw mainland mobile standing alone (not inside a run of letters and digits, as in a one_id's
# hex), with an optional country code and separators, or an unmasked email, in any other text
# column; the shapes tests/test_pii_scan.py scans every table for.
RAW_MOBILE = r"(?<![0-9A-Za-z])(?:(?:\+|00)?86[\s-]?)?1[3-9][0-9](?:[\s-]?[0-9]){8}(?![0-9A-Za-z])"
RAW_EMAIL = r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+"

TAG_CATALOG_COLUMNS = ("name_zh", "name_en", "category_path", "category_l1", "value_type")
ORDER_COLUMNS = (
    "one_id", "order_key", "order_id", "order_source", "platform", "channel_id", "channel_name", "store_id",
    "order_type", "order_status", "order_at", "order_date", "item_count", "paid_amount", "refund_amount",
    "net_paid_amount",
)
EVENT_COLUMNS = (
    "one_id", "event_id", "event_at", "event_date", "event_type", "app_id", "channel_id", "channel_name", "page",
    "sku_id", "sku_name", "search_keyword",
)


def tag_values(tag_value: DataFrame, tag_catalog: DataFrame) -> DataFrame:
    """The ds's tag values with each tag's names and category (both frames of one ds)."""
    described = tag_catalog.select("tag_code", *TAG_CATALOG_COLUMNS)
    return tag_value.join(described, on="tag_code", how="left").select(
        "ds", "one_id", "tag_code", "tag_value", *TAG_CATALOG_COLUMNS
    )


def recent_orders(orders: DataFrame, owners: DataFrame, channels: DataFrame, ds: date,
                  limit: int = RECENT_PER_ONE_ID) -> DataFrame:
    """Each one_id's ``limit`` newest orders dated up to ``ds``.

    Args:
        orders: ``cdm.fct_order``.
        owners: ``oneid.record_identity`` (record_key, one_id) as OneID's run for ds left it.
        channels: ``cdm.dim_channel``.
    """
    owned = (
        orders.where(F.col("order_date") <= F.lit(ds))
        .join(owners.select("record_key", "one_id"), on="record_key", how="inner")
        .join(channels.select("channel_id", "channel_name"), on="channel_id", how="left")
    )
    return _newest(owned, "order_at", "order_key", limit).select(*ORDER_COLUMNS)


def recent_events(events: DataFrame, owners: DataFrame, channels: DataFrame, products: DataFrame, ds: date,
                  limit: int = RECENT_PER_ONE_ID) -> DataFrame:
    """Each one_id's ``limit`` newest WeChat events dated up to ``ds``.

    Args:
        events: ``cdm.fct_event``.
        owners: ``oneid.record_identity`` (record_key, one_id) as OneID's run for ds left it.
        channels: ``cdm.dim_channel``.
        products: ``cdm.dim_product``.
    """
    owned = (
        events.where(F.col("event_date") <= F.lit(ds))
        .join(owners.select("record_key", "one_id"), on="record_key", how="inner")
        .join(channels.select("channel_id", "channel_name"), on="channel_id", how="left")
        .join(products.select("sku_id", "sku_name"), on="sku_id", how="left")
    )
    return _newest(owned, "event_at", "event_id", limit).select(*EVENT_COLUMNS)


def _newest(frame: DataFrame, time_column: str, key: str, limit: int) -> DataFrame:
    # The key breaks ties, so the same rows are kept on every run.
    newest_first = Window.partitionBy("one_id").orderBy(F.col(time_column).desc_nulls_last(), F.col(key).desc())
    return frame.withColumn("_rank", F.row_number().over(newest_first)).where(F.col("_rank") <= limit)


def raw_pii_counts(profile: DataFrame) -> DataFrame:
    """One row: per text column of ``profile``, how many values are a raw mobile or email (or, in a
    masked or hashed column, anything but that form). All zero for a servable profile."""
    checks = []
    for field in profile.schema.fields:
        if field.dataType.simpleString() != "string":
            continue
        value = F.col(field.name)
        offending = ~value.rlike(MASKED_FORMS[field.name]) if field.name in MASKED_FORMS else _raw_identifier(value)
        checks.append(F.count(F.when(offending, True)).alias(field.name))
    return profile.agg(*checks)


def _raw_identifier(value: Column) -> Column:
    return value.rlike(RAW_MOBILE) | F.lower(value).rlike(RAW_EMAIL)
