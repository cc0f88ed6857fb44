"""The identity graph: links folded into edges, shared values taken out, oversized identities cut.

Vertices are identifiers (``oneid.rules.node_key``); an edge joins two identifiers when some
rule linked them on some record with a confidence at or above the threshold. Two guards keep
junk from merging people:

* a value linked to more distinct anchors (member ids, cards, unionids, buyer ids) of one
  type than its id type allows is *shared* — a store's phone typed for hundreds of members —
  and loses all its edges;
* an identity holding more identifiers of a type than ``max_per_identity`` allows loses its
  weakest edges, lowest confidence first, until every part fits or only the strongest remain.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from oneid.rules import node_type, node_value

EDGE_COLUMNS = ("src", "dst", "confidence", "rules", "first_dt", "last_dt")
SHARED_COLUMNS = ("node", "id_type", "id_value", "anchors", "anchors_by_type", "max_anchors", "decision")
SHARED_DECISION = "shared: joins nobody"

Components = Callable[[DataFrame, DataFrame], DataFrame]


def edges(links: DataFrame) -> DataFrame:
    """One row per unordered pair of identifiers ever linked, with its strongest confidence."""
    low, high = F.least("src", "dst"), F.greatest("src", "dst")
    return (
        links.groupBy(low.alias("src"), high.alias("dst"))
        .agg(
            F.max("confidence").alias("confidence"),
            F.array_sort(F.collect_set("rule")).alias("rules"),
            F.min("dt").alias("first_dt"),
            F.max("dt").alias("last_dt"),
        )
        .select(*EDGE_COLUMNS)
    )


def joining(all_edges: DataFrame, threshold: float) -> DataFrame:
    return all_edges.where(F.col("confidence") >= F.lit(threshold))


def _both_directions(edge_frame: DataFrame) -> DataFrame:
    return edge_frame.select(F.col("src").alias("node"), F.col("dst").alias("neighbour")).unionByName(
        edge_frame.select(F.col("dst").alias("node"), F.col("src").alias("neighbour"))
    )


def shared_values(joining_edges: DataFrame, anchor_types: Sequence[str], max_anchors: Mapping[str, int]) -> DataFrame:
    """Values linked to more distinct anchors of one type than their id type allows.

    Args:
        joining_edges: edges at or above the join threshold (weak links merge nobody, so
            they cannot make a value dangerous).
        anchor_types: id types that stand for one person each (a member id, a unionid).
        max_anchors: per id type of the value, the most anchors of any one type it may link.
    """
    spark = joining_edges.sparkSession
    limits = F.broadcast(spark.createDataFrame(
        [(id_type, int(limit)) for id_type, limit in max_anchors.items()],
        T.StructType([T.StructField("id_type", T.StringType()), T.StructField("max_anchors", T.IntegerType())]),
    ))
    per_type = (
        _both_directions(joining_edges)
        .withColumn("id_type", node_type(F.col("node")))
        .withColumn("anchor_type", node_type(F.col("neighbour")))
        .where(F.col("anchor_type").isin(list(anchor_types)))
        .join(limits, on="id_type", how="inner")
        .groupBy("node", "id_type", "max_anchors", "anchor_type")
        .agg(F.countDistinct("neighbour").alias("anchors"))
    )
    return (
        per_type.groupBy("node", "id_type", "max_anchors")
        .agg(
            F.max("anchors").alias("anchors"),
            F.map_from_entries(F.array_sort(F.collect_list(F.struct("anchor_type", "anchors")))).alias("anchors_by_type"),
        )
        .where(F.col("anchors") > F.col("max_anchors"))
        .withColumn("id_value", node_value(F.col("node")))
        .withColumn("decision", F.lit(SHARED_DECISION))
        .select(*SHARED_COLUMNS)
    )


def unbound_values(unbound: DataFrame) -> DataFrame:
    """Values a reviewer unbound (``node``, ``reason``), in the form of ``shared_values``."""
    return unbound.select(
        "node", node_type(F.col("node")).alias("id_type"), node_value(F.col("node")).alias("id_value"),
        F.lit(None).cast("long").alias("anchors"), F.lit(None).cast("map<string,bigint>").alias("anchors_by_type"),
        F.lit(None).cast("int").alias("max_anchors"), F.concat(F.lit("unbound by override: "), F.col("reason")).alias("decision"),
    )


def without_nodes(edge_frame: DataFrame, nodes: DataFrame) -> DataFrame:
    """Edges none of whose ends is in ``nodes`` (a frame with column ``node``)."""
    gone = nodes.select("node").distinct()
    return (
        edge_frame.join(gone.withColumnRenamed("node", "src"), on="src", how="left_anti")
        .join(gone.withColumnRenamed("node", "dst"), on="dst", how="left_anti")
        .select(*edge_frame.columns)
    )


def within(edge_frame: DataFrame, nodes: DataFrame) -> DataFrame:
    """Edges both of whose ends are in ``nodes``."""
    kept = nodes.select("node").distinct()
    return (
        edge_frame.join(kept.withColumnRenamed("node", "src"), on="src", how="left_semi")
        .join(kept.withColumnRenamed("node", "dst"), on="dst", how="left_semi")
    )


def together(assigned: DataFrame, apart: DataFrame) -> DataFrame:
    """Components holding both identifiers of a pair (``a``, ``b``) that must stay apart."""
    first = assigned.select(F.col("node").alias("a"), "component")
    second = assigned.select(F.col("node").alias("b"), F.col("component").alias("b_component"))
    return (
        apart.join(first, on="a", how="inner").join(second, on="b", how="inner")
        .where(F.col("component") == F.col("b_component")).select("component").distinct()
    )


def oversized(assigned: DataFrame, limits: Mapping[str, int]) -> DataFrame:
    """Components holding more identifiers of some type than ``limits`` allows."""
    if not limits:
        return assigned.sparkSession.createDataFrame([], "component string")
    counts = assigned.withColumn("id_type", node_type(F.col("node"))).where(F.col("id_type").isin(list(limits)))
    over = F.lit(False)
    for id_type, limit in limits.items():
        over = over | (F.col(f"n_{id_type}") > F.lit(limit))
    return (
        counts.groupBy("component")
        .agg(*[F.count(F.when(F.col("id_type") == id_type, True)).alias(f"n_{id_type}") for id_type in limits])
        .where(over)
        .select("component")
    )


def guard_identities(clusters: DataFrame, graph_edges: DataFrame, limits: Mapping[str, int],
                     components: Components, apart: DataFrame | None = None) -> DataFrame:
    """Cuts oversized clusters, and those holding a pair to keep apart, along their weakest edges.

    Args:
        clusters: ``(node, cluster)``, the connected components of ``graph_edges``.
        graph_edges: the edges the clusters came from, with ``confidence``.
        limits: id type → most identifiers of that type one identity may hold.
        components: the connected-components function (``oneid.components``).
        apart: ``(a, b)`` pairs of identifiers that must end in different identities.

    Returns:
        ``(node, cluster, component)``: ``component`` is the identity after the cuts (the
        smallest node of its part); ``cluster`` is kept so a later run can see which
        identities were one graph component before the cut.
    """
    assigned = clusters.withColumn("component", F.col("cluster")).select("node", "cluster", "component")
    levels = sorted(row.confidence for row in graph_edges.select("confidence").distinct().collect())
    # The strongest edges are never cut: an identity they hold together stays whole.
    for level in levels[:-1]:
        over = oversized(assigned, limits)
        if apart is not None:
            over = over.unionByName(together(assigned, apart)).distinct()
        if over.isEmpty():
            break
        cut_nodes = assigned.join(over, on="component", how="left_semi")
        kept_edges = within(graph_edges, cut_nodes).where(F.col("confidence") > F.lit(level))
        parts = components(cut_nodes.select("node"), kept_edges.select("src", "dst"))
        recut = cut_nodes.drop("component").join(parts, on="node", how="inner").select("node", "cluster", "component")
        assigned = assigned.join(over, on="component", how="left_anti").select("node", "cluster", "component").unionByName(recut)
        assigned = assigned.localCheckpoint()
    return assigned
