"""Manual overrides (``overrides`` of ``conf/oneid.yml``): what a reviewer decided against the rules.

* ``unbind``: a value that must join nobody (a reseller's mobile, a demo device). It loses
  every link, like a shared value, and is listed in ``oneid.shared_identifiers`` with the
  reviewer's reason.
* ``keep_apart``: two identifiers that must not share a one_id. The identity holding both is
  cut along its weakest links, as the identity guard cuts an oversized one; when only the
  strongest links hold them together the pair is reported as not honoured.
* ``force_together``: two identifiers that must share a one_id, joined by a link stronger
  than any rule's.

Overrides are not part of the rules fingerprint: the next run applies a changed list to the
identities it touches (each run compares the list with the one the previous run applied).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

UNBIND, KEEP_APART, FORCE_TOGETHER = "unbind", "keep_apart", "force_together"
KINDS = (UNBIND, KEEP_APART, FORCE_TOGETHER)
FORCED_CONFIDENCE = 1.0  # above every rule's, so the identity guard never cuts it
FORCED_RULE = "override:force_together"
COLUMNS = ("kind", "node", "other_node", "reason")
SCHEMA = "kind string, node string, other_node string, reason string"


@dataclass(frozen=True)
class Override:
    kind: str
    node: str  # "id_type:id_value", the canonical value as oneid.id_mapping shows it
    other_node: str | None  # the second identifier of a pair; None for an unbind
    reason: str


def parse(entries: dict, known_types: Sequence[str], where: str) -> tuple[Override, ...]:
    """Reads the ``overrides`` section.

    Raises:
        ValueError: an unknown section, id type or a missing reason, naming the entry.
    """
    found = []
    for kind, items in (entries or {}).items():
        if kind not in KINDS:
            raise ValueError(f"{where}: overrides has no section {kind!r}; sections are {list(KINDS)}")
        for item in items or ():
            ends = [item.get("value")] if kind == UNBIND else [item.get("a"), item.get("b")]
            for end in ends:
                id_type, _, id_value = str(end or "").partition(":")
                if id_type not in known_types or not id_value:
                    raise ValueError(f"{where}: overrides.{kind} entry {item!r}: {end!r} is not "
                                     f"'id_type:value' with id_type one of {sorted(known_types)}")
            if not str(item.get("reason") or "").strip():
                raise ValueError(f"{where}: overrides.{kind} entry {item!r} needs a reason: reviewers read it later")
            found.append(Override(kind, ends[0], ends[1] if len(ends) > 1 else None, str(item["reason"]).strip()))
    return tuple(found)


def frame(spark: SparkSession, overrides: Sequence[Override]) -> DataFrame:
    return spark.createDataFrame([(o.kind, o.node, o.other_node, o.reason) for o in overrides], SCHEMA)


def unbound(overrides: DataFrame) -> DataFrame:
    """``(node, reason)`` of the values to unbind."""
    return overrides.where(F.col("kind") == UNBIND).select("node", "reason")


def pairs(overrides: DataFrame, kind: str) -> DataFrame:
    return overrides.where(F.col("kind") == kind).select(F.col("node").alias("a"), F.col("other_node").alias("b"))


def forced_edges(overrides: DataFrame) -> DataFrame:
    """``oneid.graph.EDGE_COLUMNS`` rows joining every force_together pair."""
    together = pairs(overrides, FORCE_TOGETHER)
    return together.select(
        F.least("a", "b").alias("src"), F.greatest("a", "b").alias("dst"), F.lit(FORCED_CONFIDENCE).alias("confidence"),
        F.array(F.lit(FORCED_RULE)).alias("rules"), F.lit(None).cast("date").alias("first_dt"),
        F.lit(None).cast("date").alias("last_dt"),
    )


def changed_nodes(current: DataFrame, previous: DataFrame) -> DataFrame:
    """Identifiers of the overrides added or removed since the previous run: their identities change."""
    now, then = current.select(*COLUMNS), previous.select(*COLUMNS)
    changed = now.exceptAll(then).unionByName(then.exceptAll(now))
    return (
        changed.select("node").unionByName(changed.where(F.col("other_node").isNotNull()).select(F.col("other_node").alias("node")))
        .distinct()
    )
