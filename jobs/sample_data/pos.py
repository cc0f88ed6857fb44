"""Stores (POS): the store list, and tickets with their lines, of persons and of walk-ins."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from jobs.sample_data import crm
from jobs.sample_data.contract import POS_ITEMS, POS_ORDERS, STORES, money
from jobs.sample_data.crm import Membership, active_membership
from jobs.sample_data.identifiers import (
    CARD_NO,
    CASHIER_MOBILE_FORMS,
    INVALID,
    MOBILE,
    PLACEHOLDER,
    PLACEHOLDER_MOBILES,
    STORE_PHONE,
    card_text,
    mistyped_mobile,
    mobile_text,
)
from jobs.sample_data.simulation import STORE_HOURS, BasketLine, Simulation
from jobs.sample_data.truth import Identifier, NonIdentifier, SharedUse
from jobs.sample_data.world import Person, Store

STORE_OPEN, STORE_CLOSED, STORE_RENOVATING = "营业", "闭店", "装修中"
STORE_CHANGE_SHARE_PER_DAY = 0.2
POS_VISITS_PER_YEAR_MEMBER = 2.5
POS_VISITS_PER_YEAR_GUEST = 1.2
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
PAY_METHODS = ("微信支付", "微信支付", "支付宝", "银行卡", "现金", "储值卡")


# --- the store list ----------------------------------------------------------------------------


def store_rows(sim: Simulation) -> None:
    for store in sim.world.stores:
        versions = [(datetime.combine(store.open_date, time(8)), STORE_OPEN)]
        if store.closed_at is not None:
            versions.append((store.closed_at, STORE_CLOSED))
        for at, status in sim.extracted(versions):
            emit_store(sim, store, at, status)
    for dt in sim.window.dts[1:]:
        if sim.rng.random() < STORE_CHANGE_SHARE_PER_DAY:
            store = sim.rng.choice(sim.world.trading_stores[1:] or sim.world.trading_stores)
            at = datetime.combine(dt, time(9, sim.rng.randrange(60)))
            emit_store(sim, store, at, STORE_RENOVATING)


def emit_store(sim: Simulation, store: Store, at: datetime, status: str) -> None:
    sim.emit(STORES, at, {
        "store_id": store.store_id, "store_name": store.name,
        "province": store.region.province, "city": store.region.city,
        "district": store.district, "store_type": store.store_type,
        "store_level": store.level, "open_date": store.open_date.isoformat(),
        "area_sqm": store.area_sqm, "status": status,
    })


# --- tickets -------------------------------------------------------------------------------------


def orders(sim: Simulation, person: Person, memberships: list[Membership]) -> None:
    rate = POS_VISITS_PER_YEAR_MEMBER if memberships else POS_VISITS_PER_YEAR_GUEST
    lo = max(sim.orders_from, memberships[0].joined_at) if memberships else sim.orders_from
    visits = sim.moments(rate, lo, sim.window.end, STORE_HOURS, at_least_one=True)
    for visit, t in enumerate(visits):
        home = visit == 0 or sim.rng.random() < HOME_STORE_SHARE
        store = person.home_store if home else sim.rng.choice(sim.world.trading_stores)
        sale(sim, person, memberships, store, t, first_visit=visit == 0)


def sale(sim: Simulation, person: Person, memberships: list[Membership], store: Store, t: datetime,
         first_visit: bool) -> None:
    rng = sim.rng
    sim.person_sales += 1
    evidence: list = []
    types_store_phone = (person.types_store_phone and store is sim.world.flagship
                         and (first_visit or rng.random() < STORE_PHONE_TYPING_SHARE))
    member = active_membership(memberships, t)
    card = None
    if member and (types_store_phone or rng.random() < CARD_SHOWN_SHARE):
        card = member[1].card.value
        evidence.append(Identifier(person.person_id, CARD_NO, card))
    if types_store_phone:
        mobile = sim.world.store_phone
        evidence += [NonIdentifier(MOBILE, mobile, STORE_PHONE),
                     SharedUse(MOBILE, mobile, STORE_PHONE, person.person_id)]
    else:
        mobile = cashier_mobile(sim, person, t, has_card=card is not None,
                                must_ask=first_visit and card is None, evidence=evidence)
    card_raw = card and card_text(rng, card)
    lines = sim.basket(t.date())
    order_id = pos_order_id(sim, store, t)
    total = sum(line.amount_cents for line in lines)
    coupon = member[0].use_coupon(rng, t, total, order_id) if card else None
    discount = coupon.template.face_cents if coupon else sim.promotion(total)
    emit_order(sim, order_id, store, card_raw, mobile, t, "sale", None, lines, discount, evidence)
    if card:
        crm.order_points(sim, person, member[0].member_id, t, total - discount, order_id)
    if rng.random() < RETURN_SHARE:
        returned_at = t + timedelta(days=rng.randint(1, 14), hours=rng.randint(0, 2))
        line = lines[0]
        back = [BasketLine(line.product, rng.randint(1, line.qty), line.unit_cents)]
        return_id = pos_order_id(sim, store, returned_at)
        emit_order(sim, return_id, store, card_raw, mobile, returned_at, "return", order_id, back, 0, evidence)
        if card:
            crm.points(sim, person, member[0].member_id, returned_at, -(back[0].amount_cents // 100),
                       "order", order_id=return_id)


def cashier_mobile(sim: Simulation, person: Person, t: datetime, has_card: bool, must_ask: bool,
                   evidence: list) -> str | None:
    rng = sim.rng
    asked = MOBILE_ASKED_WITH_CARD if has_card else MOBILE_ASKED_WITHOUT_CARD
    if not must_ask and rng.random() >= asked:
        return None
    mobile = person.mobile_at(t)
    roll = 1.0 if must_ask else rng.random()
    if roll < PLACEHOLDER_TYPING_SHARE:
        raw = rng.choice(PLACEHOLDER_MOBILES)
        evidence.append(NonIdentifier(MOBILE, raw, PLACEHOLDER))
    elif roll < PLACEHOLDER_TYPING_SHARE + MISTYPING_SHARE:
        raw = mistyped_mobile(rng, mobile)
        evidence.append(NonIdentifier(MOBILE, raw, INVALID))
    else:
        raw = mobile_text(rng, mobile, CASHIER_MOBILE_FORMS)
        evidence.append(Identifier(person.person_id, MOBILE, mobile))
    return raw


def pos_order_id(sim: Simulation, store: Store, t: datetime) -> str:
    day = f"{t:%Y%m%d}"
    return f"{store.store_id}{day}{sim.next_number(store.store_id + day):04d}"


def emit_order(sim: Simulation, order_id: str, store: Store, card: str | None, mobile: str | None,
               t: datetime, order_type: str, orig_order_id: str | None, lines: list[BasketLine],
               discount: int, evidence: list) -> None:
    total = sum(line.amount_cents for line in lines)
    guide = None
    if sim.rng.random() < GUIDE_SHARE:
        guide = f"G{store.store_id[1:]}{sim.rng.randint(1, 8):02d}"
    sim.emit(POS_ORDERS, t, {
        "order_id": order_id, "store_id": store.store_id, "card_no": card, "mobile": mobile,
        "guide_id": guide, "order_time": sim.ts(t), "order_type": order_type,
        "orig_order_id": orig_order_id, "total_amount": money(total),
        "discount_amount": money(discount), "pay_amount": money(total - discount),
        "pay_method": sim.rng.choice(PAY_METHODS),
    }, evidence)
    for line_no, line in enumerate(lines, start=1):
        sim.emit(POS_ITEMS, t, {
            "order_id": order_id, "line_no": str(line_no), "sku_id": line.product.sku_id,
            "qty": str(line.qty), "unit_price": money(line.unit_cents),
            "amount": money(line.amount_cents),
        })


def walk_in_orders(sim: Simulation) -> None:
    """Tickets of shoppers who gave nothing, or a placeholder the cashier typed."""
    rng = sim.rng
    lo, hi = sim.orders_from, sim.window.end
    for _ in range(round(WALK_IN_ORDER_SHARE * sim.person_sales)):
        store = rng.choice(sim.world.trading_stores)
        t = sim.moment(lo, hi, STORE_HOURS)
        evidence, mobile = [], None
        if rng.random() < WALK_IN_PLACEHOLDER_SHARE:
            mobile = rng.choice(PLACEHOLDER_MOBILES)
            evidence.append(NonIdentifier(MOBILE, mobile, PLACEHOLDER))
        lines = sim.basket(t.date())
        total = sum(line.amount_cents for line in lines)
        emit_order(sim, pos_order_id(sim, store, t), store, None, mobile, t, "sale", None, lines,
                   sim.promotion(total), evidence)
