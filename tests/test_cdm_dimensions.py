"""CDM dimensions on small golden data: calendar, regions, stores, products, channels and the
type 2 member dimension simulated over three daily runs."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from pyspark.testing import assertDataFrameEqual

from jobs.config import load_contracts
from models.cdm import dim_channel, dim_date, dim_member, dim_product, dim_region, dim_store
from models.ods.records import RECORD_SCHEMA
from models.ods.typed_records import accepted_rows, check_records

CONTRACTS = {contract.table_name: contract for contract in load_contracts()}
RUN_ID = "ods-test"
SALT = "test-salt"
DAY_1, DAY_2, DAY_3 = date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)
CHANNEL_LABELS = {"门店": "store", "小程序": "wechat:mini_program", "天猫会员通": "ecom:tmall"}


def local_frame(spark: SparkSession, rows: list[tuple], schema: StructType | str) -> DataFrame:
    """Tiny input data in one partition, so the shared two cores run fewer tasks."""
    return spark.createDataFrame(spark.sparkContext.parallelize(rows, 1), schema)


def ods_frame(spark: SparkSession, table: str, dt: date, rows: list[dict[str, Any]]) -> DataFrame:
    """One ``dt`` of ``ods.<table>`` in the schema the ODS load writes (contract columns, lineage).

    Rows name contract columns; lineage defaults to line ``index + 2`` of one file of ``dt`` and
    may be given per row (``dt``, ``source_file``, ``source_line``) to make versions compete.
    """
    contract = CONTRACTS[table]
    no_records = spark.createDataFrame([], RECORD_SCHEMA)
    schema = accepted_rows(check_records(no_records, contract, dt, RUN_ID), contract).schema
    values = []
    for index, row in enumerate(rows):
        unknown = set(row) - set(schema.fieldNames())
        assert not unknown, f"not columns of ods.{table}: {unknown}"
        row_dt = row.get("dt", dt)
        lineage = {
            "source_file": f"{contract.source}/{contract.entity}/dt={row_dt}/part.csv",
            "source_line": index + 2,
            "ingest_run_id": RUN_ID,
            "dt": row_dt,
        }
        full = {**lineage, **row}
        values.append(tuple(full.get(name) for name in schema.fieldNames()))
    return local_frame(spark, values, schema)


def ids(spark: SparkSession, column: str, values: list[str | None]) -> DataFrame:
    return local_frame(spark, [(value,) for value in values], f"{column} string")


def salted(value: str) -> str:
    """The expected PII hash, computed apart from Spark."""
    return hashlib.sha256((SALT + value).encode()).hexdigest()


# --- dim_date ---------------------------------------------------------------------------------

def test_calendar_has_iso_weeks_weekends_and_month_ends(spark):
    calendar = dim_date.build(spark.range(1, numPartitions=1), date(2025, 12, 27), date(2026, 1, 1))
    expected = spark.createDataFrame(
        [
            (20251227, date(2025, 12, 27), 2025, 4, 12, "2025-12", 27, 6, 52, True, False),
            (20251228, date(2025, 12, 28), 2025, 4, 12, "2025-12", 28, 7, 52, True, False),
            # The Monday of the week holding 1 January opens ISO week 1 of 2026.
            (20251229, date(2025, 12, 29), 2025, 4, 12, "2025-12", 29, 1, 1, False, False),
            (20251230, date(2025, 12, 30), 2025, 4, 12, "2025-12", 30, 2, 1, False, False),
            (20251231, date(2025, 12, 31), 2025, 4, 12, "2025-12", 31, 3, 1, False, True),
            (20260101, date(2026, 1, 1), 2026, 1, 1, "2026-01", 1, 4, 1, False, False),
        ],
        "date_key int, calendar_date date, year int, quarter int, month int, year_month string, "
        "day_of_month int, day_of_week int, iso_week int, is_weekend boolean, is_month_end boolean",
    )
    assertDataFrameEqual(calendar, expected)


# --- dim_region -------------------------------------------------------------------------------

def test_regions_get_tiers_and_the_unknown_region(spark):
    places = local_frame(
        spark,
        [
            ("北京市", "北京市"),
            (" 浙江省 ", " 杭州市 "),
            ("浙江省", "杭州市"),
            ("云南省", "大理市"),
            (None, "苏州市"),
            ("江苏省", "   "),
            ("江苏省", ""),
            ("江苏省", None),
        ],
        "province string, city string",
    )
    tiers = {"一线": ["北京市"], "新一线": ["杭州市", "苏州市"]}
    expected = spark.createDataFrame(
        [
            ("北京市/北京市", "北京市", "北京市", "一线"),
            ("浙江省/杭州市", "浙江省", "杭州市", "新一线"),
            ("云南省/大理市", "云南省", "大理市", "未知"),
            ("未知/苏州市", None, "苏州市", "新一线"),
            ("unknown", None, None, "未知"),
        ],
        "region_id string, province string, city string, city_tier string",
    )
    assertDataFrameEqual(dim_region.build(places, tiers), expected)


# --- dim_store --------------------------------------------------------------------------------

STORE_SCHEMA = (
    "store_id string, store_name string, province string, city string, district string, region_id string, "
    "store_type string, store_level string, open_date date, area_sqm decimal(18,2), store_status string, "
    "channel_id string, is_inferred boolean, source_version string, source_dt date"
)


def test_stores_keep_the_newest_version_trimmed_and_infer_unknown_references(spark):
    file_a, file_b = "pos/stores/dt=2026-01-05/a.csv", "pos/stores/dt=2026-01-05/b.csv"
    stores = ods_frame(spark, "pos_stores", DAY_1, [
        # Line 10 beats line 2 of the same file: lines compare as numbers, not text.
        {"store_id": "S1", "store_name": "旧名", "city": "上海市", "source_file": file_a, "source_line": 2},
        {"store_id": "S1", "store_name": " 南京西路店 ", "province": " 上海市 ", "city": " 上海市 ",
         "district": " 静安区 ", "store_type": "direct", "store_level": "A", "open_date": date(2020, 5, 1),
         "area_sqm": Decimal("120.50"), "status": " open ", "source_file": file_a, "source_line": 10},
        # A later file beats an earlier one whatever the line.
        {"store_id": "S2", "store_name": "旧名", "source_file": file_a, "source_line": 9},
        {"store_id": "S2", "store_name": "杭州湖滨店", "province": "浙江省", "store_type": "franchise",
         "source_file": file_b, "source_line": 3},
        # A later dt beats an earlier one whatever the file.
        {"store_id": "S3", "store_name": "旧名", "dt": date(2026, 1, 4),
         "source_file": "pos/stores/dt=2026-01-04/z.csv", "source_line": 99},
        {"store_id": "S3", "store_name": "苏州店", "city": "苏州市", "source_file": file_a, "source_line": 4},
    ])
    built = dim_store.build(
        stores, ids(spark, "store_id", ["S4"]), ids(spark, "store_id", ["S1", "S4", "S5", "S5", None])
    )
    expected = spark.createDataFrame(
        [
            ("S1", "南京西路店", "上海市", "上海市", "静安区", "上海市/上海市", "direct", "A", date(2020, 5, 1),
             Decimal("120.50"), "open", "store:S1", False, f"2026-01-05|{file_a}|0000000010", DAY_1),
            ("S2", "杭州湖滨店", "浙江省", None, None, "unknown", "franchise", None, None, None, None, "store:S2",
             False, f"2026-01-05|{file_b}|0000000003", DAY_1),
            ("S3", "苏州店", None, "苏州市", None, "未知/苏州市", None, None, None, None, None, "store:S3", False,
             f"2026-01-05|{file_a}|0000000004", DAY_1),
            # Referenced, neither known nor extracted: inferred, with the lowest version so the
            # real row replaces it. S4 is known already and gets no inferred row.
            ("S5", "未知", None, None, None, "unknown", None, None, None, None, "未知", "store:S5", True, "", None),
        ],
        STORE_SCHEMA,
    )
    assertDataFrameEqual(built, expected)


# --- dim_product ------------------------------------------------------------------------------

PRODUCT_SCHEMA = (
    "sku_id string, spu_id string, sku_name string, brand string, category_l1 string, category_l2 string, "
    "category_l3 string, color string, size string, list_price decimal(18,2), price_band string, "
    "launch_date date, season string, is_inferred boolean, source_version string, source_dt date"
)
PRICE_BANDS = (("0-99", 100), ("100-299", 300), ("300+", None))


def test_products_keep_the_newest_version_with_price_bands_and_infer_unknown_references(spark):
    products = ods_frame(spark, "product_products", DAY_1, [
        {"sku_id": "P1", "spu_id": "SPU1", "sku_name": "旧名", "list_price": Decimal("10.00"), "source_line": 2},
        {"sku_id": "P1", "spu_id": " SPU1 ", "sku_name": " 纯棉T恤 ", "brand": " 优衣 ", "category_l1": "服装",
         "category_l2": "上衣", "color": " 白 ", "size": "M", "list_price": Decimal("99.99"),
         "launch_date": date(2025, 3, 1), "source_line": 11},
        # Band bounds are exclusive: 100.00 is in the second band, 300.00 in the open last one.
        {"sku_id": "P2", "spu_id": "SPU2", "sku_name": "衬衫", "list_price": Decimal("100.00"), "season": "春"},
        {"sku_id": "P3", "spu_id": "SPU3", "sku_name": "大衣", "list_price": Decimal("300.00")},
        {"sku_id": "P4", "spu_id": "SPU4", "sku_name": "袜子"},
    ])
    built = dim_product.build(
        products, ids(spark, "sku_id", ["K8"]), ids(spark, "sku_id", ["P1", "K8", "K9", None]), PRICE_BANDS
    )
    lineage = "product/products/dt=2026-01-05/part.csv"
    expected = spark.createDataFrame(
        [
            ("P1", "SPU1", "纯棉T恤", "优衣", "服装", "上衣", "未知", "白", "M", Decimal("99.99"), "0-99",
             date(2025, 3, 1), "未知", False, f"2026-01-05|{lineage}|0000000011", DAY_1),
            ("P2", "SPU2", "衬衫", "未知", "未知", "未知", "未知", None, None, Decimal("100.00"), "100-299", None,
             "春", False, f"2026-01-05|{lineage}|0000000004", DAY_1),
            ("P3", "SPU3", "大衣", "未知", "未知", "未知", "未知", None, None, Decimal("300.00"), "300+", None,
             "未知", False, f"2026-01-05|{lineage}|0000000005", DAY_1),
            ("P4", "SPU4", "袜子", "未知", "未知", "未知", "未知", None, None, None, "未知", None, "未知", False,
             f"2026-01-05|{lineage}|0000000006", DAY_1),
            ("K9", None, "未知", "未知", "未知", "未知", "未知", None, None, None, "未知", None, "未知", True, "", None),
        ],
        PRODUCT_SCHEMA,
    )
    assertDataFrameEqual(built, expected)


# --- dim_channel ------------------------------------------------------------------------------

def test_channels_from_configuration_stores_and_apps(spark):
    configured = [
        {"channel_id": "ecom:tmall", "channel_name": "天猫", "channel_type": "online", "channel_group": "ecom",
         "platform": "tmall"},
        {"channel_id": "store", "channel_name": "门店（未指明）", "channel_type": "offline", "channel_group": "store"},
    ]
    stores = local_frame(
        spark, [("S1", "南京西路店", False), ("S5", "未知", True)], "store_id string, store_name string, is_inferred boolean"
    )
    # wx1's type comes from a user row although events named it too; wx2 was only seen on events.
    apps = local_frame(spark, [("wx1", "mini_program"), ("wx1", None), ("wx2", None)], "app_id string, app_type string")
    expected = spark.createDataFrame(
        [
            ("ecom:tmall", "天猫", "online", "ecom", "tmall", None, None, None, False),
            ("store", "门店（未指明）", "offline", "store", None, None, None, None, False),
            ("unknown", "未知", None, "unknown", None, None, None, None, True),
            ("store:S1", "南京西路店", "offline", "store", None, "S1", None, None, False),
            ("store:S5", "未知", "offline", "store", None, "S5", None, None, True),
            ("wechat:wx1", "mini_program wx1", "social", "wechat", None, None, "wx1", "mini_program", False),
            ("wechat:wx2", "未知 wx2", "social", "wechat", None, None, "wx2", None, True),
        ],
        "channel_id string, channel_name string, channel_type string, channel_group string, platform string, "
        "store_id string, app_id string, app_type string, is_inferred boolean",
    )
    assertDataFrameEqual(dim_channel.build(configured, stores, apps), expected)


def test_crm_channel_labels_resolve_to_channels(spark):
    cases = [
        ("门店", "S1", "store:S1"),
        ("门店", None, "store"),
        (" 小程序 ", None, "wechat:mini_program"),
        ("天猫会员通", "S1", "ecom:tmall"),
        ("路边摊", None, "unknown"),
        ("  ", "S1", None),
        (None, None, None),
    ]
    labels = local_frame(spark, [case[:2] for case in cases], "label string, store_id string")
    resolved = labels.select(
        "label", "store_id",
        dim_channel.label_channel_id(F.col("label"), F.col("store_id"), CHANNEL_LABELS).alias("channel_id"),
    )
    assertDataFrameEqual(resolved, spark.createDataFrame(cases, "label string, store_id string, channel_id string"))


# --- dim_member: three daily runs -------------------------------------------------------------

MEMBER_SCHEMA = (
    "member_id string, effective_from timestamp_ntz, effective_to timestamp_ntz, is_current boolean, "
    "level string, member_status string, mobile_hash string, card_no string, email_hash string, "
    "mobile_masked string, email_masked string, member_name string, gender string, birthday date, "
    "join_channel_id string, join_store_id string, join_at timestamp_ntz, attributes_at timestamp_ntz, "
    "is_inferred boolean, source_version string, source_dt date"
)
MEMBER_LINEAGE = ("source_version", "source_dt")
OPEN_END = datetime(9999, 12, 31)
INFERRED_FROM = datetime(1900, 1, 1)

# What each member's CRM rows share; the day lists below add what changes.
M1 = {"member_id": "M1", "card_no": " c001 ", "email": " Zhang@QQ.com ", "gender": "男", "birthday": date(1990, 2, 3),
      "join_channel": "门店", "join_store_id": " S1 ", "join_time": datetime(2025, 6, 1, 10), "status": "active"}
M2 = {"member_id": "M2", "name": "李丽", "gender": "女", "join_channel": " 小程序 ", "level": "gold", "status": "active"}
M3 = {"member_id": "M3", "mobile": "12345", "email": "not-an-email", "name": "王五", "join_channel": "路边摊",
      "level": "silver", "status": "active"}
M4 = {"member_id": "M4", "gender": "F", "status": "active"}
M5 = {"member_id": "M5", "name": "钱七", "status": "active"}

M1_DAY_1 = {**M1, "name": "张三", "mobile": "13800138000", "level": "silver", "updated_at": datetime(2026, 1, 5, 9)}
# A new level; the same mobile written differently is no change.
M1_DAY_2 = {**M1, "name": "张三", "mobile": "+86 138 0013 8000", "level": "gold", "updated_at": datetime(2026, 1, 6, 10)}
# Only the name (type 1) changes.
M1_DAY_3 = {**M1, "name": "张叁", "mobile": "13800138000", "level": "gold", "updated_at": datetime(2026, 1, 7, 11)}
M2_DAY_1 = {**M2, "mobile": "13900139000", "updated_at": datetime(2026, 1, 5, 8)}
M2_DAY_2 = {**M2, "mobile": "+86 139 0013 9000", "updated_at": datetime(2026, 1, 6, 8)}
M2_DAY_3 = {**M2, "mobile": "139-0013-9001", "updated_at": datetime(2026, 1, 7, 8)}
M3_DAY_3 = {**M3, "updated_at": datetime(2026, 1, 7, 7)}
M4_SILVER = {**M4, "name": "赵六", "level": "silver", "updated_at": datetime(2026, 1, 5, 12)}
M4_PLATINUM = {**M4, "name": "赵六", "level": "platinum", "updated_at": datetime(2026, 1, 6, 20)}
# Extracted before M4_PLATINUM but delivered a day after it, with the name it had then.
M4_GOLD_LATE = {**M4, "name": "赵六（旧）", "level": "gold", "updated_at": datetime(2026, 1, 6, 12)}
M5_SILVER = {**M5, "level": "silver", "updated_at": datetime(2026, 1, 5, 12)}
M5_GOLD = {**M5, "level": "gold", "updated_at": datetime(2026, 1, 6, 20)}
# Delivered late, it shows the gold version began earlier than the one on file.
M5_GOLD_LATE = {**M5, "level": "gold", "updated_at": datetime(2026, 1, 6, 12)}

# M8 gets a late row that falls between two rows already on file with the same level (the
# later one only renamed the member), so the level on file returns after it.
M8 = {"member_id": "M8", "status": "active"}
M8_SILVER = {**M8, "name": "孙八", "level": "silver", "updated_at": datetime(2026, 1, 5, 10)}
M8_GOLD = {**M8, "name": "孙八", "level": "gold", "updated_at": datetime(2026, 1, 6, 10)}
M8_GOLD_RENAMED = {**M8, "name": "孙捌", "level": "gold", "updated_at": datetime(2026, 1, 6, 18)}
M8_PLATINUM_LATE = {**M8, "name": "孙八", "level": "platinum", "updated_at": datetime(2026, 1, 6, 14)}

# Each late-arriving member has a twin that gets the same rows in the order they were extracted,
# so late arrival is compared with arrival in order within the same runs.
TWINS = {"M4": "M6", "M5": "M7", "M8": "M9"}
GOLDEN_MEMBERS = ("M1", "M2", "M3", "M4", "M5")


def twin(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "member_id": TWINS[row["member_id"]]}


# Each day: the CRM extract and the member ids the day's facts reference.
MEMBER_DAYS = {
    DAY_1: (
        [M1_DAY_1, M2_DAY_1, M4_SILVER, M5_SILVER, twin(M4_SILVER), twin(M5_SILVER), M8_SILVER, twin(M8_SILVER)],
        ["M3", "M1", None],
    ),
    DAY_2: (
        [M1_DAY_2, M2_DAY_2, M4_PLATINUM, M5_GOLD, twin(M4_GOLD_LATE), twin(M5_GOLD_LATE),
         M8_GOLD, M8_GOLD_RENAMED, twin(M8_GOLD), twin(M8_PLATINUM_LATE)],
        ["M3"],
    ),
    DAY_3: (
        [M1_DAY_3, M2_DAY_3, M3_DAY_3, M4_GOLD_LATE, M5_GOLD_LATE, twin(M4_PLATINUM), twin(M5_GOLD),
         M8_PLATINUM_LATE, twin(M8_GOLD_RENAMED)],
        ["M3", "M2"],
    ),
}


def member_changes(spark: SparkSession, day: date, rows: list[dict], referenced: list[str | None],
                   existing: DataFrame | None) -> DataFrame:
    ods = ods_frame(spark, "crm_members", day, rows)
    return dim_member.build(ods, existing, ids(spark, "member_id", referenced), SALT, CHANNEL_LABELS)


def apply(spark: SparkSession, table: DataFrame | None, changes: DataFrame) -> DataFrame:
    """What the MERGE on (member_id, effective_from) does with the changes, in memory.

    Rows whose key is deleted or upserted go, the upserts come in. The result is a local frame,
    so three days of runs do not stack up one query plan.
    """
    changed = changes.collect()
    keys = {(row.member_id, row.effective_from) for row in changed}
    on_file = table.collect() if table is not None else []
    kept = [row for row in on_file if (row.member_id, row.effective_from) not in keys]
    upserts = [row[:-1] for row in changed if row[dim_member.ACTION] == dim_member.UPSERT]
    return local_frame(spark, kept + upserts, changes.drop(dim_member.ACTION).schema)


def member_row(**values: Any) -> tuple:
    """One expected dim_member row; every column must be given."""
    names = [column.split(" ")[0] for column in MEMBER_SCHEMA.split(", ")]
    assert set(values) == set(names), set(values) ^ set(names)
    return tuple(values[name] for name in names)


def member_lineage(updated_at: str, day: date, line: int) -> dict[str, Any]:
    return {
        "source_version": f"{updated_at}.000|{day}|crm/members/dt={day}/part.csv|{line:010d}",
        "source_dt": day,
    }


NOT_INFERRED = {"is_inferred": False}
M1_FIXED = {"member_id": "M1", "member_status": "active", "mobile_hash": salted("13800138000"), "card_no": "C001",
            "email_hash": salted("zhang@qq.com"), "mobile_masked": "138****8000", "email_masked": "z***@qq.com",
            "gender": "M", "birthday": date(1990, 2, 3), "join_channel_id": "store:S1", "join_store_id": "S1",
            "join_at": datetime(2025, 6, 1, 10), **NOT_INFERRED}
M2_FIXED = {"member_id": "M2", "level": "gold", "member_status": "active", "card_no": None, "email_hash": None,
            "email_masked": None, "member_name": "李丽", "gender": "F", "birthday": None,
            "join_channel_id": "wechat:mini_program", "join_store_id": None, "join_at": None, **NOT_INFERRED}
NO_CONTACT = {"mobile_hash": None, "card_no": None, "email_hash": None, "mobile_masked": None, "email_masked": None}
NO_JOIN = {"birthday": None, "join_channel_id": None, "join_store_id": None, "join_at": None}
M4_FIXED = {"member_id": "M4", "member_status": "active", **NO_CONTACT, "member_name": "赵六", "gender": "F", **NO_JOIN,
            "attributes_at": datetime(2026, 1, 6, 20), **NOT_INFERRED}
M5_FIXED = {"member_id": "M5", "member_status": "active", **NO_CONTACT, "member_name": "钱七", "gender": "U", **NO_JOIN,
            **NOT_INFERRED}


def open_version(start: datetime) -> dict[str, Any]:
    return {"effective_from": start, "effective_to": OPEN_END, "is_current": True}


def closed_version(start: datetime, end: datetime) -> dict[str, Any]:
    return {"effective_from": start, "effective_to": end, "is_current": False}


M3_INFERRED = member_row(
    member_id="M3", **open_version(INFERRED_FROM), level="未知", member_status="未知", **NO_CONTACT,
    member_name="未知", gender="U", **NO_JOIN, attributes_at=INFERRED_FROM, is_inferred=True, source_version="",
    source_dt=None,
)


@pytest.fixture(scope="module")
def member_runs(spark):
    """The member table after each daily run, the changes of each run, and a rerun of day 3."""
    runs: dict[str, Any] = {}
    table = None
    for day, (rows, referenced) in MEMBER_DAYS.items():
        changes = member_changes(spark, day, rows, referenced, table).persist()
        runs[f"changes_{day}"] = changes
        table = apply(spark, table, changes)
        runs[f"table_{day}"] = table
    runs["rerun_changes"] = member_changes(spark, DAY_3, *MEMBER_DAYS[DAY_3], table).persist()
    runs["rerun_table"] = apply(spark, table, runs["rerun_changes"])
    yield runs
    for name, frame in runs.items():
        if "changes" in name:
            frame.unpersist()


def golden_members(table: DataFrame) -> DataFrame:
    """The golden members' rows; the moments each version was observed at are tested apart."""
    return table.where(F.col("member_id").isin(*GOLDEN_MEMBERS)).drop(dim_member.OBSERVED_AT)


