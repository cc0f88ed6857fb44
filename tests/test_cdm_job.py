"""The CDM build, OneID and the ADS layer end to end on the shared generated build
(tests/generated_build.py): two days of ODS merged
into every CDM table, every suite (keys, references, reconciliation) passing, a rerun changing
nothing; identities resolved incrementally, scored against the generator's truth, and equal to
a full recompute; every ADS table built for both days, weekly tags carried from their refresh
day, the purchase model fitted and judged, the incremental day's statistics equal to a full
rerun's (no ADS table changes), and a segment exported.

Backfilling an older ds after newer ones is covered at the merge itself
(tests/test_catalog_merge.py), which is much faster than building twice more here."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from pyspark.testing import assertDataFrameEqual

from generated_build import BAD_TAG, DAYS, conf_in_use, write_conf
from jobs import build_ads, build_oneid
from jobs.catalog import read_table
from jobs.config import load_ads_settings, load_catalog, load_segments, load_tag_catalog
from jobs.evaluate_oneid import evaluate

# cdm.agg_one_id_trade is the OneID stage's: it needs the identities.
BUILT_BY_ONEID = {"cdm.agg_one_id_trade"}
CDM_TABLES = sorted(name for name, spec in load_catalog().tables.items() if spec.layer == "cdm" and name not in BUILT_BY_ONEID)
ADS_TABLES = sorted(name for name, spec in load_catalog().tables.items() if spec.layer == "ads" and name != "ads.dq_results")


@pytest.mark.slow
def test_every_day_builds_every_cdm_table(built, spark):
    settings, results = built.settings, built.cdm
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
    settings = built.settings
    catalog = load_catalog()
    orders = read_table(spark, settings, catalog.table("cdm.fct_order"))
    lines = read_table(spark, settings, catalog.table("cdm.fct_order_item"))
    sums = lines.groupBy("order_key").agg({"paid_amount": "sum"}).withColumnRenamed("sum(paid_amount)", "lines_paid")
    mismatched = orders.join(sums, on="order_key", how="inner").where("lines_paid != paid_amount")
    assert mismatched.collect() == []


@pytest.mark.slow
def test_oneid_resolves_the_generated_persons(built, spark):
    settings, identities, truth = built.settings, built.oneid, built.truth
    assert [result.mode for result in identities.values()] == [build_oneid.FULL, build_oneid.INCREMENTAL]
    for ds, result in identities.items():
        assert result.failure is None, (ds, result.failure)
    failed = read_table(spark, settings, load_catalog().table("oneid.dq_results")).where("NOT success").collect()
    assert failed == []
    report = evaluate(spark, settings, load_catalog(), truth)
    accuracy = report.accuracy
    assert accuracy.precision >= 0.995 and accuracy.recall_reachable >= 0.98, accuracy.lines()
    assert accuracy.missing_identifiers == {} and accuracy.unknown_values_mapped == 0, accuracy.lines()
    # Placeholders, masked and mistyped mobiles, junk devices and the store's phone never map;
    # family devices and gift mobiles do, but never join two persons.
    assert set(accuracy.non_identifiers_mapped) <= {"family_device", "gift_receiver"}, accuracy.non_identifiers_mapped
    coverage = report.coverage
    assert sum(coverage.shared_values_joining_persons.values()) == 0 and accuracy.impure_identities == 0, report.lines()
    # Weak links that stand uncontested join: one person is one customer wherever the evidence links them.
    assert coverage.recall_linked >= 0.95 and coverage.one_ids_per_linked_person <= 1.15, report.lines()
    assert [(row.persons_with_changed_one_id, row.unexplained_changes) for row in report.stability] == [(0, 0)], report.lines()


def ads_snapshot(spark, settings) -> dict:
    catalog = load_catalog()
    return {name: read_table(spark, settings, catalog.table(name)).localCheckpoint() for name in ADS_TABLES}


@pytest.mark.slow
def test_ads_builds_every_table_for_every_day(built, spark):
    settings, analyses = built.settings, built.ads
    for ds, result in analyses.items():
        assert result.failure is None, (ds, result.failure)
        assert {table for table, _, _ in result.loads} == set(ADS_TABLES), ds
    catalog = load_catalog()
    assert read_table(spark, settings, catalog.table("ads.dq_results")).where("NOT success").collect() == []
    for ds in DAYS:
        identities = read_table(spark, settings, catalog.table("ads.member_lifecycle")).where(f"ds = DATE'{ds}'").count()
        wide = read_table(spark, settings, catalog.table("ads.tag_wide")).where(f"ds = DATE'{ds}'").count()
        assert identities == wide > 0, ds
    tag_catalog = read_table(spark, settings, catalog.table("ads.tag_catalog")).where(f"ds = DATE'{DAYS[1]}'")
    alive = tag_catalog.where("status = 'online' AND coverage > 0").count()
    assert alive >= 40, tag_catalog.where("status = 'online' AND coverage = 0").select("tag_code").collect()
    # Weekly tags were computed on Friday and monthly ones on the 1st (the same day), and both
    # carried on Saturday; daily ones are computed every day.
    computed = {(row.refresh, row.computed_ds) for row in tag_catalog.where("status = 'online'").collect()}
    assert computed == {("daily", DAYS[1]), ("weekly", DAYS[0]), ("monthly", DAYS[0])}, computed
    # The purchase model was fitted and judged out of time, and its tag scores identities.
    statuses = {row.status for row in read_table(spark, settings, catalog.table("ads.model_eval"))
                .where(f"ds = DATE'{DAYS[1]}'").select("status").distinct().collect()}
    assert statuses == {"ok"}, statuses
    model_tag = tag_catalog.where("tag_code = 'purchase_prob_90d'").first()
    assert model_tag.coverage > 0, model_tag


@pytest.mark.slow
def test_a_full_rerun_of_the_incremental_ads_day_changes_nothing_and_exports_a_segment(built, spark, tmp_path):
    settings, analyses = built.settings, built.ads
    assert analyses[DAYS[0]].figures["statistics"] == "full: no earlier ADS day"
    assert analyses[DAYS[1]].figures["statistics"] == f"incremental since {DAYS[0]}"
    assert analyses[DAYS[1]].figures["statistics_reused"] >= 30
    before = ads_snapshot(spark, settings)
    with conf_in_use(write_conf(tmp_path / "conf", full_statistics=True)):
        rerun = build_ads.run(spark, settings, load_catalog(), DAYS[1])
    assert rerun.failure is None and rerun.figures["statistics"].startswith("full: incremental_statistics is off")
    after = ads_snapshot(spark, settings)
    for name, frame in before.items():
        assertDataFrameEqual(after[name], frame)
    segment = load_segments()[0]
    path, rows = build_ads.export_segment(spark, settings, load_catalog(), segment.code, DAYS[1], tmp_path / "out.csv")
    members = after["ads.segment_member"].where(f"ds = DATE'{DAYS[1]}' AND segment = '{segment.code}'").count()
    with path.open(encoding="utf-8") as handle:
        exported = list(csv.reader(handle))
    assert exported[0] == ["one_id", *segment.export_tags]
    assert rows == members == len(exported) - 1


def statistics_plan(spark, settings, ds):
    """What the ADS stage of ``ds`` would decide about its statistics, without computing them."""
    build = build_ads.AdsBuild(spark, settings, load_catalog(), ds, load_ads_settings())
    inputs = build_ads.read_inputs(build)
    planned = build_ads.plan_definitions(build, inputs, load_tag_catalog(), load_segments())
    analyses = build_ads.Analyses(rfm=None, lifecycle=None, aipl=None)
    return build, build_ads.tag_sources(inputs, analyses, None), planned


@pytest.mark.slow
def test_statistics_are_reused_only_from_a_day_with_the_same_inputs_and_never_in_a_backfill(built, spark):
    settings = built.settings
    build, sources, planned = statistics_plan(spark, settings, DAYS[1])
    fingerprint = build_ads.channel_fingerprint(build)
    earlier, mode = build_ads.earlier_statistics(build, sources, planned, fingerprint)
    assert mode == f"incremental since {DAYS[0]}" and earlier.touched.count() > 0
    # The channels' attributes changed since: nothing earlier is kept.
    assert build_ads.earlier_statistics(build, sources, planned, "another") == (
        None, f"full: no statistic of {DAYS[0]} has today's definition and inputs")
    # Rerunning the first day after the second was loaded: the facts hold the second day's versions.
    build, sources, planned = statistics_plan(spark, settings, DAYS[0])
    assert build_ads.earlier_statistics(build, sources, planned, fingerprint) == (
        None, f"full: a backfill (facts are loaded up to {DAYS[1]})")


@pytest.mark.slow
def test_a_bad_tag_stops_the_ads_stage_before_it_publishes_anything(built, spark, tmp_path):
    settings = built.settings
    next_day = DAYS[1] + timedelta(days=1)
    with conf_in_use(write_conf(tmp_path / "conf", extra_tag=BAD_TAG)):
        result = build_ads.run(spark, settings, load_catalog(), next_day)
    assert result.failure and result.failure.startswith("tag big_spender: uses unknown tag 'spend_18d'"), result.failure
    assert "spend_180d" in result.failure and result.loads == []
    for name in ADS_TABLES:
        assert read_table(spark, settings, load_catalog().table(name)).where(f"ds = DATE'{next_day}'").count() == 0, name


@pytest.mark.slow
def test_oneid_incremental_equals_a_full_recompute(built, spark):
    settings = built.settings
    identity_tables = ["oneid.id_mapping", "oneid.record_identity", "oneid.profile", "oneid.merge_log",
                       "oneid.one_id_alias", "cdm.agg_one_id_trade"]
    rows = {name: sorted(read_table(spark, settings, load_catalog().table(name)).collect(), key=repr) for name in identity_tables}
    full = build_oneid.run(spark, settings, load_catalog(), DAYS[-1], mode=build_oneid.FULL)
    assert full.failure is None, full.failure
    for name in identity_tables:
        assert sorted(read_table(spark, settings, load_catalog().table(name)).collect(), key=repr) == rows[name], name
