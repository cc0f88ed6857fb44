"""E-commerce: orders on the marketplaces and the own mall, through their lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta

from jobs.sample_data import crm
from jobs.sample_data.contract import ECOM_ORDERS, json_money
from jobs.sample_data.crm import Membership, active_membership
from jobs.sample_data.identifiers import BUYER_ID, GIFT_RECEIVER, MASKED, MEMBER_ID, MOBILE, masked_mobile
from jobs.sample_data.simulation import ONLINE_HOURS, Simulation
from jobs.sample_data.truth import Identifier, NonIdentifier, SharedUse
from jobs.sample_data.world import DOUYIN, JD, OWN_MALL, TMALL, Person

ECOM_ORDERS_PER_YEAR = 1.5
MASKING_PLATFORMS = (JD, DOUYIN)  # they hand out receiver mobiles as 138****8000
AMOUNTS_AS_TEXT = (JD, OWN_MALL)  # their connectors send amounts as "12.30", the others as numbers
TMALL_MEMBER_BINDING_SHARE = 0.5
GIFT_SHARE = 0.07
CLOSED_ORDER_SHARE = 0.08
ECOM_STAMPS = ("paid_at", "shipped_at", "received_at")
REFUND_SHARE = 0.06
PLATFORM_COUPON_SHARE = 0.15
# Buyer ids per platform: a prefix and the range of the number after it.
BUYER_NUMBERS = {TMALL: ("tb", 10 ** 9, 10 ** 10), DOUYIN: ("dy", 10 ** 11, 10 ** 12),
                 OWN_MALL: ("U", 10 ** 8, 10 ** 9)}
JD_BUYER_BITS = 48  # JD's are hexadecimal


def orders(sim: Simulation, person: Person, memberships: list[Membership], platform: str) -> None:
    """The person's orders on one platform, under one buyer account."""
    buyer = buyer_id(sim, platform)
    binds_member_at = None  # from when orders on this platform carry the member_id
    if memberships and platform == OWN_MALL:
        binds_member_at = memberships[0].joined_at
    elif memberships and platform == TMALL and sim.rng.random() < TMALL_MEMBER_BINDING_SHARE:
        binds_member_at = sim.moment(memberships[0].joined_at, sim.window.end)
    for t in sim.moments(ECOM_ORDERS_PER_YEAR, sim.orders_from, sim.window.end, ONLINE_HOURS,
                         at_least_one=True):
        member = None
        if binds_member_at is not None and t >= binds_member_at:
            member = active_membership(memberships, t)
        order(sim, person, platform, buyer, member and member[0], t)


def buyer_id(sim: Simulation, platform: str) -> str:
    rng, share = sim.rng, sim.share
    if platform == JD:
        return sim.fresh(lambda: f"jd_{share.draw(rng, 0, 2 ** JD_BUYER_BITS):012x}")
    prefix, lo, hi = BUYER_NUMBERS[platform]
    return sim.fresh(lambda: f"{prefix}{share.draw(rng, lo, hi)}")


def order_id_of(sim: Simulation, platform: str, created: datetime) -> str:
    n = sim.next_number("ecom_order")
    if platform == TMALL:
        return str(3_000_000_000_000_000_000 + n * 1_009)
    if platform == JD:
        return str(200_000_000_000 + n * 13)
    if platform == DOUYIN:
        return str(6_900_000_000_000_000_000 + n * 7_919)
    return f"OM{created:%Y%m%d}{n:07d}"


def order(sim: Simulation, person: Person, platform: str, buyer: str, member: Membership | None,
          created: datetime) -> None:
    rng = sim.rng
    order_id = order_id_of(sim, platform, created)
    lines = sim.basket(created.date())
    total = sum(line.amount_cents for line in lines)
    coupon = None
    if member and platform == OWN_MALL:  # CRM coupons are honoured on the own mall only
        coupon = member.use_coupon(rng, created, total, order_id)
    coupon_ids: list[str] | None = [coupon.coupon_id] if coupon else []
    if not coupon and platform == TMALL and rng.random() < PLATFORM_COUPON_SHARE:
        coupon_ids = [f"TMC{rng.randrange(10 ** 9, 10 ** 10)}"]
    elif not coupon and rng.random() < 0.1:
        coupon_ids = None
    discount = coupon.template.face_cents if coupon else sim.promotion(total)
    as_text = platform in AMOUNTS_AS_TEXT
    receiver_person, receiver_mobile, evidence = receiver(sim, person, platform, created)
    evidence.append(Identifier(person.person_id, BUYER_ID, f"{platform}:{buyer}"))
    if member:
        evidence.append(Identifier(person.person_id, MEMBER_ID, member.member_id))
    member_text = member and (f" {member.member_id}" if rng.random() < 0.05 else member.member_id)
    base = {
        "platform": platform, "order_id": order_id, "buyer_id": buyer,
        "member_id": member_text, "receiver_name": receiver_person.name,
        "receiver_mobile": receiver_mobile, "receiver_province": receiver_person.region.province,
        "receiver_city": receiver_person.region.city, "receiver_address": receiver_person.address,
        "created_at": sim.ts(created),
    }
    amounts = {
        "total_amount": json_money(total, as_text), "discount_amount": json_money(discount, as_text),
        "pay_amount": json_money(total - discount, as_text), "coupon_ids": coupon_ids,
        "items": [{"sku_id": line.product.sku_id, "qty": line.qty,
                   "unit_price": json_money(line.unit_cents, as_text),
                   "amount": json_money(line.amount_cents, as_text)} for line in lines],
    }
    versions = lifecycle(sim, created)
    for at, status, stamps in sim.extracted(versions):
        times = {name: sim.maybe_ts(stamps.get(name)) for name in ECOM_STAMPS}
        sim.emit(ECOM_ORDERS, at, {**base, **times, "status": status, **amounts}, evidence)
    for at, status, stamps in versions:
        if member and status == "paid":
            crm.order_points(sim, person, member.member_id, at, total - discount, order_id)
        elif member and status == "refunded" and stamps.get("paid_at"):
            crm.points(sim, person, member.member_id, at, -((total - discount) // 100), "order",
                       order_id=order_id)


def lifecycle(sim: Simulation, created: datetime) -> list[tuple[datetime, str, dict]]:
    """(moment, status, timestamps known then) for each status the order goes through."""
    rng = sim.rng
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


def receiver(sim: Simulation, buyer: Person, platform: str, t: datetime) -> tuple[Person, str, list]:
    """Who the parcel goes to: mostly the buyer, sometimes a housemate or a friend."""
    rng = sim.rng
    chosen = buyer
    if rng.random() < GIFT_SHARE:
        pool = [h for h in buyer.housemates if h.can_receive_gifts] or sim.gift_receivers
        chosen = rng.choice(pool) if pool else buyer
    mobile = chosen.mobile_at(t)
    if platform in MASKING_PLATFORMS:
        raw = masked_mobile(mobile)
        return chosen, raw, [NonIdentifier(MOBILE, raw, MASKED)]
    evidence = [Identifier(chosen.person_id, MOBILE, mobile)]
    if chosen is not buyer:
        evidence += [SharedUse(MOBILE, mobile, GIFT_RECEIVER, buyer.person_id),
                     SharedUse(MOBILE, mobile, GIFT_RECEIVER, chosen.person_id)]
    return chosen, mobile, evidence
