"""Deterministic sample landing zone for the CDP pipeline, with its ground truth.

`generate` simulates the shoppers of a Chinese fashion retailer across its channels (CRM,
stores, marketplaces, WeChat), writes what each source extracted per business date under
the landing contract of ``conf/sources.yml`` (SPEC section 2), and writes under ``_truth/``
what a perfect pipeline must find: every defective row with its reason, and every person's
identifiers in the canonical forms of SPEC section 3, with the traps that must not merge
people.

How it works, and why:

* The simulation emits every version of every record with the moment the source produced
  it. The landing is then cut by business date: the first dt is the initial history extract,
  each later dt that day's increment. A keyed record that changes (a member, an e-commerce
  order, a coupon, ...) appears once per extract, in its newest version, like a real extract.
* Defective rows are extra, mutated copies of good rows, so the good data stays complete and
  each defective row has exactly one defect.
* The identity truth is read off the good rows that are written, so it never names an
  identifier the data does not carry.
* One `random.Random(seed)` drives everything, in a fixed order: same arguments, same bytes.
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import math
import shutil
import uuid
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import cached_property
from operator import attrgetter, itemgetter
from pathlib import Path
from random import Random
from typing import Any, Iterator, NamedTuple

import yaml

from models.ods.reasons import (
    BAD_DATE,
    BAD_ENUM,
    BAD_NUMBER,
    BAD_TIMESTAMP,
    DUPLICATE_ROW,
    MALFORMED_RECORD,
    MISSING_VALUE,
    OUT_OF_RANGE,
    column_reason,
)


# Weighted draws are used by the constant tables below, so they come first.
class Weighted(NamedTuple):
    """Values with relative weights, prepared once for fast draws."""

    values: tuple
    cumulative: tuple[float, ...]


def weights(pairs) -> Weighted:
    pairs = tuple(pairs)
    return Weighted(tuple(v for v, _ in pairs), tuple(itertools.accumulate(w for _, w in pairs)))


DEFAULT_CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
TRUTH_DIR = "_truth"

# Entities, named "source/entity" as in the contract.
MEMBERS = "crm/members"
POINTS = "crm/points_ledger"
COUPONS = "crm/coupons"
STORES = "pos/stores"
POS_ORDERS = "pos/orders"
POS_ITEMS = "pos/order_items"
ECOM_ORDERS = "ecom/orders"
WECHAT_USERS = "wechat/users"
EVENTS = "wechat/events"
PRODUCTS = "product/products"

# Identifier types (SPEC section 3) and the kinds used in the truth files.
MEMBER_ID, CARD_NO, MOBILE, EMAIL = "member_id", "card_no", "mobile", "email"
UNIONID, OPENID, DEVICE_ID, BUYER_ID = "wx_unionid", "wx_openid", "device_id", "ecom_buyer_id"
PLACEHOLDER, MASKED, INVALID, JUNK_DEVICE = "placeholder", "masked", "invalid", "junk_device"
STORE_PHONE, GIFT_RECEIVER, FAMILY_DEVICE = "store_phone", "gift_receiver", "family_device"

# --- time window and formats ---------------------------------------------------------------
MEMBER_HISTORY_DAYS = 3 * 365  # the CRM extract holds members of the last three years
ORDER_HISTORY_DAYS = 2 * 365  # orders, points and coupons of the last two years
EVENT_HISTORY_DAYS = 90  # the tracking tool keeps 90 days of events
ISO_TIME_SHARE = 0.10
STORE_HOURS = (10, 22)
ONLINE_HOURS = (7, 24)

# --- file layout -----------------------------------------------------------------------------
BOM_SHARE = 1 / 3  # of UTF-8 CSV files
SECOND_PART_SHARE = 0.3
MIN_ROWS_FOR_SECOND_PART = 20
EMPTY_STRING_NULL_SHARE = 0.1  # JSON nulls written as "" instead
JSON_LINE = json.JSONEncoder(ensure_ascii=False).encode
EXTRA_COLUMN = (MEMBERS, "remark", ("", "", "", "VIP客户", "门店迁移", "老会员"))
DROPPED_COLUMN = (POS_ORDERS, "guide_id")

# --- defects ------------------------------------------------------------------------------------
BAD_ROW_RATE_FIRST_DT = 0.015
BAD_ROW_RATE_LATER_DT = 0.01
BAD_TIMESTAMPS = ("2026-02-30 10:00:00", "yesterday", "2026/01/05 10:00", "2025-13-01 09:30:00",
                  "2025-06-31T08:00:00", "20250105 103000", "0000-00-00 00:00:00")
BAD_DATES = ("1990-02-30", "1990/05/12", "19900512", "unknown", "0000-00-00")
BAD_NUMBERS = ("12.3.4", "abc", "￥12", "12.345", "1,280.00", "N/A")
BAD_ENUM_EXTRAS = ("unknown", "gift", "N/A")
CSV_BREAKAGES = ("short", "long")  # a field lost or an extra field
JSON_BREAKAGES = ("truncated", "truncated", "string")  # cut mid-object, or JSON-encoded twice

# --- identifiers --------------------------------------------------------------------------------
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "155", "156", "157", "158", "159", "166", "176", "177", "178", "180",
                   "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199")
PLACEHOLDER_MOBILES = ("13800000000", "00000000000", "11111111111")
CRM_MOBILE_FORMS = weights((("plain", 70), ("intl", 10), ("cc_dash", 5), ("dashed", 10), ("padded", 5)))
CASHIER_MOBILE_FORMS = weights((("plain", 85), ("dashed", 5), ("padded", 10)))
WECHAT_MOBILE_FORMS = weights((("plain", 60), ("intl", 40)))
JUNK_DEVICES = ("00000000-0000-0000-0000-000000000000", "unknown", "")
UNIONID_PREFIX = "o6_bm"
EMAIL_HANDLES = ("sunny", "lucky", "amy", "leo", "coco", "tiger", "momo", "kiki", "jason", "lily",
                 "grace", "kevin", "vivian", "eric", "sophia", "jack", "nana", "xiaoyu", "miumiu")
EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com", "foxmail.com")
INVALID_EMAILS = ("abc@", "no-at-sign", "{handle}@", "{handle}163.com", "{handle}@qq")


class Region(NamedTuple):
    province: str
    city: str
    districts: tuple[str, ...]
    weight: int


REGIONS = (
    Region("上海市", "上海市", ("徐汇区", "浦东新区", "静安区", "黄浦区", "闵行区"), 12),
    Region("北京市", "北京市", ("朝阳区", "海淀区", "东城区", "丰台区"), 10),
    Region("广东省", "广州市", ("天河区", "越秀区", "海珠区"), 8),
    Region("广东省", "深圳市", ("南山区", "福田区", "宝安区"), 8),
    Region("浙江省", "杭州市", ("西湖区", "上城区", "滨江区"), 7),
    Region("江苏省", "南京市", ("鼓楼区", "玄武区", "建邺区"), 5),
    Region("江苏省", "苏州市", ("姑苏区", "吴中区", "相城区"), 5),
    Region("四川省", "成都市", ("锦江区", "武侯区", "青羊区"), 6),
    Region("湖北省", "武汉市", ("江汉区", "武昌区", "洪山区"), 5),
    Region("重庆市", "重庆市", ("渝中区", "江北区", "南岸区"), 5),
    Region("陕西省", "西安市", ("雁塔区", "碑林区", "未央区"), 4),
    Region("湖南省", "长沙市", ("岳麓区", "芙蓉区", "天心区"), 4),
    Region("福建省", "厦门市", ("思明区", "湖里区"), 3),
    Region("山东省", "青岛市", ("市南区", "崂山区"), 3),
)
REGION_WEIGHTS = weights((r, r.weight) for r in REGIONS)
MALLS = ("万达广场", "万象城", "大悦城", "银泰城", "龙湖天街", "来福士", "吾悦广场", "印象城", "太古里", "步行街")
ROADS = ("中山路", "人民路", "解放路", "建设路", "和平路", "长江路", "淮海路", "南京路", "延安路", "青年路")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔汤"
GIVEN_NAME_CHARS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华玉萍红玲燕春菊凤洁梅琳云雪荣爱香月瑞佳嘉琼珍莉晶妍倩婷颖露瑶怡丹蓉君琴蕊薇梦岚馨悦冰宁欣柔晓欢枫芸菲宇浩然子轩博文思远"
NICKNAME_DECORATIONS = ("", "", "", "🌸", "✨", "~", "😊", "🍀")
NICKNAMES = ("快乐每一天", "Amy", "阳光", "小猪佩奇", "Leo", "简单生活", "追风少年", "momo", "一路向北")

# --- stores and products -----------------------------------------------------------------
STORES_AT_10K_PERSONS = 60
MIN_STORES = 8
STORE_OPEN, STORE_CLOSED, STORE_RENOVATING = "营业", "闭店", "装修中"
CLOSED_STORE_SHARE = 0.05
STORE_CHANGE_SHARE_PER_DAY = 0.2
CATALOG_SKUS = 800
PRICE_CHANGE_SHARE_PER_DAY = 0.5
APPAREL_SIZES = ("S", "M", "L", "XL", "XXL")
KIDS_SIZES = ("110", "120", "130", "140", "150")
SHOE_SIZES = ("35", "36", "37", "38", "39", "40", "41", "42", "43", "44")
ONE_SIZE = ("均码",)
COLORS = ("黑色", "白色", "灰色", "藏青", "米白", "卡其", "酒红", "雾蓝", "墨绿", "杏色")
STYLES = ("宽松", "修身", "复古", "简约", "法式", "工装", "轻薄", "经典", "撞色", "基础")
BRANDS = ("拾光", "北岸", "URBAN TIDE", "森屿")
SEASONS = {12: "冬", 1: "冬", 2: "冬", 3: "春", 4: "春", 5: "春", 6: "夏", 7: "夏", 8: "夏"}  # else 秋


class Category(NamedTuple):
    l1: str
    l2: str
    l3: str
    sizes: tuple[str, ...]
    price_yuan: tuple[int, int]


CATEGORIES = (
    Category("服装", "女装", "连衣裙", APPAREL_SIZES, (199, 899)),
    Category("服装", "女装", "衬衫", APPAREL_SIZES, (129, 459)),
    Category("服装", "女装", "针织衫", APPAREL_SIZES, (159, 599)),
    Category("服装", "女装", "半身裙", APPAREL_SIZES, (129, 499)),
    Category("服装", "男装", "T恤", APPAREL_SIZES, (79, 259)),
    Category("服装", "男装", "夹克", APPAREL_SIZES, (299, 1299)),
    Category("服装", "男装", "休闲裤", APPAREL_SIZES, (199, 599)),
    Category("服装", "童装", "卫衣", KIDS_SIZES, (99, 299)),
    Category("鞋靴", "运动鞋", "跑步鞋", SHOE_SIZES, (299, 899)),
    Category("鞋靴", "休闲鞋", "板鞋", SHOE_SIZES, (199, 599)),
    Category("配饰", "包袋", "双肩包", ONE_SIZE, (159, 699)),
    Category("配饰", "帽子围巾", "围巾", ONE_SIZE, (59, 299)),
)
MARKDOWNS = (1.0, 1.0, 1.0, 0.9, 0.8, 0.7, 0.5)

# --- people and channels -------------------------------------------------------------------


class Profile(NamedTuple):
    """A kind of shopper: the chance of each channel."""

    name: str
    weight: int
    member: float
    pos: float
    ecom: float
    wechat: float
    max_platforms: int


PROFILES = (
    Profile("omnichannel", 15, 1, 1, 1, 1, 2),
    Profile("store_member", 25, 1, 1, 0.15, 0.5, 1),
    Profile("online_member", 12, 1, 0.1, 1, 0.8, 2),
    Profile("member_only", 4, 1, 0, 0, 0, 0),
    Profile("walk_in", 10, 0, 1, 0, 0, 0),
    Profile("marketplace_buyer", 14, 0, 0, 1, 0, 1),
    Profile("wechat_browser", 10, 0, 0, 0, 1, 0),
    Profile("casual", 10, 0, 0.5, 0.6, 0.5, 2),
)
PROFILE_WEIGHTS = weights((p, p.weight) for p in PROFILES)
HOUSEHOLD_SHARE = 0.12
HOUSEHOLD_SIZES = (2, 2, 2, 3, 3, 4)
EMAIL_SHARE = 0.45
INVALID_EMAIL_SHARE = 0.04
MOBILE_CHANGE_SHARE = 0.05  # of members: a new number, updated in the CRM
STORE_PHONE_MIN_PERSONS = 120
STORE_PHONE_PERSON_SHARE = 0.04  # of store-shopping members, all sent to the flagship

TMALL, JD, DOUYIN, OWN_MALL = "tmall", "jd", "douyin", "own_mall"
PLATFORM_SHARES = ((TMALL, 40), (JD, 20), (DOUYIN, 20), (OWN_MALL, 20))
MARKETPLACES = (TMALL, JD, DOUYIN)
ANY_PLATFORM = weights(PLATFORM_SHARES)
ANY_MARKETPLACE = weights(share for share in PLATFORM_SHARES if share[0] in MARKETPLACES)
MASKING_PLATFORMS = (JD, DOUYIN)  # they hand out receiver mobiles as 138****8000
AMOUNTS_AS_TEXT = (JD, OWN_MALL)  # their connectors send amounts as "12.30", the others as numbers
TMALL_MEMBER_BINDING_SHARE = 0.5


class App(NamedTuple):
    app_id: str
    app_type: str
    openid_prefix: str
    reach: float  # share of the brand's WeChat users who follow or use it


OFFICIAL_ACCOUNT, MINI_PROGRAM = "official_account", "mini_program"
APPS = (
    App("wx1a2b3c4d5e6f7a8b", OFFICIAL_ACCOUNT, "oQ7d_", 0.6),  # service account
    App("wx9c8d7e6f5a4b3c2d", OFFICIAL_ACCOUNT, "oK2xA", 0.3),  # subscription account
    App("wx3e4f5a6b7c8d9e0f", MINI_PROGRAM, "oV9mR", 0.65),  # mall
    App("wx0f1e2d3c4b5a6978", MINI_PROGRAM, "o5Lp-", 0.4),  # member centre
)
MALL_APP = APPS[2]
DEVICE_SHARE = 0.85
IOS_SHARE = 0.45
FAMILY_DEVICE_SHARE = 0.7  # of households with two mini-program users
FAMILY_SESSION_SHARE = 0.35
JUNK_DEVICE_SHARE = 0.04
ANONYMOUS_EVENT_SHARE = 0.08
WECHAT_BINDING_SHARE = 0.7
BINDING_DELAY_MEAN_DAYS = 20
BINDING_CAMPAIGN_DAILY_SHARE = 0.03  # of members' unbound accounts, per increment day
WECHAT_PHONE_SHARE = 0.4
UNSUBSCRIBE_SHARE = 0.15

# --- behaviour rates -------------------------------------------------------------------------
POS_VISITS_PER_YEAR_MEMBER = 2.5
POS_VISITS_PER_YEAR_GUEST = 1.2
ECOM_ORDERS_PER_YEAR = 1.5
SESSIONS_PER_90_DAYS = 2
SESSIONS_PER_90_DAYS_BROWSER = 6
HOME_STORE_SHARE = 0.85
GUIDE_SHARE = 0.75  # tickets with the shop assistant who sold
CARD_SHOWN_SHARE = 0.8
MOBILE_ASKED_WITH_CARD = 0.35
MOBILE_ASKED_WITHOUT_CARD = 0.8
STORE_PHONE_TYPING_SHARE = 0.6
PLACEHOLDER_TYPING_SHARE = 0.06
MISTYPING_SHARE = 0.04
WALK_IN_ORDER_SHARE = 0.3  # anonymous tickets per ticket of a known person
WALK_IN_PLACEHOLDER_SHARE = 0.2
RETURN_SHARE = 0.06
PROMOTION_SHARE = 0.2
GIFT_SHARE = 0.07
CLOSED_ORDER_SHARE = 0.08
ECOM_STAMPS = ("paid_at", "shipped_at", "received_at")
REFUND_SHARE = 0.06
PLATFORM_COUPON_SHARE = 0.15
COUPON_USE_SHARE = 0.6
PAY_METHODS = ("微信支付", "微信支付", "支付宝", "银行卡", "现金", "储值卡")

LEVELS = ("普卡", "银卡", "金卡", "钻石卡")
ACTIVE, FROZEN, CANCELLED = "active", "frozen", "cancelled"
JOIN_CHANNELS = weights((("门店", 5), ("小程序", 3), ("公众号", 1), ("天猫会员通", 1), ("官方商城", 1)))
IN_STORE_JOIN = "门店"
MEMBER_CHANGE_COUNTS = (0, 0, 1, 1, 1, 2, 2, 3)
MEMBER_CHANGES = weights((("level", 35), ("email", 20), ("card", 15), ("freeze", 15), ("cancel", 5)))
REREGISTER_SHARE = 0.04
CHINESE_GENDER_SHARE = 0.4
UNKNOWN_GENDER_SHARE = 0.05
BIRTHDAY_SHARE = 0.8


class CouponTemplate(NamedTuple):
    template_id: str
    face_cents: int
    threshold_cents: int
    valid_days: int
    channel: str


WELCOME_COUPON = CouponTemplate("T1001", 2000, 19900, 30, "小程序")
BIRTHDAY_COUPON = CouponTemplate("T1002", 5000, 29900, 31, "短信")
CLAIMED_COUPON = CouponTemplate("T3001", 1000, 9900, 14, "小程序")  # claimed by non-members
CAMPAIGN_COUPONS = (
    CouponTemplate("T2001", 3000, 29900, 14, "公众号"),
    CouponTemplate("T2002", 10000, 59900, 7, "门店"),
    CouponTemplate("T2003", 1000, 0, 7, "小程序"),
    CouponTemplate("T2004", 1500, 9900, 14, "企业微信"),
)
CAMPAIGN_COUPONS_PER_YEAR = 2
COUPON_CLAIM_SHARE = 0.3
REDEMPTIONS_PER_YEAR = 0.6
ADJUSTMENTS_PER_YEAR = 0.1
BONUS_POINTS_SHARE = 0.15
GRADE_POINTS_SHARE = 0.25
REDEEM_POINTS = (100, 200, 500, 1000)

MP_EVENTS = weights((("product_view", 35), ("page_view", 20), ("search", 10), ("add_cart", 10),
                    ("sign_in", 8), ("favorite", 6), ("share", 5), ("coupon_claim", 6)))
EVENT_PAGES = {"page_view": "pages/index/index", "product_view": "pages/goods/detail",
               "search": "pages/search/index", "add_cart": "pages/goods/detail",
               "favorite": "pages/goods/detail", "share": "pages/goods/detail",
               "coupon_claim": "pages/coupon/list", "sign_in": "pages/member/center"}
SKU_EVENTS = ("product_view", "add_cart", "favorite", "share")
SEARCH_WORDS = ("连衣裙", "衬衫", "跑步鞋", "双肩包", "卫衣", "新品", "打折", "围巾", "牛仔")
SCENES = (1001, 1007, 1011, 1047, 1089)


# ============================================================================================
# Contract
# ============================================================================================


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    values: tuple[str, ...]
    min: float | None


@dataclass(frozen=True)
class EntitySpec:
    source: str
    entity: str
    format: str
    encoding: str
    columns: tuple[Column, ...]

    @property
    def name(self) -> str:
        return f"{self.source}/{self.entity}"

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def load_contract(conf_dir: Path) -> dict[str, EntitySpec]:
    """The landing contract of ``sources.yml``, keyed "source/entity", in file order."""
    conf = yaml.safe_load((conf_dir / "sources.yml").read_text(encoding="utf-8"))
    default_encoding = conf.get("defaults", {}).get("encoding", "utf-8")
    specs = {}
    for source, source_conf in conf["sources"].items():
        for entity, entity_conf in source_conf["entities"].items():
            columns = tuple(
                Column(c["name"], c["type"], bool(c.get("required", False)),
                       tuple(c.get("values", ())), c.get("min"))
                for c in entity_conf["columns"]
            )
            spec = EntitySpec(source, entity, entity_conf["format"],
                              source_conf.get("encoding", default_encoding), columns)
            specs[spec.name] = spec
    return specs


# ============================================================================================
# Records and evidence
# ============================================================================================


class Identifier(NamedTuple):
    person_id: str
    id_type: str
    id_value: str  # canonical form


class NonIdentifier(NamedTuple):
    id_type: str
    raw_value: str
    kind: str


class SharedUse(NamedTuple):
    """One person's legitimate use of a value that other persons use too."""

    id_type: str
    id_value: str
    kind: str
    person_id: str


