"""WeChat: users of the official accounts and mini programs, and their tracking events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from jobs.sample_data.contract import EVENTS, WECHAT_USERS
from jobs.sample_data.crm import CLAIMED_COUPON, Membership, active_membership
from jobs.sample_data.draws import weighted, weights
from jobs.sample_data.identifiers import (
    DEVICE_ID,
    FAMILY_DEVICE,
    JUNK_DEVICE,
    JUNK_DEVICES,
    MEMBER_ID,
    MOBILE,
    OPENID,
    UNIONID,
    UNIONID_PREFIX,
    WECHAT_MOBILE_FORMS,
    mobile_text,
    wechat_id,
)
from jobs.sample_data.simulation import ONLINE_HOURS, Simulation
from jobs.sample_data.truth import Identifier, NonIdentifier, SharedUse
from jobs.sample_data.world import (
    EVENT_HISTORY_DAYS,
    MEMBER_HISTORY_DAYS,
    MINI_PROGRAM,
    OFFICIAL_ACCOUNT,
    App,
    Person,
)

NICKNAME_DECORATIONS = ("", "", "", "🌸", "✨", "~", "😊", "🍀")
NICKNAMES = ("快乐每一天", "Amy", "阳光", "小猪佩奇", "Leo", "简单生活", "追风少年", "momo", "一路向北")
FAMILY_SESSION_SHARE = 0.35
JUNK_DEVICE_SHARE = 0.04
ANONYMOUS_EVENT_SHARE = 0.08
WECHAT_BINDING_SHARE = 0.7
BINDING_DELAY_MEAN_DAYS = 20
BINDING_CAMPAIGN_DAILY_SHARE = 0.03  # of members' unbound accounts, per increment day
WECHAT_PHONE_SHARE = 0.4
UNSUBSCRIBE_SHARE = 0.15
SESSIONS_PER_90_DAYS = 2
SESSIONS_PER_90_DAYS_BROWSER = 6

MP_EVENTS = weights((("product_view", 35), ("page_view", 20), ("search", 10), ("add_cart", 10),
                    ("sign_in", 8), ("favorite", 6), ("share", 5), ("coupon_claim", 6)))
EVENT_PAGES = {"page_view": "pages/index/index", "product_view": "pages/goods/detail",
               "search": "pages/search/index", "add_cart": "pages/goods/detail",
               "favorite": "pages/goods/detail", "share": "pages/goods/detail",
               "coupon_claim": "pages/coupon/list", "sign_in": "pages/member/center"}
SKU_EVENTS = ("product_view", "add_cart", "favorite", "share")
SEARCH_WORDS = ("连衣裙", "衬衫", "跑步鞋", "双肩包", "卫衣", "新品", "打折", "围巾", "牛仔")
SCENES = (1001, 1007, 1011, 1047, 1089)


@dataclass
class WechatAccount:
    app: App
    openid: str
    subscribed_at: datetime
    bound_at: datetime | None = None
    member_id: str | None = None

    def member_at(self, t: datetime) -> str | None:
        return self.member_id if self.bound_at is not None and self.bound_at <= t else None


# --- users ---------------------------------------------------------------------------------------


def users(sim: Simulation, person: Person, memberships: list[Membership]) -> list[WechatAccount]:
    """The person's accounts, one per app, under one unionid."""
    if not person.apps:
        return []
    w, rng = sim.window, sim.rng
    unionid = sim.fresh(lambda: wechat_id(rng, UNIONID_PREFIX))
    nickname = rng.choice(NICKNAMES + (person.name[1:],)) + rng.choice(NICKNAME_DECORATIONS)
    accounts = []
    for app in person.apps:
        openid = sim.fresh(lambda: wechat_id(rng, app.openid_prefix))
        account = WechatAccount(app, openid, sim.moment(w.days_before(MEMBER_HISTORY_DAYS), w.end))
        changes = [(account.subscribed_at, "subscribe")]
        bound_at = binding_moment(sim, account, memberships) if memberships else None
        member = bound_at and active_membership(memberships, bound_at)
        if member:
            account.bound_at, account.member_id = bound_at, member[0].member_id
            changes.append((bound_at, "bind"))
        if app.app_type == MINI_PROGRAM and rng.random() < WECHAT_PHONE_SHARE:
            changes.append((sim.moment(account.subscribed_at, w.end), "phone"))
        if app.app_type == OFFICIAL_ACCOUNT and rng.random() < UNSUBSCRIBE_SHARE:
            changes.append((sim.moment(account.subscribed_at, w.end), "unsubscribe"))
        emit_user_versions(sim, person, account, unionid, nickname, sorted(changes))
        accounts.append(account)
    return accounts


