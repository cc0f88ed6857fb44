"""Connected components against networkx on random graphs, for every engine of the seam.

The oracle is networkx's partition, each component labelled with its smallest node. Graphs carry
the awkward cases the OneID edges will: duplicate nodes and edges, edges in both directions, self
loops, endpoints missing from the nodes, isolated nodes, hubs and long chains whose node names are
scrambled, so the iterative engine needs many rounds.
"""

from __future__ import annotations

import random

import networkx as nx
import pyarrow as pa
import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.config import Settings
from jobs.spark import has_graphframes
from oneid import components
from oneid.components import COMPONENT, DST, NODE, SRC, connected_components

Nodes = list[str | None]
Edges = list[tuple[str | None, str | None]]
RESULT_DTYPES = [(NODE, "string"), (COMPONENT, "string")]


def random_graph(kind: str, seed: int, size: int) -> tuple[Nodes, Edges]:
    """A random graph of ``size`` nodes named ``{kind}{seed}-{i}``, with the awkward cases added.

    ``sparse`` leaves many small components, ``dense`` few large ones, ``hub`` links one node to
    half of the others, ``chain`` is one path. Names are shuffled before edges are drawn, so a
    chain's order has nothing to do with the order of its names (nor of any ids made from them).
    """
    rng = random.Random(seed)
    names = [f"{kind}{seed}-{index}" for index in range(size)]
    rng.shuffle(names)
    if kind == "chain":
        edges = list(zip(names, names[1:]))
    elif kind == "hub":
        edges = [(names[0], other) for other in names[1 : size // 2]] + random_pairs(rng, names, size // 4)
    else:
        edges = random_pairs(rng, names, {"sparse": size * 2 // 3, "dense": size * 3}[kind])
    edges = [(dst, src) if rng.random() < 0.5 else (src, dst) for src, dst in edges]
    duplicates = rng.sample(edges, len(edges) // 10)
    reversed_duplicates = [(dst, src) for src, dst in rng.sample(edges, len(edges) // 10)]
    self_loops = [(name, name) for name in rng.sample(names, 3)] + [(f"{kind}{seed}-loop", f"{kind}{seed}-loop")]
    # A fifth of the names are known from edges only; some appear twice in the nodes.
    listed = [name for name in names if rng.random() < 0.8]
    lonely = [f"{kind}{seed}-lonely-{index}" for index in range(3)]
    nodes = listed + rng.sample(listed, len(listed) // 10) + lonely
    rng.shuffle(nodes)
    all_edges = edges + duplicates + reversed_duplicates + self_loops
    rng.shuffle(all_edges)
    return nodes, all_edges


def random_pairs(rng: random.Random, names: list[str], count: int) -> Edges:
    return [(rng.choice(names), rng.choice(names)) for _ in range(count)]


def disjoint_union(graphs: list[tuple[Nodes, Edges]]) -> tuple[Nodes, Edges]:
    """One graph of many: node names already differ between the graphs (kind and seed prefix)."""
    return [node for nodes, _ in graphs for node in nodes], [edge for _, edges in graphs for edge in edges]


def oracle(nodes: Nodes, edges: Edges) -> list[Row]:
    """networkx's components labelled with their smallest node; nulls identify nothing."""
    graph = nx.Graph()
    graph.add_nodes_from(node for node in nodes if node is not None)
    graph.add_nodes_from(end for edge in edges for end in edge if end is not None)
    graph.add_edges_from(edge for edge in edges if None not in edge)
    labelled = ((members, min(members)) for members in nx.connected_components(graph))
    return [Row(node=node, component=label) for members, label in labelled for node in members]


def frames(spark: SparkSession, nodes: Nodes, edges: Edges) -> tuple[DataFrame, DataFrame]:
    """The graph as Spark frames, through Arrow so that big graphs load fast."""
    node_table = pa.table({NODE: pa.array(nodes, pa.string())})
    edge_table = pa.table(
        {SRC: pa.array([src for src, _ in edges], pa.string()), DST: pa.array([dst for _, dst in edges], pa.string())}
    )
    return spark.createDataFrame(node_table), spark.createDataFrame(edge_table)


def assert_components(spark: SparkSession, nodes: Nodes, edges: Edges, **options) -> None:
    result = connected_components(*frames(spark, nodes, edges), **options)
    assert result.dtypes == RESULT_DTYPES
    assertDataFrameEqual(result, oracle(nodes, edges))


# Nulls identify nothing (the other end of a half-null edge is still a node); the empty string is
# an identifier; labels follow code-point order (Spark's binary order for strings), so "10" < "9"
# and "Z" < "a" < "é".
AWKWARD_NODES = ["9", "10", None, "", "é", "solo", "solo"]
AWKWARD_EDGES = [
    ("9", "10"), ("10", None), (None, None), ("w", None), ("é", "a"), ("Z", "a"), ("", "x"), ("x", ""), ("y", "y")
]
AWKWARD_COMPONENTS = [
    Row(node="9", component="10"),
    Row(node="10", component="10"),
    Row(node="", component=""),
    Row(node="x", component=""),
    Row(node="Z", component="Z"),
    Row(node="a", component="Z"),
    Row(node="é", component="Z"),
    Row(node="solo", component="solo"),
    Row(node="w", component="w"),
    Row(node="y", component="y"),
]


def test_awkward_identifiers(spark: SparkSession) -> None:
    """Golden data for the oracle and the driver; the spark engine meets it in its random union."""
    assert sorted(oracle(AWKWARD_NODES, AWKWARD_EDGES)) == sorted(AWKWARD_COMPONENTS)
    result = connected_components(*frames(spark, AWKWARD_NODES, AWKWARD_EDGES), engine="driver")
    assert result.dtypes == RESULT_DTYPES
    assertDataFrameEqual(result, AWKWARD_COMPONENTS)


def test_driver_engine_matches_networkx(spark: SparkSession) -> None:
    """Bigger graphs, every kind over several seeds, in one run: the driver's cost is its jobs."""
    graphs = [random_graph("sparse", seed, 8_000) for seed in (11, 12)] + [random_graph("dense", 13, 2_000)]
    graphs += [random_graph("hub", 14, 4_000), random_graph("chain", 15, 3_000), random_graph("chain", 16, 500)]
    assert_components(spark, *disjoint_union(graphs), engine="driver")


def test_spark_engine_matches_networkx(spark: SparkSession) -> None:
    """Every kind and several seeds in one disjoint union: the engine's cost is its rounds, set by
    the longest chain rather than by the graph's size, so one run covers them all."""
    graphs = [random_graph(kind, seed, 60) for kind in ("sparse", "dense", "hub") for seed in (1, 2, 3)]
    graphs += [random_graph("chain", 4, 250), random_graph("chain", 5, 100), (AWKWARD_NODES, AWKWARD_EDGES)]
    assert_components(spark, *disjoint_union(graphs), engine="spark")


@pytest.mark.parametrize("engine", ["driver", "spark"])
def test_empty_graph(spark: SparkSession, engine: str) -> None:
    result = connected_components(*frames(spark, [], []), engine=engine)
    assert result.dtypes == RESULT_DTYPES
    assert result.collect() == []


# Six distinct links: the duplicate, the reversed duplicate and the self loop do not count.
AUTO_NODES = ["a", "lonely"]
AUTO_EDGES = [("a", "b"), ("a", "b"), ("b", "a"), ("c", "b"), ("c", "d"), ("d", "d"), ("e", "f"), ("g", "f"), ("g", "h")]


@pytest.mark.parametrize(
    ("driver_max_edges", "graphframes_available", "expected_engine"),
    [(6, False, "driver"), (5, False, "spark"), (0, True, "graphframes")],
)
def test_auto_picks_the_engine_by_distinct_links(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch, driver_max_edges: int, graphframes_available: bool,
    expected_engine: str,
) -> None:
    ran = []
    driver, spark_engine = components._driver_components, components._spark_components

    def spy(name, engine):
        def run(all_nodes: DataFrame, links: DataFrame) -> DataFrame:
            ran.append(name)
            return engine(all_nodes, links)

        return run

    monkeypatch.setattr(components, "_driver_components", spy("driver", driver))
    monkeypatch.setattr(components, "_spark_components", spy("spark", spark_engine))
    # The jar may be missing here: this case checks the choice, with the driver standing in.
    monkeypatch.setattr(components, "_graphframes_components", spy("graphframes", driver))
    assert_components(
        spark, AUTO_NODES, AUTO_EDGES, driver_max_edges=driver_max_edges, graphframes_available=graphframes_available
    )
    assert ran == [expected_engine]


def test_unknown_engine_is_refused(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match="unknown connected-components engine 'networkx'"):
        connected_components(*frames(spark, AUTO_NODES, AUTO_EDGES), engine="networkx")


def test_graphframes_engine_matches_networkx(spark: SparkSession, base_settings: Settings) -> None:
    if not has_graphframes(base_settings.jars_dir):
        pytest.skip(f"no GraphFrames jar in {base_settings.jars_dir}: set-up could not fetch it from Maven")
    graphs = [random_graph(kind, 21, 60) for kind in ("sparse", "dense", "hub")] + [random_graph("chain", 22, 200)]
    assert_components(spark, *disjoint_union(graphs), engine="graphframes")


def test_graphframes_engine_without_its_jar_says_so(spark: SparkSession, base_settings: Settings) -> None:
    if has_graphframes(base_settings.jars_dir):
        pytest.skip("the GraphFrames jar is installed")
    with pytest.raises(RuntimeError, match="needs the GraphFrames jar"):
        connected_components(*frames(spark, AUTO_NODES, AUTO_EDGES), engine="graphframes")
