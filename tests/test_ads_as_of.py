"""Every ADS input as it stood on its ds, so a backfill of a day after later days ran equals
building it in order: the member version in effect on ds, WeChat followers as loaded by ds,
coupon states on ds, each e-commerce order paid and refunded as it was on ds, and OneID's
identities of ds (golden frames and a small lakehouse); and, on a copy of the shared generated
build given second-day news about first-day identities, ADS of the first day rerun equal to what
the first day produced in order, table for table."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date, datetime
from decimal import Decimal

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from generated_build import DAYS, conf_in_use
from jobs import build_ads
from jobs.catalog import read_table
from jobs.config import load_ads_settings, load_catalog
from models.ads import base

DS = date(2026, 3, 10)
OPEN = datetime(9999, 12, 31)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def frame(spark: SparkSession, ddl: str, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, ddl)


# --- cdm.dim_member: the version in effect on ds ------------------------------------------------

MEMBER_DDL = "member_id string, effective_from timestamp_ntz, effective_to timestamp_ntz, is_current boolean, " \
             "is_inferred boolean, level string"
MEMBER_VERSIONS = [
    # m1: silver, gold from 09:00 on ds, platinum from the first moment after ds (the current one).
    ("m1", at("2026-01-01 10:00:00"), at("2026-03-10 09:00:00"), False, False, "silver"),
    ("m1", at("2026-03-10 09:00:00"), at("2026-03-11 00:00:00"), False, False, "gold"),
    ("m1", at("2026-03-11 00:00:00"), OPEN, True, False, "platinum"),
    # m2: joined after ds.
    ("m2", at("2026-03-12 08:00:00"), OPEN, True, False, "silver"),
    # m3: referenced before the CRM sent it; the inferred row is no member data.
    ("m3", at("1900-01-01 00:00:00"), OPEN, True, True, "未知"),
    # m4: one version since before ds; m5: its second version started on ds's last second.
    ("m4", at("2026-01-02 00:00:00"), OPEN, True, False, "silver"),
    ("m5", at("2026-02-01 00:00:00"), at("2026-03-10 23:59:59"), False, False, "silver"),
    ("m5", at("2026-03-10 23:59:59"), OPEN, True, False, "gold"),
]


def test_members_on_ds_are_the_versions_in_effect_at_its_end(spark):
    actual = base.members_on(frame(spark, MEMBER_DDL, MEMBER_VERSIONS), DS)
    expected = frame(spark, MEMBER_DDL, [MEMBER_VERSIONS[i] for i in (1, 5, 7)])
    assertDataFrameEqual(actual, expected)


# --- ods.wechat_users: followers as loaded by ds ---------------------------------------------------

USERS_DDL = "app_id string, openid string, app_type string, subscribe_time timestamp_ntz, " \
            "unsubscribe_time timestamp_ntz, updated_at timestamp_ntz, dt date, source_file string, source_line int"
D1, D2, D3 = date(2026, 3, 9), DS, date(2026, 3, 11)
OA, MINI = "official_account", "mini_program"
USERS = [
    # o1 follows from D1 and leaves on D3, after ds.
    ("wxA", "o1", OA, at("2026-03-09 10:00:00"), None, at("2026-03-09 10:00:00"), D1, "u.csv", 2),
    ("wxA", "o1", OA, at("2026-03-09 10:00:00"), at("2026-03-11 08:00:00"), at("2026-03-11 08:00:00"), D3, "u.csv", 2),
    # o2 follows only from D3.
    ("wxA", "o2", OA, at("2026-03-11 09:00:00"), None, at("2026-03-11 09:00:00"), D3, "u.csv", 3),
    # o3 follows on D1 and leaves on ds.
    ("wxA", "o3", OA, at("2026-03-09 11:00:00"), None, at("2026-03-09 11:00:00"), D1, "u.csv", 3),
    ("wxA", "o3", OA, at("2026-03-09 11:00:00"), at("2026-03-10 12:00:00"), at("2026-03-10 12:00:00"), D2, "u.csv", 2),
    # o4 uses a mini program: no official account to follow.
    ("wxM", "o4", MINI, at("2026-03-09 12:00:00"), None, at("2026-03-09 12:00:00"), D1, "u.csv", 4),
    # o5 unsubscribed on D1 and follows again on ds.
    ("wxA", "o5", OA, at("2026-03-01 12:00:00"), at("2026-03-09 13:00:00"), at("2026-03-09 13:00:00"), D1, "u.csv", 5),
    ("wxA", "o5", OA, at("2026-03-10 13:00:00"), at("2026-03-09 13:00:00"), at("2026-03-10 13:00:00"), D2, "u.csv", 3),
]
OWNERS = [(f"wechat.users:{app}:{openid}", f"p{openid[1:]}") for app, openid in
          (("wxA", "o1"), ("wxA", "o2"), ("wxA", "o3"), ("wxM", "o4"), ("wxA", "o5"))]


@pytest.mark.parametrize(("ds", "following"), [(D1, ["p1", "p3"]), (D2, ["p1", "p5"]), (D3, ["p2", "p5"])])
def test_followers_on_ds_come_from_the_rows_loaded_by_ds(spark, ds, following):
    owners = frame(spark, "record_key string, one_id string", OWNERS)
    actual = base.followers(frame(spark, USERS_DDL, USERS), owners, ds)
    assertDataFrameEqual(actual, frame(spark, "one_id string", [(one_id,) for one_id in following]))


# --- cdm.fct_coupon: each coupon in its state on ds -------------------------------------------

COUPON_DDL = (
    "coupon_id string, template_id string, member_id string, issued_at timestamp_ntz, issue_date date, "
    "issue_channel_id string, face_value decimal(18,2), threshold decimal(18,2), coupon_status string, "
    "used_at timestamp_ntz, expire_at timestamp_ntz, days_to_use int, source_dt date"
)
COUPONS_OUT_DDL = (
    "one_id string, coupon_id string, template_id string, issue_date date, issue_channel_id string, "
    "coupon_status string, used_date date, face_value decimal(18,2), threshold decimal(18,2), days_to_use int, "
    "is_used boolean, source_dt date"
)
FACE, THRESHOLD = Decimal("20.00"), Decimal("199.00")


def coupon(coupon_id: str, member_id: str, issued: str, status: str, used: str | None, expires: str,
           days_to_use: int | None = None) -> tuple:
    issued_at = at(issued)
    return (coupon_id, "T1", member_id, issued_at, issued_at.date(), "wechat:wxA", FACE, THRESHOLD, status,
            at(used) if used else None, at(expires), days_to_use, D3)


def coupon_on_ds(coupon_id: str, one_id: str, issued: str, status: str, used: str | None = None,
                 days_to_use: int | None = None) -> tuple:
    return (one_id, coupon_id, "T1", at(issued).date(), "wechat:wxA", status, at(used).date() if used else None,
            FACE, THRESHOLD, days_to_use, status == "used", D3)


NEWEST_COUPONS = [
    coupon("c1", "m1", "2026-03-01 10:00:00", "used", "2026-03-08 12:00:00", "2026-03-31 23:59:59", 7),
    # Used two days after ds: still issued on ds.
    coupon("c2", "m1", "2026-03-01 10:00:00", "used", "2026-03-12 12:00:00", "2026-03-31 23:59:59", 11),
    coupon("c3", "m2", "2026-03-02 10:00:00", "used", "2026-03-10 23:30:00", "2026-03-31 23:59:59", 8),
    # Expired on ds's last second, and a day after ds.
    coupon("c4", "m2", "2026-02-08 10:00:00", "expired", None, "2026-03-10 23:59:59"),
    coupon("c5", "m2", "2026-02-09 10:00:00", "expired", None, "2026-03-11 23:59:59"),
    # Issued after ds: it did not exist yet.
    coupon("c6", "m1", "2026-03-11 00:00:00", "issued", None, "2026-04-11 23:59:59"),
    coupon("c7", "m1", "2026-03-10 18:00:00", "issued", None, "2026-04-10 23:59:59"),
    # Used, with no time to date it: the CRM's status stands.
    coupon("c8", "m2", "2026-03-03 10:00:00", "used", None, "2026-04-03 23:59:59"),
    # A member without an identity.
    coupon("c9", "m9", "2026-03-01 10:00:00", "issued", None, "2026-04-01 23:59:59"),
]


def test_coupons_on_ds_are_those_issued_by_then_in_the_state_they_had(spark):
    members = frame(spark, "member_id string, one_id string", [("m1", "p1"), ("m2", "p2")])
    actual = base.coupons(frame(spark, COUPON_DDL, NEWEST_COUPONS), members, DS)
    expected = frame(spark, COUPONS_OUT_DDL, [
        coupon_on_ds("c1", "p1", "2026-03-01 10:00:00", "used", "2026-03-08 12:00:00", 7),
        coupon_on_ds("c2", "p1", "2026-03-01 10:00:00", "issued"),
        coupon_on_ds("c3", "p2", "2026-03-02 10:00:00", "used", "2026-03-10 23:30:00", 8),
        coupon_on_ds("c4", "p2", "2026-02-08 10:00:00", "expired"),
        coupon_on_ds("c5", "p2", "2026-02-09 10:00:00", "issued"),
        coupon_on_ds("c7", "p1", "2026-03-10 18:00:00", "issued"),
        coupon_on_ds("c8", "p2", "2026-03-03 10:00:00", "used"),
    ])
    assertDataFrameEqual(actual, expected)


# --- cdm.fct_order: each e-commerce order paid and refunded as it was on ds ---------------------

FCT_ORDER_DDL = (
    "order_key string, record_key string, order_date date, order_at timestamp_ntz, order_type string, "
    "is_paid boolean, is_purchase boolean, paid_amount decimal(18,2), refund_amount decimal(18,2), "
    "net_paid_amount decimal(18,2), discount_amount decimal(18,2), coupon_count int, item_count bigint, "
    "channel_id string, platform string, store_id string, pay_method string, buyer_key string, source_dt date"
)
LIFECYCLE_DDL = "order_key string, paid_at timestamp_ntz, refunded_date date"
ORDERS_ON_DS_DDL = "one_id string, order_key string, is_purchase boolean, net_paid_amount decimal(18,2)"
PAID = Decimal("100.00")
NOTHING = Decimal("0.00")


def newest_order(key: str, placed: str, is_paid: bool, refund: Decimal, order_type: str = "sale") -> tuple:
    """``cdm.fct_order``'s newest version of an order of 100.00 (a return's amounts negative)."""
    sign = -1 if order_type == "return" else 1
    net = (sign * PAID - refund) if is_paid else NOTHING
    return (key, f"r:{key}", at(placed).date(), at(placed), order_type, is_paid, is_paid and order_type == "sale",
            sign * PAID, refund, net, NOTHING, 0, 1, "ecom:tmall", "tmall", None, None, f"b:{key}", D3)


NEWEST_ORDERS = [
    # Paid before ds, refunded on the day after ds: a purchase kept in full on ds.
    newest_order("e1", "2026-03-09 10:00:00", True, PAID),
    # Placed on ds, paid only after ds: not yet a purchase on ds.
    newest_order("e2", "2026-03-10 22:00:00", True, NOTHING),
    # Paid and refunded by ds: a purchase of nothing kept.
    newest_order("e3", "2026-03-08 10:00:00", True, PAID),
    # Closed unpaid.
    newest_order("e4", "2026-03-09 11:00:00", False, NOTHING),
    # Placed after ds: not yet there.
    newest_order("e5", "2026-03-11 09:00:00", True, NOTHING),
    # Paid on ds's last second; a ticket and a return at the till, which the lifecycle does not track.
    newest_order("e6", "2026-03-10 23:00:00", True, NOTHING),
    newest_order("p1", "2026-03-10 12:00:00", True, NOTHING),
    newest_order("p2", "2026-03-10 13:00:00", True, NOTHING, "return"),
    # Nobody's order.
    newest_order("e7", "2026-03-09 12:00:00", True, NOTHING),
]
LIFECYCLES = [
    ("e1", at("2026-03-09 10:05:00"), D3),
    ("e2", at("2026-03-11 00:00:00"), None),
    ("e3", at("2026-03-08 10:05:00"), DS),
    ("e4", None, date(2026, 3, 9)),
    ("e5", at("2026-03-11 09:05:00"), None),
    ("e6", at("2026-03-10 23:59:59"), None),
    ("e7", at("2026-03-09 12:05:00"), None),
]


def test_orders_on_ds_are_paid_and_refunded_as_they_were_then(spark):
    owners = frame(spark, "record_key string, one_id string",
                   [(f"r:{key}", "p1") for key in ("e1", "e2", "e3", "e4", "e5", "e6", "p1", "p2")])
    channels = frame(spark, "channel_id string, channel_group string, channel_type string",
                     [("ecom:tmall", "ecom", "marketplace")])
    stores = frame(spark, "store_id string, city string, source_dt date", [])
    actual = base.orders(frame(spark, FCT_ORDER_DDL, NEWEST_ORDERS), frame(spark, LIFECYCLE_DDL, LIFECYCLES), owners,
                         channels, stores, DS).select("one_id", "order_key", "is_purchase", "net_paid_amount")
    assertDataFrameEqual(actual, frame(spark, ORDERS_ON_DS_DDL, [
        ("p1", "e1", True, PAID),
        ("p1", "e2", False, NOTHING),
        ("p1", "e3", True, NOTHING),
        ("p1", "e4", False, NOTHING),
        ("p1", "e6", True, PAID),
        ("p1", "p1", True, PAID),
        ("p1", "p2", False, -PAID),
    ]))


# --- OneID: the state tables of the run for ds --------------------------------------------------


def test_oneid_state_is_read_at_the_versions_of_the_run_for_ds(spark, settings_for):
    settings, catalog = settings_for(), load_catalog()
    mapping_path = catalog.table("oneid.id_mapping").path(settings.lakehouse)
    mapping_ddl = "id_type string, id_value string, one_id string"
    # Version 0 as OneID's run for D1 left it; version 1 after its run for D3.
    frame(spark, mapping_ddl, [("member_id", "m1", "p1")]).write.format("delta").save(mapping_path)
    frame(spark, mapping_ddl, [("member_id", "m1", "p1"), ("member_id", "m2", "p2")]).write.format("delta") \
        .mode("overwrite").save(mapping_path)
    runs = frame(spark, "ds date, mode string, rules_fingerprint string, versions map<string,long>", [
        (D1, "full", "f", {"id_mapping": 0}), (D3, "incremental", "f", {"id_mapping": 1}),
    ])
    runs.write.format("delta").save(catalog.table("oneid.runs").path(settings.lakehouse))

    def build(ds: date) -> build_ads.AdsBuild:
        return build_ads.AdsBuild(spark, settings, catalog, ds, load_ads_settings())

    assertDataFrameEqual(build(D1).oneid("id_mapping"), frame(spark, mapping_ddl, [("member_id", "m1", "p1")]))
    # The newest run, and a day OneID has not reached yet, read the current tables.
    assert build(D3).oneid_versions is None and build(date(2026, 3, 12)).oneid_versions is None
    with pytest.raises(ValueError, match=f"OneID has no run for {D2} but ran for {D3}: .* Run OneID for {D2} first"):
        build(D2).oneid("id_mapping")


# --- the shared build: day 1 rerun after day 2 equals day 1 in order -----------------------------

ADS_TABLES = sorted(name for name, spec in load_catalog().tables.items() if spec.layer == "ads" and name != "ads.dq_results")
SECOND_DAY_AT = f"{DAYS[1]} 10:00:00"


def first_day(spark: SparkSession, settings, name: str) -> DataFrame:
    return read_table(spark, settings, load_catalog().table(name)).where(F.col("ds") == F.lit(DAYS[0])).localCheckpoint()


def bring_second_day_news(spark: SparkSession, settings) -> None:
    """Writes what a second day's extracts may say about the first day's identities, which the
    generated second day happens not to: a member moves to another level, a coupon issued before
    is used, a follower unsubscribes, an e-commerce order is refunded and another, closed unpaid
    on the first day, is paid."""
    catalog = load_catalog()
    second_day_at = F.lit(SECOND_DAY_AT).cast("timestamp_ntz")

    def table(name: str) -> tuple[DataFrame, str]:
        return read_table(spark, settings, catalog.table(name)), catalog.table(name).path(settings.lakehouse)

    mapping, _ = table("oneid.id_mapping")
    identified = mapping.where(F.col("id_type") == "member_id").select(F.col("id_value").alias("member_id"))
    dim_member, dim_member_path = table("cdm.dim_member")
    levels = sorted(row.level for row in dim_member.where(~F.col("is_inferred")).select("level").distinct().collect())
    current = dim_member.where(F.col("is_current") & ~F.col("is_inferred")).join(identified, "member_id", "left_semi")
    member = current.orderBy("member_id").first()
    promoted = current.where(F.col("member_id") == member.member_id).withColumn("effective_from", second_day_at) \
        .withColumn("level", F.lit(next(level for level in levels if level != member.level))).localCheckpoint()
    DeltaTable.forPath(spark, dim_member_path).update(
        (F.col("member_id") == member.member_id) & F.col("is_current"),
        {"effective_to": second_day_at, "is_current": F.lit(False)})
    promoted.write.format("delta").mode("append").save(dim_member_path)

    coupons, coupons_path = table("cdm.fct_coupon")
    unused = coupons.where((F.col("coupon_status") == "issued") & (F.col("expire_at") > second_day_at)) \
        .join(identified, "member_id", "left_semi").orderBy("coupon_id").first()
    DeltaTable.forPath(spark, coupons_path).update(
        F.col("coupon_id") == unused.coupon_id,
        {"coupon_status": F.lit("used"), "used_at": second_day_at, "days_to_use": F.lit(1)})

    owned, _ = table("oneid.record_identity")
    orders, orders_path = table("cdm.fct_order")
    # The newest e-commerce orders of identities the first day knew.
    first_day_ecom = orders.join(owned, "record_key", "left_semi") \
        .where((F.col("order_date") <= F.lit(DAYS[0])) & (F.col("order_source") == "ecom")) \
        .orderBy(F.col("order_date").desc(), "order_key")
    refunded = first_day_ecom.where(F.col("is_paid") & (F.col("refund_amount") == 0)).first()
    paid_late = first_day_ecom.where(~F.col("is_paid")).first()
    DeltaTable.forPath(spark, orders_path).update(
        F.col("order_key") == refunded.order_key,
        {"order_status": F.lit("refunded"), "refund_amount": F.col("paid_amount"), "net_paid_amount": F.lit(0)})
    DeltaTable.forPath(spark, orders_path).update(
        F.col("order_key") == paid_late.order_key,
        {"order_status": F.lit("paid"), "is_paid": F.lit(True), "is_purchase": F.lit(True),
         "net_paid_amount": F.col("paid_amount")})
    _, lifecycle_path = table("cdm.fct_ecom_order_lifecycle")
    DeltaTable.forPath(spark, lifecycle_path).update(
        F.col("order_key") == refunded.order_key, {"refunded_date": F.lit(DAYS[1]), "order_status": F.lit("refunded")})
    DeltaTable.forPath(spark, lifecycle_path).update(
        F.col("order_key") == paid_late.order_key, {"paid_at": second_day_at, "order_status": F.lit("paid")})

    users, users_path = table("ods.wechat_users")
    following = (F.col("dt") == F.lit(DAYS[0])) & (F.col("app_type") == "official_account") \
        & F.col("subscribe_time").isNotNull() & F.col("unsubscribe_time").isNull()
    users.where(following).orderBy("app_id", "openid").limit(1) \
        .withColumn("unsubscribe_time", second_day_at).withColumn("updated_at", second_day_at) \
        .withColumn("dt", F.lit(DAYS[1])).localCheckpoint().write.format("delta").mode("append").save(users_path)


@pytest.mark.slow
def test_a_backfill_of_the_first_day_after_the_second_equals_its_build_in_order(built, spark, tmp_path):
    # No other test rewrites the first day: its partitions are what it produced in order.
    in_order = {name: first_day(spark, built.settings, name) for name in ADS_TABLES}
    settings = dataclasses.replace(built.settings, lakehouse=str(tmp_path / "lakehouse"))
    shutil.copytree(built.settings.lakehouse, settings.lakehouse)
    bring_second_day_news(spark, settings)
    with conf_in_use(built.conf):
        backfill = build_ads.run(spark, settings, load_catalog(), DAYS[0])
    assert backfill.failure is None, backfill.failure
    for name in ADS_TABLES:
        assertDataFrameEqual(first_day(spark, settings, name), in_order[name])
