"""cdm.identity_evidence: one row per identifier seen on a source record (grain: dt, record_key,
field) — the single input of OneID.

Values are raw, as the source wrote them (only blank values are left out): deciding what is a
valid identifier and its canonical form is OneID's job. ``scope`` is the platform of a buyer id
and the app of an openid, without which those values are ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c

COLUMNS = ("dt", "source", "entity", "record_key", "field", "id_type", "raw_value", "scope", "event_at")
MEMBER_ID, CARD_NO, MOBILE, EMAIL = "member_id", "card_no", "mobile", "email"
WX_OPENID, WX_UNIONID, DEVICE_ID, ECOM_BUYER_ID = "wx_openid", "wx_unionid", "device_id", "ecom_buyer_id"


@dataclass(frozen=True)
class Field:
    """An identifier column of a source entity: its canonical id type and optional scope."""

    column: str
    id_type: str
    scope: str | None = None


# Which columns of which entity carry which identifier (SPEC sections 2 and 3).
FIELDS = {
    ("crm", "members"): (Field("member_id", MEMBER_ID), Field("card_no", CARD_NO), Field("mobile", MOBILE),
                         Field("email", EMAIL)),
    ("crm", "points_ledger"): (Field("member_id", MEMBER_ID),),
    ("crm", "coupons"): (Field("member_id", MEMBER_ID),),
    ("pos", "orders"): (Field("card_no", CARD_NO), Field("mobile", MOBILE)),
    ("ecom", "orders"): (Field("buyer_id", ECOM_BUYER_ID, scope="platform"), Field("member_id", MEMBER_ID),
                         Field("receiver_mobile", MOBILE)),
    ("wechat", "users"): (Field("openid", WX_OPENID, scope="app_id"), Field("unionid", WX_UNIONID),
                          Field("mobile", MOBILE), Field("member_id", MEMBER_ID)),
    ("wechat", "events"): (Field("openid", WX_OPENID, scope="app_id"), Field("device_id", DEVICE_ID),
                           Field("member_id", MEMBER_ID)),
}


def record_parts(source: str, entity: str) -> tuple[list[Column], Column]:
    """The record key parts and the event time of an entity's rows."""
    parts = {
        ("crm", "members"): (["member_id"], "updated_at"),
        ("crm", "points_ledger"): (["ledger_id"], "txn_time"),
        ("crm", "coupons"): (["coupon_id"], "issued_at"),
        ("pos", "orders"): (["order_id"], "order_time"),
        ("ecom", "orders"): (["platform", "order_id"], "created_at"),
        ("wechat", "users"): (["app_id", "openid"], "updated_at"),
        ("wechat", "events"): (["event_id"], "event_time"),
    }[(source, entity)]
    return [F.col(name) for name in parts[0]], F.col(parts[1])


def build(source: str, entity: str, ods_rows: DataFrame) -> DataFrame:
    """The evidence of one ``dt`` of one ODS entity.

    An e-commerce order or WeChat user extracted in several versions on one day gives its
    identifiers once per day (from its newest version).
    """
    keys, event_at = record_parts(source, entity)
    key = c.record_key(source, entity, *keys)
    newest = c.newest_per_key(ods_rows.withColumn("_record_key", key), ["_record_key"], c.source_version())
    evidence = F.explode(
        F.array(*[
            F.struct(
                F.lit(field.column).alias("field"),
                F.lit(field.id_type).alias("id_type"),
                F.col(field.column).alias("raw_value"),
                (F.col(field.scope) if field.scope else F.lit(None).cast("string")).alias("scope"),
            )
            for field in FIELDS[(source, entity)]
        ])
    ).alias("evidence")
    return (
        newest.select(F.col(c.ODS_DT).alias("dt"), F.col("_record_key").alias("record_key"), event_at.alias("event_at"), evidence)
        .where(F.trim(F.col("evidence.raw_value")) != "")
        .select(
            "dt",
            F.lit(source).alias("source"),
            F.lit(entity).alias("entity"),
            "record_key",
            "evidence.field",
            "evidence.id_type",
            "evidence.raw_value",
            "evidence.scope",
            "event_at",
        )
    )