@dataclass
class Row:
    """One version of one source record, as the simulation produced it."""

    entity: str
    at: datetime  # when the source produced this version: decides its dt
    values: dict[str, Any]
    evidence: tuple = ()  # Identifier / NonIdentifier / SharedUse carried by the row


@dataclass
class Line:
    """One record as written; a defective one says what the parser must report."""

    values: dict[str, Any]
    reason: str | None = None
    breakage: str | None = None  # how a malformed record is broken when serialized


@dataclass
class Batch:
    """What one entity extracted on one dt: one file, or two parts."""

    spec: EntitySpec
    dt: date
    columns: tuple[str, ...]
    parts: list[list[Line]]
    fixed_layout: bool = False  # carries a column quirk: stays one file


@dataclass
class Truth:
    identifiers: set[Identifier] = field(default_factory=set)
    non_identifiers: set[NonIdentifier] = field(default_factory=set)
    shared: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    bad_rows: list[tuple] = field(default_factory=list)

    def record(self, evidence: tuple) -> None:
        for item in evidence:
            if type(item) is Identifier:
                self.identifiers.add(item)
            elif type(item) is NonIdentifier:
                self.non_identifiers.add(item)
            else:
                self.shared.setdefault(item[:3], set()).add(item.person_id)


# ============================================================================================
# Value rendering
# ============================================================================================


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def json_money(cents: int, as_text: bool) -> str | float:
    # cents / 100 is the double nearest the 2-decimal value, so json writes e.g. 19.99.
    return money(cents) if as_text else cents / 100


