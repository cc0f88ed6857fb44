"""Stable one_ids: the new partition of identifiers gets the ids of the old one wherever it can.

SPEC section 3. For the identifiers a run recomputed:

* every old one_id goes to the new identity holding most of its old identifiers, counting
  first those that are not weakly joined values (a device, a receiver mobile), then all, and
  then the identity with the smaller key: when an identity splits, the part keeping most of
  the old identifiers keeps the id, and a weakly joined value that leaves for a stronger claim
  never takes the id of the identity it leaves with it;
* a new identity given several old ids keeps the oldest and records the others as merged
  into it; one_ids begin with their creation date, so the oldest is the smallest;
* a new identity given none gets a new id, ``O`` + ds + 16 hex of the SHA-256 of its smallest
  identifier: deterministic, so a rerun of the ds gives the same ids; when its identifiers
  had an id before, it is recorded as split from that parent;
* an old id none of whose identifiers remain (all judged shared) is recorded as retired;
* identifiers that moved from an id that lives on to another id, which none of the above
  explains (a weakly joined value leaving for a stronger claim), are recorded as a split from
  the id they left to the id they joined.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

MERGE, SPLIT, RETIRED = "merge", "split", "retired"
EVENT_COLUMNS = ("ds", "from_one_id", "to_one_id", "kind", "reason")
ASSIGNED_COLUMNS = ("node", "cluster", "one_id")
ONE_ID_HASH_CHARS = 16


def new_one_id(ds: date, component) -> F.Column:
    return F.concat(F.lit(f"O{ds:%Y%m%d}"), F.substring(F.sha2(component, 256), 1, ONE_ID_HASH_CHARS))


def assign(components: DataFrame, previous: DataFrame, graph_edges: DataFrame, ds: date,
           weak_values: DataFrame | None = None) -> tuple[DataFrame, DataFrame]:
    """One_ids for the recomputed identities, and the merges and splits that gave them.

    Args:
        components: ``(node, cluster, component)`` of the recomputed identifiers.
        previous: ``(node, one_id)``: the previous assignment of every identifier the run
            recomputed, including those that left the graph (newly shared values).
        graph_edges: the edges the components came from, ``rules`` naming the rules behind
            each, for the merge reasons.
        ds: the business date of the run.
        weak_values: ``node`` of the values weakly joined now or in the previous run.

    Returns:
        ``(node, cluster, one_id)`` per identifier, and ``oneid.merge_log`` rows of the ds.
    """
    weak = (weak_values if weak_values is not None else components.sparkSession.createDataFrame([], "node string"))
    overlap = (
        components.join(previous, on="node", how="inner")
        .join(weak.select("node", F.lit(True).alias("is_weak")).distinct(), on="node", how="left")
        .groupBy("component", "one_id")
        .agg(F.count(F.lit(1)).alias("held"), F.count(F.when(F.col("is_weak").isNull(), True)).alias("anchored"))
    )
    biggest_part = Window.partitionBy("one_id").orderBy(F.col("anchored").desc(), F.col("held").desc(), F.col("component"))
    home = overlap.withColumn("rank", F.row_number().over(biggest_part)).where(F.col("rank") == 1).drop("rank")
    survivors = home.groupBy("component").agg(F.min("one_id").alias("survivor"))
    identity = (
        components.select("component").distinct()
        .join(survivors, on="component", how="left")
        .withColumn("one_id", F.coalesce(F.col("survivor"), new_one_id(ds, F.col("component"))))
    )
    assigned = components.join(identity, on="component", how="inner").select(*ASSIGNED_COLUMNS)
    explained = (
        _merges(home, identity, components, previous, graph_edges, ds)
        .unionByName(_splits(overlap, identity, components, home, ds))
        .unionByName(_retired(previous, overlap, ds))
    )
    return assigned, explained.unionByName(_moves(overlap, identity, explained, ds))


def _merges(home: DataFrame, identity: DataFrame, components: DataFrame, previous: DataFrame,
            graph_edges: DataFrame, ds: date) -> DataFrame:
    merged = home.join(identity.select("component", "survivor"), on="component", how="inner").where(F.col("one_id") != F.col("survivor"))
    # The rules of edges between identifiers that had different ids say what merged them; with
    # none, a new identifier bridged the old identities.
    old = previous.select("node", F.col("one_id").alias("old_id"))
    placed = components.select("node", "component")
    crossing = (
        graph_edges.join(old.withColumnRenamed("node", "src").withColumnRenamed("old_id", "src_old"), on="src", how="left")
        .join(old.withColumnRenamed("node", "dst").withColumnRenamed("old_id", "dst_old"), on="dst", how="left")
        .where(F.col("src_old") != F.col("dst_old"))
        .join(placed.withColumnRenamed("node", "src"), on="src", how="inner")
        .select("component", F.explode("rules").alias("rule"))
        .groupBy("component")
        .agg(F.array_sort(F.collect_set("rule")).alias("rules"))
    )
    return (
        merged.join(crossing, on="component", how="left")
        .select(
            F.lit(ds).alias("ds"),
            F.col("one_id").alias("from_one_id"),
            F.col("survivor").alias("to_one_id"),
            F.lit(MERGE).alias("kind"),
            F.when(F.col("rules").isNull(), F.lit("a new identifier linked to both"))
            .otherwise(F.concat(F.lit("linked by "), F.array_join("rules", ", ")))
            .alias("reason"),
        )
    )


def _splits(overlap: DataFrame, identity: DataFrame, components: DataFrame, home: DataFrame, ds: date) -> DataFrame:
    orphans = identity.where(F.col("survivor").isNull()).select("component", "one_id")
    parent_first = Window.partitionBy("component").orderBy(F.col("anchored").desc(), F.col("held").desc(), F.col("one_id"))
    parents = (
        overlap.join(orphans.select("component"), on="component", how="inner")
        .withColumn("rank", F.row_number().over(parent_first))
        .where(F.col("rank") == 1)
        .select("component", F.col("one_id").alias("parent"))
    )
    clusters = components.select("component", "cluster").distinct()
    # Cut by the identity guard when the parent's new home lies in the same graph component.
    parent_homes = home.join(clusters, on="component", how="inner").select(
        F.col("one_id").alias("parent"), F.col("cluster").alias("parent_cluster")
    )
    return (
        parents.join(orphans, on="component", how="inner")
        .join(clusters, on="component", how="inner")
        .join(parent_homes, on="parent", how="left")
        .select(
            F.lit(ds).alias("ds"),
            F.col("parent").alias("from_one_id"),
            F.col("one_id").alias("to_one_id"),
            F.lit(SPLIT).alias("kind"),
            F.when(F.col("cluster") == F.col("parent_cluster"), F.lit("identity guard cut its weakest links"))
            .otherwise(F.lit("links to the rest were removed (a value judged shared or unbound, a weak join withdrawn, or a rule change)"))
            .alias("reason"),
        )
    )


def _moves(overlap: DataFrame, identity: DataFrame, explained: DataFrame, ds: date) -> DataFrame:
    # overlap: which old ids each new identity holds; identity: the id each new identity got.
    changed = (
        overlap.join(identity.select("component", F.col("one_id").alias("to_one_id")), on="component", how="inner")
        .where(F.col("one_id") != F.col("to_one_id"))
        .select(F.col("one_id").alias("from_one_id"), "to_one_id")
        .distinct()
    )
    return changed.join(explained.select("from_one_id", "to_one_id"), on=["from_one_id", "to_one_id"], how="left_anti").select(
        F.lit(ds).alias("ds"), "from_one_id", "to_one_id", F.lit(SPLIT).alias("kind"),
        F.lit("identifiers moved to an identity with a stronger claim (a weak join contested)").alias("reason"),
    )


def _retired(previous: DataFrame, overlap: DataFrame, ds: date) -> DataFrame:
    return (
        previous.select("one_id").distinct()
        .join(overlap.select("one_id"), on="one_id", how="left_anti")
        .select(
            F.lit(ds).alias("ds"),
            F.col("one_id").alias("from_one_id"),
            F.lit(None).cast("string").alias("to_one_id"),
            F.lit(RETIRED).alias("kind"),
            F.lit("all its identifiers were judged shared").alias("reason"),
        )
    )


def resolve_aliases(previous_aliases: DataFrame, events: DataFrame, ds: date) -> DataFrame:
    """``(alias_one_id, one_id, merged_ds)``: every merged-away id and the id that answers for it.

    Aliases that pointed at an id merged today point at its survivor, so a lookup is one join.
    """
    merges = events.where(F.col("kind") == MERGE).select(
        F.col("from_one_id").alias("merged"), F.col("to_one_id").alias("survivor")
    )
    repointed = (
        previous_aliases.join(merges, on=F.col("one_id") == F.col("merged"), how="left")
        .select("alias_one_id", F.coalesce("survivor", "one_id").alias("one_id"), "merged_ds")
    )
    today = merges.select(F.col("merged").alias("alias_one_id"), F.col("survivor").alias("one_id"), F.lit(ds).alias("merged_ds"))
    return repointed.unionByName(today).select("alias_one_id", "one_id", "merged_ds")