def test_first_run_opens_one_version_per_member_and_infers_referenced_ones(spark, member_runs):
    expected = spark.createDataFrame(
        [
            member_row(**M1_FIXED, **open_version(datetime(2026, 1, 5, 9)), level="silver", member_name="张三",
                       attributes_at=datetime(2026, 1, 5, 9), **member_lineage("2026-01-05 09:00:00", DAY_1, 2)),
            member_row(**M2_FIXED, **open_version(datetime(2026, 1, 5, 8)), mobile_hash=salted("13900139000"),
                       mobile_masked="139****9000", attributes_at=datetime(2026, 1, 5, 8),
                       **member_lineage("2026-01-05 08:00:00", DAY_1, 3)),
            M3_INFERRED,
            member_row(**{**M4_FIXED, "attributes_at": datetime(2026, 1, 5, 12)},
                       **open_version(datetime(2026, 1, 5, 12)), level="silver",
                       **member_lineage("2026-01-05 12:00:00", DAY_1, 4)),
            member_row(**M5_FIXED, **open_version(datetime(2026, 1, 5, 12)), level="silver",
                       attributes_at=datetime(2026, 1, 5, 12), **member_lineage("2026-01-05 12:00:00", DAY_1, 5)),
        ],
        MEMBER_SCHEMA,
    )
    assertDataFrameEqual(golden_members(member_runs[f"table_{DAY_1}"]), expected)
    assert member_runs[f"changes_{DAY_1}"].where(F.col(dim_member.ACTION) == dim_member.DELETE).isEmpty()


