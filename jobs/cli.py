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
    from jobs.catalog import register_tables
    from jobs.pipeline import STAGES
    from jobs.spark import get_spark

    settings = load_settings(landing=args.landing, lakehouse=args.lakehouse)
    catalog = load_catalog()
    spark = get_spark(settings)
    register_tables(spark, settings, catalog)
    stages = [args.stage] if args.stage else list(STAGES)
    for stage in stages:
        started = time.monotonic()
        kwargs = {"sources": tuple(args.source)} if stage == "ods" and args.source else {}
        result = STAGES[stage](spark, settings, catalog, args.ds, **kwargs)
        print(f"== {stage} ds={args.ds} ({time.monotonic() - started:.1f}s)")
        print("\n".join(result.lines))
        if not result.ok:
            remaining = stages[stages.index(stage) + 1 :]
            if remaining:
                print(f"stopped: {', '.join(remaining)} not run because {stage} failed")
            return 1
    return 0


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
    from jobs.catalog import register_tables
    from jobs.spark import get_spark

    settings = load_settings(lakehouse=args.lakehouse)
    spark = get_spark(settings)
    register_tables(spark, settings, load_catalog())
    spark.sql(args.query).show(args.limit, truncate=False)
    return 0


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

    run = commands.add_parser("run", help="run the daily pipeline for one business date")
    run.add_argument("--ds", type=_date, required=True, help="business date YYYY-MM-DD")
    run.add_argument("--landing", help="landing zone root (default CDP_LANDING or conf/env)")
    run.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    run.add_argument("--stage", choices=["ods", "cdm"], help="run only this stage")
    run.add_argument("--source", action="append", help="ods stage: only this source (repeatable)")
    run.set_defaults(handler=_run)

    check = commands.add_parser("check-rejects", help="compare ods.rejects with a generator's bad-row truth")
    check.add_argument("--truth", required=True, help="the generator's _truth folder")
    check.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    check.set_defaults(handler=_check_rejects)

    sql = commands.add_parser("sql", help="run a Spark SQL query over the registered tables")
    sql.add_argument("query")
    sql.add_argument("--lakehouse", help="lakehouse root (default CDP_LAKEHOUSE or conf/env)")
    sql.add_argument("--limit", type=int, default=50)
    sql.set_defaults(handler=_sql)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
