"""A real `airflow dags test` run of the daily DAG (ODS per source, then CDM, OneID and ADS):
it reruns the shared build's last day on a copy of its lakehouse, and every table comes out
as the build left it."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from delta.tables import DeltaTable

from generated_build import DAYS, RUN_LOGS
from jobs.compare import compare
from jobs.config import load_catalog

REPO = Path(__file__).resolve().parents[1]

# Commits a rerun of the day adds to the table each stage writes on every run: the ODS audit
# once per source task, then the CDM audit, OneID's run record and the ADS suite results.
COMMITS_PER_RUN = {"ods.load_audit": 5, "cdm.load_audit": 1, "oneid.runs": 1, "ads.dq_results": 1}


def delta_version(spark, settings, table: str) -> int:
    return DeltaTable.forPath(spark, load_catalog().table(table).path(settings.lakehouse)).history(1).first().version


@pytest.mark.slow
def test_the_daily_dag_reruns_a_built_day_and_changes_no_table(built, spark, tmp_path):
    rerun = dataclasses.replace(built.settings, lakehouse=str(tmp_path / "lakehouse"))
    shutil.copytree(built.settings.lakehouse, rerun.lakehouse)
    ds = DAYS[-1]
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # A task that fails fails the run at once: no retry waits out its delay and passes.
        "CDP_TASK_RETRIES": "0",
        # Each task's JVM runs beside the suite's own driver.
        "CDP_ENV": "test",
        "CDP_CONF_DIR": str(built.conf),
        "CDP_LANDING": built.settings.landing,
        "CDP_LAKEHOUSE": rerun.lakehouse,
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    run = subprocess.run([airflow, "dags", "test", "cdp_daily", ds.isoformat()], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    # Every task ran again, once: no retry, no task skipped.
    added = {table: delta_version(spark, rerun, table) - delta_version(spark, built.settings, table) for table in COMMITS_PER_RUN}
    assert added == COMMITS_PER_RUN

    different = [item for item in compare(spark, built.settings, rerun, load_catalog())
                 if not item.same and item.table not in RUN_LOGS]
    assert different == []
    check = subprocess.run(
        [str(Path(sys.executable).with_name("cdp")), "check-rejects", "--truth", str(built.truth)],
        env=env, capture_output=True, text=True,
    )
    assert check.returncode == 0, check.stdout[-4000:]
    assert "rejects match the truth" in check.stdout
