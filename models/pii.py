"""Masked and salted-hash forms of personal identifiers for every non-restricted table.

SPEC section 4: outside the restricted tables a mobile number or email appears only masked
(``138****8000``) or as a salted SHA-256. The salt is a parameter here; jobs take it from
``CDP_PII_SALT`` so it never lives in the repository.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

MOBILE_DIGITS = 11
CHINA_COUNTRY_CODE = "86"


def mobile_digits(raw: Column) -> Column:
    """The 11 digits of a mainland mobile with separators and a leading +86/0086/86 removed.

    Anything that does not reduce to 1[3-9]xxxxxxxxx is null: masked, placeholder-free
    validation is OneID's job, this only gives the CDM a comparable form to mask and hash.
    """
    digits = F.regexp_replace(raw, r"[^0-9]", "")
    national = F.regexp_replace(digits, rf"^(00)?{CHINA_COUNTRY_CODE}(?=\d{{{MOBILE_DIGITS}}}$)", "")
    return F.when(national.rlike(r"^1[3-9]\d{9}$"), national)


def mask_mobile(raw: Column) -> Column:
    """``138****8000`` for a recognisable mobile; null otherwise."""
    digits = mobile_digits(raw)
    return F.when(digits.isNotNull(), F.concat(F.substring(digits, 1, 3), F.lit("****"), F.substring(digits, 8, 4)))


def normalized_email(raw: Column) -> Column:
    trimmed = F.lower(F.trim(raw))
    return F.when(trimmed.rlike(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), trimmed)


def mask_email(raw: Column) -> Column:
    """``s***@qq.com``: the first character of the local part and the domain."""
    email = normalized_email(raw)
    return F.when(email.isNotNull(), F.concat(F.substring(email, 1, 1), F.lit("***@"), F.substring_index(email, "@", -1)))


def salted_hash(value: Column, salt: str) -> Column:
    """SHA-256 of salt + value, hex; null stays null so absent values never collide."""
    if not salt:
        raise ValueError("the PII salt is empty; set CDP_PII_SALT")
    return F.when(value.isNotNull(), F.sha2(F.concat(F.lit(salt), value), 256))
