"""Who may read what (SPEC section 4): restricted tables refused to analysts in `cdp sql` and
`cdp segment export`, open to `--role data-engineer`; `cdp run` refused without the PII salt."""

from __future__ import annotations

import dataclasses
import re
from datetime import date

import pytest

from jobs import access, catalog as tables, cli, spark as spark_factory
from jobs.config import PII_SALT_VARIABLE, conf_dir, load_catalog

RESTRICTED, OPEN = "ods.crm_members", "oneid.profile"
RAW_MOBILE, MASKED_MOBILE = "13800138000", "138****8000"
REFUSAL = (f"REFUSED table {RESTRICTED} is restricted (raw identifiers, SPEC section 4); "
           "run as data-engineer with `--role data-engineer` if you are one")


@pytest.fixture(scope="module")
def lakehouse(spark, base_settings, tmp_path_factory):
    """A restricted table holding a raw mobile and an open one holding its masked form."""
    settings = dataclasses.replace(base_settings, lakehouse=str(tmp_path_factory.mktemp("access") / "lakehouse"))
    catalog = load_catalog()
    tables.overwrite(spark, settings, catalog.table(RESTRICTED),
                     spark.createDataFrame([("m1", RAW_MOBILE, date(2026, 5, 1))], "member_id string, mobile string, dt date"))
    tables.overwrite(spark, settings, catalog.table(OPEN),
                     spark.createDataFrame([("o1", "m1", MASKED_MOBILE)], "one_id string, member_id string, mobile_masked string"))
    return settings


def restricted_path(settings) -> str:
    return load_catalog().table(RESTRICTED).path(settings.lakehouse)


@pytest.mark.parametrize("query", [
    f"SELECT mobile FROM {RESTRICTED}",
    "SELECT mobile FROM delta.`{path}`",
    "SELECT * FROM parquet.`{path}`",
    f"SELECT one_id FROM {OPEN} WHERE member_id IN (SELECT member_id FROM {RESTRICTED})",
    f"SELECT (SELECT max(mobile) FROM {RESTRICTED}) AS mobile",
    f"WITH raw AS (SELECT * FROM {RESTRICTED}) SELECT p.one_id, raw.mobile FROM {OPEN} p JOIN raw USING (member_id)",
    f"CREATE TEMPORARY VIEW members_copy AS SELECT * FROM {RESTRICTED}",
])
def test_every_way_of_reading_a_restricted_table_is_seen_in_the_plan(spark, lakehouse, query):
    read = access.restricted_tables_read(spark, lakehouse, load_catalog(), query.format(path=restricted_path(lakehouse)))
    assert [table.qualified_name for table in read] == [RESTRICTED]


@pytest.mark.parametrize("query", [f"SELECT * FROM {OPEN}", "SELECT 1", "SHOW TABLES IN ods", f"DESCRIBE {RESTRICTED}"])
def test_queries_that_read_no_restricted_rows_pass(spark, lakehouse, query):
    assert access.restricted_tables_read(spark, lakehouse, load_catalog(), query) == []


def test_an_analyst_is_refused_a_restricted_table_and_a_data_engineer_is_not(lakehouse, capsys):
    query = f"SELECT p.one_id, m.mobile FROM {OPEN} p JOIN {RESTRICTED} m USING (member_id)"
    sql = ["sql", query, "--lakehouse", lakehouse.lakehouse]

    assert cli.main(sql) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == REFUSAL and RAW_MOBILE not in captured.out

    assert cli.main([*sql, "--role", "data-engineer"]) == 0
    assert RAW_MOBILE in capsys.readouterr().out
    assert cli.main(["sql", f"SELECT mobile_masked FROM {OPEN}", "--lakehouse", lakehouse.lakehouse]) == 0
    assert MASKED_MOBILE in capsys.readouterr().out


