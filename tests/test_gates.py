"""Gates fire at every layer of the shared build: a frame that breaks a critical expectation of
its table's suite is not published, nor is anything after it, and the failure with its details
is in the layer's dq_results. (A warning-level expectation records and goes on:
tests/test_publish.py; the ODS gate: tests/test_ingest_ods.py.)"""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from generated_build import DAYS, conf_in_use
from jobs import quality
from jobs.catalog import read_table
from jobs.config import load_catalog
from jobs.pipeline import STAGES

pytestmark = pytest.mark.slow


def version(spark, settings, table: str) -> int:
    path = load_catalog().table(table).path(settings.lakehouse)
    return DeltaTable.forPath(spark, path).history(1).first().version


@pytest.mark.parametrize("stage, table, results, day_column, later", [
    ("cdm", "cdm.dim_member", "cdm.dq_results", "dt", ["cdm.fct_order", "cdm.fct_coupon", "cdm.agg_member_trade"]),
    ("oneid", "oneid.id_mapping", "oneid.dq_results", "ds", ["oneid.profile", "oneid.record_identity", "oneid.runs"]),
    ("ads", "ads.member_rfm", "ads.dq_results", "ds", ["ads.tag_wide", "ads.segment_member"]),
])
def test_a_critical_expectation_stops_its_table_and_everything_after(
    built, spark, tmp_path, monkeypatch, stage, table, results, day_column, later,
):
    settings = dataclasses.replace(built.settings, lakehouse=str(tmp_path / "lakehouse"))
    shutil.copytree(built.settings.lakehouse, settings.lakehouse)
    impossible = tmp_path / "suite.json"
    impossible.write_text(json.dumps({"name": table, "expectations": [
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": -1}}]}), encoding="utf-8")
    shipped = quality.suite_path
    monkeypatch.setattr(quality, "suite_path",
                        lambda layer, name: impossible if f"{layer}.{name}" == table else shipped(layer, name))
    before = {name: version(spark, settings, name) for name in [table, *later]}

    with conf_in_use(built.conf):
        result = STAGES[stage](spark, settings, load_catalog(), DAYS[1])

    assert not result.ok
    assert f"{table} failed its suite: expect_table_row_count_to_equal" in "\n".join(result.lines)
    assert {name: version(spark, settings, name) for name in before} == before
    failed = read_table(spark, settings, load_catalog().table(results)).where(
        (F.col(day_column) == F.lit(DAYS[1])) & (F.col("table_name") == table) & ~F.col("success"))
    assert [(row.expectation_type, row.severity) for row in failed.collect()] == [
        ("expect_table_row_count_to_equal", "critical")]
