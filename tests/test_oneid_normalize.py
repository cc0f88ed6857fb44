"""Canonical identifiers: golden awkward values of every type and reason, and the sample-data
generator as an oracle (it knows the canonical value behind every text it renders)."""

from __future__ import annotations

import re
from datetime import date, datetime
from random import Random

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs import sample_data as sd
from jobs.config import load_oneid_settings
from models.cdm.identity_evidence import (
    CARD_NO,
    DEVICE_ID,
    ECOM_BUYER_ID,
    EMAIL,
    MEMBER_ID,
    MOBILE,
    WX_OPENID,
    WX_UNIONID,
)
from oneid.normalize import (
    BAD_FORMAT,
    COLUMNS,
    JUNK,
    MASKED,
    MISSING_SCOPE,
    PLACEHOLDER,
    UNKNOWN_TYPE,
    Validity,
    normalize,
)

VALIDITY = Validity.from_mapping(load_oneid_settings().validity)
DT = date(2026, 1, 5)
EVENT_AT = datetime(2026, 1, 5, 10, 0)
EVIDENCE_DDL = (
    "dt date, source string, entity string, record_key string, field string, id_type string, raw_value string, "
    "scope string, event_at timestamp_ntz"
)
NORMALIZED_DDL = f"{EVIDENCE_DDL}, id_value string, invalid_reason string"
# Where each type is found (any source will do: normalize judges the value, not the source).
FOUND_IN = {
    MEMBER_ID: ("crm", "members", "member_id"), CARD_NO: ("crm", "members", "card_no"),
    MOBILE: ("pos", "orders", "mobile"), EMAIL: ("crm", "members", "email"),
    WX_UNIONID: ("wechat", "users", "unionid"), WX_OPENID: ("wechat", "users", "openid"),
    DEVICE_ID: ("wechat", "events", "device_id"), ECOM_BUYER_ID: ("ecom", "orders", "buyer_id"),
}
WXAPP = "wx1a2b3c4d5e6f7a8b"

