"""Faults the pipeline survives, proven on the shared build's landing zone: a file that arrives
after later days ran, loaded by rerunning its day after the later one, and a run killed while
it writes. The tables end equal, row for row, to the uninterrupted in-order build."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from generated_build import DAYS, RUN_LOGS, conf_in_use
from jobs.catalog import read_table, read_table_if_exists
from jobs.compare import compare
from jobs.config import Catalog, load_catalog
from jobs.pipeline import STAGES

pytestmark = pytest.mark.slow

# Written by the OneID stage, which these tests do not run on their own lakehouse.
NOT_ODS_OR_CDM = {"cdm.agg_one_id_trade"}
# A progress line of the CDM stage: a table was published, the others are being written.
PUBLISHED = re.compile(r"^\s+cdm\s+[\d.]+s\s+cdm\.\w+")


def ods_and_cdm() -> Catalog:
    tables = load_catalog().tables
    return Catalog({name: spec for name, spec in tables.items()
                    if spec.layer in ("ods", "cdm") and name not in NOT_ODS_OR_CDM})


def different(spark, left, right, catalog: Catalog) -> list[str]:
    """The tables that differ, run logs aside (a rerun writes its own counts and suite results)."""
    return [item.table for item in compare(spark, left, right, catalog) if not item.same and item.table not in RUN_LOGS]


def test_a_late_file_and_a_killed_rerun_converge_to_the_in_order_tables(built, spark, tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(built.settings.landing, landing)
    late = sorted((landing / "pos" / "orders" / f"dt={DAYS[0]}").glob("*.csv"))[0]
    aside = tmp_path / late.name
    shutil.move(late, aside)
    settings = dataclasses.replace(built.settings, landing=str(landing), lakehouse=str(tmp_path / "lakehouse"))
    catalog = load_catalog()
    with conf_in_use(built.conf):
        # The two days run in order while one store's tickets of the first day are missing:
        # their lines arrive without their orders. The other sources' ODS tables are what the
        # shared build loaded, so they are copied, and only the POS source of day 1 is loaded.
        shutil.copytree(Path(built.settings.lakehouse) / "ods", Path(settings.lakehouse) / "ods")
        assert STAGES["ods"](spark, settings, catalog, DAYS[0], sources=("pos",)).ok
        for ds in DAYS:
            assert STAGES["cdm"](spark, settings, catalog, ds).ok
        assert different(spark, built.settings, settings, ods_and_cdm()) != []
        # The file arrives; the first day's POS is loaded again, and its CDM rerun is killed mid-write.
        shutil.move(aside, late)
        assert STAGES["ods"](spark, settings, catalog, DAYS[0], sources=("pos",)).ok
        killed_while_publishing(settings, built.conf)
        for name, spec in ods_and_cdm().tables.items():
            # Every table reads whole at its last complete version.
            assert read_table_if_exists(spark, settings, spec).count() >= 0, name
        for ds in DAYS:
            assert STAGES["cdm"](spark, settings, catalog, ds).ok

    assert different(spark, built.settings, settings, ods_and_cdm()) == []
    assert read_table(spark, settings, catalog.table("cdm.fct_order")).count() > 0


def killed_while_publishing(settings, conf: Path) -> None:
    """Runs the first day's CDM in a process of its own and kills it (SIGKILL, no clean-up)
    as soon as it has published one table, while the tables beside it are being written."""
    env = {**os.environ, "CDP_ENV": "test", "CDP_CONF_DIR": str(conf),
           "CDP_LANDING": settings.landing, "CDP_LAKEHOUSE": settings.lakehouse}
    cdp = str(Path(sys.executable).with_name("cdp"))
    process = subprocess.Popen([cdp, "run", "--ds", DAYS[0].isoformat(), "--stage", "cdm"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        for line in process.stderr:
            if PUBLISHED.match(line):
                os.killpg(process.pid, signal.SIGKILL)
                break
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-write"
