"""`cdp run` over a range of dates: every day in order in one session, stopped by a failing day."""

from __future__ import annotations

import json
from datetime import date

import pytest

from jobs import cli, ledger, pipeline, spark
from jobs.pipeline import StageCost, StageResult

SOURCES = ("crm", "ecom", "pos", "product", "wechat")
COST = StageCost(1.0, 2, 1, 1, 10, [])


class Recorder(list):
    """The (stage, ds) pairs run, in order; a stage fails on the pairs in ``failing``, and the
    ODS stage's source parts on the (source, ds) pairs in ``failing_sources``. ``ledger`` is
    the run ledger every ``cdp run`` of the test shares, ``records`` what was written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[tuple[str, date]] = set()
        self.failing_sources: set[tuple[str, date]] = set()
        self.records: list[ledger.StageRecord] = []
        self.ledger = ledger.Ledger({}, self.records.extend)
        self.sessions: list[object] = []


@pytest.fixture
def stages_ran(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Replaces the session and the four stages with a recorder."""
    ran = Recorder()
    sessions = ran.sessions

    def fake_session(settings):
        sessions.append(object())
        return sessions[-1]

    def stage(name):
        def run(session, settings, catalog_, ds, progress=None, **kwargs):
            assert session is sessions[-1], "every day of a run uses its one session"
            ran.append((name, ds))
            if name == "ods":
                sources = kwargs.get("sources") or SOURCES
                parts = {source: (source, ds) not in ran.failing_sources for source in sources}
                return StageResult(name, all(parts.values()), [f"{name} {ds}"], COST, parts)
            ok = (name, ds) not in ran.failing
            return StageResult(name, ok, [f"{name} {ds}"] + ([] if ok else [f"FAILED {name} broke"]), COST)

        return run

    monkeypatch.setattr(spark, "get_spark", fake_session)
    monkeypatch.setattr(ledger, "open_ledger", lambda *args: ran.ledger)
    monkeypatch.setattr(pipeline, "STAGES", {name: stage(name) for name in ("ods", "cdm", "oneid", "ads")})
    return ran


def test_a_range_runs_every_stage_of_every_day_in_order(stages_ran, tmp_path, capsys):
    metrics = tmp_path / "metrics.jsonl"

    code = cli.main(["run", "--ds", "2026-01-01", "--to", "2026-01-03", "--metrics", str(metrics)])

    days = [date(2026, 1, day) for day in (1, 2, 3)]
    assert code == 0
    assert len(stages_ran.sessions) == 1, "every day of a range runs in the one session"
    assert stages_ran == [(stage, ds) for ds in days for stage in ("ods", "cdm", "oneid", "ads")]
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [(record["ds"], record["stage"]) for record in records] == [
        (ds.isoformat(), stage) for ds in days for stage in ("ods", "cdm", "oneid", "ads")
    ]


def test_a_failing_day_stops_the_range_and_names_the_days_not_run(stages_ran, capsys):
    stages_ran.failing.add(("cdm", date(2026, 1, 2)))

    code = cli.main(["run", "--ds", "2026-01-01", "--to", "2026-01-04"])

    out = capsys.readouterr().out
    assert code == 1
    assert stages_ran[-1] == ("cdm", date(2026, 1, 2))
    assert all(ds <= date(2026, 1, 2) for _, ds in stages_ran)
    assert "stopped: oneid, ads not run because cdm failed" in out
    assert "stopped: 2026-01-03 to 2026-01-04 not run because 2026-01-02 failed" in out


def test_one_stage_over_a_range(stages_ran):
    assert cli.main(["run", "--ds", "2026-01-01", "--to", "2026-01-02", "--stage", "oneid"]) == 0
    assert stages_ran == [("oneid", date(2026, 1, 1)), ("oneid", date(2026, 1, 2))]


def test_an_end_before_the_start_is_refused_before_anything_runs(stages_ran, capsys):
    assert cli.main(["run", "--ds", "2026-01-02", "--to", "2026-01-01"]) == 2
    assert stages_ran == []
    assert "--to 2026-01-01 is before --ds 2026-01-02" in capsys.readouterr().err


