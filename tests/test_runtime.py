"""The runtime: configuration precedence, the catalog, Delta and GraphFrames on the classpath."""

from __future__ import annotations

import dataclasses

import pytest

from jobs.config import LAYERS, load_catalog, load_contracts, load_settings
from jobs.spark import has_graphframes


def test_environment_variables_override_the_env_file(monkeypatch):
    monkeypatch.setenv("CDP_LAKEHOUSE", "/data/lh")
    monkeypatch.setenv("CDP_LANDING", "s3a://bucket/landing")
    settings = load_settings(env="local")
    assert (settings.lakehouse, settings.landing) == ("/data/lh", "s3a://bucket/landing")
    assert load_settings(env="local", lakehouse="/explicit").lakehouse == "/explicit"


def test_a_checkout_of_its_own_takes_the_serving_port_from_the_environment(monkeypatch):
    monkeypatch.setenv("CDP_PG_PORT", "55440")
    assert load_settings(env="local").postgres.port == 55440
    monkeypatch.setenv("CDP_PG_PORT", "5543x")
    with pytest.raises(ValueError, match="CDP_PG_PORT='5543x' is not a port number"):
        load_settings(env="local")


def test_cluster_profile_differs_only_by_configuration():
    cluster = load_settings(env="cluster")
    assert cluster.spark.master == "yarn"
    assert cluster.lakehouse.startswith("hdfs://")
    assert (cluster.postgres.driver_copy_max_rows, load_settings(env="local").postgres.driver_copy_max_rows) == (
        200_000, 1_000_000)


def test_an_environment_that_extends_another_holds_only_what_differs():
    local, test = load_settings(env="local"), load_settings(env="test")
    assert test.spark.app_name == "cdp-tests" and test.spark.master == local.spark.master
    changed = {key: value for key, value in test.spark.conf.items() if local.spark.conf.get(key) != value}
    assert changed == {"spark.driver.memory": "2g", "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}
    assert set(test.spark.conf) == set(local.spark.conf)
    # Tests publish into a serving database of their own, beside the demo's.
    assert (test.postgres.database, local.postgres.database) == ("cdp_test", "cdp")
    assert dataclasses.replace(test, env="local", spark=local.spark, postgres=local.postgres) == local


def test_environments_that_extend_each_other_in_a_loop_are_refused(tmp_path, monkeypatch):
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "a.yml").write_text("extends: b\n", encoding="utf-8")
    (tmp_path / "env" / "b.yml").write_text("extends: a\n", encoding="utf-8")
    monkeypatch.setenv("CDP_CONF_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="in a loop: a -> b -> a"):
        load_settings(env="a")
    with pytest.raises(FileNotFoundError, match=r"c\.yml \(CDP_ENV=c\)"):
        load_settings(env="c")


def test_catalog_names_every_ods_table_of_the_landing_contract():
    catalog = load_catalog()
    assert {c.table_name for c in load_contracts()} | {"rejects", "load_audit", "dq_results"} == {
        t.name for t in catalog.tables.values() if t.layer == "ods"
    }
    assert all(t.layer in LAYERS for t in catalog.tables.values())
    assert all(t.partition_by[0] == "dt" for t in catalog.tables.values() if t.layer == "ods")
    references = [ref for t in catalog.tables.values() for ref in t.references.values()]
    assert references and all(ref.table in catalog.tables for ref in references)


def test_delta_round_trip(spark, tmp_path):
    path = str(tmp_path / "delta")
    spark.range(3).write.format("delta").save(path)
    spark.range(3, 5).write.format("delta").mode("append").save(path)
    assert sorted(r.id for r in spark.read.format("delta").load(path).collect()) == [0, 1, 2, 3, 4]
    assert spark.sql(f"DESCRIBE HISTORY delta.`{path}`").count() == 2


@pytest.mark.skipif(
    not has_graphframes(load_settings().jars_dir),
    reason="GraphFrames jars are not in .jars/: Maven Central as reached here has no io.graphframes artifacts",
)
def test_graphframes_connected_components(spark):
    from graphframes import GraphFrame

    vertices = spark.createDataFrame([(v,) for v in "abcdef"], "id string")
    edges = spark.createDataFrame([("a", "b"), ("b", "c"), ("d", "e")], "src string, dst string")
    components = GraphFrame(vertices, edges).connectedComponents().collect()
    groups = {}
    for row in components:
        groups.setdefault(row.component, set()).add(row.id)
    assert sorted(map(sorted, groups.values())) == [["a", "b", "c"], ["d", "e"], ["f"]]