# (id_type, raw_value, scope, id_value, invalid_reason)
GOLDEN = [
    (MEMBER_ID, "M00000001", None, "M00000001", None),
    (MEMBER_ID, " M00000002\t", None, "M00000002", None),
    (MEMBER_ID, "m00000003", None, "m00000003", None),  # as given: the case is kept
    (MEMBER_ID, "\u3000", None, None, BAD_FORMAT),  # blank once trimmed (Spark's trim keeps it)
    (MEMBER_ID, None, None, None, BAD_FORMAT),
    (CARD_NO, " c8800000001 ", None, "C8800000001", None),
    (CARD_NO, "C8900000002", None, "C8900000002", None),
    # Mobiles: country code and separators go.
    (MOBILE, "13800138000", None, "13800138000", None),  # the SPEC's example
    (MOBILE, " 13800138000 ", None, "13800138000", None),
    (MOBILE, "+86 138 0013 8000", None, "13800138000", None),
    (MOBILE, "86-13800138000", None, "13800138000", None),
    (MOBILE, "0086 13800138000", None, "13800138000", None),
    (MOBILE, "8613900139000", None, "13900139000", None),
    (MOBILE, "138-0013-8000", None, "13800138000", None),
    (MOBILE, "(138)00138000", None, "13800138000", None),
    (MOBILE, "138.0013.8000", None, "13800138000", None),
    (MOBILE, "(+86) 159-0159-9000", None, "15901599000", None),
    (MOBILE, "\t19912345678\u00a0", None, "19912345678", None),
    (MOBILE, "１３８００１３８０００", None, "13800138000", None),  # full-width digits of a Chinese IME
    (MOBILE, "＋８６ １３８－００１３－８０００", None, "13800138000", None),  # full-width plus and dashes
    (MOBILE, "\ufeff13800138000", None, "13800138000", None),  # a byte order mark on the first field
    (MOBILE, "138\u200b0013\u200b8000", None, "13800138000", None),  # zero-width spaces inside
    (MOBILE, "\u300013800138000\u3000", None, "13800138000", None),
    (MOBILE, "138****8000", None, None, MASKED),
    (MOBILE, "1380013****", None, None, MASKED),
    (MOBILE, "13800000000", None, None, PLACEHOLDER),
    (MOBILE, "+86 138 0000 0000", None, None, PLACEHOLDER),  # judged on the canonical digits
    (MOBILE, "00000000000", None, None, PLACEHOLDER),
    (MOBILE, "11111111111", None, None, PLACEHOLDER),
    (MOBILE, "13812345678", None, None, PLACEHOLDER),
    (MOBILE, "15900000000", None, None, PLACEHOLDER),  # the trailing-zeros pattern
    (MOBILE, "15988888888", None, "15988888888", None),  # a lucky number is a real number
    (MOBILE, "1380013800", None, None, BAD_FORMAT),  # 10 digits
    (MOBILE, "138001380001", None, None, BAD_FORMAT),  # 12 digits
    (MOBILE, "12800138000", None, None, BAD_FORMAT),
    (MOBILE, "86138001380", None, None, BAD_FORMAT),  # 86 is no country code of an 11-digit value
    (MOBILE, "138a0013800", None, None, BAD_FORMAT),  # only separators are removed, not letters
    (MOBILE, "tel:13800138000", None, None, BAD_FORMAT),
    (MOBILE, "13800138000/13900139000", None, None, BAD_FORMAT),
    (MOBILE, "+1 415 555 0100", None, None, BAD_FORMAT),
    (MOBILE, "\u00a0", None, None, BAD_FORMAT),
    # Emails: trimmed, lower-case, local@domain.tld.
    (EMAIL, "Sunny123@QQ.com", None, "sunny123@qq.com", None),
    (EMAIL, "  AMY.LEE@GMAIL.COM ", None, "amy.lee@gmail.com", None),
    (EMAIL, "\u00a0Amy.Lee@QQ.COM\u00a0", None, "amy.lee@qq.com", None),  # Spark's trim keeps no-break spaces
    (EMAIL, "\ufeffsunny@163.com\u200b", None, "sunny@163.com", None),
    (EMAIL, "\tBOB@Gmail.com \u3000", None, "bob@gmail.com", None),
    (EMAIL, "\u3000", None, None, BAD_FORMAT),
    (EMAIL, "abc@", None, None, BAD_FORMAT),
    (EMAIL, "no-at-sign", None, None, BAD_FORMAT),
    (EMAIL, "x@qq", None, None, BAD_FORMAT),
    (EMAIL, "amy lee@163.com", None, None, BAD_FORMAT),
    (EMAIL, "a@b@c.com", None, None, BAD_FORMAT),
    (EMAIL, "Test@Test.com", None, None, PLACEHOLDER),
    (EMAIL, " noemail@qq.com", None, None, PLACEHOLDER),
    # WeChat ids as given; an openid means nothing without its app.
    (WX_UNIONID, "o6_bmAbC-dEf_123", None, "o6_bmAbC-dEf_123", None),
    (WX_UNIONID, " o6_bmXyZ ", None, "o6_bmXyZ", None),
    (WX_OPENID, "oQ7d_AbCdEf", WXAPP, "oQ7d_AbCdEf", None),
    (WX_OPENID, "oQ7d_AbCdEf ", None, None, MISSING_SCOPE),
    (WX_OPENID, "oQ7d_AbCdEf", "  ", None, MISSING_SCOPE),
    # Devices: lower-case; SDK fallbacks are junk.
    (DEVICE_ID, "6D92078A-8246-4BA4-AE5B-76104861E7DC", None, "6d92078a-8246-4ba4-ae5b-76104861e7dc", None),
    (DEVICE_ID, "3f2a1c9b8e7d6a05", None, "3f2a1c9b8e7d6a05", None),
    (DEVICE_ID, "00000000-0000-0000-0000-000000000000", None, None, JUNK),
    (DEVICE_ID, "0000000000000000", None, None, JUNK),
    (DEVICE_ID, "UNKNOWN", None, None, JUNK),
    (DEVICE_ID, " null ", None, None, JUNK),
    (DEVICE_ID, "02:00:00:00:00:00", None, None, JUNK),
    (DEVICE_ID, "", None, None, JUNK),
    # Buyer ids: platform-qualified.
    (ECOM_BUYER_ID, "tb1234567890", "tmall", "tmall:tb1234567890", None),
    (ECOM_BUYER_ID, " jd_4f2a9c01be77 ", " JD ", "jd:jd_4f2a9c01be77", None),
    (ECOM_BUYER_ID, "dy123456789012", None, None, MISSING_SCOPE),
    (ECOM_BUYER_ID, "dy123456789012", "", None, MISSING_SCOPE),
    # Types SPEC section 3 does not name.
    ("qq_number", "12345678", None, None, UNKNOWN_TYPE),
    (None, "13800138000", None, None, UNKNOWN_TYPE),
]


def evidence_and_expected(spark: SparkSession, cases: list[tuple]) -> tuple[DataFrame, list[Row]]:
    """Evidence rows of the cases, and those rows with the expected id_value and invalid_reason.

    The expected rows stay a list: a second DataFrame would cost the shared cores a Spark job.
    """
    evidence, expected = [], []
    for n, (id_type, raw, scope, id_value, reason) in enumerate(cases):
        source, entity, field = FOUND_IN.get(id_type, ("crm", "members", "nickname"))
        row = (DT, source, entity, f"{source}.{entity}:{n}", field, id_type, raw, scope, EVENT_AT)
        evidence.append(row)
        expected.append(Row(**dict(zip(COLUMNS, (*row, id_value, reason)))))
    return spark.createDataFrame(evidence, EVIDENCE_DDL), expected


def test_golden_values_of_every_type_and_reason(spark):
    evidence, expected = evidence_and_expected(spark, GOLDEN)
    normalized = normalize(evidence, VALIDITY)
    assert normalized.dtypes == [tuple(column.split(" ")) for column in NORMALIZED_DDL.split(", ")]
    assertDataFrameEqual(normalized, expected)


