"""The CDM build end to end on generated data: two days of ODS merged into every CDM table,
every suite (keys, references, reconciliation) passing, and a rerun changing nothing.

Backfilling an older ds after newer ones is covered at the merge itself
(tests/test_catalog_merge.py), which is much faster than building twice more here."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from pyspark.testing import assertDataFrameEqual

from jobs import build_cdm, ingest_ods
from jobs.catalog import read_table
from jobs.config import load_catalog, load_contracts
from jobs.sample_data import generate

START = date(2026, 5, 1)
DAYS = (START, START + timedelta(days=1))
CDM_TABLES = sorted(name for name, spec in load_catalog().tables.items() if spec.layer == "cdm")
# Tables a run rewrites with its own run id and timings.
PER_RUN = {"cdm.load_audit", "cdm.dq_results"}


def snapshot(spark, settings) -> dict:
    catalog = load_catalog()
    return {
        name: read_table(spark, settings, catalog.table(name)).localCheckpoint()
        for name in CDM_TABLES
        if name not in PER_RUN
    }


@pytest.fixture(scope="module")
def built(spark, base_settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("cdm")
    settings = dataclasses.replace(base_settings, landing=str(root / "landing"), lakehouse=str(root / "lakehouse"))
    generate(root / "landing", persons=60, start=START, days=len(DAYS), seed=5)
    results = {}
    for ds in DAYS:
        ingest_ods.run(spark, settings, load_catalog(), load_contracts(), ds)
        results[ds] = build_cdm.run(spark, settings, load_catalog(), ds)
    return settings, results


@pytest.mark.slow
def test_every_day_builds_every_cdm_table(built, spark):
    settings, results = built
    for ds, result in results.items():
        assert result.failure is None, (ds, result.failure)
    built_tables = {load.table for load in results[DAYS[0]].loads}
    assert built_tables == set(CDM_TABLES) - {"cdm.unknown_references", "cdm.load_audit", "cdm.dq_results"}
    catalog = load_catalog()
    failed = read_table(spark, settings, catalog.table("cdm.dq_results")).where("NOT success").collect()
    assert failed == []
    for table in ("cdm.fct_order", "cdm.fct_order_item", "cdm.dim_member", "cdm.identity_evidence", "cdm.fct_event"):
        assert read_table(spark, settings, catalog.table(table)).count() > 0, table


@pytest.mark.slow
def test_lines_reconcile_with_orders_to_the_cent(built, spark):
    settings, _ = built
    catalog = load_catalog()
    orders = read_table(spark, settings, catalog.table("cdm.fct_order"))
    lines = read_table(spark, settings, catalog.table("cdm.fct_order_item"))
    sums = lines.groupBy("order_key").agg({"paid_amount": "sum"}).withColumnRenamed("sum(paid_amount)", "lines_paid")
    mismatched = orders.join(sums, on="order_key", how="inner").where("lines_paid != paid_amount")
    assert mismatched.collect() == []


@pytest.mark.slow
def test_rerunning_a_day_changes_nothing(built, spark):
    settings, _ = built
    before = snapshot(spark, settings)
    assert build_cdm.run(spark, settings, load_catalog(), DAYS[1]).failure is None
    after = snapshot(spark, settings)
    for name, frame in before.items():
        assertDataFrameEqual(after[name], frame)
