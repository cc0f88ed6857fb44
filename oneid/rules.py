"""Match rules: which identifiers of one source record link, and how strongly.

A rule names a record (``source.entity`` of ``cdm.identity_evidence``), two of its fields and
a confidence. Applying the rules to a day's normalized evidence gives one link per record and
rule whose two values are both valid identifiers. Links are kept whatever their confidence;
whether one joins identities is decided later against the threshold, so a rule change can be
previewed from the same links.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from models.cdm.identity_evidence import FIELDS

LINK_COLUMNS = ("dt", "source", "entity", "record_key", "rule", "src", "dst", "confidence", "event_at")
SIGHTING_COLUMNS = (
    "dt", "node", "id_type", "id_value", "first_seen_at", "last_seen_at", "records", "sources", "scopes",
)
REJECTED_COLUMNS = ("dt", "id_type", "invalid_reason", "values", "occurrences")
RECORD_IDENTIFIER_COLUMNS = ("dt", "record_key", "source", "entity", "field", "node")


@dataclass(frozen=True)
class Rule:
    name: str
    source: str
    entity: str
    from_field: str
    to_field: str
    confidence: float


def check_rules(rules: Sequence[Rule], where: str) -> None:
    """Every rule must name a record and fields that ``cdm.identity_evidence`` carries.

    Raises:
        ValueError: naming the rule and what it got wrong, so a typo in the YAML is not a
            rule that silently never fires.
    """
    names = [rule.name for rule in rules]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"{where}: rule names must be unique, repeated: {duplicated}")
    for rule in rules:
        fields = FIELDS.get((rule.source, rule.entity))
        if fields is None:
            known = sorted(f"{source}.{entity}" for source, entity in FIELDS)
            raise ValueError(f"{where}: rule {rule.name!r} names record {rule.source}.{rule.entity}; known: {known}")
        columns = {field.column for field in fields}
        for field in (rule.from_field, rule.to_field):
            if field not in columns:
                raise ValueError(f"{where}: rule {rule.name!r}: {rule.source}.{rule.entity} has no field {field!r}; it has {sorted(columns)}")
        if rule.from_field == rule.to_field:
            raise ValueError(f"{where}: rule {rule.name!r} links {rule.from_field!r} to itself")


def node_key(id_type: Column, id_value: Column) -> Column:
    """``mobile:13800138000``: one string per identifier, the graph's vertex id."""
    return F.concat(id_type, F.lit(":"), id_value)


def node_type(node: Column) -> Column:
    return F.substring_index(node, ":", 1)


def node_value(node: Column) -> Column:
    # Buyer ids hold a colon of their own (tmall:tb123): only the first one separates.
    return F.regexp_extract(node, r"^[^:]*:(.*)$", 1)


def rules_frame(spark, rules: Sequence[Rule]) -> DataFrame:
    schema = T.StructType([
        T.StructField("source", T.StringType()), T.StructField("entity", T.StringType()),
        T.StructField("from_field", T.StringType()), T.StructField("to_field", T.StringType()),
        T.StructField("rule", T.StringType()), T.StructField("confidence", T.DoubleType()),
    ])
    rows = [(r.source, r.entity, r.from_field, r.to_field, r.name, r.confidence) for r in rules]
    return spark.createDataFrame(rows, schema)


def valid_identifiers(normalized: DataFrame) -> DataFrame:
    return normalized.where(F.col("id_value").isNotNull()).withColumn("node", node_key(F.col("id_type"), F.col("id_value")))


def links(normalized: DataFrame, rules: Sequence[Rule]) -> DataFrame:
    """One row per record and rule whose two fields hold valid identifiers.

    Args:
        normalized: ``cdm.identity_evidence`` rows with ``id_value``/``invalid_reason``
            (``oneid.normalize.normalize``).
        rules: the match rules.
    """
    valid = valid_identifiers(normalized)
    rule_rows = F.broadcast(rules_frame(normalized.sparkSession, rules))
    ends = valid.select("dt", "source", "entity", "record_key", "field", "node", "event_at")
    start = ends.alias("a").join(
        rule_rows.alias("r"),
        on=(F.col("a.source") == F.col("r.source")) & (F.col("a.entity") == F.col("r.entity"))
        & (F.col("a.field") == F.col("r.from_field")),
        how="inner",
    )
    other = ends.select("dt", "record_key", F.col("field").alias("b_field"), F.col("node").alias("b_node"))
    return (
        start.join(
            other,
            on=(F.col("a.dt") == other["dt"]) & (F.col("a.record_key") == other["record_key"])
            & (F.col("r.to_field") == F.col("b_field")),
            how="inner",
        )
        .where(F.col("a.node") != F.col("b_node"))
        .select(
            F.col("a.dt").alias("dt"),
            F.col("a.source").alias("source"),
            F.col("a.entity").alias("entity"),
            F.col("a.record_key").alias("record_key"),
            F.col("r.rule").alias("rule"),
            F.col("a.node").alias("src"),
            F.col("b_node").alias("dst"),
            F.col("r.confidence").alias("confidence"),
            F.col("a.event_at").alias("event_at"),
        )
    )


def sightings(normalized: DataFrame) -> DataFrame:
    """Per dt and valid identifier: when and where it was seen (the mapping's first/last seen)."""
    return (
        valid_identifiers(normalized)
        .groupBy("dt", "node", "id_type", "id_value")
        .agg(
            F.min("event_at").alias("first_seen_at"),
            F.max("event_at").alias("last_seen_at"),
            F.count(F.lit(1)).alias("records"),
            F.array_sort(F.collect_set("source")).alias("sources"),
            F.array_sort(F.collect_set("scope")).alias("scopes"),
        )
        .select(*SIGHTING_COLUMNS)
    )


def record_identifiers(normalized: DataFrame) -> DataFrame:
    """Per dt: each record's valid identifiers, by field (what decides who owns the record)."""
    return valid_identifiers(normalized).select(*RECORD_IDENTIFIER_COLUMNS)


def rejected(normalized: DataFrame) -> DataFrame:
    """Per dt, id type and reason: how many distinct raw values were refused, how often."""
    return (
        normalized.where(F.col("invalid_reason").isNotNull())
        .groupBy("dt", "id_type", "invalid_reason")
        .agg(F.countDistinct("raw_value").alias("values"), F.count(F.lit(1)).alias("occurrences"))
        .select(*REJECTED_COLUMNS)
    )
