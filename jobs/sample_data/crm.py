"""CRM: members and their versions, coupons, and the points ledger."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from operator import attrgetter
from random import Random
from typing import NamedTuple

from jobs.sample_data.contract import COUPONS, MEMBERS, POINTS, money
from jobs.sample_data.draws import weighted, weights
from jobs.sample_data.identifiers import (
    CARD_NO,
    CRM_MOBILE_FORMS,
    EMAIL,
    EMAIL_DOMAINS,
    EMAIL_HANDLES,
    INVALID,
    MEMBER_ID,
    MOBILE,
    card_text,
    email_text,
    mobile_text,
)
from jobs.sample_data.simulation import ONLINE_HOURS, STORE_HOURS, Simulation
from jobs.sample_data.truth import Identifier, NonIdentifier
from jobs.sample_data.world import MEMBER_HISTORY_DAYS, Person

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
CHANGED_EMAIL_NUMBERS = (10, 100_000)


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
COUPON_USE_SHARE = 0.6
REDEMPTIONS_PER_YEAR = 0.6
ADJUSTMENTS_PER_YEAR = 0.1
BONUS_POINTS_SHARE = 0.15
GRADE_POINTS_SHARE = 0.25
REDEEM_POINTS = (100, 200, 500, 1000)


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


def active_membership(memberships: list[Membership], t: datetime) -> tuple[Membership, MemberState] | None:
    for membership in reversed(memberships):
        state = membership.state_at(t)
        if state is not None:
            return (membership, state) if state.status == ACTIVE else None
    return None


# --- members -----------------------------------------------------------------------------------


def memberships(sim: Simulation, person: Person) -> list[Membership]:
    """The person's memberships: a cancelled one may be followed by a new registration."""
    w, rng = sim.window, sim.rng
    joined_at = sim.moment(w.days_before(MEMBER_HISTORY_DAYS), w.end, STORE_HOURS)
    joined = [join(sim, person, joined_at)]
    if rng.random() < REREGISTER_SHARE:
        first = joined[0]
        cancelled_at = sim.moment(joined_at, w.end, STORE_HOURS)
        evolve(sim, person, first, until=cancelled_at)
        if first.states[-1].status != CANCELLED:
            first.states.append(replace(first.states[-1], at=cancelled_at, status=CANCELLED))
        rejoined_at = first.states[-1].at + timedelta(days=rng.randint(1, 90), hours=1)
        if rejoined_at < w.end:
            joined.append(join(sim, person, rejoined_at))
    evolve(sim, person, joined[-1], until=w.end)
    for membership in joined:
        issue_coupons(sim, person, membership)
        for state in sim.extracted(membership.states, at=attrgetter("at")):
            emit_member(sim, person, membership, state)
    return joined


def join(sim: Simulation, person: Person, at: datetime) -> Membership:
    rng = sim.rng
    number = sim.next_number("member", rng.randint(1, 9))
    channel = weighted(rng, JOIN_CHANNELS)
    if rng.random() < UNKNOWN_GENDER_SHARE:
        gender = "U"
    elif rng.random() < CHINESE_GENDER_SHARE:
        gender = "女" if person.gender == "F" else "男"
    else:
        gender = person.gender
    email = None
    if person.email is not None:
        email = Typed(person.email, email_text(rng, person.email))
    elif person.bad_email is not None:
        email = Typed(None, person.bad_email)
    state = MemberState(at, typed_card(rng, f"C88{number:08d}"),
                        typed_mobile(rng, person.mobile_at(at)), email, LEVELS[0], ACTIVE)
    return Membership(
        member_id=f"M{number:08d}", joined_at=at, gender_text=gender,
        shows_birthday=rng.random() < BIRTHDAY_SHARE, join_channel=channel,
        join_store_id=person.home_store.store_id if channel == IN_STORE_JOIN else None,
        states=[state])


