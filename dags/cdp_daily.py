"""The daily CDP pipeline: one task per landing source into ODS, then the CDM build once every
source has landed, then OneID, then the ADS layer (RFM, lifecycle, analyses, tags, segments);
then the publish into the serving PostgreSQL; each task calls `cdp run` for its stage.

OneID builds each day on the identities the previous day left, so its task waits for the
previous run's (`depends_on_past`): a backfill resolves the days in order.

Only orchestration lives here: the work is in `jobs/`, reached through the `cdp` command of
the virtualenv the scheduler runs in.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

CDP = Path(sys.executable).with_name("cdp")
ODS_SOURCES = ("crm", "pos", "ecom", "wechat", "product")
# A deployment may change how often a failed task is tried again; the tests turn retries off,
# so a task that needed one fails the run instead of waiting out the delay.
TASK_RETRIES = int(os.environ.get("CDP_TASK_RETRIES", "2"))

with DAG(
    dag_id="cdp_daily",
    description="Landing files of one business date into ODS, then CDM, OneID and the ADS tags and analyses",
    doc_md=__doc__,
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["cdp", "ods", "cdm", "oneid", "ads", "serving"],
    default_args={"retries": TASK_RETRIES, "retry_delay": timedelta(minutes=5)},
) as dag:
    ods_tasks = [
        BashOperator(
            task_id=f"ods_{source}",
            bash_command=f"{CDP} run --ds {{{{ ds }}}} --stage ods --source {source}",
            doc_md=f"Ingests the `{source}` landing folders of the business date into `ods.{source}_*`.",
        )
        for source in ODS_SOURCES
    ]
    cdm = BashOperator(
        task_id="cdm",
        bash_command=f"{CDP} run --ds {{{{ ds }}}} --stage cdm",
        doc_md="Merges the business date's ODS partitions into the CDM dimensions and facts "
        "(needs `CDP_PII_SALT` in the worker's environment).",
    )
    oneid = BashOperator(
        task_id="oneid",
        bash_command=f"{CDP} run --ds {{{{ ds }}}} --stage oneid",
        depends_on_past=True,
        doc_md="Resolves the business date's identity evidence into stable one_ids: `oneid.id_mapping`, "
        "`oneid.profile`, the merge log and stats (needs `CDP_PII_SALT`).",
    )
    ads = BashOperator(
        task_id="ads",
        bash_command=f"{CDP} run --ds {{{{ ds }}}} --stage ads",
        doc_md="Builds the business date's `ads.*` partitions per one_id: RFM, lifecycle and transitions, "
        "repurchase funnel, retention cohorts, channel overlap, AIPL, the purchase model, the tags of "
        "`conf/tags` and the segments of `conf/segments`.",
    )
    publish = BashOperator(
        task_id="publish",
        bash_command=f"{CDP} run --ds {{{{ ds }}}} --stage publish",
        doc_md="Swaps the business date's `oneid.id_mapping`, alias, merge log and profile, its tags, RFM, "
        "lifecycle, segment members and each one_id's latest orders and events into the serving PostgreSQL "
        "(schema `cdp`), all in one transaction (needs `CDP_PG_PASSWORD`, or the local `.secrets/pg_password`).",
    )
    ods_tasks >> cdm >> oneid >> ads >> publish
