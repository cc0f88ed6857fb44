"""The `cdp` commands' exit codes and messages on the shared generated build: 0 with the
answer when it holds, 1 with what is wrong when it does not. (`cdp run`'s own are in
tests/test_cli_run.py.)"""

from __future__ import annotations

import csv
import shutil

import pytest

from generated_build import BAD_TAG, DAYS, conf_in_use, write_conf
from jobs import cli
from jobs.catalog import read_table
from jobs.config import load_catalog

pytestmark = pytest.mark.slow


def test_check_rejects_passes_on_the_build_and_names_a_row_it_did_not_reject(built, tmp_path, capsys):
    lakehouse = ["--lakehouse", built.settings.lakehouse]
    assert cli.main(["check-rejects", "--truth", str(built.truth), *lakehouse]) == 0
    assert "rejects match the truth" in capsys.readouterr().out

    truth = tmp_path / "truth"
    shutil.copytree(built.truth, truth)
    with (truth / "bad_rows.csv").open(encoding="utf-8", newline="") as handle:
        first = next(csv.DictReader(handle))
    first["line"] = "999999"
    with (truth / "bad_rows.csv").open("a", encoding="utf-8", newline="") as handle:
        csv.DictWriter(handle, fieldnames=list(first)).writerow(first)
    assert cli.main(["check-rejects", "--truth", str(truth), *lakehouse]) == 1
    out = capsys.readouterr().out
    assert f"MISMATCH {first['file']}:999999 planted='{first['reason']}' rejected=None" in out
    assert "rejects DO NOT match the truth" in out


def test_compare_names_the_tables_that_differ(built, tmp_path, capsys):
    # (Equal lakehouses compare the same: tests/test_faults.py and the Airflow rerun.)
    partial = tmp_path / "lakehouse"
    shutil.copytree(f"{built.settings.lakehouse}/ods", partial / "ods")
    assert cli.main(["compare", built.settings.lakehouse, str(partial)]) == 1
    verdict = capsys.readouterr().out.splitlines()[-1]
    assert "; different: " in verdict and "cdm.fct_order" in verdict and "ods.pos_orders" not in verdict


def test_lookup_answers_a_known_one_id_and_refuses_an_unknown_one(built, spark, capsys):
    one_id = read_table(spark, built.settings, load_catalog().table("oneid.id_mapping")).first().one_id
    assert cli.main(["oneid", "lookup", one_id, "--lakehouse", built.settings.lakehouse]) == 0
    assert one_id in capsys.readouterr().out
    assert cli.main(["oneid", "lookup", "no-such-id", "--lakehouse", built.settings.lakehouse]) == 1
    assert "no identity has one_id no-such-id, and no identity absorbed it" in capsys.readouterr().err


def test_tags_check_and_segment_export_fail_with_the_reason(built, tmp_path, capsys):
    lakehouse = ["--lakehouse", built.settings.lakehouse]
    with conf_in_use(built.conf):
        assert cli.main(["tags", "check", "--ds", DAYS[-1].isoformat(), *lakehouse]) == 0
        capsys.readouterr()
        assert cli.main(["segment", "export", "no_such_segment", "--ds", DAYS[-1].isoformat(), *lakehouse]) == 1
        assert capsys.readouterr().out.startswith("FAILED ")
    with conf_in_use(write_conf(tmp_path / "conf", extra_tag=BAD_TAG)):
        assert cli.main(["tags", "check", "--ds", DAYS[-1].isoformat(), *lakehouse]) == 1
    assert "FAILED tag big_spender: uses unknown tag 'spend_18d'" in capsys.readouterr().out


def test_sql_prints_an_analysis_error_instead_of_a_traceback(built, capsys):
    lakehouse = ["--lakehouse", built.settings.lakehouse]
    assert cli.main(["sql", "SELECT count(*) AS n FROM oneid.profile", *lakehouse]) == 0
    assert "|n" in capsys.readouterr().out
    assert cli.main(["sql", "SELECT no_such_column FROM oneid.profile", *lakehouse]) == 1
    assert "FAILED [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with name " \
           "`no_such_column` cannot be resolved." in capsys.readouterr().err
