"""The ADS inputs: CDM facts keyed by one_id, in the shapes the ADS models and tag sources use.

OneID decides who placed each order and fired each event (``oneid.record_identity``); coupons
and points belong to a member, whose one_id comes from the mapping. Records without an owner
(a ticket without card or valid mobile) belong to no identity and are left out here; they stay
in the CDM facts.

Every input is as it stood on the business date ds, so a backfill of an older day sees what
that day's own build saw: the member version in effect then, the WeChat rows loaded by then,
each coupon in the state it had then, each e-commerce order paid and refunded as it was then.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c
from models.cdm.fct_points import SPENDABLE_POINTS_TYPES

ONE_ID = "one_id"
ORDER_COLUMNS = (
    ONE_ID, "order_key", "order_date", "order_at", "order_type", "is_purchase", "net_paid_amount", "paid_amount",
    "discount_amount", "coupon_count", "item_count", "channel_id", "channel_group", "channel_type", "platform",
    "store_id", "store_city", "pay_method", "order_hour", "day_of_week", "is_weekend", "buyer_key", "source_dt",
)
ORDER_ITEM_COLUMNS = (
    ONE_ID, "order_key", "order_date", "order_type", "is_purchase", "sku_id", "spu_id", "brand", "category_l1",
    "category_l2", "category_l3", "price_band", "season", "color", "size", "quantity", "line_amount", "paid_amount",
    "allocated_discount", "list_price", "is_discounted", "source_dt",
)
EVENT_COLUMNS = (
    ONE_ID, "event_id", "event_date", "event_at", "event_type", "channel_id", "app_id", "app_type", "page", "sku_id",
    "category_l1", "search_keyword", "share_to", "duration_ms", "event_hour", "source_dt",
)
COUPON_COLUMNS = (
    ONE_ID, "coupon_id", "template_id", "issue_date", "issue_channel_id", "coupon_status", "used_date", "face_value",
    "threshold", "days_to_use", "is_used", "source_dt",
)
POINTS_COLUMNS = (
    ONE_ID, "ledger_id", "txn_date", "points_type", "is_spendable", "points_change", "reason", "source_dt",
)
PROFILE_COLUMNS = (
    ONE_ID, "member_id", "is_member", "gender", "birthday", "province", "city", "city_tier", "identifier_count",
    "member_count", "source_count", "first_seen_date", "has_mobile", "has_email", "has_wechat", "level",
    "member_status", "join_channel_id", "join_store_id", "join_date",
)
IDENTITY_COLUMNS = (ONE_ID, "first_seen_date")
COUPON_ISSUED, COUPON_USED, COUPON_EXPIRED = "issued", "used", "expired"
WECHAT_SOURCE, WECHAT_USERS = "wechat", "users"
OFFICIAL_ACCOUNT = "official_account"


def _after(ds: date) -> Column:
    """The first moment after ds: a time belongs to ds or earlier when it is before this."""
    return F.lit(ds + timedelta(days=1)).cast("timestamp_ntz")


def _last_loaded(*days: str) -> Column:
    """``source_dt`` of a row: the last day it, or a dimension row it took attributes from, was
    loaded, so an incremental day finds every row whose values changed."""
    return F.greatest(*(F.col(day) for day in days)).alias("source_dt")


def owners(record_identity: DataFrame) -> DataFrame:
    return record_identity.select("record_key", ONE_ID)


def orders(fct_order: DataFrame, ecom_lifecycle: DataFrame, record_identity: DataFrame, dim_channel: DataFrame,
           dim_store: DataFrame, ds: date) -> DataFrame:
    """Every order placed by the end of ds that has an owner, as it stood on ds, with its
    channel group and store city.

    ``cdm.fct_order`` holds each order's newest version. A POS ticket is settled when it is
    placed; an e-commerce order is paid and refunded later, so whether it was paid and refunded
    on ds comes from ``cdm.fct_ecom_order_lifecycle``: paid when its ``paid_at`` is before the
    end of ds, refunded when the first extract that showed the refund is dated ds or earlier.
    An order the lifecycle does not know keeps what ``cdm.fct_order`` says.
    """
    channels = dim_channel.select("channel_id", "channel_group", "channel_type")
    stores = dim_store.select("store_id", F.col("city").alias("store_city"), F.col("source_dt").alias("store_dt"))
    milestones = ecom_lifecycle.select("order_key", F.col("paid_at").alias("paid_at_"),
                                       F.col("refunded_date").alias("refunded_date_"))
    paid_on_ds = F.col("is_paid") & F.coalesce(F.col("paid_at_") < _after(ds), F.lit(True))
    refunded_on_ds = F.coalesce(F.col("refunded_date_") <= F.lit(ds), F.lit(True))
    refund_on_ds = F.when(refunded_on_ds, F.col("refund_amount")).otherwise(F.lit(0))
    net_paid_on_ds = F.when(paid_on_ds, F.col("paid_amount") - refund_on_ds).otherwise(F.lit(0))
    day_of_week = (F.dayofweek("order_date") + 5) % 7 + 1  # Spark counts from Sunday; ISO from Monday
    return (
        fct_order.where(F.col("order_date") <= F.lit(ds))
        .join(owners(record_identity), on="record_key", how="inner")
        .join(milestones, on="order_key", how="left")
        .withColumn("is_purchase", F.col("is_purchase") & paid_on_ds)
        .withColumn("net_paid_amount", net_paid_on_ds.cast("decimal(18,2)"))
        .join(channels, on="channel_id", how="left")
        .join(stores, on="store_id", how="left")
        .withColumn("order_hour", F.hour("order_at"))
        .withColumn("day_of_week", day_of_week)
        .withColumn("is_weekend", day_of_week >= 6)
        .withColumn("source_dt", _last_loaded("source_dt", "store_dt"))
        .select(*ORDER_COLUMNS)
    )


def order_items(fct_order_item: DataFrame, ads_orders: DataFrame, dim_product: DataFrame) -> DataFrame:
    """The lines of owned orders, with the product's attributes."""
    owned = ads_orders.select("order_key", ONE_ID, "is_purchase")
    products = dim_product.select(
        "sku_id", "spu_id", "brand", "category_l1", "category_l2", "category_l3", "price_band", "season", "color",
        "size", "list_price", F.col("source_dt").alias("product_dt"),
    )
    return (
        fct_order_item.join(owned, on="order_key", how="inner")
        .join(products, on="sku_id", how="left")
        .withColumn("is_discounted", F.col("allocated_discount") > 0)
        .withColumn("source_dt", _last_loaded("source_dt", "product_dt"))
        .select(*ORDER_ITEM_COLUMNS)
    )


