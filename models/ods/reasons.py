"""Reason codes written to ``ods.rejects``.

A rejected row carries every problem found on it, joined by ``"; "`` in contract column
order; a column-specific problem reads ``code:column``. The sample-data generator imports
these codes so its bad-row truth and the parser can never drift apart.
"""

MALFORMED_RECORD = "malformed_record"
MISSING_VALUE = "missing_value"
BAD_TIMESTAMP = "bad_timestamp"
BAD_DATE = "bad_date"
BAD_NUMBER = "bad_number"
OUT_OF_RANGE = "out_of_range"
BAD_ENUM = "bad_enum"
# A list or object field (coupon_ids, items, properties) that is not the declared JSON shape.
BAD_STRUCTURE = "bad_structure"
DUPLICATE_ROW = "duplicate_row"

REASON_SEPARATOR = "; "


def column_reason(code: str, column: str) -> str:
    """The reason text for a problem with one column, e.g. ``bad_enum:status``."""
    return f"{code}:{column}"
