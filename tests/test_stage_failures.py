"""A failure is reported, never a traceback; the run ledger survives in Delta; the calendar
follows the data, and a fact outside it says which setting to change."""

from __future__ import annotations

import dataclasses
from datetime import date

from jobs import build_cdm, ingest_ods, ledger, pipeline, quality
from jobs.config import load_catalog, load_cdm_settings
from jobs.ingest_ods import EntityLoad

DS = date(2026, 3, 1)


def test_a_failed_entity_prints_the_day_table_and_names_the_file(spark, settings_for, monkeypatch):
    unreadable = "pos/orders/dt=2026-03-01/part-1.csv: unreadable as any of utf-8, gbk"
    loads = [
        EntityLoad("pos", "orders", message=unreadable),
        EntityLoad("crm", "members", files=1, rows_in=3, rows_kept=3, rows_rejected=0, status=ingest_ods.STATUS_LOADED),
    ]
    monkeypatch.setattr(ingest_ods, "run", lambda *args, **kwargs: loads)

    result = pipeline.run_ods(spark, settings_for(), load_catalog(), DS)

    assert not result.ok
    assert result.parts == {"crm": True, "pos": False}
    assert result.lines[2:5] == [
        "ods.pos_orders               -         -         -         -  failed",
        "ods.crm_members              1         3         3         0  loaded",
        f"FAILED ods.pos_orders: {unreadable}",
    ]


def test_an_unexpected_error_is_the_stage_failure_line(spark, settings_for, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Delta log unreadable\n\tat org.apache.spark.Something(Something.java:1)\n" + "\tat x\n" * 50)

    monkeypatch.setattr(build_cdm, "run", broken)

    result = pipeline.run_cdm(spark, settings_for(), load_catalog(), DS)

    assert not result.ok
    assert result.lines == [
        "FAILED cdm: RuntimeError: Delta log unreadable at org.apache.spark.Something(Something.java:1) at x "
        "(set CDP_TRACEBACK=1 for the traceback)"
    ]
    assert result.cost is not None


def test_the_ledger_keeps_the_latest_status_of_each_stage_in_delta(spark, settings_for):
    settings = settings_for()
    first = ledger.open_ledger(spark, settings, load_catalog())
    first.record([ledger.StageRecord(DS, "cdm", "", ledger.FAILED, "FAILED cdm: broke")])
    first.record([ledger.StageRecord(DS, "cdm", "", ledger.SUCCEEDED)])
    first.record([ledger.StageRecord(DS, "ods", "pos", ledger.SUCCEEDED)])

    reopened = ledger.open_ledger(spark, settings, load_catalog())

    assert reopened.latest == {(DS, "cdm", ""): "succeeded", (DS, "ods", "pos"): "succeeded"}
    assert reopened.blocker("cdm", ("",), date(2026, 3, 2), ("pos",)).startswith(
        "ods (pos) of 2026-03-02 has not succeeded")


def test_the_calendar_grows_to_the_facts_within_its_bounds_and_never_shrinks():
    conf = dataclasses.replace(load_cdm_settings(), calendar_start=date(2010, 1, 1), calendar_end=date(2035, 12, 31))
    configured = (date(2010, 1, 1), date(2035, 12, 31), (date(2035, 12, 31) - date(2010, 1, 1)).days + 1)
    grown = (date(1997, 1, 1), date(2035, 12, 31), (date(2035, 12, 31) - date(1997, 1, 1)).days + 1)

    assert build_cdm.calendar_to_write(conf, (None, None), None) == (date(2010, 1, 1), date(2035, 12, 31))
    assert build_cdm.calendar_to_write(conf, (date(2026, 3, 1), date(2026, 3, 1)), configured) is None
    assert build_cdm.calendar_to_write(conf, (date(1997, 1, 1), date(1998, 6, 30)), configured) == grown[:2]
    assert build_cdm.calendar_to_write(conf, (date(2026, 3, 1), date(2026, 3, 1)), grown) is None
    assert build_cdm.calendar_to_write(conf, (None, None), (date(2010, 1, 1), date(2035, 12, 31), 5)) == configured[:2]


def test_a_fact_outside_the_calendar_names_the_setting_to_change(tmp_path):
    advice = quality.remedy("expect_column_values_to_be_in_set", {"column": "ref_order_date"}, {}, tmp_path / "s.json")

    assert advice.startswith("some order_date values are outside cdm.dim_date: widen calendar earliest/latest "
                             "in conf/cdm.yml")