def test_three_runs_give_the_version_chains(spark, member_runs):
    m1_type_1 = {"member_name": "张叁", "attributes_at": datetime(2026, 1, 7, 11)}
    m2_type_1 = {"attributes_at": datetime(2026, 1, 7, 8)}
    m5_type_1 = {"attributes_at": datetime(2026, 1, 6, 20)}
    expected = spark.createDataFrame(
        [
            # Level change: the silver version closes where gold begins; the name changed only on
            # day 3 (type 1) and shows on both versions without opening a third.
            member_row(**M1_FIXED, **closed_version(datetime(2026, 1, 5, 9), datetime(2026, 1, 6, 10)),
                       level="silver", **m1_type_1, **member_lineage("2026-01-05 09:00:00", DAY_1, 2)),
            member_row(**M1_FIXED, **open_version(datetime(2026, 1, 6, 10)), level="gold", **m1_type_1,
                       **member_lineage("2026-01-06 10:00:00", DAY_2, 2)),
            # Day 2 wrote the same mobile as +86 …: no version; day 3 a different number: a version.
            member_row(**M2_FIXED, **closed_version(datetime(2026, 1, 5, 8), datetime(2026, 1, 7, 8)),
                       mobile_hash=salted("13900139000"), mobile_masked="139****9000", **m2_type_1,
                       **member_lineage("2026-01-05 08:00:00", DAY_1, 3)),
            member_row(**M2_FIXED, **open_version(datetime(2026, 1, 7, 8)), mobile_hash=salted("13900139001"),
                       mobile_masked="139****9001", **m2_type_1, **member_lineage("2026-01-07 08:00:00", DAY_3, 3)),
            # The CRM row replaced the inferred member; its bad mobile and email hash to nothing.
            member_row(member_id="M3", **open_version(datetime(2026, 1, 7, 7)), level="silver", member_status="active",
                       **NO_CONTACT, member_name="王五", gender="U", birthday=None, join_channel_id="unknown",
                       join_store_id=None, join_at=None, attributes_at=datetime(2026, 1, 7, 7), **NOT_INFERRED,
                       **member_lineage("2026-01-07 07:00:00", DAY_3, 4)),
            # The late gold row slots in between; its older name does not win.
            member_row(**M4_FIXED, **closed_version(datetime(2026, 1, 5, 12), datetime(2026, 1, 6, 12)),
                       level="silver", **member_lineage("2026-01-05 12:00:00", DAY_1, 4)),
            member_row(**M4_FIXED, **closed_version(datetime(2026, 1, 6, 12), datetime(2026, 1, 6, 20)),
                       level="gold", **member_lineage("2026-01-06 12:00:00", DAY_3, 5)),
            member_row(**M4_FIXED, **open_version(datetime(2026, 1, 6, 20)), level="platinum",
                       **member_lineage("2026-01-06 20:00:00", DAY_2, 4)),
            # The late gold row moves the start of gold earlier; the day 2 version is gone.
            member_row(**M5_FIXED, **closed_version(datetime(2026, 1, 5, 12), datetime(2026, 1, 6, 12)),
                       level="silver", **m5_type_1, **member_lineage("2026-01-05 12:00:00", DAY_1, 5)),
            member_row(**M5_FIXED, **open_version(datetime(2026, 1, 6, 12)), level="gold", **m5_type_1,
                       **member_lineage("2026-01-06 12:00:00", DAY_3, 6)),
        ],
        MEMBER_SCHEMA,
    )
    assertDataFrameEqual(golden_members(member_runs[f"table_{DAY_3}"]), expected)