def test_a_view_over_a_restricted_table_is_refused_and_a_copy_is_never_made(spark, lakehouse, capsys):
    spark.sql(f"CREATE VIEW default.members_view AS SELECT * FROM {RESTRICTED}")
    try:
        assert cli.main(["sql", "SELECT mobile FROM default.members_view", "--lakehouse", lakehouse.lakehouse]) == 1
    finally:
        spark.sql("DROP VIEW default.members_view")
    # Refused before it runs: a CREATE TABLE AS SELECT would otherwise copy the rows at once.
    assert cli.main(["sql", f"CREATE TABLE default.members_copy AS SELECT * FROM {RESTRICTED}",
                     "--lakehouse", lakehouse.lakehouse]) == 1
    assert capsys.readouterr().err.count(REFUSAL) == 2
    assert not spark.catalog.tableExists("default.members_copy")


def test_a_query_that_does_not_resolve_still_fails_with_spark_s_message(lakehouse, capsys):
    assert cli.main(["sql", f"SELECT no_such_column FROM {OPEN}", "--lakehouse", lakehouse.lakehouse]) == 1
    assert "FAILED [UNRESOLVED_COLUMN.WITH_SUGGESTION]" in capsys.readouterr().err


def test_an_export_reading_a_restricted_table_is_refused_to_an_analyst(lakehouse, monkeypatch, capsys):
    # Today's exports read only ADS tables; were one of them restricted, an analyst's export stops.
    catalog = load_catalog()
    segment_member = dataclasses.replace(catalog.table("ads.segment_member"), restricted=True)
    restricted = dataclasses.replace(catalog, tables={**catalog.tables, segment_member.qualified_name: segment_member})
    monkeypatch.setattr(cli, "load_catalog", lambda: restricted)
    export = ["segment", "export", "high_value_sleeping", "--ds", "2026-05-02", "--lakehouse", lakehouse.lakehouse]

    assert cli.main(export) == 1
    assert capsys.readouterr().out.startswith("REFUSED table ads.segment_member is restricted")

    # The data engineer passes the gate and reaches the export's own check.
    assert cli.main([*export, "--role", "data-engineer"]) == 1
    assert capsys.readouterr().out.startswith("FAILED the ADS stage has not run for 2026-05-02")


def test_the_analyst_catalog_refuses_restricted_tables_only():
    catalog = load_catalog()
    analyst = access.catalog_for(catalog, access.ANALYST)
    assert analyst.table(OPEN) == catalog.table(OPEN)
    with pytest.raises(access.RestrictedTableError, match=f"table {RESTRICTED} is restricted"):
        analyst.table(RESTRICTED)
    assert access.catalog_for(catalog, access.DATA_ENGINEER).table(RESTRICTED).restricted


def test_the_cluster_grants_keep_exactly_the_restricted_tables_from_analysts():
    profile = (conf_dir() / "env" / "cluster.yml").read_text(encoding="utf-8")
    never_granted = profile.split("Never granted to analysts")[1].split("# With Hive")[0]
    named = set(re.findall(r"\b(?:ods|cdm|oneid|ads|ops)\.[a-z_]+", never_granted))
    assert named == {name for name, table in load_catalog().tables.items() if table.restricted}


class SparkStarted(Exception):
    """Raised by the fake session factory: the run got past its checks."""


def start_spark(settings):
    raise SparkStarted


def test_cdp_run_without_the_salt_is_refused_before_spark_starts(monkeypatch, capsys):
    monkeypatch.delenv(PII_SALT_VARIABLE)
    monkeypatch.setattr(spark_factory, "get_spark", start_spark)

    for stage in ([], ["--stage", "cdm"], ["--stage", "oneid"]):
        assert cli.main(["run", "--ds", "2026-01-01", *stage]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"REFUSED {PII_SALT_VARIABLE} is not set: the CDM and OneID stages hash mobiles")
        assert f"export {PII_SALT_VARIABLE}=$(cat .secrets/pii_salt)" in err
    # ODS and ADS hash nothing: they go on to start their session.
    for stage in ("ods", "ads"):
        with pytest.raises(SparkStarted):
            cli.main(["run", "--ds", date(2026, 1, 1).isoformat(), "--stage", stage])
