"""The simulated world: the time window, the stores and catalog every chunk shares, and the
persons of one chunk with their households, channels and apps."""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from random import Random
from typing import NamedTuple

from jobs.sample_data.draws import IdShare, random_moment, weighted, weights
from jobs.sample_data.identifiers import (
    EMAIL_HANDLES,
    INVALID_EMAILS,
    PLACEHOLDER_MOBILES,
    new_device,
    new_email,
    new_mobile,
)

MEMBER_HISTORY_DAYS = 3 * 365  # the CRM extract holds members of the last three years
ORDER_HISTORY_DAYS = 2 * 365  # orders, points and coupons of the last two years
EVENT_HISTORY_DAYS = 90  # the tracking tool keeps 90 days of events


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

# --- stores and products -----------------------------------------------------------------
STORES_AT_10K_PERSONS = 60
MIN_STORES = 8
CLOSED_STORE_SHARE = 0.05
CATALOG_SKUS = 800
APPAREL_SIZES = ("S", "M", "L", "XL", "XXL")
KIDS_SIZES = ("110", "120", "130", "140", "150")
SHOE_SIZES = ("35", "36", "37", "38", "39", "40", "41", "42", "43", "44")
ONE_SIZE = ("均码",)
COLORS = ("黑色", "白色", "灰色", "藏青", "米白", "卡其", "酒红", "雾蓝", "墨绿", "杏色")
STYLES = ("宽松", "修身", "复古", "简约", "法式", "工装", "轻薄", "经典", "撞色", "基础")
BRANDS = ("拾光", "北岸", "URBAN TIDE", "森屿")


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
FAMILY_DEVICE_SHARE = 0.7  # of households with two mini-program users


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
    """What every chunk shares: built from the seed alone, so each chunk builds the same."""

    stores: list[Store]
    catalog: list[Product]  # sorted by launch date
    flagship: Store
    store_phone: str  # typed by the flagship's cashiers for many persons: a shared-identifier trap

    def __post_init__(self) -> None:
        self.launch_dates = [p.launch_date for p in self.catalog]
        self.trading_stores = [s for s in self.stores if s.closed_at is None]

    def products_on_sale(self, day: date) -> int:
        """How many catalog entries (a prefix of it) are launched on ``day``."""
        return max(1, bisect_right(self.launch_dates, day))


def build_world(rng: Random, population: int, window: Window) -> World:
    stores = build_stores(rng, population, window)
    catalog = build_catalog(rng, window)
    store_phone = new_mobile(rng, set(PLACEHOLDER_MOBILES))
    return World(stores, catalog, stores[0], store_phone)


def build_stores(rng: Random, population: int, window: Window) -> list[Store]:
    # Store count grows with the square root of the customer base: 60 at 10k persons.
    count = max(MIN_STORES, round(STORES_AT_10K_PERSONS * math.sqrt(population / 10_000)))
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


def price_ending_in_9(yuan: int) -> int:
    """Cents of the shelf price for about ``yuan``: 199.00, 459.00, ..."""
    return (yuan // 10 * 10 + 9) * 100


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


def build_persons(rng: Random, world: World, window: Window, first: int, count: int,
                  population: int, share: IdShare) -> list[Person]:
    """Persons ``first`` .. ``first + count - 1`` of a population: one chunk.

    Households, family devices and the flagship's regulars are drawn among the chunk's own
    persons, and its mobiles and emails from the chunk's ``share``, so no other chunk is needed.
    """
    taken = {world.store_phone, *PLACEHOLDER_MOBILES}
    emails: set[str] = set()
    people: list[Person] = []
    household: list[Person] = []
    household_size = 0
    for n in range(first, first + count):
        if len(household) >= household_size:  # the current household is complete
            household = []
            household_size = rng.choice(HOUSEHOLD_SIZES) if rng.random() < HOUSEHOLD_SHARE else 1
            region = weighted(rng, REGION_WEIGHTS)
            district = rng.choice(region.districts)
            address = (f"{district}{rng.choice(ROADS)}{rng.randint(1, 999)}号"
                       f"{rng.randint(1, 30)}栋{rng.randint(1, 33)}{rng.randint(1, 4):02d}室")
        email = new_email(rng, emails, share) if rng.random() < EMAIL_SHARE else None
        bad_email = None
        if email is None and rng.random() < INVALID_EMAIL_SHARE:
            bad_email = rng.choice(INVALID_EMAILS).format(handle=rng.choice(EMAIL_HANDLES))
        person = Person(
            person_id=f"P{n:07d}",
            name=rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_NAME_CHARS, k=rng.randint(1, 2))),
            gender="F" if rng.random() < 0.6 else "M",
            birthday=date(rng.randint(1962, 2006), rng.randint(1, 12), rng.randint(1, 28)),
            region=region, district=district, address=address,
            mobiles=[(datetime.min, new_mobile(rng, taken, share))], email=email, bad_email=bad_email,
        )
        choose_channels(rng, person)
        if person.is_member and rng.random() < MOBILE_CHANGE_SHARE:
            since = random_moment(rng, window.days_before(MEMBER_HISTORY_DAYS), window.end)
            person.mobiles.append((since, new_mobile(rng, taken, share)))
        for housemate in household:
            housemate.housemates.append(person)
            person.housemates.append(housemate)
        household.append(person)
        people.append(person)

    stores_by_city: dict[str, list[Store]] = {}
    for store in world.trading_stores:
        stores_by_city.setdefault(store.region.city, []).append(store)
    for person in people:
        person.home_store = rng.choice(stores_by_city.get(person.region.city, world.trading_stores))
    share_family_devices(rng, people)
    # The population's minimum of regulars is spread over the chunks by their size.
    send_to_flagship(rng, people, world.flagship, round(STORE_PHONE_MIN_PERSONS * count / population))
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


def send_to_flagship(rng: Random, people: list[Person], flagship: Store, at_least: int) -> None:
    """Make the flagship's regulars: its cashiers type the store phone for them."""
    candidates = [p for p in people if p.is_member and p.shops_pos]
    wanted = max(at_least, round(STORE_PHONE_PERSON_SHARE * len(candidates)))
    for person in rng.sample(candidates, min(wanted, len(candidates) // 2)):
        person.home_store = flagship
        person.types_store_phone = True
