"""Audiences: segments defined in ``conf/segments/*.yml`` as rule trees over tags, optionally
with a behaviour sequence ("did A, then B within N days"), and their profiles.

A segment's rule compiles to a Column over ``ads.tag_wide`` with :mod:`tags.expr`; nothing from
the definition reaches SQL text. Its profile compares, for chosen tags, the share of each value
in the segment with the share among all identities (the lift).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from tags import expr
from tags.catalog import CODE_PATTERN, CatalogError

ONE_ID = "one_id"
PURCHASE = "purchase"
FIELDS = ("segment", "name_zh", "name_en", "owner", "description", "rule", "sequence", "profile_tags", "export_tags")
REQUIRED = ("segment", "name_zh", "name_en", "owner", "description")
SEQUENCE_FIELDS = ("first", "then", "within_days", "lookback_days")
MEMBER_COLUMNS = ("ds", "segment", ONE_ID)
PROFILE_COLUMNS = (
    "ds", "segment", "segment_size", "population", "tag_code", "tag_value", "segment_members", "segment_share",
    "overall_members", "overall_share", "lift",
)
BEHAVIOUR_COLUMNS = (ONE_ID, "action", "action_at")
# Tags of these types have few values, so shares of each value mean something.
PROFILED_TYPES = (expr.STRING, expr.BOOLEAN)
SHARE_DECIMALS = 4


@dataclass(frozen=True)
class BehaviourSequence:
    first: str
    then: str
    within_days: int
    lookback_days: int


@dataclass(frozen=True)
class SegmentDef:
    code: str
    name_zh: str
    name_en: str
    owner: str
    description: str
    rule: Any
    sequence: BehaviourSequence | None
    profile_tags: tuple[str, ...]
    export_tags: tuple[str, ...]


def parse_segments(documents: Mapping[str, Any]) -> tuple[SegmentDef, ...]:
    """One segment per document, in file order.

    Raises:
        CatalogError: naming the file and the field.
    """
    segments, seen = [], {}
    for file_name in sorted(documents):
        document = documents[file_name]
        if not isinstance(document, Mapping):
            raise CatalogError(f"{file_name}: expected a mapping with `segment`, names, `rule`…")
        missing = [name for name in REQUIRED if document.get(name) in (None, "")]
        unknown = set(document) - set(FIELDS)
        if missing or unknown:
            raise CatalogError(f"{file_name}: " + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown field(s) {sorted(unknown)}"] if unknown else [])
            ))
        code = document["segment"]
        if not isinstance(code, str) or not CODE_PATTERN.match(code):
            raise CatalogError(f"{file_name}: segment {code!r} must be snake_case")
        if code in seen:
            raise CatalogError(f"segment {code}: defined twice, in {seen[code]} and {file_name}")
        if document.get("rule") is None and document.get("sequence") is None:
            raise CatalogError(f"segment {code}: needs a `rule`, a `sequence` or both")
        seen[code] = file_name
        segments.append(SegmentDef(
            code=code, name_zh=str(document["name_zh"]), name_en=str(document["name_en"]), owner=str(document["owner"]),
            description=str(document["description"]).strip(), rule=document.get("rule"),
            sequence=_sequence(document.get("sequence"), code),
            profile_tags=tuple(document.get("profile_tags") or ()), export_tags=tuple(document.get("export_tags") or ()),
        ))
    return tuple(segments)


def _sequence(document: Any, code: str) -> BehaviourSequence | None:
    if document is None:
        return None
    context = f"segment {code}: sequence"
    if not isinstance(document, Mapping) or set(document) != set(SEQUENCE_FIELDS):
        raise CatalogError(f"{context} needs exactly {', '.join(SEQUENCE_FIELDS)}")
    for field, least in (("within_days", 0), ("lookback_days", 1)):
        value = document[field]
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise CatalogError(f"{context}: {field} must be a whole number of days ≥ {least}, not {value!r}")
    return BehaviourSequence(str(document["first"]), str(document["then"]), document["within_days"], document["lookback_days"])


def check(segments: Sequence[SegmentDef], tag_types: Mapping[str, str], actions: Sequence[str], as_of: date) -> None:
    """Compiles every rule and checks every named tag and action.

    Args:
        tag_types: the online tags and their types.
        actions: the event types a sequence may name, ``purchase`` included.

    Raises:
        CatalogError: naming the segment.
    """
    for segment in segments:
        context = f"segment {segment.code}"
        if segment.rule is not None:
            try:
                expr.compile_condition(segment.rule, tag_types, context, as_of=as_of)
            except expr.ExpressionError as error:
                raise CatalogError(str(error)) from error
        for field, codes in (("profile_tags", segment.profile_tags), ("export_tags", segment.export_tags)):
            for code in codes:
                if code not in tag_types:
                    raise CatalogError(f"{context}: {field} names {code!r}, which is not an online tag")
        for code in segment.profile_tags:
            if tag_types[code] not in PROFILED_TYPES:
                raise CatalogError(
                    f"{context}: profile_tags names {code}, a {tag_types[code]} tag; profiles compare shares of "
                    f"values, so use a label or true/false tag (a bucket of it, for numbers)"
                )
        if segment.sequence:
            for action in (segment.sequence.first, segment.sequence.then):
                if action not in actions:
                    raise CatalogError(f"{context}: sequence names {action!r}; actions are {', '.join(actions)}")


def behaviour(events: DataFrame, orders: DataFrame) -> DataFrame:
    """``(one_id, action, action_at)``: every event, and every purchase as the action ``purchase``."""
    fired = events.select(ONE_ID, F.col("event_type").alias("action"), F.col("event_at").alias("action_at"))
    bought = orders.where(F.col("is_purchase")).select(ONE_ID, F.lit(PURCHASE).alias("action"), F.col("order_at").alias("action_at"))
    return fired.unionByName(bought).select(*BEHAVIOUR_COLUMNS)


def sequence_matches(actions: DataFrame, sequence: BehaviourSequence, as_of: date) -> DataFrame:
    """The one_ids that did ``first`` in the lookback window, then ``then`` within
    ``within_days`` after it (the same moment counts), both no later than the end of ``as_of``."""
    # Day boundaries as local wall-clock times: a date cast to timestamp_ntz is its midnight,
    # whatever the time zones of the driver and the session.
    day_end = F.lit(as_of + timedelta(days=1)).cast("timestamp_ntz")
    since = F.lit(as_of - timedelta(days=sequence.lookback_days - 1)).cast("timestamp_ntz")
    firsts = actions.where(
        (F.col("action") == sequence.first) & (F.col("action_at") >= since) & (F.col("action_at") < day_end)
    ).select(ONE_ID, F.col("action_at").alias("first_at"))
    thens = actions.where((F.col("action") == sequence.then) & (F.col("action_at") < day_end)).select(
        ONE_ID, F.col("action_at").alias("then_at")
    )
    within = (F.col("then_at") >= F.col("first_at")) & (
        F.col("then_at") <= F.timestamp_add("DAY", F.lit(sequence.within_days), F.col("first_at"))
    )
    return firsts.join(thens, on=ONE_ID, how="inner").where(within).select(ONE_ID).distinct()


def members(
    wide: DataFrame, segments: Sequence[SegmentDef], tag_types: Mapping[str, str], actions: DataFrame, as_of: date
) -> DataFrame:
    """``ads.segment_member``: (ds, segment, one_id) for every segment."""
    spark = wide.sparkSession
    parts = []
    for segment in segments:
        chosen = wide.select(ONE_ID, *([F.col(code) for code in tag_types]))
        if segment.rule is not None:
            chosen = chosen.where(expr.compile_condition(segment.rule, tag_types, f"segment {segment.code}", as_of=as_of))
        chosen = chosen.select(ONE_ID)
        if segment.sequence:
            chosen = chosen.join(sequence_matches(actions, segment.sequence, as_of), on=ONE_ID, how="inner")
        parts.append(chosen.select(F.lit(as_of).alias("ds"), F.lit(segment.code).alias("segment"), ONE_ID))
    if not parts:
        return spark.createDataFrame([], "ds date, segment string, one_id string")
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union.select(*MEMBER_COLUMNS)


def profiles(segment_members: DataFrame, values: DataFrame, segments: Sequence[SegmentDef], population: int,
             as_of: date) -> DataFrame:
    """``ads.segment_profile``: per segment and profiled tag value, its share in the segment,
    among all identities, and the lift (segment share / overall share). A value-less tag is
    reported as the value null. A segment without profile tags gets one row of its size.

    Args:
        values: the day's ``ads.tag_value`` (long form).
        population: the number of identities (rows of ``ads.tag_wide``).
    """
    spark = segment_members.sparkSession
    chosen = spark.createDataFrame(
        [(segment.code, code) for segment in segments for code in segment.profile_tags] or [("", "")],
        "segment string, tag_code string",
    ).where(F.col("segment") != "")
    sizes = segment_members.groupBy("segment").agg(F.count(F.lit(1)).alias("segment_size"))
    sizes = spark.createDataFrame([(segment.code,) for segment in segments] or [("",)], "segment string").where(
        F.col("segment") != ""
    ).join(sizes, on="segment", how="left").fillna(0, subset=["segment_size"])
    profiled = values.join(chosen.select("tag_code").distinct(), on="tag_code", how="left_semi")
    overall = _with_missing(profiled.groupBy("tag_code", "tag_value").agg(F.count(F.lit(1)).alias("overall_members")),
                            profiled, population, "overall_members", ["tag_code"])
    in_segment = (
        segment_members.join(profiled, on=ONE_ID, how="inner")
        .join(chosen, on=["segment", "tag_code"], how="inner")
        .groupBy("segment", "tag_code", "tag_value").agg(F.count(F.lit(1)).alias("segment_members"))
    )
    valued_in_segment = in_segment.groupBy("segment", "tag_code").agg(F.sum("segment_members").alias("_valued"))
    missing_in_segment = (
        chosen.join(sizes, on="segment", how="inner")
        .join(valued_in_segment, on=["segment", "tag_code"], how="left")
        .select("segment", "tag_code", F.lit(None).cast("string").alias("tag_value"),
                (F.col("segment_size") - F.coalesce(F.col("_valued"), F.lit(0))).alias("segment_members"))
        .where(F.col("segment_members") > 0)
    )
    cells = chosen.join(overall, on="tag_code", how="inner")
    counted = (
        cells.join(in_segment.unionByName(missing_in_segment), on=["segment", "tag_code", "tag_value"], how="left")
        .fillna(0, subset=["segment_members"])
        .join(sizes, on="segment", how="inner")
    )
    segment_share = F.when(F.col("segment_size") > 0, F.round(F.col("segment_members") / F.col("segment_size"), SHARE_DECIMALS))
    overall_share = F.round(F.col("overall_members") / F.lit(max(population, 1)), SHARE_DECIMALS)
    lift = F.when(F.col("overall_members") > 0, F.round(
        (F.col("segment_members") / F.greatest(F.col("segment_size"), F.lit(1)))
        / (F.col("overall_members") / F.lit(max(population, 1))), SHARE_DECIMALS,
    ))
    rows = counted.select(
        F.lit(as_of).alias("ds"), "segment", "segment_size", F.lit(population).cast("long").alias("population"),
        "tag_code", "tag_value", F.col("segment_members").cast("long").alias("segment_members"),
        segment_share.alias("segment_share"), F.col("overall_members").cast("long").alias("overall_members"),
        overall_share.alias("overall_share"), lift.alias("lift"),
    )
    unprofiled = sizes.join(chosen.select("segment").distinct(), on="segment", how="left_anti").select(
        F.lit(as_of).alias("ds"), "segment", "segment_size", F.lit(population).cast("long").alias("population"),
        *[F.lit(None).cast(data_type).alias(name) for name, data_type in (
            ("tag_code", "string"), ("tag_value", "string"), ("segment_members", "long"), ("segment_share", "double"),
            ("overall_members", "long"), ("overall_share", "double"), ("lift", "double"),
        )],
    )
    return rows.unionByName(unprofiled).select(*PROFILE_COLUMNS)


def _with_missing(counts: DataFrame, values: DataFrame, population: int, count_column: str, keys: list[str]) -> DataFrame:
    """Adds, per tag, the identities without a value as the value null."""
    valued = values.groupBy(*keys).agg(F.count(F.lit(1)).alias("_valued"))
    missing = valued.select(*keys, F.lit(None).cast("string").alias("tag_value"),
                            (F.lit(population) - F.col("_valued")).alias(count_column)).where(F.col(count_column) > 0)
    return counts.unionByName(missing)

