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
    # The cdm task ran after every ods task: all of its tables were written for the ds.
    audit = subprocess.run(
        [str(Path(sys.executable).with_name("cdp")), "sql",
         f"SELECT count(*) AS tables_written FROM cdm.load_audit WHERE dt = DATE'{DS.isoformat()}'"],
        env=env, capture_output=True, text=True,
    )
    assert audit.returncode == 0, audit.stderr[-4000:]
    assert "|15            |" in audit.stdout, audit.stdout
    # The oneid task ran after the cdm task and recorded its run.
    runs = subprocess.run(
        [str(Path(sys.executable).with_name("cdp")), "sql",
         f"SELECT mode, count(*) AS runs FROM oneid.runs WHERE ds = DATE'{DS.isoformat()}' GROUP BY mode"],
        env=env, capture_output=True, text=True,
    )
    assert runs.returncode == 0, runs.stderr[-4000:]
    assert "|full|1   |" in runs.stdout, runs.stdout
    # The ads task ran after the oneid task: the tag catalog of the ds lists every tag.
    tags = subprocess.run(
        [str(Path(sys.executable).with_name("cdp")), "sql",
         f"SELECT count(*) > 40 AS catalog_listed FROM ads.tag_catalog WHERE ds = DATE'{DS.isoformat()}'"],
        env=env, capture_output=True, text=True,
    )
    assert tags.returncode == 0, tags.stderr[-4000:]
    assert "|true          |" in tags.stdout, tags.stdout