# --- the sample-data generator as an oracle ------------------------------------------------

# What the generator calls a non-identifier, in OneID's reasons.
REASON_OF_KIND = {sd.PLACEHOLDER: PLACEHOLDER, sd.MASKED: MASKED, sd.INVALID: BAD_FORMAT, sd.JUNK_DEVICE: JUNK}
# Every rendering of a valid mobile that mobile_text knows, recognised from the text.
MOBILE_RENDERINGS = {
    "plain": r"^\d{11}$", "intl": r"^\+86 \d{3} \d{4} \d{4}$", "cc_dash": r"^86-\d{11}$",
    "dashed": r"^\d{3}-\d{4}-\d{4}$", "padded": r"^ \d{11} $",
}


def generated_cases(seed: int = 20260105, people: int = 80) -> list[tuple]:
    """Values rendered by the generator's own functions, each with the truth it knows."""
    rng = Random(seed)
    mobiles, emails = set(sd.PLACEHOLDER_MOBILES), set()
    cases = []
    for _ in range(people):
        mobile = sd.new_mobile(rng, mobiles)
        for forms in (sd.CRM_MOBILE_FORMS, sd.CASHIER_MOBILE_FORMS, sd.WECHAT_MOBILE_FORMS):
            cases.append((MOBILE, sd.mobile_text(rng, mobile, forms), None, mobile, None))
        cases.append((MOBILE, sd.masked_mobile(mobile), None, None, REASON_OF_KIND[sd.MASKED]))
        cases.append((MOBILE, sd.mistyped_mobile(rng, mobile), None, None, REASON_OF_KIND[sd.INVALID]))
        card_no = f"C88{rng.randrange(10 ** 8):08d}"
        cases.append((CARD_NO, sd.card_text(rng, card_no), None, card_no, None))
        email = sd.new_email(rng, emails)
        cases.append((EMAIL, sd.email_text(rng, email), None, email, None))
        device = sd.new_device(rng)
        cases.append((DEVICE_ID, device, None, device.lower(), None))
        app = rng.choice(sd.APPS)
        openid = sd.wechat_id(rng, app.openid_prefix)
        cases.append((WX_OPENID, openid, app.app_id, openid, None))
        unionid = sd.wechat_id(rng, sd.UNIONID_PREFIX)
        cases.append((WX_UNIONID, unionid, None, unionid, None))
    cases += [(MOBILE, raw, None, None, REASON_OF_KIND[sd.PLACEHOLDER]) for raw in sd.PLACEHOLDER_MOBILES]
    cases += [(DEVICE_ID, raw, None, None, REASON_OF_KIND[sd.JUNK_DEVICE]) for raw in sd.JUNK_DEVICES]
    cases += [(EMAIL, template.format(handle=handle), None, None, REASON_OF_KIND[sd.INVALID])
              for template in sd.INVALID_EMAILS for handle in sd.EMAIL_HANDLES]
    return cases


def test_generated_values_normalize_to_the_generators_truth(spark):
    cases = generated_cases()
    rendered = {raw for id_type, raw, _, id_value, _ in cases if id_type == MOBILE and id_value}
    # A test that cannot fail is a defect: the draw must exercise every rendering it claims to.
    assert {form for form, shape in MOBILE_RENDERINGS.items() if any(re.match(shape, raw) for raw in rendered)} \
        == set(MOBILE_RENDERINGS)
    assert {card[0] for id_type, card, *_ in cases if id_type == CARD_NO} == {"C", "c"}
    assert any(raw.isupper() for id_type, raw, *_ in cases if id_type == EMAIL)
    assert any(raw.startswith(" ") for id_type, raw, *_ in cases if id_type == EMAIL)
    assert any(raw.isupper() for id_type, raw, *_ in cases if id_type == DEVICE_ID)

    evidence, expected = evidence_and_expected(spark, cases)
    assertDataFrameEqual(normalize(evidence, VALIDITY), expected)


# --- validity settings ------------------------------------------------------------------------


def test_validity_reads_the_conf_section():
    assert "13800000000" in VALIDITY.mobile_placeholders
    assert VALIDITY.mobile_placeholder_patterns == (r"^1\d{2}0{8}$",)
    assert "test@test.com" in VALIDITY.email_placeholders
    assert "unknown" in VALIDITY.device_junk
    assert VALIDITY.device_junk_patterns == (r"^[0\-:]+$",)
    assert Validity.from_mapping({"email": {"placeholders": ["a@a.com"]}}) == Validity((), (), ("a@a.com",), (), ())


@pytest.mark.parametrize("section, message", [
    ({"mobiles": {"placeholders": ["13800000000"]}}, "unknown section 'mobiles'"),
    ({"mobile": {"placeholder": ["13800000000"]}}, r"validity.mobile: unknown \['placeholder'\]"),
    ({"mobile": {"placeholders": [0]}}, "quote every entry"),  # YAML's reading of 00000000000
])
def test_validity_refuses_typos_and_unquoted_numbers(section, message):
    with pytest.raises(ValueError, match=message):
        Validity.from_mapping(section)