def events(fct_event: DataFrame, record_identity: DataFrame, dim_channel: DataFrame, dim_product: DataFrame) -> DataFrame:
    """Every WeChat event that has an owner, with the app type and the product's category."""
    return (
        fct_event.join(owners(record_identity), on="record_key", how="inner")
        .join(dim_channel.select("channel_id", "app_type"), on="channel_id", how="left")
        .join(dim_product.select("sku_id", "category_l1", F.col("source_dt").alias("product_dt")), on="sku_id", how="left")
        .withColumn("event_hour", F.hour("event_at"))
        .withColumn("source_dt", _last_loaded("source_dt", "product_dt"))
        .select(*EVENT_COLUMNS)
    )


def member_identities(id_mapping: DataFrame) -> DataFrame:
    """``member_id`` → one_id, from the mapping's member_id identifiers."""
    return id_mapping.where(F.col("id_type") == "member_id").select(F.col("id_value").alias("member_id"), ONE_ID)


def coupons(fct_coupon: DataFrame, members: DataFrame, ds: date) -> DataFrame:
    """The coupons issued by the end of ds, each in the state it had then.

    ``cdm.fct_coupon`` holds only a coupon's newest status. A coupon leaves ``issued`` once, for
    ``used`` at ``used_at`` or ``expired`` at ``expire_at``, so on ds it had its newest status
    when that move happened by the end of ds, and was still issued otherwise. A move without
    its time keeps the status the CRM sent: nothing dates it.
    """
    status = F.col("coupon_status")
    moved_at = F.when(status == COUPON_USED, F.col("used_at")).when(status == COUPON_EXPIRED, F.col("expire_at"))
    status_on_ds = F.when(moved_at.isNull() | (moved_at < _after(ds)), status).otherwise(F.lit(COUPON_ISSUED))
    used_on_ds = status_on_ds == COUPON_USED
    return (
        fct_coupon.where(F.col("issued_at") < _after(ds))
        .join(members, on="member_id", how="inner")
        .withColumn("coupon_status", status_on_ds)
        .withColumn("used_date", F.when(used_on_ds, F.to_date("used_at")))
        .withColumn("days_to_use", F.when(used_on_ds, F.col("days_to_use")))
        .withColumn("is_used", used_on_ds)
        .select(*COUPON_COLUMNS)
    )


