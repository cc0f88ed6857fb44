"""Round trip on the shared generated landing zone (tests/generated_build.py): every planted
bad row is rejected with its reason, and rows in = kept + rejected for every entity and day,
matching what the generator wrote."""

from __future__ import annotations

import json

import pytest

from jobs import reject_check
from jobs.catalog import read_table
from jobs.config import load_catalog, load_contracts


@pytest.fixture(scope="module")
def generated(generated_ods):
    return generated_ods.settings, generated_ods.ods, generated_ods.truth


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
