"""Round trip on generated data: every planted bad row is rejected with its reason, and
rows in = kept + rejected for every entity and day, matching what the generator wrote."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta

import pytest

from jobs import ingest_ods, reject_check
from jobs.catalog import read_table
from jobs.config import load_catalog, load_contracts
from jobs.sample_data import generate

START = date(2026, 3, 1)
DAYS = 2


@pytest.fixture(scope="module")
def generated(spark, base_settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    settings = dataclasses.replace(base_settings, landing=str(root / "landing"), lakehouse=str(root / "lakehouse"))
    generate(root / "landing", persons=150, start=START, days=DAYS, seed=11)
    loads = {}
    for offset in range(DAYS):
        ds = START + timedelta(days=offset)
        loads[ds] = ingest_ods.run(spark, settings, load_catalog(), load_contracts(), ds)
    return settings, loads, root / "landing" / "_truth"


def test_every_entity_loads_every_day(generated):
    _, loads, _ = generated
    assert {(ds, l.table, l.status) for ds, day in loads.items() for l in day} == {
        (ds, f"ods.{c.table_name}", "loaded") for ds in loads for c in load_contracts()
    }


def test_rows_in_equal_kept_plus_rejected_and_the_generators_count(generated):
    _, loads, truth = generated
    written = json.loads((truth / "summary.json").read_text())["rows"]
    ingested = {}
    for day in loads.values():
        for load in day:
            assert load.rows_in == load.rows_kept + load.rows_rejected, load.table
            key = f"{load.source}/{load.entity}"
            ingested[key] = ingested.get(key, 0) + load.rows_in
    assert ingested == written


def test_rejects_equal_the_planted_bad_rows(generated, spark):
    settings, _, truth = generated
    result = reject_check.run(spark, settings, load_catalog(), str(truth))
    assert result.mismatches == []
    planted = reject_check.read_truth(spark, str(truth)).count()
    assert read_table(spark, settings, load_catalog().table("ods.rejects")).count() == planted > 0
