"""`cdp run` over a range of dates: every day in order in one session, stopped by a failing day."""

from __future__ import annotations

import json
from datetime import date

import pytest

from jobs import catalog, cli, pipeline, spark
from jobs.pipeline import StageCost, StageResult


class Recorder(list):
    """The (stage, ds) pairs run, in order; a stage fails on the pairs in ``failing``."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[tuple[str, date]] = set()


@pytest.fixture
def stages_ran(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Replaces the session and the four stages with a recorder."""
    ran = Recorder()
    sessions: list[object] = []

    def fake_session(settings):
        sessions.append(object())
        return sessions[-1]

    def stage(name):
        def run(session, settings, catalog_, ds, progress=None, **kwargs):
            assert session is sessions[0], "every day runs in the one session"
            ran.append((name, ds))
            ok = (name, ds) not in ran.failing
            return StageResult(name, ok, [f"{name} {ds}"], StageCost(1.0, 2, 1, 1, 10, []))

        return run

    monkeypatch.setattr(spark, "get_spark", fake_session)
    monkeypatch.setattr(catalog, "register_tables", lambda *args: None)
    monkeypatch.setattr(pipeline, "STAGES", {name: stage(name) for name in ("ods", "cdm", "oneid", "ads")})
    return ran


def test_a_range_runs_every_stage_of_every_day_in_order(stages_ran, tmp_path, capsys):
    metrics = tmp_path / "metrics.jsonl"

    code = cli.main(["run", "--ds", "2026-01-01", "--to", "2026-01-03", "--metrics", str(metrics)])

    days = [date(2026, 1, day) for day in (1, 2, 3)]
    assert code == 0
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