def test_an_unknown_source_is_refused_before_anything_runs(stages_ran, capsys):
    assert cli.main(["run", "--ds", "2026-01-01", "--stage", "ods", "--source", "pos", "--source", "erp"]) == 2
    assert stages_ran == []
    assert "unknown source(s) ['erp']; conf/sources.yml has ['crm', 'ecom', 'pos', 'product', 'wechat']" in capsys.readouterr().err


def test_a_failed_day_is_a_barrier_until_it_is_rerun(stages_ran, capsys):
    stages_ran.failing.add(("oneid", date(2026, 1, 2)))
    assert cli.main(["run", "--ds", "2026-01-01", "--to", "2026-01-02"]) == 1
    stages_ran.failing.clear()
    stages_ran.clear()

    assert cli.main(["run", "--ds", "2026-01-03"]) == 1

    assert stages_ran == [("ods", date(2026, 1, 3)), ("cdm", date(2026, 1, 3))]
    assert ("REFUSED oneid ds=2026-01-03: oneid of 2026-01-02 failed; rerun it first (cdp run --ds 2026-01-02), "
            "or pass --allow-gap if the gap is intended") in capsys.readouterr().out
    # The skipped ADS of the failed day blocks too, once its OneID is rerun alone.
    assert cli.main(["run", "--ds", "2026-01-02", "--stage", "oneid"]) == 0
    assert cli.main(["run", "--ds", "2026-01-03", "--stage", "oneid"]) == 0
    assert cli.main(["run", "--ds", "2026-01-03", "--stage", "ads"]) == 1
    assert "REFUSED ads ds=2026-01-03: ads of 2026-01-02 skipped" in capsys.readouterr().out
    assert cli.main(["run", "--ds", "2026-01-02", "--to", "2026-01-03"]) == 0


def test_a_stage_waits_for_the_stage_it_reads_on_the_same_day(stages_ran, capsys):
    stages_ran.failing_sources.add(("pos", date(2026, 1, 1)))
    assert cli.main(["run", "--ds", "2026-01-01"]) == 1
    stages_ran.clear()

    assert cli.main(["run", "--ds", "2026-01-01", "--stage", "cdm"]) == 1
    assert stages_ran == []
    assert ("REFUSED cdm ds=2026-01-01: ods (pos) of 2026-01-01 has not succeeded; run it first "
            "(cdp run --ds 2026-01-01 --stage ods)") in capsys.readouterr().out
    stages_ran.failing_sources.clear()
    assert cli.main(["run", "--ds", "2026-01-01", "--stage", "ods", "--source", "pos"]) == 0
    assert cli.main(["run", "--ds", "2026-01-01", "--stage", "cdm"]) == 0


def test_a_gap_runs_when_the_user_says_it_is_intended_and_stays_accepted(stages_ran, capsys):
    assert cli.main(["run", "--ds", "2026-01-01"]) == 0
    assert cli.main(["run", "--ds", "2026-01-04"]) == 1
    assert "REFUSED ods ds=2026-01-04: ods (crm) of 2026-01-02 never ran" in capsys.readouterr().out

    assert cli.main(["run", "--ds", "2026-01-04", "--allow-gap"]) == 0
    assert cli.main(["run", "--ds", "2026-01-05"]) == 0

    accepted = {(r.ds, r.stage, r.scope) for r in stages_ran.records if r.status == ledger.GAP_ACCEPTED}
    assert accepted == {
        (date(2026, 1, day), stage, scope)
        for day in (2, 3)
        for stage, scopes in (("ods", SOURCES), ("cdm", ("",)), ("oneid", ("",)), ("ads", ("",)))
        for scope in scopes
    }


def test_the_ledger_records_each_stage_and_source_and_the_stages_skipped(stages_ran):
    stages_ran.failing_sources.add(("wechat", date(2026, 1, 1)))
    cli.main(["run", "--ds", "2026-01-01"])

    assert [(r.stage, r.scope, r.status, r.message) for r in stages_ran.records] == [
        *[("ods", source, "failed" if source == "wechat" else "succeeded", None) for source in SOURCES],
        ("cdm", "", "skipped", "ods failed"), ("oneid", "", "skipped", "ods failed"), ("ads", "", "skipped", "ods failed"),
    ]
