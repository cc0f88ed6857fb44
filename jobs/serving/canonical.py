"""Canonical identifiers for one value at a time: ``oneid/normalize.py``'s judgement in plain Python.

The pipeline judges identifiers with Spark Columns; a lookup has to answer in a millisecond,
without a JVM. This module applies the same regular expressions and character maps
(``models/identifiers.py``), the same never-identifier lists (``conf/oneid.yml``'s ``validity:``
read by ``oneid.normalize.Validity``), the same checks in the same order and the same reason
names, so a value the CRM sends finds the ``id_value`` the pipeline wrote.
``tests/test_serving_canonical.py`` holds this module to the pipeline's own golden cases.

The patterns are Java regular expressions; they run here with ``re.ASCII``, since Java's ``\\s``
and ``\\d`` are ASCII only, and are *searched* as Spark's ``rlike`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

# The private patterns are imported on purpose: one definition of a canonical mobile and email.
from models.identifiers import (
    _COUNTRY_CODE,
    _EDGE_SPACE,
    _FULL_WIDTH,
    _HALF_WIDTH,
    _MOBILE_SEPARATORS,
    MAINLAND_MOBILE,
    WELL_FORMED_EMAIL,
)
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
from oneid.normalize import BAD_FORMAT, JUNK, MASKED, MISSING_SCOPE, PLACEHOLDER, UNKNOWN_TYPE, Validity

ID_TYPES = (MEMBER_ID, CARD_NO, MOBILE, EMAIL, WX_UNIONID, WX_OPENID, DEVICE_ID, ECOM_BUYER_ID)

_edge_space = re.compile(_EDGE_SPACE, re.ASCII)
_mobile_separators = re.compile(_MOBILE_SEPARATORS, re.ASCII)
_country_code = re.compile(_COUNTRY_CODE, re.ASCII)
_mainland_mobile = re.compile(MAINLAND_MOBILE, re.ASCII)
_well_formed_email = re.compile(WELL_FORMED_EMAIL, re.ASCII)
_half_width = str.maketrans(_FULL_WIDTH, _HALF_WIDTH)
_MASK_CHARACTER = "*"


@dataclass(frozen=True)
class Canonical:
    """Exactly one of ``id_value`` and ``invalid_reason`` is set, as in ``oneid.normalize``."""

    id_value: str | None
    invalid_reason: str | None


@dataclass(frozen=True)
class NeverIdentifiers:
    """``Validity`` compiled for single values: exact sets and compiled patterns."""

    mobile_placeholders: frozenset[str]
    mobile_placeholder_patterns: tuple[re.Pattern, ...]
    email_placeholders: frozenset[str]
    device_junk: frozenset[str]
    device_junk_patterns: tuple[re.Pattern, ...]

    @classmethod
    def of(cls, validity: Validity) -> "NeverIdentifiers":
        def compiled(patterns: Iterable[str]) -> tuple[re.Pattern, ...]:
            return tuple(re.compile(pattern, re.ASCII) for pattern in patterns)

        return cls(
            mobile_placeholders=frozenset(validity.mobile_placeholders),
            mobile_placeholder_patterns=compiled(validity.mobile_placeholder_patterns),
            email_placeholders=frozenset(entry.lower() for entry in validity.email_placeholders),
            device_junk=frozenset(entry.lower() for entry in validity.device_junk),
            device_junk_patterns=compiled(validity.device_junk_patterns),
        )


def strip_edge_space(text: str | None) -> str | None:
    return None if text is None else _edge_space.sub("", text)


def canonical(id_type: str | None, raw: str | None, scope: str | None, never: NeverIdentifiers) -> Canonical:
    """The canonical value of a raw identifier, or why there is none (``oneid.normalize.canonical``).

    Args:
        id_type: one of ``ID_TYPES``; any other gives ``unknown_type``.
        raw: the value as typed.
        scope: the app of a ``wx_openid``, the platform of an ``ecom_buyer_id``; unused otherwise.
        never: the values that are never identifiers.
    """
    value = strip_edge_space(raw)
    if id_type in (MEMBER_ID, WX_UNIONID):
        return _as_given(value)
    if id_type == CARD_NO:
        return _as_given(None if value is None else value.upper())
    if id_type == MOBILE:
        return _mobile(raw, never)
    if id_type == EMAIL:
        return _email(value, never)
    if id_type == WX_OPENID:
        if _is_blank(value):
            return Canonical(None, BAD_FORMAT)
        return Canonical(None, MISSING_SCOPE) if _is_blank(strip_edge_space(scope)) else Canonical(value, None)
    if id_type == DEVICE_ID:
        return _device(value, never)
    if id_type == ECOM_BUYER_ID:
        platform = strip_edge_space(scope)
        if _is_blank(value):
            return Canonical(None, BAD_FORMAT)
        if _is_blank(platform):
            return Canonical(None, MISSING_SCOPE)
        return Canonical(f"{platform.lower()}:{value}", None)
    return Canonical(None, UNKNOWN_TYPE)


def lookup_form(id_type: str | None, raw: str | None, scope: str | None, never: NeverIdentifiers) -> Canonical:
    """What a lookup searches ``id_mapping`` for: ``canonical`` with the scope a caller may leave out.

    The mapping keys an openid by its value alone (the app is an attribute), so an openid needs no
    app to be found. A buyer id is keyed ``{platform}:{buyer_id}``, the form SPEC section 3 gives the
    CRM, so a value in that form stands for its platform and buyer id.
    """
    if id_type == WX_OPENID and _is_blank(strip_edge_space(scope)):
        value = strip_edge_space(raw)
        return Canonical(None, BAD_FORMAT) if _is_blank(value) else Canonical(value, None)
    if id_type == ECOM_BUYER_ID and _is_blank(strip_edge_space(scope)) and raw and ":" in raw:
        platform, _, buyer_id = raw.partition(":")
        return canonical(id_type, buyer_id, platform, never)
    return canonical(id_type, raw, scope, never)


def mask_mobile(mobile: str) -> str:
    """``models.pii.mask_mobile`` of a canonical mobile: ``138****8000``."""
    return f"{mobile[:3]}****{mobile[7:11]}"


def mask_email(email: str) -> str:
    """``models.pii.mask_email`` of a canonical email: ``s***@qq.com``."""
    return f"{email[:1]}***@{email.rpartition('@')[2]}"


def _as_given(value: str | None) -> Canonical:
    return Canonical(None, BAD_FORMAT) if _is_blank(value) else Canonical(value, None)


def _mobile(raw: str | None, never: NeverIdentifiers) -> Canonical:
    if raw is None:
        return Canonical(None, BAD_FORMAT)
    # models.identifiers: mobile_text (half-width), then mobile_candidate (no separators, no +86).
    text = raw.translate(_half_width)
    candidate = _country_code.sub("", _mobile_separators.sub("", text))
    if not candidate:
        return Canonical(None, BAD_FORMAT)
    if _MASK_CHARACTER in text:
        return Canonical(None, MASKED)
    if candidate in never.mobile_placeholders or any(p.search(candidate) for p in never.mobile_placeholder_patterns):
        return Canonical(None, PLACEHOLDER)
    return Canonical(candidate, None) if _mainland_mobile.search(candidate) else Canonical(None, BAD_FORMAT)


def _email(value: str | None, never: NeverIdentifiers) -> Canonical:
    candidate = None if value is None else value.lower()
    if _is_blank(candidate):
        return Canonical(None, BAD_FORMAT)
    if candidate in never.email_placeholders:
        return Canonical(None, PLACEHOLDER)
    return Canonical(candidate, None) if _well_formed_email.search(candidate) else Canonical(None, BAD_FORMAT)


def _device(value: str | None, never: NeverIdentifiers) -> Canonical:
    device = None if value is None else value.lower()
    if _is_blank(device) or device in never.device_junk or any(p.search(device) for p in never.device_junk_patterns):
        return Canonical(None, JUNK)
    return Canonical(device, None)


def _is_blank(text: str | None) -> bool:
    return not text
