"""The `cdp` command: generate sample data, run the daily pipeline, query tables."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

from jobs.config import load_catalog, load_settings


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def _generate(args: argparse.Namespace) -> int:
    from jobs.sample_data import generate

    started = time.monotonic()
    summary = generate(Path(args.out), persons=args.persons, start=args.start, days=args.days, seed=args.seed)
    print(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    print(f"generated {args.persons} persons × {args.days} days into {args.out} in {time.monotonic() - started:.1f}s")
    return 0


def _run(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from jobs.config import STAGES_NEEDING_PII_SALT, MissingPiiSalt, pii_salt
    from jobs.ledger import open_ledger
    from jobs.pipeline import unknown_sources
    from jobs.spark import get_spark

    last = args.to or args.ds
    if last < args.ds:
        print(f"--to {last} is before --ds {args.ds}", file=sys.stderr)
        return 2
    if args.source and (unknown := unknown_sources(args.source)):
        print(unknown, file=sys.stderr)
        return 2
    # Before Spark starts: without the salt the day would fail only after its ODS load.
    if args.stage in (None, *STAGES_NEEDING_PII_SALT):
        try:
            pii_salt()
        except MissingPiiSalt as error:
            print(f"REFUSED {error}", file=sys.stderr)
            return 2
    settings = load_settings(landing=args.landing, lakehouse=args.lakehouse)
    catalog = load_catalog()
    spark = get_spark(settings)
    # No registration of the whole catalog first: the stages read tables by path, and each
    # table is registered when it is written (seconds saved on every DAG task).
    ledger = open_ledger(spark, settings, catalog)
    # A range runs day after day in this one session: a backfill pays the JVM's start and
    # warm-up once, not once a day. The first failing day stops it, as it would stop the DAG.
    for offset in range((last - args.ds).days + 1):
        ds = args.ds + timedelta(days=offset)
        if not _run_day(spark, settings, catalog, ledger, ds, args):
            if ds < last:
                print(f"stopped: {ds + timedelta(days=1)} to {last} not run because {ds} failed")
            return 1
    return 0


def _run_day(spark, settings, catalog, ledger, ds: date, args: argparse.Namespace) -> bool:
    from jobs.config import load_contracts
    from jobs.ledger import FAILED, NO_SCOPE, SKIPPED, SUCCEEDED, StageRecord
    from jobs.pipeline import STAGES

    all_sources = tuple(sorted({contract.source for contract in load_contracts()}))
    stages = [args.stage] if args.stage else list(STAGES)
    for stage in stages:
        scopes = tuple(sorted(args.source or all_sources)) if stage == "ods" else (NO_SCOPE,)
        if args.allow_gap:
            ledger.record(ledger.gaps(stage, scopes, ds))
        blocker = ledger.blocker(stage, scopes, ds, all_sources if stage == "cdm" else (NO_SCOPE,))
        if blocker:
            print(f"REFUSED {stage} ds={ds}: {blocker}", flush=True)
            return False
        started = time.monotonic()
        kwargs = {"sources": tuple(args.source)} if stage == "ods" and args.source else {}
        print(f"-- {stage} ds={ds} running", file=sys.stderr, flush=True)
        result = STAGES[stage](spark, settings, catalog, ds, progress=_progress(stage, started), **kwargs)
        print(f"== {stage} ds={ds} ({time.monotonic() - started:.1f}s)", flush=True)
        print("\n".join(result.lines + result.cost.lines()), flush=True)
        if args.metrics:
            with open(args.metrics, "a", encoding="utf-8") as handle:
                record = {"ds": ds.isoformat(), "stage": stage, "ok": result.ok, **result.cost.as_dict()}
                handle.write(json.dumps(record) + "\n")
        failure = next((line for line in result.lines if line.startswith("FAILED")), None)
        remaining = stages[stages.index(stage) + 1 :] if not result.ok else []
        ledger.record([
            StageRecord(ds, stage, scope, SUCCEEDED if result.parts.get(scope, result.ok) else FAILED,
                        None if result.parts.get(scope, result.ok) else failure)
            for scope in scopes
        ] + [StageRecord(ds, later, NO_SCOPE, SKIPPED, f"{stage} failed") for later in remaining])
        if not result.ok:
            if remaining:
                print(f"stopped: {', '.join(remaining)} not run because {stage} failed")
            return False
    return True


def _progress(stage: str, started: float):
    """Prints each table as its stage publishes it, so a long day shows where it is."""

    def show(load) -> None:
        print(f"   {stage} {time.monotonic() - started:6.1f}s  {load.table:<30} {load.rows:>9} rows  {load.seconds:5.1f}s",
              file=sys.stderr, flush=True)

    return show


def _check_rejects(args: argparse.Namespace) -> int:
    from jobs import reject_check
    from jobs.spark import get_spark

    settings = load_settings(lakehouse=args.lakehouse)
    result = reject_check.run(get_spark(settings), settings, load_catalog(), args.truth)
    print("== rejects vs generator truth")
    print("\n".join(result.lines))
    for mismatch in result.mismatches:
        print(f"MISMATCH {mismatch}")
    print("rejects match the truth" if result.ok else "rejects DO NOT match the truth")
    return 0 if result.ok else 1


def _sql(args: argparse.Namespace) -> int:
    from pyspark.errors import AnalysisException

    from jobs.access import RestrictedTableError, refuse_restricted_reads

    spark, settings, catalog = _session(args)
    try:
        refuse_restricted_reads(spark, settings, catalog, args.query, args.role)
        spark.sql(args.query).show(args.limit, truncate=False)
    except AnalysisException as error:
        print(f"FAILED {error}", file=sys.stderr)
        return 1
    except RestrictedTableError as error:
        print(f"REFUSED {error}", file=sys.stderr)
        return 1
    return 0


def _session(args: argparse.Namespace):
    from jobs.catalog import register_tables
    from jobs.spark import get_spark

    settings = load_settings(lakehouse=args.lakehouse)
    catalog = load_catalog()
    spark = get_spark(settings)
    register_tables(spark, settings, catalog)
    return spark, settings, catalog


def _oneid_rebuild(args: argparse.Namespace) -> int:
    from jobs.build_oneid import FULL
    from jobs.pipeline import run_oneid

    spark, settings, catalog = _session(args)
    started = time.monotonic()
    result = run_oneid(spark, settings, catalog, args.ds, mode=FULL, from_scratch=args.from_scratch)
    print(f"== oneid rebuild ds={args.ds} ({time.monotonic() - started:.1f}s)")
    print("\n".join(result.lines))
    return 0 if result.ok else 1


def _oneid_preview(args: argparse.Namespace) -> int:
    from jobs.build_oneid import preview

    spark, settings, catalog = _session(args)
    print("\n".join(preview(spark, settings, catalog, args.conf, args.ds)))
    return 0


def _oneid_evaluate(args: argparse.Namespace) -> int:
    from jobs.evaluate_oneid import evaluate

    spark, settings, catalog = _session(args)
    print("\n".join(evaluate(spark, settings, catalog, Path(args.truth)).lines()))
    return 0


def _oneid_lookup(args: argparse.Namespace) -> int:
    from jobs.build_oneid import lookup

    spark, settings, catalog = _session(args)
    found = lookup(spark, settings, catalog, args.one_id).cache()
    if found.isEmpty():
        print(f"no identity has one_id {args.one_id}, and no identity absorbed it", file=sys.stderr)
        return 1
    found.show(100, truncate=False)
    return 0


def _segment_export(args: argparse.Namespace) -> int:
    from jobs.access import RestrictedTableError, catalog_for
    from jobs.build_ads import export_segment

    spark, settings, catalog = _session(args)
    try:
        path, rows = export_segment(spark, settings, catalog_for(catalog, args.role), args.name, args.ds,
                                    Path(args.out) if args.out else None)
    except ValueError as error:
        print(f"FAILED {error}")
        return 1
    except RestrictedTableError as error:
        print(f"REFUSED {error}")
        return 1
    print(f"wrote {rows} members of segment {args.name} (ds {args.ds}) to {path}")
    return 0


def _tags_check(args: argparse.Namespace) -> int:
    from jobs.build_ads import check_definitions
    from tags.catalog import CatalogError
    from tags.expr import ExpressionError

    spark, settings, catalog = _session(args)
    try:
        print("\n".join(check_definitions(spark, settings, catalog, args.ds)))
    except (CatalogError, ExpressionError, ValueError) as error:  # ValueError: no OneID run for ds
        print(f"FAILED {error}")
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    from jobs import bench

    scales = [int(value) for value in args.scales.replace(",", " ").split()]
    bench.run(Path(args.out), scales, args.days, args.start, args.seed, resume=args.resume)
    return 0


def _bench_engines(args: argparse.Namespace) -> int:
    from jobs import bench

    bench.engines(args.lakehouse, args.ds, Path(args.out))
    return 0


def _bench_primitives(args: argparse.Namespace) -> int:
    from jobs import bench

    print("\n".join(bench.render_primitives(bench.primitives(Path(args.out)))))
    return 0


def _compare(args: argparse.Namespace) -> int:
    import dataclasses

    from jobs.compare import compare
    from jobs.spark import get_spark

    left = load_settings(lakehouse=args.left)
    right = dataclasses.replace(left, lakehouse=load_settings(lakehouse=args.right).lakehouse)
    results = compare(get_spark(left), left, right, load_catalog())
    print(f"{'table':<32} {'left rows':>10} {'right rows':>10} {'only left':>10} {'only right':>10}  same")
    for item in results:
        print(f"{item.table:<32} {item.left_rows!s:>10} {item.right_rows!s:>10} {item.only_left:>10} "
              f"{item.only_right:>10}  {'yes' if item.same else 'NO'}")
    different = [item.table for item in results if not item.same]
    print(f"{len(results) - len(different)} of {len(results)} tables the same" + (f"; different: {', '.join(different)}" if different else ""))
    return 1 if different else 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from jobs.serving.keys import load_keys
    from jobs.serving.settings import load_serve_settings

    settings = load_serve_settings()
    host, port = args.host or settings.host, args.port or settings.port
    if not load_keys(settings.api_keys_file):
        print(f"warning: no API key in {settings.api_keys_file}: every request will be refused (401); "
              "create one with `cdp api-key create NAME --scope oneid:read --scope profile:read`", file=sys.stderr)
    print(f"serving PostgreSQL {settings.postgres.host}:{settings.postgres.port}/{settings.postgres.database} "
          f"on http://{host}:{port}: the 360° page at http://{host}:{port}/ui/, the API's document at "
          f"http://{host}:{port}/docs", flush=True)
    # Uvicorn's own access log would print query strings, which carry mobiles and emails: the
    # app writes its own JSON access log without them.
    uvicorn.run("jobs.serving.api:create_app", factory=True, host=host, port=port,
                workers=args.workers or settings.workers, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")
    return 0


def _api_key(args: argparse.Namespace) -> int:
    from jobs.serving.keys import create_key, load_keys, revoke_key
    from jobs.serving.settings import load_serve_settings

    path = load_serve_settings().api_keys_file
    if args.api_key_command == "create":
        try:
            key = create_key(path, args.name, tuple(args.scope))
        except ValueError as error:
            print(f"FAILED {error}", file=sys.stderr)
            return 1
        print(key)
        print(f"key {args.name!r} ({', '.join(args.scope)}) added to {path}: this is the only time it is shown; "
              "a running `cdp serve` accepts it within a second", file=sys.stderr)
        return 0
    if args.api_key_command == "revoke":
        if not revoke_key(path, args.name):
            print(f"no key named {args.name!r} in {path}", file=sys.stderr)
            return 1
        print(f"revoked {args.name!r}; a running `cdp serve` refuses it within a second")
        return 0
    for key in load_keys(path).values():
        print(f"{key.name:<20} {','.join(key.scopes):<28} created {key.created_at}  sha256 {key.sha256[:12]}…")
    return 0


def _bench_serve(args: argparse.Namespace) -> int:
    from jobs.serving import api_bench

    print("\n".join(api_bench.run(identifiers=args.identifiers, duration=args.duration, connections=args.connections,
                                  rate=args.rate,
                              workers=[int(value) for value in args.workers.split(",")], out=Path(args.out))))
    return 0


def _role_argument(command: argparse.ArgumentParser) -> None:
    """``--role``: who reads, for the commands analysts use (jobs/access.py)."""
    from jobs.access import ANALYST, ROLE_OPTION, ROLES

    command.add_argument(ROLE_OPTION, choices=ROLES, default=ANALYST,
                         help="an analyst (the default) cannot read the restricted tables of conf/catalog.yml "
                              "(raw identifiers, SPEC section 4); a data engineer can")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="cdp", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write a sample landing zone and its ground truth")
    generate.add_argument("--out", required=True, help="landing zone folder to write")
    generate.add_argument("--persons", type=int, default=10_000)
    generate.add_argument("--start", type=_date, required=True, help="first business date (the history extract)")
    generate.add_argument("--days", type=int, default=5)
    generate.add_argument("--seed", type=int, default=7)
    generate.set_defaults(handler=_generate)

    run = commands.add_parser("run", help="run the daily pipeline for one business date, or each date of a range")
    run.add_argument("--ds", type=_date, required=True, help="business date YYYY-MM-DD (the first, with --to)")
    run.add_argument("--to", type=_date, help="run every date from --ds through this one, in order, in one session")
    run.add_argument("--landing", help="landing zone root (default CDP_LANDING or conf/env)")
    run.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    run.add_argument("--stage", choices=["ods", "cdm", "oneid", "ads", "publish"], help="run only this stage")
    run.add_argument("--source", action="append", help="ods stage: only this source (repeatable)")
    run.add_argument("--allow-gap", action="store_true",
                     help="run although an earlier ds failed, was skipped or never ran, and record that gap as intended")
    run.add_argument("--metrics", help="append each stage's cost (seconds, jobs, commits, suites, per table) "
                                       "to this file as a JSON line")
    run.set_defaults(handler=_run)

    check = commands.add_parser("check-rejects", help="compare ods.rejects with a generator's bad-row truth")
    check.add_argument("--truth", required=True, help="the generator's _truth folder")
    check.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    check.set_defaults(handler=_check_rejects)

    oneid = commands.add_parser("oneid", help="identity resolution: rebuild, preview a rule change, evaluate, look up")
    oneid_commands = oneid.add_subparsers(dest="oneid_command", required=True)
    rebuild = oneid_commands.add_parser("rebuild", help="resolve all evidence up to ds again (after a rule change); ids stay stable")
    rebuild.add_argument("--ds", type=_date, required=True)
    rebuild.add_argument("--from-scratch", action="store_true", help="ignore the previous ids: every identity gets a new one_id")
    rebuild.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    rebuild.set_defaults(handler=_oneid_rebuild)
    preview = oneid_commands.add_parser("preview", help="what a changed conf/oneid.yml would merge and split; writes nothing")
    preview.add_argument("--conf", type=Path, required=True, help="the proposed oneid.yml")
    preview.add_argument("--ds", type=_date, help="business date to compare at (default: the newest run)")
    preview.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    preview.set_defaults(handler=_oneid_preview)
    evaluate = oneid_commands.add_parser("evaluate", help="pairwise precision and recall against a generator's truth")
    evaluate.add_argument("--truth", required=True, help="the generator's _truth folder")
    evaluate.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    evaluate.set_defaults(handler=_oneid_evaluate)
    lookup = oneid_commands.add_parser("lookup", help="the identifiers of a one_id (merged-away ids answer with the survivor)")
    lookup.add_argument("one_id")
    lookup.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    lookup.set_defaults(handler=_oneid_lookup)

    segment = commands.add_parser("segment", help="audiences defined in conf/segments")
    segment_commands = segment.add_subparsers(dest="segment_command", required=True)
    export = segment_commands.add_parser("export", help="write a segment's members for ds as a CSV for the CRM")
    export.add_argument("name", help="segment code, e.g. high_value_sleeping")
    export.add_argument("--ds", type=_date, required=True, help="business date the ADS stage ran for")
    export.add_argument("--out", help="CSV file to write (default: exports/{name}_{ds}.csv)")
    export.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    _role_argument(export)
    export.set_defaults(handler=_segment_export)

    tags = commands.add_parser("tags", help="the tag catalog in conf/tags")
    tags_commands = tags.add_subparsers(dest="tags_command", required=True)
    check = tags_commands.add_parser("check", help="plan every tag and segment against the built tables; writes nothing")
    check.add_argument("--ds", type=_date, required=True, help="business date whose tables the check reads")
    check.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    check.set_defaults(handler=_tags_check)

    bench = commands.add_parser("bench", help="cost of pipeline days per scale, against a floor, and OneID's engines")
    bench.add_argument("--out", default="bench", help="folder for the landing zones, lakehouses and reports")
    bench.add_argument("--scales", default="20000", help="persons per scale, e.g. '20000 100000 300000 1000000'")
    bench.add_argument("--days", type=int, default=2, help="days per scale: a history load, then incremental days")
    bench.add_argument("--start", type=_date, default=date(2026, 1, 1))
    bench.add_argument("--seed", type=int, default=11)
    bench.add_argument("--resume", action="store_true",
                       help="keep a scale generated with the same parameters and run only its days not yet measured")
    bench.set_defaults(handler=_bench)

    engines = commands.add_parser("bench-engines", help="OneID's component step alone with every engine, and scipy")
    engines.add_argument("--lakehouse", required=True)
    engines.add_argument("--ds", type=_date, required=True)
    engines.add_argument("--out", required=True, help="JSON file for the results")
    engines.set_defaults(handler=_bench_engines)

    primitives = commands.add_parser("bench-primitives", help="what one Spark job and one Delta commit cost on this machine")
    primitives.add_argument("--out", required=True, help="JSON file for the results")
    primitives.set_defaults(handler=_bench_primitives)

    compare = commands.add_parser("compare", help="whether two lakehouses hold the same tables, row for row")
    compare.add_argument("left", help="a lakehouse root")
    compare.add_argument("right", help="another lakehouse root")
    compare.set_defaults(handler=_compare)

    serve = commands.add_parser("serve", help="the OneID lookup API and the 360° customer page over the PostgreSQL tables")
    serve.add_argument("--host", help="address to listen on (default conf/serving.yml: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default conf/serving.yml)")
    serve.add_argument("--workers", type=int, help="worker processes (default conf/serving.yml)")
    serve.set_defaults(handler=_serve)

    api_key = commands.add_parser("api-key", help="API keys of `cdp serve`: stored as SHA-256 hashes only")
    api_key_commands = api_key.add_subparsers(dest="api_key_command", required=True)
    create = api_key_commands.add_parser("create", help="make a key and print it once")
    create.add_argument("name", help="who holds it, e.g. crm or staff-360")
    create.add_argument("--scope", action="append", required=True, choices=["oneid:read", "profile:read"],
                        help="oneid:read: lookups and changes (the CRM); profile:read: profiles and search (staff); repeatable")
    create.set_defaults(handler=_api_key)
    revoke = api_key_commands.add_parser("revoke", help="remove a key by name")
    revoke.add_argument("name")
    revoke.set_defaults(handler=_api_key)
    api_key_commands.add_parser("list", help="names, scopes and hash prefixes").set_defaults(handler=_api_key)

    bench_serve = commands.add_parser("bench-serve", help="load-test `cdp serve` on loopback: 1M synthetic identifiers, "
                                                         "single lookups with wrk, batches of 1,000")
    bench_serve.add_argument("--identifiers", type=int, default=1_000_000, help="rows of the synthetic id_mapping")
    bench_serve.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    bench_serve.add_argument("--connections", type=int, default=200)
    bench_serve.add_argument("--rate", type=int, default=2000, help="lookups/s the paced run offers over those connections")
    bench_serve.add_argument("--workers", default="1,2,3", help="uvicorn worker counts to compare, e.g. '1,2'")
    bench_serve.add_argument("--out", default="bench/serve.json", help="JSON file for the results")
    bench_serve.set_defaults(handler=_bench_serve)

    sql = commands.add_parser("sql", help="run a Spark SQL query over the registered tables")
    sql.add_argument("query")
    sql.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    sql.add_argument("--limit", type=int, default=50)
    _role_argument(sql)
    sql.set_defaults(handler=_sql)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
