"""Masked and salted-hash forms of personal identifiers for every non-restricted table.

SPEC section 4: outside the restricted tables a mobile number or email appears only masked
(``138****8000``) or as a salted SHA-256. The salt is a parameter here; jobs take it from
``CDP_PII_SALT`` so it never lives in the repository.

What is masked and hashed is the canonical form of ``models/identifiers.py``, the one OneID
looks identities up by, so a hash in ``cdm.dim_member`` equals the one in ``oneid.profile``.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# Re-exported: the CDM models hash these forms as ``pii.mobile_digits`` and ``pii.normalized_email``.
from models.identifiers import mobile_digits, normalized_email

__all__ = ["mask_email", "mask_mobile", "mobile_digits", "normalized_email", "salted_hash"]


def mask_mobile(raw: Column) -> Column:
    """``138****8000`` for a recognisable mobile; null otherwise."""
    digits = mobile_digits(raw)
    return F.when(digits.isNotNull(), F.concat(F.substring(digits, 1, 3), F.lit("****"), F.substring(digits, 8, 4)))


def mask_email(raw: Column) -> Column:
    """``s***@qq.com``: the first character of the local part and the domain."""
    email = normalized_email(raw)
    return F.when(email.isNotNull(), F.concat(F.substring(email, 1, 1), F.lit("***@"), F.substring_index(email, "@", -1)))


def salted_hash(value: Column, salt: str) -> Column:
    """SHA-256 of salt + value, hex; null stays null so absent values never collide."""
    if not salt:
        raise ValueError("the PII salt is empty; set CDP_PII_SALT")
    return F.when(value.isNotNull(), F.sha2(F.concat(F.lit(salt), value), 256))