def mobile_text(rng: Random, mobile: str, forms: Weighted) -> str:
    """A valid mobile as some system or person typed it."""
    form = weighted(rng, forms)
    if form == "intl":
        return f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    if form == "cc_dash":
        return f"86-{mobile}"
    if form == "dashed":
        return f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    if form == "padded":
        return f" {mobile} "
    return mobile


def masked_mobile(mobile: str) -> str:
    return f"{mobile[:3]}****{mobile[7:]}"


def mistyped_mobile(rng: Random, mobile: str) -> str:
    """A cashier's typo that no longer is a mainland mobile: a digit lost, or 12x."""
    if rng.random() < 0.5:
        cut = rng.randrange(11)
        return mobile[:cut] + mobile[cut + 1:]
    return "12" + mobile[2:]


def card_text(rng: Random, card_no: str) -> str:
    text = card_no if rng.random() < 0.5 else card_no.lower()
    return f"{text} " if rng.random() < 0.05 else text


def email_text(rng: Random, email: str) -> str:
    roll = rng.random()
    if roll < 0.1:
        return email.upper()
    if roll < 0.2:
        return email[0].upper() + email[1:]
    if roll < 0.3:
        return f" {email} "
    return email


def weighted(rng: Random, table: Weighted) -> Any:
    return table.values[bisect_right(table.cumulative, rng.random() * table.cumulative[-1])]


def poisson(rng: Random, lam: float) -> int:
    # Knuth's method: the rates here stay small.
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def random_moment(rng: Random, lo: datetime, hi: datetime) -> datetime:
    """A random whole second in [lo, hi)."""
    span = int((hi - lo).total_seconds())
    return lo + timedelta(seconds=rng.randrange(span)) if span > 0 else lo


def price_ending_in_9(yuan: int) -> int:
    """Cents of the shelf price for about ``yuan``: 199.00, 459.00, ..."""
    return (yuan // 10 * 10 + 9) * 100


def end_of_next_year(t: datetime) -> datetime:
    return datetime(t.year + 1, 12, 31, 23, 59, 59)


# ============================================================================================
# World: stores, catalog, persons
# ============================================================================================


@dataclass(frozen=True)
class Window:
    start: date
    days: int

    @cached_property
    def dts(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @cached_property
    def end(self) -> datetime:
        """The first moment no extract covers."""
        return datetime.combine(self.start + timedelta(days=self.days), time())

    def dt_of(self, t: datetime) -> date:
        """The dt whose extract holds something produced at ``t``: history lands on the first."""
        return max(t.date(), self.start)

    def days_before(self, n: int) -> datetime:
        return datetime.combine(self.start - timedelta(days=n), time())


@dataclass
class Store:
    store_id: str
    name: str
    region: Region
    district: str
    store_type: str
    level: str
    open_date: date
    area_sqm: str
    closed_at: datetime | None = None


@dataclass
class Product:
    sku_id: str
    spu_id: str
    name: str
    brand: str
    category: Category
    color: str
    size: str
    list_cents: int
    launch_date: date


@dataclass
class Person:
    person_id: str
    name: str
    gender: str  # M or F
    birthday: date
    region: Region
    district: str
    address: str
    mobiles: list[tuple[datetime, str]]  # (since, canonical mobile)
    email: str | None  # canonical
    bad_email: str | None  # what the person typed instead of a valid email
    is_member: bool = False
    shops_pos: bool = False
    platforms: tuple[str, ...] = ()
    apps: tuple[App, ...] = ()
    home_store: Store | None = None
    housemates: list[Person] = field(default_factory=list)
    device: str | None = None  # raw, as the SDK reports it
    family_device: str | None = None
    types_store_phone: bool = False  # the flagship's cashiers type the store phone for them

    @property
    def can_receive_gifts(self) -> bool:
        """Their one mobile is in their own CRM row, so it is theirs in the data too."""
        return self.is_member and len(self.mobiles) == 1

    def mobile_at(self, t: datetime) -> str:
        current = self.mobiles[0][1]
        for since, mobile in self.mobiles[1:]:
            if since <= t:
                current = mobile
        return current


@dataclass
class World:
    stores: list[Store]
    catalog: list[Product]  # sorted by launch date
    persons: list[Person]
    flagship: Store
    store_phone: str
    gift_receivers: list[Person]  # members whose only mobile is in their own CRM row

    def __post_init__(self) -> None:
        self.launch_dates = [p.launch_date for p in self.catalog]
        self.trading_stores = [s for s in self.stores if s.closed_at is None]

    def products_on_sale(self, day: date) -> int:
        """How many catalog entries (a prefix of it) are launched on ``day``."""
        return max(1, bisect_right(self.launch_dates, day))


def build_world(rng: Random, persons: int, window: Window) -> World:
    stores = build_stores(rng, persons, window)
    catalog = build_catalog(rng, window)
    store_phone = new_mobile(rng, set(PLACEHOLDER_MOBILES))
    people = build_persons(rng, persons, stores, window, taken={store_phone, *PLACEHOLDER_MOBILES})
    flagship = stores[0]
    send_to_flagship(rng, people, flagship)
    gift_receivers = [p for p in people if p.can_receive_gifts]
    return World(stores, catalog, people, flagship, store_phone, gift_receivers)


def build_stores(rng: Random, persons: int, window: Window) -> list[Store]:
    # Store count grows with the square root of the customer base: 60 at 10k persons.
    count = max(MIN_STORES, round(STORES_AT_10K_PERSONS * math.sqrt(persons / 10_000)))
    stores = []
    for n in range(1, count + 1):
        region = REGIONS[0] if n == 1 else weighted(rng, REGION_WEIGHTS)
        district = rng.choice(region.districts)
        open_date = window.start - timedelta(days=rng.randint(60, 12 * 365))
        closed_at = None
        if n > 1 and rng.random() < CLOSED_STORE_SHARE:
            closed_at = datetime.combine(open_date, time(22)) + timedelta(
                days=rng.randint(30, (window.start - open_date).days - 1))
        stores.append(Store(
            store_id=f"S{n:04d}",
            name=f"{region.city[:-1]}{district[:-1]}{rng.choice(MALLS)}店",
            region=region, district=district,
            store_type="direct" if n == 1 or rng.random() < 0.7 else "franchise",
            level="A" if n == 1 else rng.choice("ABBCC"),
            open_date=open_date,
            area_sqm=f"{rng.randint(80, 600)}.{rng.choice(('00', '00', '50'))}",
            closed_at=closed_at,
        ))
    return stores


def build_catalog(rng: Random, window: Window) -> list[Product]:
    first, last = window.start - timedelta(days=4 * 365), window.start + timedelta(days=window.days + 30)
    catalog: list[Product] = []
    spu = 0
    while len(catalog) < CATALOG_SKUS:
        spu += 1
        category = rng.choice(CATEGORIES)
        launch = first + timedelta(days=rng.randrange((last - first).days))
        brand = rng.choice(BRANDS)
        title = f"{rng.choice(STYLES)}{category.l3}"
        lo, hi = category.price_yuan
        list_cents = price_ending_in_9(rng.randint(lo, hi))
        run = min(len(category.sizes), rng.randint(3, 6))
        first_size = rng.randrange(len(category.sizes) - run + 1)
        sizes = category.sizes[first_size:first_size + run]
        variant = 0
        for color in rng.sample(COLORS, rng.randint(1, 3)):
            for size in sizes:
                variant += 1
                catalog.append(Product(
                    sku_id=f"SKU{spu:05d}{variant:02d}", spu_id=f"SPU{spu:05d}",
                    name=f"{brand} {title} {color} {size}", brand=brand, category=category,
                    color=color, size=size, list_cents=list_cents, launch_date=launch))
    catalog.sort(key=lambda p: p.launch_date)
    return catalog


def new_mobile(rng: Random, taken: set[str]) -> str:
    while True:
        mobile = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10 ** 8):08d}"
        if mobile not in taken:
            taken.add(mobile)
            return mobile


def new_email(rng: Random, taken: set[str]) -> str:
    while True:
        if rng.random() < 0.4:
            email = f"{rng.randint(10 ** 5, 10 ** 10)}@qq.com"
        else:
            email = f"{rng.choice(EMAIL_HANDLES)}{rng.randint(1, 9999)}@{rng.choice(EMAIL_DOMAINS)}"
        if email not in taken:
            taken.add(email)
            return email


def new_device(rng: Random) -> str:
    if rng.random() < IOS_SHARE:
        return str(uuid.UUID(int=rng.getrandbits(128))).upper()
    return f"{rng.getrandbits(64):016x}"


def wechat_id(rng: Random, prefix: str) -> str:
    """An openid or unionid: 28 URL-safe base64 characters, the first few fixed."""
    text = base64.urlsafe_b64encode(rng.getrandbits(144).to_bytes(18, "big")).decode()
    return prefix + text[:28 - len(prefix)]


def build_persons(rng: Random, count: int, stores: list[Store], window: Window,
                  taken: set[str]) -> list[Person]:
    emails: set[str] = set()
    people: list[Person] = []
    household: list[Person] = []
    household_size = 0
    for n in range(1, count + 1):
        if len(household) >= household_size:  # the current household is complete
            household = []
            household_size = rng.choice(HOUSEHOLD_SIZES) if rng.random() < HOUSEHOLD_SHARE else 1
            region = weighted(rng, REGION_WEIGHTS)
            district = rng.choice(region.districts)
            address = (f"{district}{rng.choice(ROADS)}{rng.randint(1, 999)}号"
                       f"{rng.randint(1, 30)}栋{rng.randint(1, 33)}{rng.randint(1, 4):02d}室")
        email = new_email(rng, emails) if rng.random() < EMAIL_SHARE else None
        bad_email = None
        if email is None and rng.random() < INVALID_EMAIL_SHARE:
            bad_email = rng.choice(INVALID_EMAILS).format(handle=rng.choice(EMAIL_HANDLES))
        person = Person(
            person_id=f"P{n:07d}",
            name=rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_NAME_CHARS, k=rng.randint(1, 2))),
            gender="F" if rng.random() < 0.6 else "M",
            birthday=date(rng.randint(1962, 2006), rng.randint(1, 12), rng.randint(1, 28)),
            region=region, district=district, address=address,
            mobiles=[(datetime.min, new_mobile(rng, taken))], email=email, bad_email=bad_email,
        )
        choose_channels(rng, person)
        if person.is_member and rng.random() < MOBILE_CHANGE_SHARE:
            since = random_moment(rng, window.days_before(MEMBER_HISTORY_DAYS), window.end)
            person.mobiles.append((since, new_mobile(rng, taken)))
        for housemate in household:
            housemate.housemates.append(person)
            person.housemates.append(housemate)
        household.append(person)
        people.append(person)

    stores_by_city: dict[str, list[Store]] = {}
    for store in stores:
        if store.closed_at is None:
            stores_by_city.setdefault(store.region.city, []).append(store)
    trading = [s for s in stores if s.closed_at is None]
    for person in people:
        person.home_store = rng.choice(stores_by_city.get(person.region.city, trading))
    share_family_devices(rng, people)
    return people


