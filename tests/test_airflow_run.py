"""A real `airflow dags test` run of the daily DAG (ODS, then CDM, OneID and ADS) on a tiny generated landing zone."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from jobs.sample_data import generate

REPO = Path(__file__).resolve().parents[1]
DS = date(2026, 4, 1)


@pytest.mark.slow
def test_daily_dag_runs_through_airflow(tmp_path):
    generate(tmp_path / "landing", persons=40, start=DS, days=1, seed=3)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "CDP_LANDING": str(tmp_path / "landing"),
        "CDP_LAKEHOUSE": str(tmp_path / "lakehouse"),
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    run = subprocess.run(
        [airflow, "dags", "test", "cdp_daily", DS.isoformat()], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    check = subprocess.run(
        [str(Path(sys.executable).with_name("cdp")), "check-rejects", "--truth", str(tmp_path / "landing" / "_truth")],
        env=env, capture_output=True, text=True,
    )
    assert check.returncode == 0, check.stdout[-4000:]
    assert "rejects match the truth" in check.stdout
    # Each task ran after the one before it: the cdm task wrote all of its tables for the ds,
    # the oneid task recorded its (first, so full) run, the ads task listed the tag catalog.
    day = f"DATE'{DS.isoformat()}'"
    outcome = subprocess.run(
        [str(Path(sys.executable).with_name("cdp")), "sql",
         f"SELECT (SELECT count(*) FROM cdm.load_audit WHERE dt = {day}) AS cdm_tables, "
         f"(SELECT count(*) FROM oneid.runs WHERE ds = {day} AND mode = 'full') AS oneid_full_runs, "
         f"(SELECT count(*) FROM ads.tag_catalog WHERE ds = {day}) > 40 AS tags_listed"],
        env=env, capture_output=True, text=True,
    )
    assert outcome.returncode == 0, outcome.stderr[-4000:]
    assert "|15        |1              |true       |" in outcome.stdout, outcome.stdout