def test_replaced_inferred_rows_and_redundant_versions_are_deleted(spark, member_runs):
    deletes = member_runs[f"changes_{DAY_3}"].where(F.col(dim_member.ACTION) == dim_member.DELETE)
    expected = spark.createDataFrame(
        [("M3", INFERRED_FROM, True), ("M5", datetime(2026, 1, 6, 20), False)],
        "member_id string, effective_from timestamp_ntz, is_inferred boolean",
    )
    assertDataFrameEqual(deletes.select("member_id", "effective_from", "is_inferred"), expected)


def test_rerunning_a_day_changes_nothing(member_runs):
    table = member_runs[f"table_{DAY_3}"]
    assertDataFrameEqual(member_runs["rerun_table"], table)
    # Every member was touched on day 3: all rows come back exactly as they are, none deleted.
    assertDataFrameEqual(member_runs["rerun_changes"], table.withColumn(dim_member.ACTION, F.lit(dim_member.UPSERT)))


def late_and_in_order(table: DataFrame, late_members: tuple[str, ...]) -> tuple[DataFrame, DataFrame]:
    """The chains of late-arriving members and of their in-order twins, renamed to match.

    Only where a version's row came from may differ, so the lineage columns are left out.
    """
    late = table.where(F.col("member_id").isin(*late_members))
    originals = {TWINS[member]: member for member in late_members}
    in_order = table.where(F.col("member_id").isin(*originals)).replace(originals, subset=["member_id"])
    return late.drop(*MEMBER_LINEAGE), in_order.drop(*MEMBER_LINEAGE)