def choose_channels(rng: Random, person: Person) -> None:
    profile = weighted(rng, PROFILE_WEIGHTS)
    person.is_member = rng.random() < profile.member
    person.shops_pos = rng.random() < profile.pos
    if rng.random() < profile.ecom:
        # A single-platform non-member shops on a marketplace: the own mall wants an account.
        single_marketplace = profile.max_platforms == 1 and not person.is_member
        choices = ANY_MARKETPLACE if single_marketplace else ANY_PLATFORM
        platforms = [weighted(rng, choices) for _ in range(rng.randint(1, profile.max_platforms))]
        person.platforms = tuple(dict.fromkeys(platforms))
    buys = person.shops_pos or bool(person.platforms)
    if rng.random() < profile.wechat or not (buys or person.is_member):
        apps = [app for app in APPS if rng.random() < app.reach]
        if not buys and not any(app.app_type == MINI_PROGRAM for app in apps):
            apps.append(MALL_APP)  # a browser needs a mini program to browse in
        person.apps = tuple(a for a in APPS if a in apps)
        if rng.random() < DEVICE_SHARE:
            person.device = new_device(rng)


def share_family_devices(rng: Random, people: list[Person]) -> None:
    seen: set[str] = set()
    for person in people:
        if person.person_id in seen or not person.housemates:
            continue
        household = [person, *person.housemates]
        seen.update(p.person_id for p in household)
        users = [p for p in household if any(a.app_type == MINI_PROGRAM for a in p.apps)]
        if len(users) >= 2 and rng.random() < FAMILY_DEVICE_SHARE:
            device = new_device(rng)
            for user in users:
                user.family_device = device


