"""Weak links that join: uncontested, corroborated evidence (``weak_joins`` of ``conf/oneid.yml``).

A weak rule links a *claimant* (its ``from`` field: an openid, a buyer id) to a *value* (its
``to`` field: a device, a receiver mobile). Families share devices and people ship gifts, so
such a link never joins by itself; but most devices and most receiver mobiles belong to one
person, and the evidence around the value says which. Claimants are counted as *identities*,
the connected components of the joining (strong) graph, not as identifiers: a person's three
openids are one claimant. Per value and claimant identity the decision is, in this order:

* **contested**: two or more identities claim the value (a family device, a mobile several
  buyers ship to); it joins nobody and is listed;
* **already joined**: the value sits in the claimant's identity by stronger links;
* **held**: a stronger link puts the value in another identity (a gift recipient's own
  mobile); it joins the claimant only when the rule's ``held`` corroboration is met, never
  when that is ``never``;
* **unclaimed**: no stronger link holds it; it joins once the ``unclaimed`` corroboration
  (records, days between the first and the last, share of the claimant's records of the
  rule) is met.

Decisions are recomputed from all links each run, so a value that joined weakly leaves as soon
as a stronger claim arrives (the gift recipient registers with that mobile): the next
recompute moves it, and ``oneid.assign`` records the move in the merge log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from oneid.graph import Components
from oneid.rules import node_type, node_value

CONTESTED = "contested: joins nobody"
ALREADY_JOINED = "already joined by stronger links"
HELD_NEVER = "held by a stronger link: joins nobody"
HELD_UNCORROBORATED = "held by a stronger link: not corroborated"
JOINED_HELD = "joined: corroborated against a stronger link"
UNCORROBORATED = "unclaimed: not yet corroborated"
JOINED = "joined: uncontested"
JOINING_DECISIONS = (JOINED, JOINED_HELD)

DECISION_COLUMNS = ("rule", "id_type", "id_value", "claimant", "claimant_identities", "held", "records",
                    "first_at", "last_at", "share", "decision")


@dataclass(frozen=True)
class Corroboration:
    """What must be true of a claimant identity's records of the value before it joins."""

    min_records: int = 1
    min_days: int = 0  # between the first and the last of those records
    min_share: float = 0.0  # of the claimant identity's records of the rule


@dataclass(frozen=True)
class WeakJoin:
    rule: str
    unclaimed: Corroboration
    held: Corroboration | None  # None: a value a stronger link holds never joins by this rule


def policies_frame(spark, policies: Sequence[WeakJoin]) -> DataFrame:
    never = Corroboration(min_records=2 ** 31 - 1)
    rows = [(policy.rule, *_fields(policy.unclaimed), policy.held is not None, *_fields(policy.held or never))
            for policy in policies]
    schema = "rule string, unclaimed_records int, unclaimed_days int, unclaimed_share double, " \
             "held_allowed boolean, held_records int, held_days int, held_share double"
    return spark.createDataFrame(rows, schema)


def _fields(corroboration: Corroboration) -> tuple[int, int, float]:
    return corroboration.min_records, corroboration.min_days, float(corroboration.min_share)


def claims(links: DataFrame, policies: Sequence[WeakJoin]) -> DataFrame:
    """``(rule, value, claimant, records, first_at, last_at)`` over the links of the weak-join rules."""
    return (
        links.where(F.col("rule").isin([policy.rule for policy in policies]))
        .groupBy("rule", F.col("dst").alias("value"), F.col("src").alias("claimant"))
        .agg(F.countDistinct("record_key").alias("records"), F.min("event_at").alias("first_at"),
             F.max("event_at").alias("last_at"))
    )


