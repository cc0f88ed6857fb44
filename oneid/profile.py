"""oneid.profile: the golden record, one row per one_id, with the source of each attribute.

Survivorship: for every attribute, candidates from every source compete; the best source in
``profile.source_priority`` wins, then the most recent observation, then the smaller value (so
the result never depends on row order). Mobile and email leave the restricted tables only
masked and salted-hashed (SPEC section 4).

Candidates:

* the identity's identifiers from ``oneid.id_mapping``: member_id, mobile, email, unionid —
  each from the best source that carried it, observed when last seen;
* the CRM's descriptive attributes (name, gender, birthday) of the identity's members, from
  the current ``cdm.dim_member`` versions;
* province and city of e-commerce orders the identity shipped to itself (the receiver's
  mobile belongs to the same identity, so a gift's address never becomes the buyer's).
"""

from __future__ import annotations

from datetime import date
from typing import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from models import pii

ATTRIBUTES = ("member_id", "mobile_masked", "mobile_hash", "email_masked", "email_hash", "wx_unionid",
              "name", "gender", "birthday", "province", "city")
# Attributes that travel together: a mask and its hash come from one value, a city with its province.
GROUPS = {
    "member_id": ("member_id",),
    "mobile": ("mobile_masked", "mobile_hash"),
    "email": ("email_masked", "email_hash"),
    "wx_unionid": ("wx_unionid",),
    "name": ("name",),
    "gender": ("gender",),
    "birthday": ("birthday",),
    "address": ("province", "city"),
}
COLUMNS = (
    "one_id", *ATTRIBUTES, *(f"{group}_source" for group in GROUPS), "identifier_count", "member_count",
    "sources", "first_seen", "last_seen", "updated_ds",
)


def _rank_of_source(source: Column, priority: Sequence[str]) -> Column:
    ranks = F.create_map(*[F.lit(value) for rank, name in enumerate(priority) for value in (name, rank)])
    return F.coalesce(ranks[source], F.lit(len(priority)))


def _best_source(sources: Column, priority: Sequence[str]) -> Column:
    """The highest-priority source among an identifier's sources."""
    ranked = F.transform(sources, lambda s: F.struct(_rank_of_source(s, priority).alias("rank"), s.alias("source")))
    return F.array_min(ranked)["source"]


def _candidates(group: str, frame: DataFrame, values: dict[str, Column], source: Column, observed_at: Column) -> DataFrame:
    return frame.select(
        "one_id",
        F.lit(group).alias("attribute_group"),
        # One struct type for every group, so the candidates of all groups union into one frame.
        F.struct(*[(values[name] if name in values else F.lit(None)).cast("string").alias(name) for name in ATTRIBUTES])
        .alias("value"),
        source.alias("source"),
        observed_at.cast("timestamp_ntz").alias("observed_at"),
    )


def build(mapping: DataFrame, members: DataFrame, self_shipped: DataFrame, priority: Sequence[str], salt: str,
          ds: date) -> DataFrame:
    """The golden records.

    Args:
        mapping: ``oneid.id_mapping`` (one_id, id_type, id_value, sources, first_seen, last_seen).
        members: current ``cdm.dim_member`` rows (member_id, member_name, gender, birthday,
            attributes_at).
        self_shipped: ``(one_id, province, city, order_at)`` of orders shipped to the buyer.
        priority: sources best first (``conf/oneid.yml`` profile.source_priority).
        salt: the PII salt (``CDP_PII_SALT``).
        ds: the run's business date.
    """
    by_type = {
        id_type: mapping.where(F.col("id_type") == id_type).withColumn("best_source", _best_source(F.col("sources"), priority))
        for id_type in ("member_id", "mobile", "email", "wx_unionid")
    }
    value = F.col("id_value")
    candidates = [
        _candidates("member_id", by_type["member_id"], {"member_id": value}, F.col("best_source"), F.col("last_seen")),
        _candidates("mobile", by_type["mobile"],
                    {"mobile_masked": pii.mask_mobile(value), "mobile_hash": pii.salted_hash(value, salt)},
                    F.col("best_source"), F.col("last_seen")),
        _candidates("email", by_type["email"],
                    {"email_masked": pii.mask_email(value), "email_hash": pii.salted_hash(value, salt)},
                    F.col("best_source"), F.col("last_seen")),
        _candidates("wx_unionid", by_type["wx_unionid"], {"wx_unionid": value}, F.col("best_source"), F.col("last_seen")),
    ]
    member_identity = by_type["member_id"].select("one_id", F.col("id_value").alias("member_id"))
    crm = members.join(member_identity, on="member_id", how="inner")
    for group, column in (("name", "member_name"), ("gender", "gender"), ("birthday", "birthday")):
        candidates.append(_candidates(group, crm.where(F.col(column).isNotNull()), {group: F.col(column)},
                                      F.lit("crm"), F.col("attributes_at")))
    candidates.append(_candidates("address", self_shipped, {"province": F.col("province"), "city": F.col("city")},
                                  F.lit("ecom"), F.col("order_at")))
    chosen = _survivors(candidates, priority)
    summary = mapping.groupBy("one_id").agg(
        F.count(F.lit(1)).alias("identifier_count"),
        F.count(F.when(F.col("id_type") == "member_id", True)).alias("member_count"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("sources")))).alias("sources"),
        F.min("first_seen").alias("first_seen"),
        F.max("last_seen").alias("last_seen"),
    )
    profile = summary
    for group, names in GROUPS.items():
        picked = chosen.where(F.col("attribute_group") == group).select(
            "one_id", *[F.col("value")[name].alias(name) for name in names], F.col("source").alias(f"{group}_source")
        )
        profile = profile.join(picked, on="one_id", how="left")
    return profile.withColumn("birthday", F.col("birthday").cast("date")).withColumn("updated_ds", F.lit(ds)).select(*COLUMNS)


def _survivors(candidates: list[DataFrame], priority: Sequence[str]) -> DataFrame:
    union = candidates[0]
    for frame in candidates[1:]:
        union = union.unionByName(frame)
    best = Window.partitionBy("one_id", "attribute_group").orderBy(
        _rank_of_source(F.col("source"), priority), F.col("observed_at").desc_nulls_last(), F.col("value")
    )
    return union.withColumn("rank", F.row_number().over(best)).where(F.col("rank") == 1).drop("rank")


def self_shipped_addresses(orders: DataFrame, receiver_identity: DataFrame, buyer_identity: DataFrame) -> DataFrame:
    """``(one_id, province, city, order_at)`` of e-commerce orders whose receiver is the buyer.

    Args:
        orders: ``cdm.fct_order`` (record_key, ship_province, ship_city, order_at).
        receiver_identity: ``(record_key, one_id)`` of each order's receiver mobile.
        buyer_identity: ``(record_key, one_id)`` of each order's buyer.
    """
    return (
        orders.where(F.col("ship_city").isNotNull())
        .join(buyer_identity, on="record_key", how="inner")
        .join(receiver_identity.withColumnRenamed("one_id", "receiver_one_id"), on="record_key", how="inner")
        .where(F.col("one_id") == F.col("receiver_one_id"))
        .select("one_id", F.col("ship_province").alias("province"), F.col("ship_city").alias("city"), "order_at")
    )
