"""Segments on golden tags and behaviour: rule trees, sequences at their boundaries, profiles
with lift, and the definition checks. Expected frames are written out by hand."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.testing import assertDataFrameEqual

from tags import segments
from tags.catalog import CatalogError

AS_OF = date(2026, 1, 31)
TAG_TYPES = {"value_tier": "string", "is_member": "boolean", "gender": "string", "spend": "number"}


def segment(code: str, **fields) -> dict:
    return {"segment": code, "name_zh": code, "name_en": code, "owner": "tests", "description": code, **fields}


DEFINITIONS = {
    "1.yml": segment("high_value", rule="value_tier in ('V4', 'V5')", profile_tags=["gender", "is_member"],
                     export_tags=["value_tier"]),
    "2.yml": segment("cart_then_buy", sequence={"first": "add_cart", "then": "purchase", "within_days": 7, "lookback_days": 30}),
    "3.yml": segment("members", rule={"all": [{"field": "is_member", "op": "=", "value": True}]}),
}


@pytest.fixture(scope="module")
def wide(spark):
    return spark.createDataFrame(
        [("o1", "V5", True, "F", 10.0), ("o2", "V4", False, "M", 5.0), ("o3", "V1", True, "F", 1.0),
         ("o4", None, False, None, None)],
        "one_id string, value_tier string, is_member boolean, gender string, spend double",
    )


@pytest.fixture(scope="module")
def actions(spark):
    return spark.createDataFrame(
        [
            # Exactly seven days later: inside.
            ("o1", "add_cart", datetime(2026, 1, 20, 10)), ("o1", "purchase", datetime(2026, 1, 27, 10)),
            # One second too late.
            ("o2", "add_cart", datetime(2026, 1, 20, 10)), ("o2", "purchase", datetime(2026, 1, 27, 10, 0, 1)),
            # The cart is a day before the 30-day lookback.
            ("o3", "add_cart", datetime(2026, 1, 1, 23)), ("o3", "purchase", datetime(2026, 1, 3)),
            # First moment of the lookback, and the purchase at the same moment.
            ("o4", "add_cart", datetime(2026, 1, 2)), ("o4", "purchase", datetime(2026, 1, 2)),
            # After the as-of date: ignored; and not in the tags at all.
            ("o2", "purchase", datetime(2026, 2, 1, 9)), ("o9", "add_cart", datetime(2026, 1, 30)),
            ("o9", "purchase", datetime(2026, 1, 30)),
        ],
        "one_id string, action string, action_at timestamp_ntz",
    )


def test_members_follow_rules_and_sequences(spark, wide, actions):
    defs = segments.parse_segments(DEFINITIONS)
    segments.check(defs, TAG_TYPES, ("add_cart", "purchase"), AS_OF)
    chosen = segments.members(wide, defs, TAG_TYPES, actions, AS_OF)
    expected = spark.createDataFrame(
        [(AS_OF, "high_value", "o1"), (AS_OF, "high_value", "o2"), (AS_OF, "cart_then_buy", "o1"),
         (AS_OF, "cart_then_buy", "o4"), (AS_OF, "members", "o1"), (AS_OF, "members", "o3")],
        "ds date, segment string, one_id string",
    )
    assertDataFrameEqual(chosen, expected)


def test_profiles_compare_shares_with_everybody(spark, wide, actions):
    defs = segments.parse_segments(DEFINITIONS)
    chosen = segments.members(wide, defs, TAG_TYPES, actions, AS_OF)
    values = spark.createDataFrame(
        [(AS_OF, "o1", "gender", "F"), (AS_OF, "o2", "gender", "M"), (AS_OF, "o3", "gender", "F"),
         (AS_OF, "o1", "is_member", "true"), (AS_OF, "o2", "is_member", "false"), (AS_OF, "o3", "is_member", "true"),
         (AS_OF, "o4", "is_member", "false"), (AS_OF, "o1", "value_tier", "V5")],
        "ds date, one_id string, tag_code string, tag_value string",
    )
    profile = segments.profiles(chosen, values, defs, 4, AS_OF)
    expected = spark.createDataFrame(
        [
            (AS_OF, "high_value", 2, 4, "gender", "F", 1, 0.5, 2, 0.5, 1.0),
            (AS_OF, "high_value", 2, 4, "gender", "M", 1, 0.5, 1, 0.25, 2.0),
            # o4 has no gender: the value null, nobody of it in the segment.
            (AS_OF, "high_value", 2, 4, "gender", None, 0, 0.0, 1, 0.25, 0.0),
            (AS_OF, "high_value", 2, 4, "is_member", "true", 1, 0.5, 2, 0.5, 1.0),
            (AS_OF, "high_value", 2, 4, "is_member", "false", 1, 0.5, 2, 0.5, 1.0),
            (AS_OF, "cart_then_buy", 2, 4, None, None, None, None, None, None, None),
            (AS_OF, "members", 2, 4, None, None, None, None, None, None, None),
        ],
        "ds date, segment string, segment_size long, population long, tag_code string, tag_value string, "
        "segment_members long, segment_share double, overall_members long, overall_share double, lift double",
    )
    assertDataFrameEqual(profile, expected)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"segment": "x"}, "missing name_zh, name_en, owner, description"),
        (segment("x", rule="a", colour="red"), "unknown field\\(s\\) \\['colour'\\]"),
        (segment("X-1", rule="a"), "must be snake_case"),
        (segment("x"), "segment x: needs a `rule`, a `sequence` or both"),
        (segment("x", sequence={"first": "a", "then": "b", "within_days": 7}), "needs exactly first, then"),
        (segment("x", sequence={"first": "a", "then": "b", "within_days": 7, "lookback_days": 0}), "lookback_days must be"),
    ],
)
def test_definitions_are_refused_naming_the_file_or_segment(document, message):
    with pytest.raises(CatalogError, match=message):
        segments.parse_segments({"s.yml": document})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (segment("x", rule="value_teir = 'V5'"), "segment x"),
        (segment("x", rule="value_tier = 'V5'", profile_tags=["spend"]), "segment x: profile_tags names spend, a number tag"),
        (segment("x", rule="value_tier = 'V5'", export_tags=["mobile"]), "segment x: export_tags names 'mobile'"),
        (segment("x", sequence={"first": "view", "then": "purchase", "within_days": 1, "lookback_days": 1}),
         "segment x: sequence names 'view'"),
    ],
)
def test_segments_that_do_not_fit_the_tags_are_refused(spark, document, message):
    defs = segments.parse_segments({"s.yml": document})
    with pytest.raises(CatalogError, match=message):
        segments.check(defs, TAG_TYPES, ("add_cart", "purchase"), AS_OF)