def binding_moment(sim: Simulation, account: WechatAccount, memberships: list[Membership]) -> datetime | None:
    """When a member binds the account: soon after both exist, during the binding campaign
    the mini program runs over the increment days, or never."""
    rng = sim.rng
    if rng.random() < WECHAT_BINDING_SHARE:
        delay = timedelta(minutes=round(rng.expovariate(1 / BINDING_DELAY_MEAN_DAYS) * 24 * 60))
        return max(account.subscribed_at, memberships[0].joined_at) + delay
    for dt in sim.window.dts[1:]:
        if dt > account.subscribed_at.date() and rng.random() < BINDING_CAMPAIGN_DAILY_SHARE:
            day = datetime.combine(dt, time())
            return sim.moment(day, day + timedelta(days=1), ONLINE_HOURS)
    return None


def emit_user_versions(sim: Simulation, person: Person, account: WechatAccount, unionid: str,
                       nickname: str, changes: list[tuple[datetime, str]]) -> None:
    pid = person.person_id
    is_official = account.app.app_type == OFFICIAL_ACCOUNT
    values = {
        "app_id": account.app.app_id, "app_type": account.app.app_type,
        "openid": account.openid, "unionid": unionid, "mobile": None, "member_id": None,
        "nickname": nickname,
        "subscribe_time": sim.ts(account.subscribed_at) if is_official else None,
        "unsubscribe_time": None, "updated_at": None,
    }
    evidence = [Identifier(pid, OPENID, account.openid), Identifier(pid, UNIONID, unionid)]
    kept = sim.extracted(changes)
    for at, change in changes:
        if change == "bind":
            values["member_id"] = account.member_id
            evidence.append(Identifier(pid, MEMBER_ID, account.member_id))
        elif change == "phone":
            mobile = person.mobile_at(at)
            values["mobile"] = mobile_text(sim.rng, mobile, WECHAT_MOBILE_FORMS)
            evidence.append(Identifier(pid, MOBILE, mobile))
        elif change == "unsubscribe":
            values["unsubscribe_time"] = sim.ts(at)
        if (at, change) in kept:
            values["updated_at"] = sim.ts(at)
            sim.emit(WECHAT_USERS, at, dict(values), evidence)


# --- events --------------------------------------------------------------------------------------


def events(sim: Simulation, person: Person, accounts: list[WechatAccount]) -> None:
    w, rng = sim.window, sim.rng
    browses_only = not (person.shops_pos or person.platforms or person.is_member)
    rate = (SESSIONS_PER_90_DAYS_BROWSER if browses_only else SESSIONS_PER_90_DAYS) * 365 / 90
    # A family-device user's first mini-program session is on the family device, so that
    # every user of the device shows up on it.
    needs_family_session = person.family_device is not None
    for account in accounts:
        is_mini = account.app.app_type == MINI_PROGRAM
        forced = needs_family_session and is_mini
        lo = max(w.days_before(EVENT_HISTORY_DAYS), account.subscribed_at)
        starts = sim.moments(rate if is_mini else rate / 3, lo, w.end, ONLINE_HOURS, at_least_one=forced)
        for n, t in enumerate(starts):
            on_family_device = (forced and n == 0) or (
                is_mini and person.family_device is not None and rng.random() < FAMILY_SESSION_SHARE)
            session(sim, person, account, t, on_family_device)
        needs_family_session = needs_family_session and not forced


def session(sim: Simulation, person: Person, account: WechatAccount, t: datetime,
            on_family_device: bool) -> None:
    rng, pid, catalog = sim.rng, person.person_id, sim.world.catalog
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
        sku = catalog[rng.randrange(sim.world.products_on_sale(t.date()))].sku_id if event in SKU_EVENTS else None
        sim.emit(EVENTS, t, {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_time": sim.ts(t, millis=True), "app_id": account.app.app_id,
            "openid": openid, "device_id": device, "member_id": member_id, "event": event,
            "page": EVENT_PAGES[event] if is_mini else f"mp/article/{rng.randint(1, 400)}",
            "sku_id": sku, "properties": event_properties(sim, event),
        }, evidence)
        t += timedelta(seconds=rng.randint(5, 90))


def event_properties(sim: Simulation, event: str) -> dict:
    rng = sim.rng
    if event == "search":
        return {"keyword": rng.choice(SEARCH_WORDS)}
    if event == "share":
        return {"share_to": rng.choice(("friend", "moments"))}
    if event == "coupon_claim":
        return {"template_id": CLAIMED_COUPON.template_id}
    if event == "sign_in":
        return {"points": 5}
    return {"scene": rng.choice(SCENES), "duration_ms": rng.randint(300, 60_000)}