def test_late_arrival_gives_the_same_chain_as_arrival_in_order(member_runs):
    late, in_order = late_and_in_order(member_runs[f"table_{DAY_3}"], ("M4", "M5"))
    assertDataFrameEqual(late, in_order)


def test_versions_remember_every_moment_folded_into_them(spark, member_runs):
    observed = member_runs[f"table_{DAY_3}"].where(F.col("member_id").isin("M1", "M8"))
    expected = spark.createDataFrame(
        [
            ("M1", datetime(2026, 1, 5, 9), [datetime(2026, 1, 5, 9)]),
            # Day 3 only renamed M1: its moment joins the gold version.
            ("M1", datetime(2026, 1, 6, 10), [datetime(2026, 1, 6, 10), datetime(2026, 1, 7, 11)]),
            ("M8", datetime(2026, 1, 5, 10), [datetime(2026, 1, 5, 10)]),
            ("M8", datetime(2026, 1, 6, 10), [datetime(2026, 1, 6, 10)]),
            ("M8", datetime(2026, 1, 6, 14), [datetime(2026, 1, 6, 14)]),
            ("M8", datetime(2026, 1, 6, 18), [datetime(2026, 1, 6, 18)]),
        ],
        "member_id string, effective_from timestamp_ntz, observed_at array<timestamp_ntz>",
    )
    assertDataFrameEqual(observed.select("member_id", "effective_from", dim_member.OBSERVED_AT), expected)


def test_late_row_inside_a_version_gives_the_same_chain_as_arrival_in_order(member_runs):
    late, in_order = late_and_in_order(member_runs[f"table_{DAY_3}"], ("M8",))
    assertDataFrameEqual(late, in_order)
