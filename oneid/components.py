"""Connected components of the identity graph: the one seam that hides the engine.

OneID links identifiers (nodes) by evidence (edges) and needs the component of every identifier.
Callers see one function and one contract, as in Zingg's ``GraphUtil`` and splink's clustering
module; which engine runs depends on the size of the graph and on what the cluster has:

- ``driver``: scipy's connected components in the driver's memory, the fastest while the graph fits;
- ``graphframes``: GraphFrames' connected components, when its jar is on the session's classpath;
- ``spark``: the same large-star / small-star algorithm in plain DataFrames, for clusters without
  that jar.

Every engine labels a component with its smallest node string, so the result is the same whatever
the engine, and a component keeps its label for as long as its smallest member stays in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
from py4j.protocol import Py4JJavaError
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F, types as T
from scipy import sparse
from scipy.sparse import csgraph

if TYPE_CHECKING:
    from graphframes import GraphFrame

ENGINES = ("auto", "driver", "graphframes", "spark")
NODE, COMPONENT = "node", "component"
SRC, DST = "src", "dst"
RESULT_SCHEMA = T.StructType([T.StructField(NODE, T.StringType()), T.StructField(COMPONENT, T.StringType())])

# Working columns of the distributed engines.
_NODE_ID, _NEIGHBOUR_ID, _PARENT_ID = "node_id", "neighbour_id", "parent_id"
_COMPONENT_KEY = "component_key"

# Rounds of the spark engine between two checkpoints. A round reads the one before twice, so the
# plan doubles per round until a checkpoint cuts it; GraphFrames checkpoints the same algorithm
# every 2 rounds and recommends no more.
_ROUNDS_PER_CHECKPOINT = 2

_GRAPHFRAMES_ID = "id"
_GRAPHFRAMES_COMPONENT = "component"
_GRAPHFRAMES_CHECKPOINT_INTERVAL = 2
# GraphFrames' switch from its manual broadcast of high-degree nodes to AQE's skew-join handling.
_GRAPHFRAMES_AQE_SKEW_HANDLING = -1


def connected_components(
    nodes: DataFrame,
    edges: DataFrame,
    *,
    engine: str = "auto",
    driver_max_edges: int = 5_000_000,
    graphframes_available: bool = False,
) -> DataFrame:
    """The connected component of every node, labelled with the component's smallest node.

    Edges are undirected. Null is not an identifier: null nodes are left out and an edge with a
    null endpoint links nothing (its other endpoint is still a node), so that records missing an
    identifier are never linked through it.

    Args:
        nodes: column ``node`` (string); duplicates allowed.
        edges: columns ``src`` and ``dst`` (strings); duplicates, self loops and endpoints that
            are missing from ``nodes`` are allowed, and those endpoints are nodes too.
        engine: one of ``ENGINES``. ``auto`` runs ``driver`` while the graph has at most
            ``driver_max_edges`` distinct links, and otherwise ``graphframes`` when
            ``graphframes_available`` is true, ``spark`` when it is not.
        driver_max_edges: the most distinct links (self loops excluded) ``auto`` moves to the driver.
        graphframes_available: whether ``auto`` may use GraphFrames (its jar is on the classpath).

    Returns:
        ``(node, component)``: exactly one row per distinct node; ``component`` is the smallest
        node string (in Spark's binary string order) of the node's component.

    Raises:
        ValueError: for an engine not in ``ENGINES``.
        RuntimeError: when the ``graphframes`` engine runs without GraphFrames installed.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown connected-components engine {engine!r}: expected one of {', '.join(ENGINES)}")
    all_nodes = _distinct_nodes(nodes, edges)
    links = _distinct_links(edges)
    chosen = engine if engine != "auto" else _auto_engine(links, driver_max_edges, graphframes_available)
    run = {"driver": _driver_components, "graphframes": _graphframes_components, "spark": _spark_components}
    return run[chosen](all_nodes, links)


def _distinct_nodes(nodes: DataFrame, edges: DataFrame) -> DataFrame:
    """Every node once, including edge endpoints that ``nodes`` does not list."""
    endpoints = edges.select(F.col(SRC).alias(NODE)).unionByName(edges.select(F.col(DST).alias(NODE)))
    return nodes.select(NODE).unionByName(endpoints).where(F.col(NODE).isNotNull()).distinct()


def _distinct_links(edges: DataFrame) -> DataFrame:
    """Every undirected link once, as (larger, smaller), without self loops.

    Self loops join nothing (their node is already in ``_distinct_nodes``); dropping them and the
    duplicates here keeps them out of the driver's memory and out of every distributed round.
    """
    return (
        edges.where(F.col(SRC).isNotNull() & F.col(DST).isNotNull() & (F.col(SRC) != F.col(DST)))
        .select(F.greatest(SRC, DST).alias(SRC), F.least(SRC, DST).alias(DST))
        .distinct()
    )


def _auto_engine(links: DataFrame, driver_max_edges: int, graphframes_available: bool) -> str:
    """``driver`` for a graph that fits in the driver's memory, else the best distributed engine."""
    if links.count() <= driver_max_edges:
        return "driver"
    return "graphframes" if graphframes_available else "spark"


def _label_by_smallest_node(assignments: DataFrame) -> DataFrame:
    """Relabels ``(node, component_key)`` with each component's smallest node.

    A group-by and a join rather than a window over the component: it runs once, and a giant
    component (a shared device id linking thousands of people) would put all its rows in one
    window partition, while the aggregate is combined map-side and AQE can split a skewed join.
    """
    smallest = assignments.groupBy(_COMPONENT_KEY).agg(F.min(NODE).alias(COMPONENT))
    return assignments.join(smallest, on=_COMPONENT_KEY, how="inner").select(NODE, COMPONENT)


# -- driver ---------------------------------------------------------------------------------------


def _driver_components(all_nodes: DataFrame, links: DataFrame) -> DataFrame:
    """Components in the driver's memory: scipy's csgraph over ids factorized by pandas.

    ``toArrow`` and ``createDataFrame`` of a pyarrow table always move the data as Arrow batches,
    whatever ``spark.sql.execution.arrow.pyspark.enabled`` says, so this library need not change
    the caller's session configuration to avoid the row-by-row path.
    """
    spark = all_nodes.sparkSession
    names = all_nodes.toArrow().column(NODE).to_numpy(zero_copy_only=False)
    if len(names) == 0:
        return spark.createDataFrame([], RESULT_SCHEMA)
    link_table = links.toArrow()
    sources = link_table.column(SRC).to_numpy(zero_copy_only=False)
    targets = link_table.column(DST).to_numpy(zero_copy_only=False)
    # One id space for nodes and endpoints. sort=True numbers the names in code-point order,
    # which is Spark's order for strings (UTF-8 bytes compare like code points), so the smallest
    # id of a component is its smallest node string.
    codes, uniques = pd.factorize(np.concatenate([names, sources, targets]), sort=True)
    source_codes, target_codes = np.split(codes[len(names):], 2)
    size = len(uniques)
    adjacency = sparse.coo_matrix(
        (np.ones(len(source_codes), dtype=bool), (source_codes, target_codes)), shape=(size, size)
    )
    _, labels = csgraph.connected_components(adjacency, directed=False)
    # labels[i] is the component of id i; the first id carrying a label is the smallest one.
    _, smallest_id = np.unique(labels, return_index=True)
    table = pa.table(
        {NODE: pa.array(uniques, pa.string()), COMPONENT: pa.array(uniques[smallest_id[labels]], pa.string())}
    )
    return spark.createDataFrame(table, RESULT_SCHEMA)


# -- graphframes ----------------------------------------------------------------------------------


def _graphframes_components(all_nodes: DataFrame, links: DataFrame) -> DataFrame:
    """GraphFrames' connected components, relabelled with the smallest node of each component."""
    spark = all_nodes.sparkSession
    graph = _graph_frame(all_nodes.select(F.col(NODE).alias(_GRAPHFRAMES_ID)), links)
    # two_phase is the large-star / small-star algorithm of the spark engine, run by GraphFrames
    # ("graphframes" is its deprecated alias). Not graphx: it needs as many rounds as the
    # graph's diameter, and identity graphs have long chains. Not randomized_contraction: the
    # GraphFrames guide measures it slightly slower than two_phase under AQE.
    # broadcastThreshold -1 leaves skewed joins (hub identifiers) to AQE instead of GraphFrames'
    # manual broadcast of high-degree nodes, which turns AQE off; the guide measures it ~5x faster.
    # Reliable checkpoints (GraphFrames' default, every 2 rounds as it recommends; it deletes
    # them as it goes) survive a lost executor in a long run over a big graph; local ones only
    # when the session has no checkpoint directory, where reliable ones would fail.
    # Component ids stay longs (useLabelsAsComponents off): the relabelling below is the same
    # group-by and join GraphFrames would run, and keeps the label contract in this module.
    assignments = graph.connectedComponents(
        algorithm="two_phase",
        checkpointInterval=_GRAPHFRAMES_CHECKPOINT_INTERVAL,
        broadcastThreshold=_GRAPHFRAMES_AQE_SKEW_HANDLING,
        useLabelsAsComponents=False,
        use_local_checkpoints=_checkpoint_dir(spark) is None,
    )
    labelled = _label_by_smallest_node(
        assignments.select(F.col(_GRAPHFRAMES_ID).alias(NODE), F.col(_GRAPHFRAMES_COMPONENT).alias(_COMPONENT_KEY))
    ).localCheckpoint()
    # GraphFrames returns its result persisted; the local checkpoint above holds what we need.
    assignments.unpersist()
    return labelled


def _graph_frame(vertices: DataFrame, links: DataFrame) -> GraphFrame:
    """A GraphFrame of the graph, or a RuntimeError saying what is missing."""
    try:
        from graphframes import GraphFrame
    except ImportError as error:
        raise RuntimeError(
            "engine 'graphframes' needs the graphframes-py package; use engine='spark' without it"
        ) from error
    try:
        return GraphFrame(vertices, links)
    except Py4JJavaError as error:
        if error.java_exception.getClass().getName() != "java.lang.ClassNotFoundException":
            raise
        raise RuntimeError(
            "engine 'graphframes' needs the GraphFrames jar on the session's classpath (set-up puts "
            "it in the jars folder when Maven can fetch it); use engine='spark' without it"
        ) from error


def _checkpoint_dir(spark: SparkSession) -> str | None:
    """The session's reliable checkpoint directory, registering ``spark.checkpoint.dir`` if needed.

    Spark 4 sets the directory from ``spark.checkpoint.dir`` when the context starts; a context
    started otherwise gets it here, and one without any keeps none rather than one we invent.
    """
    context = spark.sparkContext
    if context.getCheckpointDir() is None:
        configured = spark.conf.get("spark.checkpoint.dir", None)
        if configured:
            context.setCheckpointDir(configured)
    return context.getCheckpointDir()


# -- spark ----------------------------------------------------------------------------------------


def _spark_components(all_nodes: DataFrame, links: DataFrame) -> DataFrame:
    """Large-star / small-star over long ids (Kiveris et al., "Connected Components in MapReduce
    and Beyond", SoCC 2014), in DataFrames only, for clusters without the GraphFrames jar."""
    node_ids = _factorize(all_nodes)
    forest = _star_forest(_links_by_id(links, node_ids))
    roots = node_ids.join(
        forest.select(F.col(SRC).alias(_NODE_ID), F.col(DST).alias(_COMPONENT_KEY)), on=_NODE_ID, how="left"
    )
    # A node without a link in the forest is a root: its own id names its component.
    return _label_by_smallest_node(
        roots.select(NODE, F.coalesce(F.col(_COMPONENT_KEY), F.col(_NODE_ID)).alias(_COMPONENT_KEY))
    )


def _factorize(all_nodes: DataFrame) -> DataFrame:
    """``(node, node_id)``: a unique long per node, fixed once by a local checkpoint.

    ``monotonically_increasing_id`` numbers rows partition by partition in the JVM: no shuffle,
    no Python. A ``dense_rank`` needs a window without ``partitionBy``, which moves every node into
    one partition, and ``RDD.zipWithIndex`` sends every row through Python workers in PySpark.
    The ids need not be dense. They do depend on the partitioning, which a recomputation may
    change (AQE coalesces partitions differently; GraphFrames issue #428 is the classic symptom),
    so the mapping is materialized before the links and the labels both read it.
    """
    return all_nodes.select(NODE, F.monotonically_increasing_id().alias(_NODE_ID)).localCheckpoint()


def _links_by_id(links: DataFrame, node_ids: DataFrame) -> DataFrame:
    """The links as ``(src, dst)`` ids, the larger id first, as every round keeps them."""
    source_ids = node_ids.select(F.col(NODE).alias(SRC), F.col(_NODE_ID).alias("src_id"))
    target_ids = node_ids.select(F.col(NODE).alias(DST), F.col(_NODE_ID).alias("dst_id"))
    return (
        links.join(source_ids, on=SRC, how="inner")
        .join(target_ids, on=DST, how="inner")
        .select(F.greatest("src_id", "dst_id").alias(SRC), F.least("src_id", "dst_id").alias(DST))
    )


def _star_forest(links: DataFrame) -> DataFrame:
    """Alternates large-star and small-star rounds until each component is a star around its
    smallest id: then every link is ``(node, root)``.

    Rounds run in pairs, each pair ending in a local checkpoint and a convergence check. The star
    forest is a fixed point of both steps, so a round run after convergence changes nothing, and
    costs less than a check and a checkpoint of its own. The checkpoint cuts the lineage and holds
    the pair's result for the check and the next pair. Local rather than reliable checkpoints: the
    state lives only for this call, and ``DataFrame.checkpoint`` would leave every pair's files in
    the checkpoint directory (GraphFrames deletes its own); a lost executor fails the run, which
    the batch reruns whole.
    """
    forest = _star_rounds(links)
    while not _is_star_forest(forest):
        forest = _star_rounds(forest)
    return forest


def _star_rounds(links: DataFrame) -> DataFrame:
    for _ in range(_ROUNDS_PER_CHECKPOINT):
        links = _small_star(_large_star(links))
    return links.localCheckpoint()


def _large_star(links: DataFrame) -> DataFrame:
    """Links each neighbour larger than a node to the smallest id of the node's neighbourhood
    (the node included).

    The duplicates it makes are left to the small star's ``distinct``: they change none of its
    minimums, and a shuffle fewer per round is worth more than the rows they add.
    """
    neighbours = links.select(F.col(SRC).alias(_NODE_ID), F.col(DST).alias(_NEIGHBOUR_ID)).unionByName(
        links.select(F.col(DST).alias(_NODE_ID), F.col(SRC).alias(_NEIGHBOUR_ID))
    )
    smallest = F.least(F.min(_NEIGHBOUR_ID).over(_whole_group(_NODE_ID)), F.col(_NODE_ID))
    return (
        neighbours.withColumn(_PARENT_ID, smallest)
        .where(F.col(_NEIGHBOUR_ID) > F.col(_NODE_ID))
        .select(F.col(_NEIGHBOUR_ID).alias(SRC), F.col(_PARENT_ID).alias(DST))
    )


def _small_star(links: DataFrame) -> DataFrame:
    """Links each node and its smaller neighbours to the smallest of those neighbours.

    ``links`` hold the larger id in ``src``, so a node's smaller neighbours are its ``dst``. Each
    link yields both new links at once, the node's and its neighbour's, so the round reads its
    input once; the neighbour that is itself the smallest would link to itself and is dropped.
    """
    with_parent = links.withColumn(_PARENT_ID, F.min(DST).over(_whole_group(SRC)))
    both = F.array(
        F.struct(F.col(SRC).alias(SRC), F.col(_PARENT_ID).alias(DST)),
        F.struct(F.col(DST).alias(SRC), F.col(_PARENT_ID).alias(DST)),
    )
    return with_parent.select(F.inline(both)).where(F.col(SRC) != F.col(DST)).distinct()


def _whole_group(key: str) -> Window:
    """All rows of a key, in no order: the neighbourhood of one node.

    A window rather than a group-by joined back: one shuffle per star instead of two, and no
    self-join whose two sides Spark computes apart, which counts as it runs every round. The price
    is skew: all links of a hub (and, in late rounds, of a big component's root) meet in one task,
    as in one reducer of the paper, where AQE could split a skewed join. GraphFrames' AQE mode is
    the engine for graphs with giant components.
    """
    return Window.partitionBy(key).rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)


def _is_star_forest(links: DataFrame) -> bool:
    """Whether every node with a parent has exactly one, and no parent has a parent.

    That is the fixed point of the alternation, with each component a star around its smallest
    id. Checked on the new round alone, in one shuffle by node, so the previous round need not be
    kept to compare against.
    """
    roles = links.select(F.col(SRC).alias(_NODE_ID), F.lit(1).alias("as_child"), F.lit(0).alias("as_parent"))
    roles = roles.unionByName(
        links.select(F.col(DST).alias(_NODE_ID), F.lit(0).alias("as_child"), F.lit(1).alias("as_parent"))
    )
    per_node = roles.groupBy(_NODE_ID).agg(
        F.sum("as_child").alias("parents"), F.max("as_parent").alias("is_parent")
    )
    unsettled = per_node.where((F.col("parents") > 1) | ((F.col("parents") > 0) & (F.col("is_parent") == 1)))
    return unsettled.isEmpty()
