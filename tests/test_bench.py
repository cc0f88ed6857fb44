"""`cdp bench --resume`: a scale's days measured over two sittings, with no Spark (commands faked)."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from jobs import bench, floor

START = date(2026, 1, 1)
REAL_RUN = subprocess.run


class FakeCommands:
    """Stands in for the `cdp` subprocesses; records which days ran and can fail one of them."""

    def __init__(self, fail_ds: str | None = None):
        self.commands: list[list[str]] = []
        self.fail_ds = fail_ds

    def __call__(self, command, **kwargs):
        if command[:3] != bench._cdp():
            return REAL_RUN(command, **kwargs)
        self.commands.append(command)
        args = command[3:]
        option = dict(zip(args[1::2], args[2::2]))
        if args[0] == "bench-primitives":
            Path(option["--out"]).write_text("[]")
        elif args[0] == "generate":
            Path(option["--out"]).mkdir(parents=True)
        elif args[0] == "run":
            if option["--ds"] == self.fail_ds:
                raise subprocess.CalledProcessError(1, command)
            record = {"ds": option["--ds"], "stage": "ods", "seconds": 1.5, "tables": [], "jobs": 2, "commits": 1,
                      "suites": 1, "peak_mib": 10}
            with Path(option["--metrics"]).open("a") as metrics:
                metrics.write(json.dumps(record) + "\n")
        elif args[0] == "bench-engines":
            Path(option["--out"]).write_text("[]")
        return SimpleNamespace(returncode=0)

    def days_run(self) -> list[str]:
        return [command[command.index("--ds") + 1] for command in self.commands if "run" in command[3:4]]


@pytest.fixture
def fake_floor(monkeypatch):
    monkeypatch.setattr(floor, "run", lambda landing, contracts, ds, out: SimpleNamespace(seconds=0.5, rows=7))


def bench_run(tmp_path, monkeypatch, commands, resume, days=3):
    monkeypatch.setattr(bench.subprocess, "run", commands)
    return bench.run(tmp_path, [50], days, START, seed=3, resume=resume)


def test_resume_runs_only_the_days_not_yet_measured(tmp_path, monkeypatch, fake_floor):
    interrupted = FakeCommands(fail_ds="2026-01-02")
    with pytest.raises(subprocess.CalledProcessError):
        bench_run(tmp_path, monkeypatch, interrupted, resume=False)
    assert interrupted.days_run() == ["2026-01-01", "2026-01-02"]

    resumed = FakeCommands()
    report = bench_run(tmp_path, monkeypatch, resumed, resume=True).read_text()

    assert not any(command[3:4] == ["generate"] for command in resumed.commands)
    assert resumed.days_run() == ["2026-01-02", "2026-01-03"]
    assert [line.split(" | ")[2] for line in report.splitlines() if line.startswith("| 50 |")] == [
        "history load", "incremental, rerun after an interrupted run", "incremental"]
    recorded = bench.recorded_days(tmp_path / "p50", {"persons": 50, "start": "2026-01-01", "days": 3, "seed": 3})
    assert [(day.ds, day.floor_rows, day.stages["ods"]["seconds"]) for day in recorded] == [
        (date(2026, 1, d), 7, 1.5) for d in (1, 2, 3)]


def test_resume_generates_again_when_the_parameters_differ(tmp_path, monkeypatch, fake_floor):
    bench_run(tmp_path, monkeypatch, FakeCommands(), resume=False, days=1)
    again = FakeCommands()
    bench_run(tmp_path, monkeypatch, again, resume=True, days=2)

    assert any(command[3:4] == ["generate"] for command in again.commands)
    assert again.days_run() == ["2026-01-01", "2026-01-02"]


def test_without_resume_every_day_runs_again(tmp_path, monkeypatch, fake_floor):
    bench_run(tmp_path, monkeypatch, FakeCommands(), resume=False, days=2)
    again = FakeCommands()
    bench_run(tmp_path, monkeypatch, again, resume=False, days=2)

    assert again.days_run() == ["2026-01-01", "2026-01-02"]
    assert len((tmp_path / "p50" / "days.jsonl").read_text().splitlines()) == 2
