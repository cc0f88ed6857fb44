"""One canonical mobile and email for the CDM's masks and hashes and OneID's id_value.

``cdm.dim_member`` hashes ``pii.mobile_digits(raw)`` and ``pii.normalized_email(raw)``;
``oneid.profile`` hashes OneID's ``id_value``. For awkward raw text the two must stand for the
same canonical value, checked against hashes and masks computed apart from Spark.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.config import load_oneid_settings
from models import pii
from models.cdm.identity_evidence import EMAIL, MOBILE
from oneid.normalize import BAD_FORMAT, MASKED, PLACEHOLDER, Validity, canonical

VALIDITY = Validity.from_mapping(load_oneid_settings().validity)
SALT = "test-salt"

# (id_type, raw text, canonical form the CDM masks and hashes, OneID's reason to refuse it)
GOLDEN = [
    (MOBILE, "１３８００１３８０００", "13800138000", None),  # full-width digits of a Chinese IME
    (MOBILE, "＋８６－１３９－００１３－９０００", "13900139000", None),  # full-width plus and dashes
    (MOBILE, "+86 138-0013-8000", "13800138000", None),
    (MOBILE, "0086 13800138000", "13800138000", None),
    (MOBILE, "\u3000138 0013 8000\u3000", "13800138000", None),  # ideographic spaces
    (MOBILE, "138\u200b0013\u200b8000", "13800138000", None),  # zero-width spaces inside
    (MOBILE, "\ufeff13800138000", "13800138000", None),  # a byte order mark left on the first field
    (MOBILE, "\t13800138000\t", "13800138000", None),
    (MOBILE, "13800138000\u00a0", "13800138000", None),
    (MOBILE, "138****8000", None, MASKED),
    (MOBILE, "１３８＊＊＊＊８０００", None, MASKED),  # masked with full-width stars
    (MOBILE, "tel:13800138000", None, BAD_FORMAT),  # only separators go, not words
    (MOBILE, "13800138000/13900139000", None, BAD_FORMAT),
    # A placeholder is a well-formed mobile: the CDM masks it, OneID refuses to join on it.
    (MOBILE, "+86 138 0000 0000", "13800000000", PLACEHOLDER),
    (MOBILE, None, None, BAD_FORMAT),
    (EMAIL, "\u00a0Amy.Lee@QQ.COM\u00a0", "amy.lee@qq.com", None),  # Spark's trim keeps no-break spaces
    (EMAIL, "\ufeffsunny@163.com", "sunny@163.com", None),
    (EMAIL, "sunny@163.com\u200b", "sunny@163.com", None),
    (EMAIL, "\tBOB@Gmail.com \u3000", "bob@gmail.com", None),
    (EMAIL, "amy lee@163.com", None, BAD_FORMAT),
    (EMAIL, "\u3000", None, BAD_FORMAT),
    (EMAIL, " Test@Test.com", "test@test.com", PLACEHOLDER),
]
SCHEMA = (
    "id_type string, raw_value string, id_value string, invalid_reason string, "
    "cdm_hash string, cdm_masked string, profile_hash string, profile_masked string"
)


def salted(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256((SALT + value).encode()).hexdigest()


def masked(id_type: str, value: str | None) -> str | None:
    if value is None:
        return None
    if id_type == MOBILE:
        return f"{value[:3]}****{value[-4:]}"
    local, domain = value.split("@")
    return f"{local[0]}***@{domain}"


def expected_row(id_type: str, raw: str | None, form: str | None, reason: str | None) -> Row:
    id_value = form if reason is None else None
    return Row(id_type=id_type, raw_value=raw, id_value=id_value, invalid_reason=reason,
               cdm_hash=salted(form), cdm_masked=masked(id_type, form),
               profile_hash=salted(id_value), profile_masked=masked(id_type, id_value))


def test_cdm_hashes_and_oneid_values_agree_on_awkward_text(spark):
    raw = spark.createDataFrame([case[:2] for case in GOLDEN], "id_type string, raw_value string")
    raw_value, is_mobile = F.col("raw_value"), F.col("id_type") == MOBILE
    id_value, reason = canonical(F.col("id_type"), raw_value, F.lit(None), VALIDITY)
    # As models/cdm/dim_member.py hashes and masks the raw CRM text ...
    cdm_form = F.when(is_mobile, pii.mobile_digits(raw_value)).otherwise(pii.normalized_email(raw_value))
    cdm_masked = F.when(is_mobile, pii.mask_mobile(raw_value)).otherwise(pii.mask_email(raw_value))
    # ... and oneid/profile.py the id_value.
    profile_masked = F.when(is_mobile, pii.mask_mobile(F.col("id_value"))).otherwise(pii.mask_email(F.col("id_value")))
    actual = (
        raw.select("id_type", "raw_value", id_value.alias("id_value"), reason.alias("invalid_reason"),
                   pii.salted_hash(cdm_form, SALT).alias("cdm_hash"), cdm_masked.alias("cdm_masked"))
        .withColumn("profile_hash", pii.salted_hash(F.col("id_value"), SALT))
        .withColumn("profile_masked", profile_masked)
    )
    expected = [expected_row(*case) for case in GOLDEN]
    assert actual.dtypes == [tuple(column.split(" ")) for column in SCHEMA.split(", ")]
    assertDataFrameEqual(actual, expected)