def points(fct_points: DataFrame, members: DataFrame) -> DataFrame:
    """Ledger entries under their member's one_id; ``is_spendable`` sets the points a member can
    redeem apart from grade points (成长值), which only move the member level."""
    return (
        fct_points.join(members, on="member_id", how="inner")
        .withColumn("is_spendable", F.col("points_type").isin(*SPENDABLE_POINTS_TYPES))
        .select(*POINTS_COLUMNS)
    )


def identities(profile: DataFrame) -> DataFrame:
    """Every one_id, prospects included, with the day it was first seen."""
    return profile.select(ONE_ID, F.to_date("first_seen").alias("first_seen_date"))


def members_on(dim_member: DataFrame, ds: date) -> DataFrame:
    """Every member's ``cdm.dim_member`` version in effect at the end of ds (SCD type 2:
    ``effective_from`` inclusive, ``effective_to`` exclusive); inferred rows are no CRM data."""
    return dim_member.where(
        ~F.col("is_inferred") & (F.col("effective_from") < _after(ds)) & (F.col("effective_to") >= _after(ds))
    )


def profile_source(profile: DataFrame, members_then: DataFrame, dim_region: DataFrame) -> DataFrame:
    """The golden profile with the surviving member's CRM attributes and the city tier.

    Args:
        members_then: the ``cdm.dim_member`` versions in effect on ds (``members_on``).
    """
    members = members_then.select(
        "member_id", "level", "member_status", "join_channel_id", "join_store_id", F.to_date("join_at").alias("join_date"),
    )
    tiers = dim_region.select("province", "city", "city_tier")
    return (
        profile.join(members, on="member_id", how="left")
        .join(tiers, on=["province", "city"], how="left")
        .withColumn("is_member", F.col("member_id").isNotNull())
        .withColumn("source_count", F.size("sources"))
        .withColumn("first_seen_date", F.to_date("first_seen"))
        .withColumn("has_mobile", F.col("mobile_hash").isNotNull())
        .withColumn("has_email", F.col("email_hash").isNotNull())
        .withColumn("has_wechat", F.col("wx_unionid").isNotNull())
        .withColumn("city_tier", F.when(F.col("city").isNotNull(), F.coalesce(F.col("city_tier"), F.lit(c.UNKNOWN))))
        .select(*PROFILE_COLUMNS)
    )


def wechat_accounts(id_mapping: DataFrame) -> DataFrame:
    """``(one_id, wechat_key)``: one row per WeChat openid of an identity."""
    return id_mapping.where(F.col("id_type") == "wx_openid").select(ONE_ID, F.col("id_value").alias("wechat_key"))


def followers(ods_wechat_users: DataFrame, record_identity: DataFrame, ds: date) -> DataFrame:
    """The one_ids following an official account on ds: the newest row of each (app, openid)
    loaded by ds has a subscription that no later unsubscription ended.

    ODS keeps every version a source sent, by load day, so the rows loaded by ds are exactly
    what that day's own build read.
    """
    loaded = ods_wechat_users.where(F.col(c.ODS_DT) <= F.lit(ds))
    key = c.record_key(WECHAT_SOURCE, WECHAT_USERS, F.col("app_id"), F.col("openid"))
    newest = c.newest_per_key(loaded.withColumn("record_key", key), ["record_key"],
                              c.source_version(F.col("updated_at")))
    subscribed = F.col("subscribe_time").isNotNull() & (
        F.col("unsubscribe_time").isNull() | (F.col("unsubscribe_time") < F.col("subscribe_time"))
    )
    following = newest.where((F.col("app_type") == OFFICIAL_ACCOUNT) & subscribed).select("record_key")
    return following.join(owners(record_identity), on="record_key", how="inner").select(ONE_ID).distinct()
