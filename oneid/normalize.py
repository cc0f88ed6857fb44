"""Canonical identifiers: what a raw value of ``cdm.identity_evidence`` stands for, or why it
stands for nothing (SPEC section 3).

Every evidence row gets exactly one of ``id_value`` (the canonical form the CRM looks up by)
and ``invalid_reason`` (one of ``REASONS``), so a refused value is counted, never silently
dropped. The values that are never identifiers (placeholder mobiles, junk device ids, ...)
are data in the ``validity:`` section of ``conf/oneid.yml``, read into ``Validity``. The
canonical mobile and email are those of ``models/identifiers.py``, which the CDM masks and
hashes too, so OneID's ``id_value`` and the CDM's hashes always stand for the same text.

The checks of a type run in order and the first that holds gives the reason: a mobile is
masked before anything else (its digits are gone), then a placeholder (``00000000000`` is
one, though it is no mobile), then a bad format.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce
from typing import Any, Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from models import identifiers
from models.cdm.identity_evidence import (
    CARD_NO,
    COLUMNS as EVIDENCE_COLUMNS,
    DEVICE_ID,
    ECOM_BUYER_ID,
    EMAIL,
    MEMBER_ID,
    MOBILE,
    WX_OPENID,
    WX_UNIONID,
)

ID_VALUE, INVALID_REASON = "id_value", "invalid_reason"
COLUMNS = (*EVIDENCE_COLUMNS, ID_VALUE, INVALID_REASON)

MASKED = "masked"  # digits hidden by the source: 138****8000
PLACEHOLDER = "placeholder"  # typed when there was nothing to type: 13800000000, test@test.com
BAD_FORMAT = "bad_format"  # not of the type's form: 10 digits, abc@, or blank once trimmed
JUNK = "junk"  # a device id an SDK reports when it has none: all zeros, "unknown", empty
MISSING_SCOPE = "missing_scope"  # an openid without its app, a buyer id without its platform
UNKNOWN_TYPE = "unknown_type"  # an id_type SPEC section 3 does not name
REASONS = (MASKED, PLACEHOLDER, BAD_FORMAT, JUNK, MISSING_SCOPE, UNKNOWN_TYPE)

_MASK_CHARACTER = "*"


@dataclass(frozen=True)
class Validity:
    """Values that are never identifiers, from the ``validity:`` section of ``conf/oneid.yml``.

    Lists are compared with the canonical value (mobile digits without country code and
    separators, lower-case emails and device ids). Patterns are Java regular expressions
    searched in the canonical value (``rlike``), so they should be anchored.
    """

    mobile_placeholders: tuple[str, ...]
    mobile_placeholder_patterns: tuple[str, ...]
    email_placeholders: tuple[str, ...]
    device_junk: tuple[str, ...]
    device_junk_patterns: tuple[str, ...]

    @classmethod
    def from_mapping(cls, validity: Mapping[str, Any]) -> "Validity":
        """Reads the ``validity:`` section; a section or list left out is empty.

        Raises:
            ValueError: an unknown section or list (a typo would silently accept placeholders),
                or an entry that is not a string (YAML reads an unquoted 00000000000 as 0).
        """
        known = {"mobile": ("placeholders", "placeholder_patterns"), "email": ("placeholders",),
                 "device_id": ("junk", "junk_patterns")}
        for section, lists in validity.items():
            if section not in known:
                raise ValueError(f"validity: unknown section {section!r}; known: {sorted(known)}")
            unknown = sorted(set(lists or {}) - set(known[section]))
            if unknown:
                raise ValueError(f"validity.{section}: unknown {unknown}; known: {list(known[section])}")

        def entries(section: str, name: str) -> tuple[str, ...]:
            values = tuple((validity.get(section) or {}).get(name) or ())
            not_text = [value for value in values if not isinstance(value, str)]
            if not_text:
                raise ValueError(f"validity.{section}.{name}: quote every entry, got {not_text!r}")
            return values

        return cls(
            mobile_placeholders=entries("mobile", "placeholders"),
            mobile_placeholder_patterns=entries("mobile", "placeholder_patterns"),
            email_placeholders=entries("email", "placeholders"),
            device_junk=entries("device_id", "junk"),
            device_junk_patterns=entries("device_id", "junk_patterns"),
        )


@dataclass(frozen=True)
class _Form:
    """How one id type is judged: checks in order, each with its reason, then the value.

    The first check is always for blank text (null or empty once trimmed): the later checks
    then see text, so each is true or false, and a value that passes them all is a real one.
    """

    checks: tuple[tuple[Column, str], ...]
    value: Column


def canonical(id_type: Column, raw: Column, scope: Column, validity: Validity) -> tuple[Column, Column]:
    """The canonical value of a raw identifier, or why there is none.

    Args:
        id_type: one of the types of SPEC section 3; any other gives ``unknown_type``.
        raw: the value as the source wrote it.
        scope: the app of a ``wx_openid``, the platform of an ``ecom_buyer_id``; unused otherwise.
        validity: the values that are never identifiers.

    Returns:
        ``(id_value, invalid_reason)``: exactly one of them is null.
    """
    value = identifiers.strip_edge_space(raw)
    scope_value = identifiers.strip_edge_space(scope)
    forms = {
        MEMBER_ID: _as_given(value),
        CARD_NO: _as_given(F.upper(value)),
        MOBILE: _mobile(raw, validity),
        EMAIL: _email(raw, validity),
        WX_UNIONID: _as_given(value),
        WX_OPENID: _Form(((_is_blank(value), BAD_FORMAT), (_is_blank(scope_value), MISSING_SCOPE)), value),
        DEVICE_ID: _device(value, validity),
        ECOM_BUYER_ID: _buyer(value, scope_value),
    }
    reason = F.lit(UNKNOWN_TYPE)
    typed_value = F.lit(None).cast("string")
    for name, form in reversed(forms.items()):
        reason = F.when(id_type == name, _first_reason(form.checks)).otherwise(reason)
        typed_value = F.when(id_type == name, form.value).otherwise(typed_value)
    return F.when(reason.isNull(), typed_value), reason


def normalize(evidence: DataFrame, validity: Validity) -> DataFrame:
    """``cdm.identity_evidence`` rows with their ``id_value`` and ``invalid_reason``."""
    id_value, reason = canonical(F.col("id_type"), F.col("raw_value"), F.col("scope"), validity)
    return evidence.select(*EVIDENCE_COLUMNS, id_value.alias(ID_VALUE), reason.alias(INVALID_REASON))


def _as_given(value: Column) -> _Form:
    return _Form(((_is_blank(value), BAD_FORMAT),), value)


def _mobile(raw: Column, validity: Validity) -> _Form:
    # The candidate tells why a value is none; the value itself is the canonical mobile the
    # CDM masks and hashes, so both agree by construction.
    candidate = identifiers.mobile_candidate(raw)
    mobile = identifiers.mobile_digits(raw)
    checks = (
        (_is_blank(candidate), BAD_FORMAT),
        (identifiers.mobile_text(raw).contains(_MASK_CHARACTER), MASKED),
        (_listed(candidate, validity.mobile_placeholders, validity.mobile_placeholder_patterns), PLACEHOLDER),
        (mobile.isNull(), BAD_FORMAT),
    )
    return _Form(checks, mobile)


def _email(raw: Column, validity: Validity) -> _Form:
    candidate = identifiers.email_candidate(raw)
    email = identifiers.normalized_email(raw)
    placeholders = [placeholder.lower() for placeholder in validity.email_placeholders]
    checks = (
        (_is_blank(candidate), BAD_FORMAT),
        (_listed(candidate, placeholders, ()), PLACEHOLDER),
        (email.isNull(), BAD_FORMAT),
    )
    return _Form(checks, email)


def _device(value: Column, validity: Validity) -> _Form:
    device = F.lower(value)
    junk = [entry.lower() for entry in validity.device_junk]
    checks = ((_is_blank(device), JUNK), (_listed(device, junk, validity.device_junk_patterns), JUNK))
    return _Form(checks, device)


def _buyer(value: Column, scope: Column) -> _Form:
    platform = F.lower(scope)
    checks = ((_is_blank(value), BAD_FORMAT), (_is_blank(platform), MISSING_SCOPE))
    return _Form(checks, F.concat(platform, F.lit(":"), value))


def _is_blank(text: Column) -> Column:
    """True for null and empty text: never null itself."""
    return F.coalesce(F.length(text), F.lit(0)) == 0


def _listed(value: Column, exact: Sequence[str], patterns: Sequence[str]) -> Column:
    # Patterns are tried one by one: joined with "|" their back-references would renumber.
    tests = ([value.isin(*exact)] if exact else []) + [value.rlike(pattern) for pattern in patterns]
    return reduce(operator.or_, tests, F.lit(False))


def _first_reason(checks: Sequence[tuple[Column, str]]) -> Column:
    reason = F.lit(None).cast("string")
    for condition, name in reversed(checks):
        reason = F.when(condition, F.lit(name)).otherwise(reason)
    return reason
