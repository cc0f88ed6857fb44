"""cdm.fct_event: factless fact, one row per WeChat behaviour event (grain: event_id), typed.

An event id extracted twice keeps its newest version. Identifiers (openid, device) are not
here: ``record_key`` leads to them in ``cdm.identity_evidence``.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c

COLUMNS = (
    "event_id", "event_at", "event_date", "app_id", "channel_id", "event_type", "page", "sku_id", "member_id",
    "record_key", "has_identity", "search_keyword", "scene", "duration_ms", "share_to", "coupon_template_id",
    "sign_in_points", c.SOURCE_VERSION, c.SOURCE_DT,
)


def build(ods_events: DataFrame) -> DataFrame:
    """Rows to upsert: the newest version of each event in one ``dt`` of ``ods.wechat_events``."""
    newest = c.newest_per_key(ods_events, ["event_id"], c.source_version())
    properties = F.col("properties")
    return newest.select(
        "event_id",
        F.col("event_time").alias("event_at"),
        F.to_date("event_time").alias("event_date"),
        "app_id",
        c.wechat_channel_id(F.col("app_id")).alias("channel_id"),
        F.col("event").alias("event_type"),
        c.trimmed("page").alias("page"),
        c.trimmed("sku_id").alias("sku_id"),
        c.trimmed("member_id").alias("member_id"),
        c.record_key("wechat", "events", F.col("event_id")).alias("record_key"),
        (c.trimmed("openid").isNotNull() | c.trimmed("member_id").isNotNull()).alias("has_identity"),
        properties["keyword"].alias("search_keyword"),
        properties["scene"].alias("scene"),
        # Property values are whatever the client sent; one that is not a number must not fail
        # the day's build (ANSI casts raise), it is simply not a duration or a points value.
        properties["duration_ms"].try_cast("long").alias("duration_ms"),
        properties["share_to"].alias("share_to"),
        properties["template_id"].alias("coupon_template_id"),
        properties["points"].try_cast("int").alias("sign_in_points"),
        c.source_version().alias(c.SOURCE_VERSION),
        F.col(c.ODS_DT).alias(c.SOURCE_DT),
    )