def evolve(sim: Simulation, person: Person, membership: Membership, until: datetime) -> None:
    """Member updates between joining and ``until``, each a new version of the row."""
    start = membership.joined_at
    changes = [(sim.moment(start, until), weighted(sim.rng, MEMBER_CHANGES))
               for _ in range(sim.rng.choice(MEMBER_CHANGE_COUNTS))]
    changes += [(since, "mobile") for since, _ in person.mobiles[1:] if start < since < until]
    for at, change in sorted(changes):
        state = membership.states[-1]
        if state.status == CANCELLED:
            break
        if state.status == FROZEN:
            change = "unfreeze"  # the next update of a frozen member lifts the freeze
        new = changed(sim, person, state, change, at)
        if new is not None:
            membership.states.append(new)


def changed(sim: Simulation, person: Person, state: MemberState, change: str,
            at: datetime) -> MemberState | None:
    rng = sim.rng
    if change == "level":
        rank = LEVELS.index(state.level)
        return replace(state, at=at, level=LEVELS[rank + 1]) if rank + 1 < len(LEVELS) else None
    if change == "email":
        email = changed_email(sim)
        return replace(state, at=at, email=Typed(email, email_text(rng, email)))
    if change == "card":
        return replace(state, at=at, card=typed_card(rng, f"C89{sim.next_number('card'):08d}"))
    if change == "mobile":
        return replace(state, at=at, mobile=typed_mobile(rng, person.mobile_at(at)))
    status = {"freeze": FROZEN, "unfreeze": ACTIVE, "cancel": CANCELLED}[change]
    return replace(state, at=at, status=status)


def typed_card(rng: Random, card_no: str) -> Typed:
    return Typed(card_no, card_text(rng, card_no))


def typed_mobile(rng: Random, mobile: str) -> Typed:
    return Typed(mobile, mobile_text(rng, mobile, CRM_MOBILE_FORMS))


def changed_email(sim: Simulation) -> str:
    """The new address of a member who changes it: a "handle.number" form no first email has."""
    rng = sim.rng
    return sim.fresh(lambda: f"{rng.choice(EMAIL_HANDLES)}.{sim.share.draw(rng, *CHANGED_EMAIL_NUMBERS)}"
                             f"@{rng.choice(EMAIL_DOMAINS)}")


def emit_member(sim: Simulation, person: Person, m: Membership, state: MemberState) -> None:
    pid = person.person_id
    evidence = [Identifier(pid, MEMBER_ID, m.member_id), Identifier(pid, CARD_NO, state.card.value),
                Identifier(pid, MOBILE, state.mobile.value)]
    email = state.email
    if email is not None:
        evidence.append(Identifier(pid, EMAIL, email.value) if email.value
                        else NonIdentifier(EMAIL, email.text, INVALID))
    sim.emit(MEMBERS, state.at, {
        "member_id": m.member_id, "card_no": state.card.text, "mobile": state.mobile.text,
        "email": email and email.text, "name": person.name, "gender": m.gender_text,
        "birthday": person.birthday.isoformat() if m.shows_birthday else None,
        "join_channel": m.join_channel, "join_store_id": m.join_store_id,
        "join_time": sim.ts(m.joined_at), "level": state.level, "status": state.status,
        "updated_at": sim.ts(state.at),
    }, evidence)


# --- coupons -------------------------------------------------------------------------------------


def issue_coupons(sim: Simulation, person: Person, m: Membership) -> None:
    end = m.states[-1].at if m.states[-1].status == CANCELLED else sim.window.end
    issues = [(m.joined_at + timedelta(minutes=1), WELCOME_COUPON)]
    for year in range(m.joined_at.year, end.year + 1):
        birthday = datetime(year, person.birthday.month, 1, 9)
        if m.joined_at < birthday:
            issues.append((birthday, BIRTHDAY_COUPON))
    issues += [(t, sim.rng.choice(CAMPAIGN_COUPONS))
               for t in sim.moments(CAMPAIGN_COUPONS_PER_YEAR, m.joined_at, end, ONLINE_HOURS)]
    for at, template in sorted(issues):
        if sim.orders_from <= at < end:
            m.coupons.append(Coupon(coupon_id(sim), template, m.member_id, at))


def coupon_id(sim: Simulation) -> str:
    return f"CP{sim.next_number('coupon'):010d}"