def send_to_flagship(rng: Random, people: list[Person], flagship: Store) -> None:
    """Make the flagship's regulars: its cashiers type the store phone for them."""
    candidates = [p for p in people if p.is_member and p.shops_pos]
    wanted = max(STORE_PHONE_MIN_PERSONS, round(STORE_PHONE_PERSON_SHARE * len(candidates)))
    for person in rng.sample(candidates, min(wanted, len(candidates) // 2)):
        person.home_store = flagship
        person.types_store_phone = True


# ============================================================================================
# Simulation
# ============================================================================================


@dataclass
class Coupon:
    coupon_id: str
    template: CouponTemplate
    member_id: str | None
    issued_at: datetime
    used_at: datetime | None = None
    used_order_id: str | None = None
    expire_at: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.expire_at = datetime.combine(
            self.issued_at.date() + timedelta(days=self.template.valid_days), time(23, 59, 59))


class Typed(NamedTuple):
    """An identifier as a system stores it: the canonical value, and the text typed."""

    value: str | None  # None: the text is not a valid identifier
    text: str


@dataclass(frozen=True)
class MemberState:
    """One version of a CRM member row."""

    at: datetime
    card: Typed
    mobile: Typed
    email: Typed | None
    level: str
    status: str


@dataclass
class Membership:
    member_id: str
    joined_at: datetime
    gender_text: str
    shows_birthday: bool
    join_channel: str
    join_store_id: str | None
    states: list[MemberState]
    coupons: list[Coupon] = field(default_factory=list)

    def state_at(self, t: datetime) -> MemberState | None:
        current = None
        for state in self.states:
            if state.at > t:
                break
            current = state
        return current

    def use_coupon(self, rng: Random, t: datetime, total_cents: int, order_id: str) -> Coupon | None:
        for coupon in self.coupons:
            if (coupon.used_at is None and coupon.issued_at <= t < coupon.expire_at
                    and coupon.template.threshold_cents <= total_cents
                    and coupon.template.face_cents < total_cents):
                if rng.random() >= COUPON_USE_SHARE:
                    return None
                coupon.used_at, coupon.used_order_id = t, order_id
                return coupon
        return None


@dataclass
class WechatAccount:
    app: App
    openid: str
    subscribed_at: datetime
    bound_at: datetime | None = None
    member_id: str | None = None

    def member_at(self, t: datetime) -> str | None:
        return self.member_id if self.bound_at is not None and self.bound_at <= t else None


class BasketLine(NamedTuple):
    product: Product
    qty: int
    unit_cents: int

    @property
    def amount_cents(self) -> int:
        return self.qty * self.unit_cents


class Simulation:
    """Emits every version of every source record, person by person."""

    def __init__(self, rng: Random, world: World, window: Window):
        self.rng = rng
        self.world = world
        self.window = window
        self.rows: list[Row] = []
        self.counters: dict[str, int] = {}
        self.taken_ids: set[str] = set()
        self.person_sales = 0
        self.orders_from = window.days_before(ORDER_HISTORY_DAYS)

    def run(self) -> list[Row]:
        self.store_rows()
        self.product_rows()
        for person in self.world.persons:
            self.simulate(person)
        self.walk_in_orders()
        return self.rows

    # --- helpers ------------------------------------------------------------------------

    def emit(self, entity: str, at: datetime, values: dict, evidence: list | tuple = ()) -> None:
        self.rows.append(Row(entity, at, values, tuple(evidence)))

    def extracted(self, versions: list, at=itemgetter(0)) -> list:
        """The versions of one keyed record that some extract holds: the newest of each dt.

        ``versions`` are in time order. Only these are rendered, which is what keeps a
        changing record to one row per dt.
        """
        kept = []
        for version, following in zip(versions, [*versions[1:], None]):
            t = at(version)
            if t >= self.window.end:
                break
            if following is None or self.window.dt_of(at(following)) != self.window.dt_of(t):
                kept.append(version)
        return kept

    def next_number(self, counter: str, step: int = 1) -> int:
        self.counters[counter] = self.counters.get(counter, 0) + step
        return self.counters[counter]

    def fresh(self, make) -> str:
        """A new random identifier no one else has."""
        while (value := make()) in self.taken_ids:
            pass
        self.taken_ids.add(value)
        return value

    def moment(self, lo: datetime, hi: datetime, hours: tuple[int, int] | None = None) -> datetime:
        """A random second in [lo, hi), moved into opening hours when that stays in range."""
        t = random_moment(self.rng, lo, hi)
        if hours and not hours[0] <= t.hour < hours[1]:
            shifted = t.replace(hour=hours[0] + t.hour % (hours[1] - hours[0]))
            if lo <= shifted < hi:
                return shifted
        return t

    def moments(self, per_year: float, lo: datetime, hi: datetime, hours: tuple[int, int],
                at_least_one: bool = False) -> list[datetime]:
        if lo >= hi:
            return []
        n = poisson(self.rng, per_year * (hi - lo).days / 365)
        return sorted(self.moment(lo, hi, hours) for _ in range(max(n, int(at_least_one))))

    def ts(self, t: datetime, millis: bool = False) -> str:
        if self.rng.random() < ISO_TIME_SHARE:
            return f"{t.isoformat()}.{self.rng.randrange(1000):03d}" if millis else t.isoformat()
        return t.isoformat(" ")

    def maybe_ts(self, t: datetime | None) -> str | None:
        return None if t is None else self.ts(t)

    def basket(self, day: date) -> list[BasketLine]:
        on_sale = self.world.products_on_sale(day)
        lines = []
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3, 4))):
            product = self.world.catalog[self.rng.randrange(on_sale)]
            unit = round(product.list_cents * self.rng.choice(MARKDOWNS))
            lines.append(BasketLine(product, self.rng.choice((1, 1, 1, 1, 2, 3)), unit))
        return lines

    # --- stores and products ---------------------------------------------------------------

    def store_rows(self) -> None:
        for store in self.world.stores:
            versions = [(datetime.combine(store.open_date, time(8)), STORE_OPEN)]
            if store.closed_at is not None:
                versions.append((store.closed_at, STORE_CLOSED))
            for at, status in self.extracted(versions):
                self.emit_store(store, at, status)
        for dt in self.window.dts[1:]:
            if self.rng.random() < STORE_CHANGE_SHARE_PER_DAY:
                store = self.rng.choice(self.world.trading_stores[1:] or self.world.trading_stores)
                at = datetime.combine(dt, time(9, self.rng.randrange(60)))
                self.emit_store(store, at, STORE_RENOVATING)

    def emit_store(self, store: Store, at: datetime, status: str) -> None:
        self.emit(STORES, at, {
            "store_id": store.store_id, "store_name": store.name,
            "province": store.region.province, "city": store.region.city,
            "district": store.district, "store_type": store.store_type,
            "store_level": store.level, "open_date": store.open_date.isoformat(),
            "area_sqm": store.area_sqm, "status": status,
        })

    def product_rows(self) -> None:
        for product in self.world.catalog:
            # The catalog lists a product two weeks before it launches.
            listed = datetime.combine(product.launch_date - timedelta(days=14), time(9))
            self.emit_product(product, listed, product.list_cents)
        launched_spus = list(dict.fromkeys(
            p.spu_id for p in self.world.catalog if p.launch_date < self.window.start))
        for dt in self.window.dts[1:]:
            if self.rng.random() < PRICE_CHANGE_SHARE_PER_DAY:
                spu = self.rng.choice(launched_spus)
                at = datetime.combine(dt, time(10))
                for product in self.world.catalog:
                    if product.spu_id == spu:
                        self.emit_product(product, at, price_ending_in_9(product.list_cents * 8 // 1000))

    def emit_product(self, product: Product, at: datetime, list_cents: int) -> None:
        month = product.launch_date.month
        self.emit(PRODUCTS, at, {
            "sku_id": product.sku_id, "spu_id": product.spu_id, "sku_name": product.name,
            "brand": product.brand, "category_l1": product.category.l1,
            "category_l2": product.category.l2, "category_l3": product.category.l3,
            "color": product.color, "size": product.size, "list_price": money(list_cents),
            "launch_date": product.launch_date.isoformat(),
            "season": f"{product.launch_date.year}{SEASONS.get(month, '秋')}",
        })

    # --- one person ----------------------------------------------------------------------------

    def simulate(self, person: Person) -> None:
        memberships = self.crm(person) if person.is_member else []
        if person.shops_pos:
            self.pos_orders(person, memberships)
        for platform in person.platforms:
            self.ecom_orders(person, memberships, platform)
        for membership in memberships:
            self.coupon_rows(person, membership)
            self.points_movements(person, membership)
        accounts = self.wechat_users(person, memberships)
        if accounts:
            self.events(person, accounts)
        if not memberships and any(a.app.app_type == MINI_PROGRAM for a in accounts) \
                and self.rng.random() < COUPON_CLAIM_SHARE:
            self.claimed_coupon(accounts)

    def claimed_coupon(self, accounts: list[WechatAccount]) -> None:
        """A non-member claims a coupon in the mini program: the coupon has no member_id."""
        lo = max(self.orders_from, min(a.subscribed_at for a in accounts))
        coupon = Coupon(self.coupon_id(), CLAIMED_COUPON, None,
                        self.moment(lo, self.window.end, ONLINE_HOURS))
        self.emit_coupon(coupon, None)

    # --- CRM ---------------------------------------------------------------------------------

    def crm(self, person: Person) -> list[Membership]:
        """The person's memberships: a cancelled one may be followed by a new registration."""
        w = self.window
        joined_at = self.moment(w.days_before(MEMBER_HISTORY_DAYS), w.end, STORE_HOURS)
        memberships = [self.join(person, joined_at)]
        if self.rng.random() < REREGISTER_SHARE:
            first = memberships[0]
            cancelled_at = self.moment(joined_at, w.end, STORE_HOURS)
            self.evolve(person, first, until=cancelled_at)
            if first.states[-1].status != CANCELLED:
                first.states.append(replace(first.states[-1], at=cancelled_at, status=CANCELLED))
            rejoined_at = first.states[-1].at + timedelta(days=self.rng.randint(1, 90), hours=1)
            if rejoined_at < w.end:
                memberships.append(self.join(person, rejoined_at))
        self.evolve(person, memberships[-1], until=w.end)
        for membership in memberships:
            self.issue_coupons(person, membership)
            for state in self.extracted(membership.states, at=attrgetter("at")):
                self.emit_member(person, membership, state)
        return memberships

    def join(self, person: Person, at: datetime) -> Membership:
        number = self.next_number("member", self.rng.randint(1, 9))
        channel = weighted(self.rng, JOIN_CHANNELS)
        if self.rng.random() < UNKNOWN_GENDER_SHARE:
            gender = "U"
        elif self.rng.random() < CHINESE_GENDER_SHARE:
            gender = "女" if person.gender == "F" else "男"
        else:
            gender = person.gender
        email = None
        if person.email is not None:
            email = Typed(person.email, email_text(self.rng, person.email))
        elif person.bad_email is not None:
            email = Typed(None, person.bad_email)
        state = MemberState(at, self.typed_card(f"C88{number:08d}"),
                            self.typed_mobile(person.mobile_at(at)), email, LEVELS[0], ACTIVE)
        return Membership(
            member_id=f"M{number:08d}", joined_at=at, gender_text=gender,
            shows_birthday=self.rng.random() < BIRTHDAY_SHARE, join_channel=channel,
            join_store_id=person.home_store.store_id if channel == IN_STORE_JOIN else None,
            states=[state])

    def evolve(self, person: Person, membership: Membership, until: datetime) -> None:
        """Member updates between joining and ``until``, each a new version of the row."""
        start = membership.joined_at
        changes = [(self.moment(start, until), weighted(self.rng, MEMBER_CHANGES))
                   for _ in range(self.rng.choice(MEMBER_CHANGE_COUNTS))]
        changes += [(since, "mobile") for since, _ in person.mobiles[1:] if start < since < until]
        for at, change in sorted(changes):
            state = membership.states[-1]
            if state.status == CANCELLED:
                break
            if state.status == FROZEN:
                change = "unfreeze"  # the next update of a frozen member lifts the freeze
            new = self.changed(person, state, change, at)
            if new is not None:
                membership.states.append(new)

    def changed(self, person: Person, state: MemberState, change: str,
                at: datetime) -> MemberState | None:
        if change == "level":
            rank = LEVELS.index(state.level)
            return replace(state, at=at, level=LEVELS[rank + 1]) if rank + 1 < len(LEVELS) else None
        if change == "email":
            email = self.fresh_email()
            return replace(state, at=at, email=Typed(email, email_text(self.rng, email)))
        if change == "card":
            return replace(state, at=at, card=self.typed_card(f"C89{self.next_number('card'):08d}"))
        if change == "mobile":
            return replace(state, at=at, mobile=self.typed_mobile(person.mobile_at(at)))
        status = {"freeze": FROZEN, "unfreeze": ACTIVE, "cancel": CANCELLED}[change]
        return replace(state, at=at, status=status)

    def typed_card(self, card_no: str) -> Typed:
        return Typed(card_no, card_text(self.rng, card_no))

    def typed_mobile(self, mobile: str) -> Typed:
        return Typed(mobile, mobile_text(self.rng, mobile, CRM_MOBILE_FORMS))

    def fresh_email(self) -> str:
        return self.fresh(lambda: f"{self.rng.choice(EMAIL_HANDLES)}.{self.rng.randint(10, 99999)}"
                                  f"@{self.rng.choice(EMAIL_DOMAINS)}")

    def emit_member(self, person: Person, m: Membership, state: MemberState) -> None:
        pid = person.person_id
        evidence = [Identifier(pid, MEMBER_ID, m.member_id), Identifier(pid, CARD_NO, state.card.value),
                    Identifier(pid, MOBILE, state.mobile.value)]
        email = state.email
        if email is not None:
            evidence.append(Identifier(pid, EMAIL, email.value) if email.value
                            else NonIdentifier(EMAIL, email.text, INVALID))
        self.emit(MEMBERS, state.at, {
            "member_id": m.member_id, "card_no": state.card.text, "mobile": state.mobile.text,
            "email": email and email.text, "name": person.name, "gender": m.gender_text,
            "birthday": person.birthday.isoformat() if m.shows_birthday else None,
            "join_channel": m.join_channel, "join_store_id": m.join_store_id,
            "join_time": self.ts(m.joined_at), "level": state.level, "status": state.status,
            "updated_at": self.ts(state.at),
        }, evidence)

    @staticmethod
    def active_membership(memberships: list[Membership],
                          t: datetime) -> tuple[Membership, MemberState] | None:
        for membership in reversed(memberships):
            state = membership.state_at(t)
            if state is not None:
                return (membership, state) if state.status == ACTIVE else None
        return None

    # --- coupons and points ---------------------------------------------------------------

    def issue_coupons(self, person: Person, m: Membership) -> None:
        end = m.states[-1].at if m.states[-1].status == CANCELLED else self.window.end
        issues = [(m.joined_at + timedelta(minutes=1), WELCOME_COUPON)]
        for year in range(m.joined_at.year, end.year + 1):
            birthday = datetime(year, person.birthday.month, 1, 9)
            if m.joined_at < birthday:
                issues.append((birthday, BIRTHDAY_COUPON))
        issues += [(t, self.rng.choice(CAMPAIGN_COUPONS))
                   for t in self.moments(CAMPAIGN_COUPONS_PER_YEAR, m.joined_at, end, ONLINE_HOURS)]
        for at, template in sorted(issues):
            if self.orders_from <= at < end:
                m.coupons.append(Coupon(self.coupon_id(), template, m.member_id, at))

    def coupon_id(self) -> str:
        return f"CP{self.next_number('coupon'):010d}"

    def coupon_rows(self, person: Person, m: Membership) -> None:
        for coupon in m.coupons:
            self.emit_coupon(coupon, person.person_id)

    def emit_coupon(self, coupon: Coupon, person_id: str | None) -> None:
        # An unused coupon expires; a version dated after the window is simply not extracted.
        versions = [(coupon.issued_at, "issued")]
        if coupon.used_at is not None:
            versions.append((coupon.used_at, "used"))
        else:
            versions.append((coupon.expire_at, "expired"))
        evidence = [Identifier(person_id, MEMBER_ID, coupon.member_id)] if coupon.member_id else []
        for at, status in self.extracted(versions):
            used = status == "used"
            self.emit(COUPONS, at, {
                "coupon_id": coupon.coupon_id, "template_id": coupon.template.template_id,
                "member_id": coupon.member_id, "issued_at": self.ts(coupon.issued_at),
                "channel": coupon.template.channel, "face_value": money(coupon.template.face_cents),
                "threshold": money(coupon.template.threshold_cents),
                "used_at": self.ts(coupon.used_at) if used else None,
                "used_order_id": coupon.used_order_id if used else None,
                "expire_at": self.ts(coupon.expire_at), "status": status,
            }, evidence)

    def points(self, person: Person, member_id: str, at: datetime, change: int, reason: str,
               points_type: str = "base", order_id: str | None = None) -> None:
        self.emit(POINTS, at, {
            "ledger_id": f"L{self.next_number('ledger'):010d}", "member_id": member_id,
            "txn_time": self.ts(at), "points_type": points_type, "change": str(change),
            "reason": reason, "order_id": order_id,
            "expire_at": self.ts(end_of_next_year(at)) if change > 0 else None,
        }, [Identifier(person.person_id, MEMBER_ID, member_id)])

    def order_points(self, person: Person, member_id: str, at: datetime, pay_cents: int,
                     order_id: str) -> None:
        base = pay_cents // 100
        if base == 0:
            return
        self.points(person, member_id, at, base, "order", order_id=order_id)
        if self.rng.random() < BONUS_POINTS_SHARE:
            self.points(person, member_id, at + timedelta(seconds=1), base // 2 + 1, "order",
                        "bonus", order_id)
        if self.rng.random() < GRADE_POINTS_SHARE:
            self.points(person, member_id, at + timedelta(seconds=2), base, "order", "grade", order_id)

    def points_movements(self, person: Person, m: Membership) -> None:
        """Redemptions, manual adjustments and year-end expiries, apart from orders."""
        lo = max(m.joined_at, self.orders_from)
        end = m.states[-1].at if m.states[-1].status == CANCELLED else self.window.end
        for at in self.moments(REDEMPTIONS_PER_YEAR, lo, end, STORE_HOURS):
            self.points(person, m.member_id, at, -self.rng.choice(REDEEM_POINTS), "redeem")
        for at in self.moments(ADJUSTMENTS_PER_YEAR, lo, end, STORE_HOURS):
            self.points(person, m.member_id, at, self.rng.choice((-1, 1)) * self.rng.randint(10, 500),
                        "adjust")
        for year in range(lo.year, end.year + 1):
            at = datetime(year, 12, 31, 23, 59, 59)
            if lo < at < end and self.rng.random() < 0.5:
                self.points(person, m.member_id, at, -self.rng.randint(10, 300), "expire")

    # --- stores ---------------------------------------------------------------------------------

    def pos_orders(self, person: Person, memberships: list[Membership]) -> None:
        rate = POS_VISITS_PER_YEAR_MEMBER if memberships else POS_VISITS_PER_YEAR_GUEST
        lo = max(self.orders_from, memberships[0].joined_at) if memberships else self.orders_from
        visits = self.moments(rate, lo, self.window.end, STORE_HOURS, at_least_one=True)
        for visit, t in enumerate(visits):
            home = visit == 0 or self.rng.random() < HOME_STORE_SHARE
            store = person.home_store if home else self.rng.choice(self.world.trading_stores)
            self.pos_sale(person, memberships, store, t, first_visit=visit == 0)

    def pos_sale(self, person: Person, memberships: list[Membership], store: Store, t: datetime,
                 first_visit: bool) -> None:
        self.person_sales += 1
        evidence: list = []
        types_store_phone = (person.types_store_phone and store is self.world.flagship
                             and (first_visit or self.rng.random() < STORE_PHONE_TYPING_SHARE))
        member = self.active_membership(memberships, t)
        card = None
        if member and (types_store_phone or self.rng.random() < CARD_SHOWN_SHARE):
            card = member[1].card.value
            evidence.append(Identifier(person.person_id, CARD_NO, card))
        if types_store_phone:
            mobile = self.world.store_phone
            evidence += [NonIdentifier(MOBILE, mobile, STORE_PHONE),
                         SharedUse(MOBILE, mobile, STORE_PHONE, person.person_id)]
        else:
            mobile = self.cashier_mobile(person, t, has_card=card is not None,
                                         must_ask=first_visit and card is None, evidence=evidence)
        card_raw = card and card_text(self.rng, card)
        lines = self.basket(t.date())
        order_id = self.pos_order_id(store, t)
        total = sum(line.amount_cents for line in lines)
        coupon = member[0].use_coupon(self.rng, t, total, order_id) if card else None
        discount = coupon.template.face_cents if coupon else self.promotion(total)
        self.emit_pos_order(order_id, store, card_raw, mobile, t, "sale", None, lines, discount,
                            evidence)
        if card:
            self.order_points(person, member[0].member_id, t, total - discount, order_id)
        if self.rng.random() < RETURN_SHARE:
            returned_at = t + timedelta(days=self.rng.randint(1, 14), hours=self.rng.randint(0, 2))
            line = lines[0]
            back = [BasketLine(line.product, self.rng.randint(1, line.qty), line.unit_cents)]
            return_id = self.pos_order_id(store, returned_at)
            self.emit_pos_order(return_id, store, card_raw, mobile, returned_at, "return", order_id,
                                back, 0, evidence)
            if card:
                self.points(person, member[0].member_id, returned_at,
                            -(back[0].amount_cents // 100), "order", order_id=return_id)

    def cashier_mobile(self, person: Person, t: datetime, has_card: bool, must_ask: bool,
                       evidence: list) -> str | None:
        asked = MOBILE_ASKED_WITH_CARD if has_card else MOBILE_ASKED_WITHOUT_CARD
        if not must_ask and self.rng.random() >= asked:
            return None
        mobile = person.mobile_at(t)
        roll = 1.0 if must_ask else self.rng.random()
        if roll < PLACEHOLDER_TYPING_SHARE:
            raw = self.rng.choice(PLACEHOLDER_MOBILES)
            evidence.append(NonIdentifier(MOBILE, raw, PLACEHOLDER))
        elif roll < PLACEHOLDER_TYPING_SHARE + MISTYPING_SHARE:
            raw = mistyped_mobile(self.rng, mobile)
            evidence.append(NonIdentifier(MOBILE, raw, INVALID))
        else:
            raw = mobile_text(self.rng, mobile, CASHIER_MOBILE_FORMS)
            evidence.append(Identifier(person.person_id, MOBILE, mobile))
        return raw

    def promotion(self, total_cents: int) -> int:
        return total_cents // 1000 * 100 if self.rng.random() < PROMOTION_SHARE else 0

    def pos_order_id(self, store: Store, t: datetime) -> str:
        day = f"{t:%Y%m%d}"
        return f"{store.store_id}{day}{self.next_number(store.store_id + day):04d}"

    def emit_pos_order(self, order_id: str, store: Store, card: str | None, mobile: str | None,
                       t: datetime, order_type: str, orig_order_id: str | None,
                       lines: list[BasketLine], discount: int, evidence: list) -> None:
        total = sum(line.amount_cents for line in lines)
        guide = None
        if self.rng.random() < GUIDE_SHARE:
            guide = f"G{store.store_id[1:]}{self.rng.randint(1, 8):02d}"
        self.emit(POS_ORDERS, t, {
            "order_id": order_id, "store_id": store.store_id, "card_no": card, "mobile": mobile,
            "guide_id": guide, "order_time": self.ts(t), "order_type": order_type,
            "orig_order_id": orig_order_id, "total_amount": money(total),
            "discount_amount": money(discount), "pay_amount": money(total - discount),
            "pay_method": self.rng.choice(PAY_METHODS),
        }, evidence)
        for line_no, line in enumerate(lines, start=1):
            self.emit(POS_ITEMS, t, {
                "order_id": order_id, "line_no": str(line_no), "sku_id": line.product.sku_id,
                "qty": str(line.qty), "unit_price": money(line.unit_cents),
                "amount": money(line.amount_cents),
            })

    def walk_in_orders(self) -> None:
        """Tickets of shoppers who gave nothing, or a placeholder the cashier typed."""
        lo, hi = self.orders_from, self.window.end
        for _ in range(round(WALK_IN_ORDER_SHARE * self.person_sales)):
            store = self.rng.choice(self.world.trading_stores)
            t = self.moment(lo, hi, STORE_HOURS)
            evidence, mobile = [], None
            if self.rng.random() < WALK_IN_PLACEHOLDER_SHARE:
                mobile = self.rng.choice(PLACEHOLDER_MOBILES)
                evidence.append(NonIdentifier(MOBILE, mobile, PLACEHOLDER))
            lines = self.basket(t.date())
            total = sum(line.amount_cents for line in lines)
            self.emit_pos_order(self.pos_order_id(store, t), store, None, mobile, t, "sale", None,
                                lines, self.promotion(total), evidence)

    # --- e-commerce -----------------------------------------------------------------------

    def ecom_orders(self, person: Person, memberships: list[Membership], platform: str) -> None:
        buyer_id = self.buyer_id(platform)
        binds_member_at = None  # from when orders on this platform carry the member_id
        if memberships and platform == OWN_MALL:
            binds_member_at = memberships[0].joined_at
        elif memberships and platform == TMALL and self.rng.random() < TMALL_MEMBER_BINDING_SHARE:
            binds_member_at = self.moment(memberships[0].joined_at, self.window.end)
        for t in self.moments(ECOM_ORDERS_PER_YEAR, self.orders_from, self.window.end, ONLINE_HOURS,
                              at_least_one=True):
            member = None
            if binds_member_at is not None and t >= binds_member_at:
                member = self.active_membership(memberships, t)
            self.ecom_order(person, platform, buyer_id, member and member[0], t)

    def buyer_id(self, platform: str) -> str:
        rng = self.rng
        make = {
            TMALL: lambda: f"tb{rng.randrange(10 ** 9, 10 ** 10)}",
            JD: lambda: f"jd_{rng.getrandbits(48):012x}",
            DOUYIN: lambda: f"dy{rng.randrange(10 ** 11, 10 ** 12)}",
            OWN_MALL: lambda: f"U{rng.randrange(10 ** 8, 10 ** 9)}",
        }[platform]
        return self.fresh(make)

    def ecom_order_id(self, platform: str, created: datetime) -> str:
        n = self.next_number("ecom_order")
        if platform == TMALL:
            return str(3_000_000_000_000_000_000 + n * 1_009)
        if platform == JD:
            return str(200_000_000_000 + n * 13)
        if platform == DOUYIN:
            return str(6_900_000_000_000_000_000 + n * 7_919)
        return f"OM{created:%Y%m%d}{n:07d}"

    def ecom_order(self, person: Person, platform: str, buyer_id: str, member: Membership | None,
                   created: datetime) -> None:
        rng = self.rng
        order_id = self.ecom_order_id(platform, created)
        lines = self.basket(created.date())
        total = sum(line.amount_cents for line in lines)
        coupon = None
        if member and platform == OWN_MALL:  # CRM coupons are honoured on the own mall only
            coupon = member.use_coupon(rng, created, total, order_id)
        coupon_ids: list[str] | None = [coupon.coupon_id] if coupon else []
        if not coupon and platform == TMALL and rng.random() < PLATFORM_COUPON_SHARE:
            coupon_ids = [f"TMC{rng.randrange(10 ** 9, 10 ** 10)}"]
        elif not coupon and rng.random() < 0.1:
            coupon_ids = None
        discount = coupon.template.face_cents if coupon else self.promotion(total)
        as_text = platform in AMOUNTS_AS_TEXT
        receiver, receiver_mobile, evidence = self.receiver(person, platform, created)
        evidence.append(Identifier(person.person_id, BUYER_ID, f"{platform}:{buyer_id}"))
        if member:
            evidence.append(Identifier(person.person_id, MEMBER_ID, member.member_id))
        member_text = member and (f" {member.member_id}" if rng.random() < 0.05 else member.member_id)
        base = {
            "platform": platform, "order_id": order_id, "buyer_id": buyer_id,
            "member_id": member_text, "receiver_name": receiver.name,
            "receiver_mobile": receiver_mobile, "receiver_province": receiver.region.province,
            "receiver_city": receiver.region.city, "receiver_address": receiver.address,
            "created_at": self.ts(created),
        }
        amounts = {
            "total_amount": json_money(total, as_text), "discount_amount": json_money(discount, as_text),
            "pay_amount": json_money(total - discount, as_text), "coupon_ids": coupon_ids,
            "items": [{"sku_id": line.product.sku_id, "qty": line.qty,
                       "unit_price": json_money(line.unit_cents, as_text),
                       "amount": json_money(line.amount_cents, as_text)} for line in lines],
        }
        lifecycle = self.ecom_lifecycle(created)
        for at, status, stamps in self.extracted(lifecycle):
            times = {name: self.maybe_ts(stamps.get(name)) for name in ECOM_STAMPS}
            self.emit(ECOM_ORDERS, at, {**base, **times, "status": status, **amounts}, evidence)
        for at, status, stamps in lifecycle:
            if member and status == "paid":
                self.order_points(person, member.member_id, at, total - discount, order_id)
            elif member and status == "refunded" and stamps.get("paid_at"):
                self.points(person, member.member_id, at, -((total - discount) // 100), "order",
                            order_id=order_id)

    def ecom_lifecycle(self, created: datetime) -> list[tuple[datetime, str, dict]]:
        """(moment, status, timestamps known then) for each status the order goes through."""
        rng = self.rng
        if rng.random() < CLOSED_ORDER_SHARE:
            return [(created, "created", {}), (created + timedelta(minutes=30), "closed", {})]
        paid = created + timedelta(seconds=rng.randint(20, 1200))
        shipped = paid + timedelta(hours=rng.randint(3, 48))
        received = shipped + timedelta(days=rng.randint(1, 5), hours=rng.randint(0, 12))
        stamps = {"paid_at": paid}
        versions = [(created, "created", {}), (paid, "paid", dict(stamps))]
        refund = rng.random() < REFUND_SHARE
        if refund and rng.random() < 0.4:  # refunded before it ships
            return versions + [(paid + timedelta(hours=rng.randint(1, 20)), "refunded", dict(stamps))]
        stamps["shipped_at"] = shipped
        versions.append((shipped, "shipped", dict(stamps)))
        stamps["received_at"] = received
        versions.append((received, "received", dict(stamps)))
        if refund:
            versions.append((received + timedelta(days=rng.randint(1, 7)), "refunded", dict(stamps)))
        return versions

    def receiver(self, buyer: Person, platform: str, t: datetime) -> tuple[Person, str, list]:
        """Who the parcel goes to: mostly the buyer, sometimes a housemate or a friend."""
        receiver = buyer
        if self.rng.random() < GIFT_SHARE:
            pool = [h for h in buyer.housemates if h.can_receive_gifts] or self.world.gift_receivers
            receiver = self.rng.choice(pool) if pool else buyer
        mobile = receiver.mobile_at(t)
        if platform in MASKING_PLATFORMS:
            raw = masked_mobile(mobile)
            return receiver, raw, [NonIdentifier(MOBILE, raw, MASKED)]
        evidence = [Identifier(receiver.person_id, MOBILE, mobile)]
        if receiver is not buyer:
            evidence += [SharedUse(MOBILE, mobile, GIFT_RECEIVER, buyer.person_id),
                         SharedUse(MOBILE, mobile, GIFT_RECEIVER, receiver.person_id)]
        return receiver, mobile, evidence

    # --- WeChat -----------------------------------------------------------------------------

    def wechat_users(self, person: Person, memberships: list[Membership]) -> list[WechatAccount]:
        if not person.apps:
            return []
        w, rng = self.window, self.rng
        unionid = self.fresh(lambda: wechat_id(rng, UNIONID_PREFIX))
        nickname = rng.choice(NICKNAMES + (person.name[1:],)) + rng.choice(NICKNAME_DECORATIONS)
        accounts = []
        for app in person.apps:
            openid = self.fresh(lambda: wechat_id(rng, app.openid_prefix))
            account = WechatAccount(app, openid, self.moment(w.days_before(MEMBER_HISTORY_DAYS), w.end))
            changes = [(account.subscribed_at, "subscribe")]
            bound_at = self.binding_moment(account, memberships) if memberships else None
            member = bound_at and self.active_membership(memberships, bound_at)
            if member:
                account.bound_at, account.member_id = bound_at, member[0].member_id
                changes.append((bound_at, "bind"))
            if app.app_type == MINI_PROGRAM and rng.random() < WECHAT_PHONE_SHARE:
                changes.append((self.moment(account.subscribed_at, w.end), "phone"))
            if app.app_type == OFFICIAL_ACCOUNT and rng.random() < UNSUBSCRIBE_SHARE:
                changes.append((self.moment(account.subscribed_at, w.end), "unsubscribe"))
            self.emit_wechat_versions(person, account, unionid, nickname, sorted(changes))
            accounts.append(account)
        return accounts

    def binding_moment(self, account: WechatAccount, memberships: list[Membership]) -> datetime | None:
        """When a member binds the account: soon after both exist, during the binding
        campaign the mini program runs over the increment days, or never."""
        rng = self.rng
        if rng.random() < WECHAT_BINDING_SHARE:
            delay = timedelta(minutes=round(rng.expovariate(1 / BINDING_DELAY_MEAN_DAYS) * 24 * 60))
            return max(account.subscribed_at, memberships[0].joined_at) + delay
        for dt in self.window.dts[1:]:
            if dt > account.subscribed_at.date() and rng.random() < BINDING_CAMPAIGN_DAILY_SHARE:
                day = datetime.combine(dt, time())
                return self.moment(day, day + timedelta(days=1), ONLINE_HOURS)
        return None

    def emit_wechat_versions(self, person: Person, account: WechatAccount, unionid: str,
                             nickname: str, changes: list[tuple[datetime, str]]) -> None:
        pid = person.person_id
        is_official = account.app.app_type == OFFICIAL_ACCOUNT
        values = {
            "app_id": account.app.app_id, "app_type": account.app.app_type,
            "openid": account.openid, "unionid": unionid, "mobile": None, "member_id": None,
            "nickname": nickname,
            "subscribe_time": self.ts(account.subscribed_at) if is_official else None,
            "unsubscribe_time": None, "updated_at": None,
        }
        evidence = [Identifier(pid, OPENID, account.openid), Identifier(pid, UNIONID, unionid)]
        kept = self.extracted(changes)
        for at, change in changes:
            if change == "bind":
                values["member_id"] = account.member_id
                evidence.append(Identifier(pid, MEMBER_ID, account.member_id))
            elif change == "phone":
                mobile = person.mobile_at(at)
                values["mobile"] = mobile_text(self.rng, mobile, WECHAT_MOBILE_FORMS)
                evidence.append(Identifier(pid, MOBILE, mobile))
            elif change == "unsubscribe":
                values["unsubscribe_time"] = self.ts(at)
            if (at, change) in kept:
                values["updated_at"] = self.ts(at)
                self.emit(WECHAT_USERS, at, dict(values), evidence)

    def events(self, person: Person, accounts: list[WechatAccount]) -> None:
        w, rng = self.window, self.rng
        browses_only = not (person.shops_pos or person.platforms or person.is_member)
        rate = (SESSIONS_PER_90_DAYS_BROWSER if browses_only else SESSIONS_PER_90_DAYS) * 365 / 90
        # A family-device user's first mini-program session is on the family device, so that
        # every user of the device shows up on it.
        needs_family_session = person.family_device is not None
        for account in accounts:
            is_mini = account.app.app_type == MINI_PROGRAM
            forced = needs_family_session and is_mini
            lo = max(w.days_before(EVENT_HISTORY_DAYS), account.subscribed_at)
            starts = self.moments(rate if is_mini else rate / 3, lo, w.end, ONLINE_HOURS,
                                  at_least_one=forced)
            for n, t in enumerate(starts):
                on_family_device = (forced and n == 0) or (
                    is_mini and person.family_device is not None and rng.random() < FAMILY_SESSION_SHARE)
                self.session(person, account, t, on_family_device)
            needs_family_session = needs_family_session and not forced

    def session(self, person: Person, account: WechatAccount, t: datetime,
                on_family_device: bool) -> None:
        rng, pid = self.rng, person.person_id
        device_evidence: list = []
        if on_family_device:
            device = person.family_device
            device_evidence.append(SharedUse(DEVICE_ID, device.lower(), FAMILY_DEVICE, pid))
        elif rng.random() < JUNK_DEVICE_SHARE:
            device = rng.choice(JUNK_DEVICES)
            device_evidence.append(NonIdentifier(DEVICE_ID, device, JUNK_DEVICE))
        else:
            device = person.device
            if device is not None:
                device_evidence.append(Identifier(pid, DEVICE_ID, device.lower()))
        is_mini = account.app.app_type == MINI_PROGRAM
        for step in range(rng.randint(2, 6) if is_mini else rng.randint(1, 2)):
            event = "page_view" if step == 0 or not is_mini else weighted(rng, MP_EVENTS)
            evidence = list(device_evidence)
            openid, member_id = account.openid, account.member_at(t)
            if rng.random() < ANONYMOUS_EVENT_SHARE and device:
                openid = member_id = None  # browsing before the user logged in
            else:
                evidence.append(Identifier(pid, OPENID, openid))
            if member_id is not None:
                evidence.append(Identifier(pid, MEMBER_ID, member_id))
            sku = self.world.catalog[rng.randrange(self.world.products_on_sale(t.date()))].sku_id \
                if event in SKU_EVENTS else None
            self.emit(EVENTS, t, {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_time": self.ts(t, millis=True), "app_id": account.app.app_id,
                "openid": openid, "device_id": device, "member_id": member_id, "event": event,
                "page": EVENT_PAGES[event] if is_mini else f"mp/article/{rng.randint(1, 400)}",
                "sku_id": sku, "properties": self.event_properties(event),
            }, evidence)
            t += timedelta(seconds=rng.randint(5, 90))

    def event_properties(self, event: str) -> dict:
        rng = self.rng
        if event == "search":
            return {"keyword": rng.choice(SEARCH_WORDS)}
        if event == "share":
            return {"share_to": rng.choice(("friend", "moments"))}
        if event == "coupon_claim":
            return {"template_id": CLAIMED_COUPON.template_id}
        if event == "sign_in":
            return {"points": 5}
        return {"scene": rng.choice(SCENES), "duration_ms": rng.randint(300, 60_000)}


# ============================================================================================
# Landing: batches per entity and dt, quirks, parts
# ============================================================================================


def assemble(rng: Random, contract: dict[str, EntitySpec], rows: list[Row], window: Window,
             truth: Truth) -> list[Batch]:
    """Cut the simulated rows into per-dt extracts and record the truth they carry."""
    buckets: dict[tuple[str, date], list[Row]] = {}
    for row in rows:
        if row.at < window.end:  # later rows are not extracted yet
            buckets.setdefault((row.entity, window.dt_of(row.at)), []).append(row)
    batches = []
    for spec in contract.values():
        for dt in window.dts:
            bucket = buckets.get((spec.name, dt))
            if not bucket:
                continue
            bucket.sort(key=lambda r: r.at)
            names = spec.column_names
            blankable = blankable_columns(spec)
            lines = []
            for row in bucket:
                if tuple(row.values) != names:
                    raise ValueError(f"{spec.name} record off the contract: {list(row.values)}")
                truth.record(row.evidence)
                blank_some_nulls(rng, blankable, row.values)
                lines.append(Line(row.values))
            batches.append(Batch(spec, dt, spec.column_names, [lines]))
    return batches


def blankable_columns(spec: EntitySpec) -> tuple[str, ...]:
    """Columns whose null a JSON exporter may write as "": optional scalars of JSON entities."""
    if spec.format != "jsonl":
        return ()
    return tuple(c.name for c in spec.columns
                 if not c.required and c.type not in ("list", "object", "items"))


def blank_some_nulls(rng: Random, columns: tuple[str, ...], values: dict) -> None:
    for name in columns:
        if values[name] is None and rng.random() < EMPTY_STRING_NULL_SHARE:
            values[name] = ""


def apply_column_quirks(rng: Random, batches: list[Batch], window: Window) -> None:
    """One members file with an unexpected column, one store orders file without guide_id."""
    entity, extra, extra_values = EXTRA_COLUMN
    batch = quirk_batch(rng, batches, entity, window)
    if batch is not None:
        batch.columns = (*batch.columns, extra)
        batch.fixed_layout = True
        for line in batch.parts[0]:
            line.values[extra] = rng.choice(extra_values)
    entity, dropped = DROPPED_COLUMN
    batch = quirk_batch(rng, batches, entity, window)
    if batch is not None:
        batch.columns = tuple(c for c in batch.columns if c != dropped)
        batch.fixed_layout = True


def quirk_batch(rng: Random, batches: list[Batch], entity: str, window: Window) -> Batch | None:
    # An increment when there is one: a quirk is news, not part of the initial extract.
    own = [b for b in batches if b.spec.name == entity]
    later = [b for b in own if b.dt != window.start]
    return rng.choice(later) if later else (own[0] if own else None)


def split_parts(rng: Random, batch: Batch) -> None:
    lines = batch.parts[0]
    if batch.fixed_layout or len(lines) < MIN_ROWS_FOR_SECOND_PART or rng.random() >= SECOND_PART_SHARE:
        return
    cut = rng.randint(len(lines) // 3, 2 * len(lines) // 3)
    batch.parts = [lines[:cut], lines[cut:]]


# ============================================================================================
# Defects
# ============================================================================================


def defect_columns(spec: EntitySpec) -> dict[str, list[Column]]:
    """For each reason code that can happen to this entity, the columns it can hit."""
    options: dict[str, list[Column]] = {MALFORMED_RECORD: [], DUPLICATE_ROW: []}
    for column in spec.columns:
        codes = [MISSING_VALUE] if column.required else []
        codes += {"timestamp": [BAD_TIMESTAMP], "date": [BAD_DATE], "enum": [BAD_ENUM],
                  "decimal": [BAD_NUMBER], "int": [BAD_NUMBER]}.get(column.type, [])
        if column.type in ("decimal", "int") and column.min is not None:
            codes.append(OUT_OF_RANGE)
        for code in codes:
            options.setdefault(code, []).append(column)
    return options


def defect_plans(rng: Random, contract: dict[str, EntitySpec]
                 ) -> dict[str, tuple[Iterator[str], dict[str, list[Column]]]]:
    """Per entity: its reason codes in a shuffled rotation, so that every kind comes up even
    where defects are few, and the columns each code can hit."""
    plans = {}
    for name, spec in contract.items():
        options = defect_columns(spec)
        codes = sorted(options)
        rng.shuffle(codes)
        plans[name] = (itertools.cycle(codes), options)
    return plans


def inject_bad_rows(rng: Random, batch: Batch, rate: float, codes: Iterator[str],
                    options: dict[str, list[Column]]) -> None:
    """Add defective copies of good lines; a duplicate always lands after its original."""
    slots = [(p, i) for p, part in enumerate(batch.parts) for i in range(len(part))]
    expected = len(slots) * rate
    count = int(expected) + (rng.random() < expected - int(expected))
    if count == 0:
        return
    keyed = [[(float(i), line) for i, line in enumerate(part)] for part in batch.parts]
    # Distinct templates, so no defective line can equal another one.
    for p, i in rng.sample(slots, count):
        template = batch.parts[p][i]
        code = next(codes)
        line = defective_copy(rng, batch.spec, template, code, options[code])
        if code == DUPLICATE_ROW:
            target = rng.randrange(p, len(keyed))
            low = i + 1 if target == p else 0
        else:
            target, low = rng.randrange(len(keyed)), 0
        keyed[target].append((rng.randint(low, len(batch.parts[target])) - 0.5, line))
    batch.parts = [[line for _, line in sorted(part, key=itemgetter(0))] for part in keyed]


def defective_copy(rng: Random, spec: EntitySpec, template: Line, code: str,
                   columns: list[Column]) -> Line:
    if code == DUPLICATE_ROW:
        return Line(template.values, DUPLICATE_ROW)
    is_json = spec.format == "jsonl"
    if code == MALFORMED_RECORD:
        return Line(template.values, MALFORMED_RECORD,
                    rng.choice(JSON_BREAKAGES if is_json else CSV_BREAKAGES))
    column = rng.choice(columns)
    values = dict(template.values)
    values[column.name] = bad_value(rng, code, column, is_json)
    return Line(values, column_reason(code, column.name))


def bad_value(rng: Random, code: str, column: Column, is_json: bool) -> str | None:
    if code == MISSING_VALUE:
        return None if is_json and rng.random() < 0.5 else ""
    if code == BAD_TIMESTAMP:
        return rng.choice(BAD_TIMESTAMPS)
    if code == BAD_DATE:
        return rng.choice(BAD_DATES)
    if code == BAD_NUMBER:
        return rng.choice(BAD_NUMBERS)
    if code == OUT_OF_RANGE:
        if column.type == "int":
            return str(int(column.min) - rng.randint(1, 3))
        return money(round(column.min * 100) - rng.randint(1, 50_000))
    candidates = [v for allowed in column.values for v in (allowed.capitalize(), allowed.upper(),
                                                             allowed.lower())]
    candidates += BAD_ENUM_EXTRAS
    return rng.choice([v for v in dict.fromkeys(candidates) if v not in column.values])


# ============================================================================================
# Writing
# ============================================================================================


def clear_output(out: Path, contract: dict[str, EntitySpec]) -> None:
    """Remove what an earlier run wrote: dt folders of the contract's entities and the truth."""
    for spec in contract.values():
        folder = out / spec.source / spec.entity
        if folder.is_dir():
            for child in sorted(folder.iterdir()):
                if child.is_dir() and child.name.startswith("dt="):
                    shutil.rmtree(child)
    shutil.rmtree(out / TRUTH_DIR, ignore_errors=True)


def write_batch(rng: Random, out: Path, batch: Batch, truth: Truth) -> int:
    """Write the batch's part files; returns how many files."""
    spec = batch.spec
    folder = out / spec.source / spec.entity / f"dt={batch.dt.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    for number, lines in enumerate(batch.parts, start=1):
        path = folder / f"part-{number:04d}.{spec.format}"
        relative = path.relative_to(out).as_posix()
        if spec.format == "csv":
            body, first_line = csv_text(batch.columns, lines), 2  # line 1 is the header
            encoding = spec.encoding
            if encoding == "utf-8" and rng.random() < BOM_SHARE:
                encoding = "utf-8-sig"
        else:
            body, first_line, encoding = jsonl_text(rng, batch.columns, lines), 1, "utf-8"
        path.write_bytes(body.encode(encoding))
        for number_in_file, line in enumerate(lines, start=first_line):
            if line.reason is not None:
                truth.bad_rows.append((spec.source, spec.entity, batch.dt.isoformat(), relative,
                                       number_in_file, line.reason))
    return len(batch.parts)


def csv_text(columns: tuple[str, ...], lines: list[Line]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for line in lines:
        fields = ["" if (value := line.values.get(c)) is None else value for c in columns]
        if line.breakage == "short":
            fields = fields[:-1]
        elif line.breakage == "long":
            fields.append(fields[0])
        writer.writerow(fields)
    return buffer.getvalue()


def jsonl_text(rng: Random, columns: tuple[str, ...], lines: list[Line]) -> str:
    texts = []
    for line in lines:
        text = JSON_LINE({c: line.values[c] for c in columns})
        if line.breakage == "truncated":
            text = text[:rng.randint(len(text) // 3, len(text) - 2)]
        elif line.breakage == "string":
            text = JSON_LINE(text)
        texts.append(text + "\n")
    return "".join(texts)


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def write_truth(folder: Path, truth: Truth, summary: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "bad_rows.csv", ("source", "entity", "dt", "file", "line", "reason"),
              truth.bad_rows)
    write_csv(folder / "identifiers.csv", ("person_id", "id_type", "id_value"),
              sorted(truth.identifiers))
    write_csv(folder / "non_identifiers.csv", ("id_type", "raw_value", "kind"),
              sorted(truth.non_identifiers))
    write_csv(folder / "shared.csv", ("id_type", "id_value", "kind", "person_ids"),
              [(*key, ";".join(sorted(persons))) for key, persons in sorted(truth.shared.items())])
    (folder / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n",
                                         encoding="utf-8")


# ============================================================================================
# Entry point
# ============================================================================================


def generate(out: Path, persons: int, start: date, days: int, seed: int,
             conf_dir: Path | None = None) -> dict:
    """Write a sample landing zone under ``out`` and its ground truth under ``out/_truth``.

    Args:
        out: landing root. The dt folders of the contract's entities and ``_truth`` are
            rewritten; nothing else in it is touched.
        persons: size of the simulated population (10 000 gives about 60 stores).
        start: first business date; its dt holds the initial history extract.
        days: number of business dates, ``start`` included.
        seed: seed of the one random generator; the same arguments give the same bytes.
        conf_dir: folder of ``sources.yml``; the repository's ``conf/`` by default.

    Returns:
        ``{"rows": {"source/entity": records written, defective ones included},
        "bad_rows": {"source/entity": n}, "files": n, "dts": ["YYYY-MM-DD", ...]}``
    """
    if persons < 1 or days < 1:
        raise ValueError("persons and days must be at least 1")
    out = Path(out)
    contract = load_contract(Path(conf_dir) if conf_dir else DEFAULT_CONF_DIR)
    rng = Random(seed)
    window = Window(start, days)
    world = build_world(rng, persons, window)
    rows = Simulation(rng, world, window).run()

    truth = Truth()
    batches = assemble(rng, contract, rows, window, truth)
    apply_column_quirks(rng, batches, window)
    plans = defect_plans(rng, contract)
    for batch in batches:
        split_parts(rng, batch)
        rate = BAD_ROW_RATE_FIRST_DT if batch.dt == window.start else BAD_ROW_RATE_LATER_DT
        inject_bad_rows(rng, batch, rate, *plans[batch.spec.name])

    clear_output(out, contract)
    files = sum(write_batch(rng, out, batch, truth) for batch in batches)
    summary = {
        "rows": {name: sum(len(part) for b in batches if b.spec.name == name for part in b.parts)
                 for name in contract},
        "bad_rows": {name: sum(1 for row in truth.bad_rows if f"{row[0]}/{row[1]}" == name)
                     for name in contract},
        "files": files,
        "dts": [dt.isoformat() for dt in window.dts],
    }
    arguments = {"persons": persons, "start": start.isoformat(), "days": days, "seed": seed}
    write_truth(out / TRUTH_DIR, truth, {**summary, "arguments": arguments})
    return summary
