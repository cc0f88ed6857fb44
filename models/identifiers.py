"""The canonical form of a mobile and of an email (SPEC section 3), written once.

The CDM masks and hashes these forms (``models/pii.py``) and OneID looks identities up by them
(``oneid/normalize.py``), so one person's mobile hash in ``cdm.dim_member`` is the one in
``oneid.profile`` only if both read the raw text the same way: this module is that one way.
OneID additionally says why a value is no identifier (masked, placeholder, bad format); that
judgement stays in ``oneid/normalize.py`` and builds on the candidate forms below.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

MOBILE_DIGITS = 11
CHINA_COUNTRY_CODE = "86"
MAINLAND_MOBILE = r"^1[3-9]\d{9}$"
WELL_FORMED_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# Spark's trim removes only ' '; sources also leave tabs, line breaks, no-break and ideographic
# spaces, byte order marks and zero-width spaces around values. Java's \s is ASCII only.
_INVISIBLE = "\u00a0\u3000\ufeff\u200b"
_EDGE_SPACE = rf"^[\s{_INVISIBLE}]+|[\s{_INVISIBLE}]+$"
# Cashiers typing with a Chinese input method produce full-width digits and separators.
_FULL_WIDTH, _HALF_WIDTH = "０１２３４５６７８９＋－（）．＊\u3000", "0123456789+-().* "
# Separators may stand anywhere in a mobile, so removing them also trims its edges.
_MOBILE_SEPARATORS = rf"[\s{_INVISIBLE}\-.()]"
_COUNTRY_CODE = rf"^(\+|00)?{CHINA_COUNTRY_CODE}(?=\d{{{MOBILE_DIGITS}}}$)"


def strip_edge_space(text: Column) -> Column:
    """``text`` without the blank and invisible characters around it."""
    return F.regexp_replace(text, _EDGE_SPACE, "")


def mobile_text(raw: Column) -> Column:
    """A mobile as typed, full-width characters made half-width (a mask ``＊`` becomes ``*``)."""
    return F.translate(raw, _FULL_WIDTH, _HALF_WIDTH)


def mobile_candidate(raw: Column) -> Column:
    """What a mobile reduces to with separators and a leading +86/0086/86 removed, valid or not.

    Any other character (a letter, a mask ``*``, a ``/`` between two numbers) is kept, so such a
    value never passes for a mobile.
    """
    return F.regexp_replace(F.regexp_replace(mobile_text(raw), _MOBILE_SEPARATORS, ""), _COUNTRY_CODE, "")


def mobile_digits(raw: Column) -> Column:
    """The canonical mobile: the 11 digits 1[3-9]xxxxxxxxx, or null when the raw text is none."""
    candidate = mobile_candidate(raw)
    return F.when(candidate.rlike(MAINLAND_MOBILE), candidate)


def email_candidate(raw: Column) -> Column:
    """An email trimmed and lower-case, well-formed or not."""
    return F.lower(strip_edge_space(raw))


def normalized_email(raw: Column) -> Column:
    """The canonical email: trimmed, lower-case ``local@domain.tld``; null when not well-formed."""
    candidate = email_candidate(raw)
    return F.when(candidate.rlike(WELL_FORMED_EMAIL), candidate)