def coupon_rows(sim: Simulation, person: Person, m: Membership) -> None:
    for coupon in m.coupons:
        emit_coupon(sim, coupon, person.person_id)


def claimed_coupon(sim: Simulation, subscribed_at: datetime) -> None:
    """A non-member claims a coupon in the mini program: the coupon has no member_id."""
    lo = max(sim.orders_from, subscribed_at)
    coupon = Coupon(coupon_id(sim), CLAIMED_COUPON, None, sim.moment(lo, sim.window.end, ONLINE_HOURS))
    emit_coupon(sim, coupon, None)


def emit_coupon(sim: Simulation, coupon: Coupon, person_id: str | None) -> None:
    # An unused coupon expires; a version dated after the window is simply not extracted.
    versions = [(coupon.issued_at, "issued")]
    if coupon.used_at is not None:
        versions.append((coupon.used_at, "used"))
    else:
        versions.append((coupon.expire_at, "expired"))
    evidence = [Identifier(person_id, MEMBER_ID, coupon.member_id)] if coupon.member_id else []
    for at, status in sim.extracted(versions):
        used = status == "used"
        sim.emit(COUPONS, at, {
            "coupon_id": coupon.coupon_id, "template_id": coupon.template.template_id,
            "member_id": coupon.member_id, "issued_at": sim.ts(coupon.issued_at),
            "channel": coupon.template.channel, "face_value": money(coupon.template.face_cents),
            "threshold": money(coupon.template.threshold_cents),
            "used_at": sim.ts(coupon.used_at) if used else None,
            "used_order_id": coupon.used_order_id if used else None,
            "expire_at": sim.ts(coupon.expire_at), "status": status,
        }, evidence)


# --- points ----------------------------------------------------------------------------------


def end_of_next_year(t: datetime) -> datetime:
    return datetime(t.year + 1, 12, 31, 23, 59, 59)


def points(sim: Simulation, person: Person, member_id: str, at: datetime, change: int, reason: str,
           points_type: str = "base", order_id: str | None = None) -> None:
    sim.emit(POINTS, at, {
        "ledger_id": f"L{sim.next_number('ledger'):010d}", "member_id": member_id,
        "txn_time": sim.ts(at), "points_type": points_type, "change": str(change),
        "reason": reason, "order_id": order_id,
        "expire_at": sim.ts(end_of_next_year(at)) if change > 0 else None,
    }, [Identifier(person.person_id, MEMBER_ID, member_id)])


def order_points(sim: Simulation, person: Person, member_id: str, at: datetime, pay_cents: int,
                 order_id: str) -> None:
    base = pay_cents // 100
    if base == 0:
        return
    points(sim, person, member_id, at, base, "order", order_id=order_id)
    if sim.rng.random() < BONUS_POINTS_SHARE:
        points(sim, person, member_id, at + timedelta(seconds=1), base // 2 + 1, "order", "bonus", order_id)
    if sim.rng.random() < GRADE_POINTS_SHARE:
        points(sim, person, member_id, at + timedelta(seconds=2), base, "order", "grade", order_id)


def points_movements(sim: Simulation, person: Person, m: Membership) -> None:
    """Redemptions, manual adjustments and year-end expiries, apart from orders."""
    rng = sim.rng
    lo = max(m.joined_at, sim.orders_from)
    end = m.states[-1].at if m.states[-1].status == CANCELLED else sim.window.end
    for at in sim.moments(REDEMPTIONS_PER_YEAR, lo, end, STORE_HOURS):
        points(sim, person, m.member_id, at, -rng.choice(REDEEM_POINTS), "redeem")
    for at in sim.moments(ADJUSTMENTS_PER_YEAR, lo, end, STORE_HOURS):
        points(sim, person, m.member_id, at, rng.choice((-1, 1)) * rng.randint(10, 500), "adjust")
    for year in range(lo.year, end.year + 1):
        at = datetime(year, 12, 31, 23, 59, 59)
        if lo < at < end and rng.random() < 0.5:
            points(sim, person, m.member_id, at, -rng.randint(10, 300), "expire")
