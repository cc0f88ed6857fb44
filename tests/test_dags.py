"""DAG integrity: every DAG imports cleanly, is tagged, retries, and calls only `cdp`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow")))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"cdp_daily"}


def test_dags_have_tags_docs_and_retries(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags and dag.doc_md
        for task in dag.tasks:
            assert task.retries >= 1, task.task_id


def test_retries_are_a_deployment_setting_the_tests_turn_off(dagbag, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CDP_TASK_RETRIES", "0")
    without_retries = DagBag(dag_folder=str(REPO / "dags"))
    assert {task.retries for task in without_retries.dags["cdp_daily"].tasks} == {0}


def test_daily_dag_ingests_every_source_then_builds_the_cdm_oneid_ads_and_publishes_through_cdp(dagbag):
    dag = dagbag.dags["cdp_daily"]
    cdp = Path(sys.executable).with_name("cdp")
    commands = {task.task_id: task.bash_command for task in dag.tasks}
    ods_tasks = {f"ods_{source}" for source in ("crm", "pos", "ecom", "wechat", "product")}
    assert commands == {
        **{task: f"{cdp} run --ds {{{{ ds }}}} --stage ods --source {task[4:]}" for task in ods_tasks},
        "cdm": f"{cdp} run --ds {{{{ ds }}}} --stage cdm",
        "oneid": f"{cdp} run --ds {{{{ ds }}}} --stage oneid",
        "ads": f"{cdp} run --ds {{{{ ds }}}} --stage ads",
        "publish": f"{cdp} run --ds {{{{ ds }}}} --stage publish",
    }
    assert dag.get_task("cdm").upstream_task_ids == ods_tasks
    assert dag.get_task("oneid").upstream_task_ids == {"cdm"}
    assert dag.get_task("ads").upstream_task_ids == {"oneid"}
    assert dag.get_task("publish").upstream_task_ids == {"ads"}
    # Each day's identities rest on the previous day's: a backfill must resolve them in order.
    assert dag.get_task("oneid").depends_on_past


def test_dag_file_does_no_heavy_work_at_import():
    probe = "import sys, runpy; runpy.run_path('dags/cdp_daily.py'); print('pyspark' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"