def decide(claim_rows: DataFrame, strong_edges: DataFrame, excluded: DataFrame, policies: Sequence[WeakJoin],
           components: Components) -> DataFrame:
    """One decision per rule, value and claimant identity (``DECISION_COLUMNS``).

    Args:
        claim_rows: ``claims`` of every link so far.
        strong_edges: the joining edges between values that are not shared (``src``, ``dst``).
        excluded: ``node`` of values that join nobody (shared or unbound): no claim on them or
            by them counts.
        policies: the ``weak_joins`` of the conf.
        components: the connected-components function.
    """
    if not policies:
        return claim_rows.sparkSession.createDataFrame([], _decision_schema())
    gone = excluded.select("node").distinct()
    strong_nodes = strong_edges.select(F.col("src").alias("node")).unionByName(strong_edges.select(F.col("dst").alias("node"))).distinct()
    identities = components(strong_nodes, strong_edges.select("src", "dst"))
    kept = (
        claim_rows.join(gone.withColumnRenamed("node", "value"), on="value", how="left_anti")
        .join(gone.withColumnRenamed("node", "claimant"), on="claimant", how="left_anti")
    )
    placed = (
        kept.join(identities.select(F.col("node").alias("claimant"), F.col("component").alias("claimant_component")),
                  on="claimant", how="left")
        .join(identities.select(F.col("node").alias("value"), F.col("component").alias("value_identity")), on="value", how="left")
        # An identifier no strong link touches is an identity of its own.
        .withColumn("claimant_identity", F.coalesce("claimant_component", "claimant"))
    )
    per_identity = placed.groupBy("rule", "value", "claimant_identity").agg(
        F.sum("records").alias("records"), F.min("first_at").alias("first_at"), F.max("last_at").alias("last_at"),
        F.min("claimant").alias("claimant"), F.first("value_identity").alias("value_identity"),
    )
    per_value = per_identity.groupBy("value").agg(F.countDistinct("claimant_identity").alias("claimant_identities"))
    per_claimant = per_identity.groupBy("rule", "claimant_identity").agg(F.sum("records").alias("rule_records"))
    limits = F.broadcast(policies_frame(claim_rows.sparkSession, policies))
    days = F.datediff(F.to_date("last_at"), F.to_date("first_at"))

    def corroborated(prefix: str) -> F.Column:
        return ((F.col("records") >= F.col(f"{prefix}_records")) & (days >= F.col(f"{prefix}_days"))
                & (F.col("share") >= F.col(f"{prefix}_share")))

    held = F.col("value_identity").isNotNull()
    decision = (
        F.when(F.col("claimant_identities") > 1, F.lit(CONTESTED))
        .when(held & (F.col("value_identity") == F.col("claimant_identity")), F.lit(ALREADY_JOINED))
        .when(held & ~F.col("held_allowed"), F.lit(HELD_NEVER))
        .when(held & corroborated("held"), F.lit(JOINED_HELD))
        .when(held, F.lit(HELD_UNCORROBORATED))
        .when(corroborated("unclaimed"), F.lit(JOINED))
        .otherwise(F.lit(UNCORROBORATED))
    )
    return (
        per_identity.join(per_value, on="value", how="inner")
        .join(per_claimant, on=["rule", "claimant_identity"], how="inner")
        .join(limits, on="rule", how="inner")
        .withColumn("share", F.col("records") / F.col("rule_records"))
        .withColumn("held", held)
        .withColumn("decision", decision)
        .select("rule", node_type(F.col("value")).alias("id_type"), node_value(F.col("value")).alias("id_value"),
                "claimant", F.col("claimant_identities").cast("int").alias("claimant_identities"), "held",
                F.col("records").cast("long").alias("records"), "first_at", "last_at", "share", "decision")
    )


def _decision_schema() -> T.StructType:
    return T.StructType([
        T.StructField("rule", T.StringType()), T.StructField("id_type", T.StringType()),
        T.StructField("id_value", T.StringType()), T.StructField("claimant", T.StringType()),
        T.StructField("claimant_identities", T.IntegerType()), T.StructField("held", T.BooleanType()),
        T.StructField("records", T.LongType()), T.StructField("first_at", T.TimestampNTZType()),
        T.StructField("last_at", T.TimestampNTZType()), T.StructField("share", T.DoubleType()),
        T.StructField("decision", T.StringType()),
    ])


def joined_pairs(decisions: DataFrame) -> DataFrame:
    """``(claimant, value)`` of every weak link the decisions let join."""
    return decisions.where(F.col("decision").isin(list(JOINING_DECISIONS))).select(
        "claimant", F.concat("id_type", F.lit(":"), "id_value").alias("value"))


def joining_edges(decisions: DataFrame, all_edges: DataFrame) -> DataFrame:
    """The edges (``oneid.graph.EDGE_COLUMNS``) behind the joining weak links."""
    pairs = joined_pairs(decisions).select(F.least("claimant", "value").alias("src"), F.greatest("claimant", "value").alias("dst"))
    return all_edges.join(pairs, on=["src", "dst"], how="left_semi")
