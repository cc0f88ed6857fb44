"""Identifiers (SPEC section 3): their types, the kinds of value that are none, new canonical
values, and the dirty forms systems and people type them in."""

from __future__ import annotations

import base64
import uuid
from random import Random

from jobs.sample_data.draws import WHOLE, IdShare, Weighted, weighted, weights

# Identifier types and the kinds used in the truth files.
MEMBER_ID, CARD_NO, MOBILE, EMAIL = "member_id", "card_no", "mobile", "email"
UNIONID, OPENID, DEVICE_ID, BUYER_ID = "wx_unionid", "wx_openid", "device_id", "ecom_buyer_id"
PLACEHOLDER, MASKED, INVALID, JUNK_DEVICE = "placeholder", "masked", "invalid", "junk_device"
STORE_PHONE, GIFT_RECEIVER, FAMILY_DEVICE = "store_phone", "gift_receiver", "family_device"

MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "155", "156", "157", "158", "159", "166", "176", "177", "178", "180",
                   "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199")
PLACEHOLDER_MOBILES = ("13800000000", "00000000000", "11111111111")
CRM_MOBILE_FORMS = weights((("plain", 70), ("intl", 10), ("cc_dash", 5), ("dashed", 10), ("padded", 5)))
CASHIER_MOBILE_FORMS = weights((("plain", 85), ("dashed", 5), ("padded", 10)))
WECHAT_MOBILE_FORMS = weights((("plain", 60), ("intl", 40)))
JUNK_DEVICES = ("00000000-0000-0000-0000-000000000000", "unknown", "")
IOS_SHARE = 0.45
UNIONID_PREFIX = "o6_bm"
EMAIL_HANDLES = ("sunny", "lucky", "amy", "leo", "coco", "tiger", "momo", "kiki", "jason", "lily",
                 "grace", "kevin", "vivian", "eric", "sophia", "jack", "nana", "xiaoyu", "miumiu")
EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com", "foxmail.com")
# Numbered handles up to five digits: 13 million addresses, room for tens of millions of persons.
EMAIL_HANDLE_NUMBERS = (1, 100_000)
QQ_NUMBERS = (10 ** 5, 10 ** 10 + 1)
INVALID_EMAILS = ("abc@", "no-at-sign", "{handle}@", "{handle}163.com", "{handle}@qq")


def new_mobile(rng: Random, taken: set[str], share: IdShare = WHOLE) -> str:
    """A mainland mobile no one in ``taken`` has, from the chunk's share of the numbers."""
    while True:
        mobile = rng.choice(MOBILE_PREFIXES) + f"{share.draw(rng, 0, 10 ** 8):08d}"
        if mobile not in taken:
            taken.add(mobile)
            return mobile


def new_email(rng: Random, taken: set[str], share: IdShare = WHOLE) -> str:
    """A valid email no one in ``taken`` has, from the chunk's share of the numbers."""
    while True:
        if rng.random() < 0.4:
            email = f"{share.draw(rng, *QQ_NUMBERS)}@qq.com"
        else:
            number = share.draw(rng, *EMAIL_HANDLE_NUMBERS)
            email = f"{rng.choice(EMAIL_HANDLES)}{number}@{rng.choice(EMAIL_DOMAINS)}"
        if email not in taken:
            taken.add(email)
            return email


def new_device(rng: Random) -> str:
    """A device id as the SDK reports it; 64 or 128 random bits never meet twice."""
    if rng.random() < IOS_SHARE:
        return str(uuid.UUID(int=rng.getrandbits(128))).upper()
    return f"{rng.getrandbits(64):016x}"


def wechat_id(rng: Random, prefix: str) -> str:
    """An openid or unionid: 28 URL-safe base64 characters, the first few fixed."""
    text = base64.urlsafe_b64encode(rng.getrandbits(144).to_bytes(18, "big")).decode()
    return prefix + text[:28 - len(prefix)]


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
