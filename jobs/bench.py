"""`cdp bench`: what a pipeline day costs per scale, against a floor, and OneID's engines.

For every scale (persons) a landing zone is generated, then each day runs through `cdp run` in a
process of its own, exactly as the DAG runs it, writing its per-stage and per-table cost
(seconds, Spark jobs, Delta commits, suite runs, driver peak memory). Each day is also read by
the floor (:mod:`jobs.floor`). On the last day, OneID's component step runs alone with every
engine on the same identity graph, next to scipy on the same edges. The report is printed and
saved as Markdown under the bench folder, after what one Spark job and one Delta operation cost
on the machine (:func:`primitives`), the unit costs a day's fixed cost is made of.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

STAGES = ("ods", "cdm", "oneid", "ads")


@dataclass(frozen=True)
class DayRun:
    persons: int
    ds: date
    kind: str
    wall_seconds: float
    floor_seconds: float
    floor_rows: int
    stages: dict[str, dict]


def _cdp(*args: str) -> list[str]:
    return [sys.executable, "-m", "jobs.cli", *args]


def run(out: Path, scales: list[int], days: int, start: date, seed: int, resume: bool = False) -> Path:
    """Benchmarks every scale and writes the report; returns its path.

    Every finished day is recorded in ``p<persons>/days.jsonl`` as soon as it ends. With
    ``resume`` a scale whose landing zone was generated with the same parameters keeps it and its
    lakehouse, and only the days not yet recorded run: a 1M-person pair of days can then be
    measured over two sittings, each day still in a process of its own. A day that had started
    without finishing is run again (a rerun of a ds replaces its tables) and the report says so.
    """
    from jobs import floor
    from jobs.config import load_contracts

    out.mkdir(parents=True, exist_ok=True)
    runs: list[DayRun] = []
    engines: dict[int, list[dict]] = {}
    generated: dict[int, float] = {}
    primitives_file = out / "primitives.json"
    subprocess.run(_cdp("bench-primitives", "--out", str(primitives_file)), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for persons in scales:
        root = out / f"p{persons}"
        landing, lakehouse, metrics = root / "landing", root / "lakehouse", root / "metrics.jsonl"
        parameters = {"persons": persons, "start": start.isoformat(), "days": days, "seed": seed}
        finished = recorded_days(root, parameters) if resume else None
        if finished is None:
            subprocess.run(["rm", "-rf", str(root)], check=True)
            root.mkdir(parents=True)
            started = time.monotonic()
            subprocess.run(_cdp("generate", "--out", str(landing), "--persons", str(persons), "--start",
                                start.isoformat(), "--days", str(days), "--seed", str(seed)),
                           check=True, stdout=subprocess.DEVNULL)
            generated[persons] = round(time.monotonic() - started, 1)
            (root / "bench.json").write_text(json.dumps({**parameters, "generate_seconds": generated[persons]}))
            print(f"bench: {persons} persons generated in {generated[persons]}s", flush=True)
            finished = []
        else:
            generated[persons] = json.loads((root / "bench.json").read_text())["generate_seconds"]
            print(f"bench: {persons} persons resumed, {len(finished)} of {days} days already measured", flush=True)
        runs += finished
        done = {item.ds for item in finished}
        for offset in range(days):
            ds = start + timedelta(days=offset)
            if ds in done:
                continue
            log_file = root / f"run_{ds.isoformat()}.log"
            kind = "history load" if offset == 0 else "incremental"
            if log_file.exists():
                kind += ", rerun after an interrupted run"
            floor_result = floor.run(landing, load_contracts(), ds, root / "floor")
            started = time.monotonic()
            with log_file.open("w") as log:
                subprocess.run(_cdp("run", "--ds", ds.isoformat(), "--landing", str(landing), "--lakehouse", str(lakehouse),
                                    "--metrics", str(metrics)), check=True, stdout=log, stderr=subprocess.STDOUT)
            wall = round(time.monotonic() - started, 1)
            stages = {record["stage"]: record for record in _records(metrics) if record["ds"] == ds.isoformat()}
            day = DayRun(persons, ds, kind, wall, floor_result.seconds, floor_result.rows, stages)
            with (root / "days.jsonl").open("a") as days_file:
                days_file.write(json.dumps({**asdict(day), "ds": ds.isoformat()}) + "\n")
            runs.append(day)
            print(f"bench: {persons} persons, {ds} ({kind}): {wall}s, floor {floor_result.seconds}s", flush=True)
        last = start + timedelta(days=days - 1)
        engines_file = root / "engines.json"
        subprocess.run(_cdp("bench-engines", "--lakehouse", str(lakehouse), "--ds", last.isoformat(), "--out", str(engines_file)),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        engines[persons] = json.loads(engines_file.read_text())
    report = render(runs, engines, generated, json.loads(primitives_file.read_text()))
    path = out / f"report-{datetime.now():%Y%m%d-%H%M%S}.md"
    path.write_text(report, encoding="utf-8")
    print(report)
    print(f"bench: report saved to {path}")
    return path


def recorded_days(root: Path, parameters: dict) -> list[DayRun] | None:
    """The days of a scale measured so far, or None when its landing zone must be generated again.

    A landing zone is kept only when it was generated with exactly these parameters and finished
    (``bench.json`` is written after the generator returns).
    """
    try:
        recorded = json.loads((root / "bench.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if {key: recorded.get(key) for key in parameters} != parameters:
        return None
    days_file = root / "days.jsonl"
    records = _records(days_file) if days_file.exists() else []
    return [DayRun(**{**record, "ds": date.fromisoformat(record["ds"])}) for record in records]


def _records(metrics: Path) -> list[dict]:
    return [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]


def machine_facts() -> list[str]:
    import delta
    import pyspark

    memory_kib = next(
        (int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")), 0
    )
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[:1]
    return [
        f"- machine: {os.cpu_count()} cores, {memory_kib / 1024 / 1024:.1f} GiB, {platform.platform()}",
        f"- Python {platform.python_version()}, PySpark {pyspark.__version__}, delta-spark "
        f"{getattr(delta, '__version__', 'installed')}, {java[0] if java else 'java ?'}",
        f"- Spark environment: CDP_ENV={os.environ.get('CDP_ENV', 'local')}",
    ]


def render(runs: list[DayRun], engines: dict[int, list[dict]], generated: dict[int, float],
           unit_costs: list[dict]) -> str:
    lines = [f"# Bench {datetime.now():%Y-%m-%d %H:%M}", "", *machine_facts(), "", *render_primitives(unit_costs)]
    lines += ["## A day per scale (seconds; rows = rows published by the stage)", "",
              "| persons | ds | day | generate | ods | cdm | oneid | ads | total | floor | × floor | jobs | commits "
              "| suites | s/table | rows ods/cdm/oneid/ads | peak MiB |",
              "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for item in runs:
        stages = [item.stages.get(name, {}) for name in STAGES]
        total = sum(stage.get("seconds", 0) for stage in stages)
        tables = sum(len(stage.get("tables", [])) for stage in stages)
        jobs = sum(stage.get("jobs", 0) for stage in stages)
        commits = sum(stage.get("commits", 0) for stage in stages)
        suites = sum(stage.get("suites", 0) for stage in stages)
        rows = "/".join(str(sum(t["rows"] for t in stage.get("tables", []))) for stage in stages)
        peak = max((stage.get("peak_mib") or 0 for stage in stages), default=0)
        ratio = total / item.floor_seconds if item.floor_seconds else float("nan")
        gen = generated.get(item.persons, "") if item.kind.startswith("history load") else ""
        lines.append(
            f"| {item.persons} | {item.ds} | {item.kind} | {gen} | "
            + " | ".join(f"{stage.get('seconds', 0):.1f}" for stage in stages)
            + f" | {total:.1f} | {item.floor_seconds:.2f} | {ratio:.0f} | {jobs} | {commits} | {suites} "
            f"| {total / tables if tables else 0:.2f} | {rows} | {peak} |"
        )
    lines += ["", *slopes(runs), ""]
    if runs:
        biggest = max(item.persons for item in runs)
        for item in (run for run in runs if run.persons == biggest):
            lines += [f"## Tables at {item.persons} persons, {item.ds} ({item.kind})", "",
                      "| table | rows | seconds | jobs | commits | suites |", "|---|---:|---:|---:|---:|---:|"]
            for stage in STAGES:
                for table in item.stages.get(stage, {}).get("tables", []):
                    lines.append(f"| {table['table']} | {table['rows']} | {table['seconds']:.1f} | {table['jobs']} "
                                 f"| {table['commits']} | {table['suites']} |")
            lines.append("")
    for persons, results in engines.items():
        lines += [f"## OneID components at {persons} persons (same graph, every engine)", "",
                  "| engine | nodes | edges | seconds | same partition as scipy |", "|---|---:|---:|---:|---|"]
        lines += [f"| {r['engine']} | {r['nodes']} | {r['edges']} | {r['seconds']} | {r['same']} |" for r in results]
        lines.append("")
    return "\n".join(lines)


def slopes(runs: list[DayRun]) -> list[str]:
    """Seconds per 1,000 persons, least squares over the scales, per kind of day."""
    lines = ["## Slope of a day's time against persons", ""]
    for kind in ("history load", "incremental"):
        points = {}
        for item in runs:
            if item.kind.startswith(kind):
                points.setdefault(item.persons, []).append(sum(s.get("seconds", 0) for s in item.stages.values()))
        if len(points) < 2:
            lines.append(f"- {kind}: one scale only, no slope")
            continue
        xs = sorted(points)
        ys = [sum(points[x]) / len(points[x]) for x in xs]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
        intercept = mean_y - slope * mean_x
        lines.append(f"- {kind}: {slope * 1000:.3f} s per 1,000 persons, {intercept:.0f} s fixed "
                     f"(points: {', '.join(f'{x}: {y:.0f}s' for x, y in zip(xs, ys))})")
    return lines


def engines(lakehouse: str, ds: date, out: Path) -> None:
    """OneID's component step alone with every engine, and scipy, on the day's identity graph."""
    import numpy as np
    import pandas as pd
    from pyspark.sql import functions as F
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components

    from jobs.build_oneid import OneidBuild, identity_graph
    from jobs.catalog import register_tables
    from jobs.config import load_catalog, load_oneid_settings, load_settings
    from jobs.spark import get_spark, has_graphframes
    from oneid import graph
    from oneid.components import connected_components

    settings = load_settings(lakehouse=lakehouse)
    catalog = load_catalog()
    spark = get_spark(settings)
    register_tables(spark, settings, catalog)
    conf = load_oneid_settings()
    build = OneidBuild(spark, settings, catalog, ds, conf)
    links = build.read("links").where(F.col("dt") <= F.lit(ds))
    nodes = build.read("sightings").where(F.col("dt") <= F.lit(ds)).select("node").distinct()
    identity = identity_graph(links, conf, build.components)
    universe = nodes.join(identity.shared.select("node"), on="node", how="left_anti").persist()
    edges = graph.within(identity.active, universe).select("src", "dst").persist()
    node_count, edge_count = universe.count(), edges.count()

    started = time.monotonic()
    local_nodes = universe.toPandas()["node"]
    local_edges = edges.toPandas()
    codes, uniques = pd.factorize(pd.concat([local_nodes, local_edges["src"], local_edges["dst"]], ignore_index=True))
    src = codes[len(local_nodes):len(local_nodes) + len(local_edges)]
    dst = codes[len(local_nodes) + len(local_edges):]
    matrix = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(len(uniques), len(uniques)))
    _, labels = scipy_components(matrix, directed=False)
    scipy_seconds = round(time.monotonic() - started, 2)
    truth = pd.DataFrame({"node": uniques, "label": labels})
    smallest = truth.groupby("label")["node"].transform("min")
    reference = dict(zip(truth["node"], smallest))

    results = [{"engine": "scipy (factorize + csgraph, from Spark)", "nodes": node_count, "edges": edge_count,
                "seconds": scipy_seconds, "same": "reference"}]
    available = has_graphframes(settings.jars_dir)
    for engine in ("driver", "spark", "graphframes"):
        if engine == "graphframes" and not available:
            results.append({"engine": engine, "nodes": node_count, "edges": edge_count, "seconds": "-",
                            "same": "not measured: the GraphFrames jar is not resolvable from this machine's Maven registry"})
            continue
        started = time.monotonic()
        found = connected_components(universe, edges, engine=engine).toPandas()
        seconds = round(time.monotonic() - started, 2)
        # Labels are the smallest node in Spark's binary order; scipy's are pandas' order: compare partitions.
        same = _same_partition(dict(zip(found["node"], found["component"])), reference)
        results.append({"engine": engine, "nodes": node_count, "edges": edge_count, "seconds": seconds,
                        "same": "yes" if same else "NO"})
    out.write_text(json.dumps(results, indent=2))


def _same_partition(left: dict[str, str], right: dict[str, str]) -> bool:
    if left.keys() != right.keys():
        return False
    pairs = {(left[node], right[node]) for node in left}
    return len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def primitives(out: Path, repeats: int = 20) -> list[dict]:
    """What one Spark job and one Delta operation cost on this machine, whatever their size.

    A day's fixed cost is these unit costs times how often the day pays them (its commits and
    jobs in the cost tables), so this is the floor that no per-table work can go under.
    """
    import shutil
    import tempfile

    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from jobs.config import load_settings
    from jobs.spark import get_spark

    spark = get_spark(load_settings())
    scheduler = spark.sparkContext._jsc.sc().dagScheduler()
    folder = Path(tempfile.mkdtemp(prefix="cdp-primitives-"))
    table = str(folder / "table")
    frame = spark.range(100).select("id", F.col("id").cast("string").alias("value"), F.lit("2026-01-01").cast("date").alias("dt"))
    frame = frame.persist()
    frame.count()
    frame.write.format("delta").partitionBy("dt").save(table)

    def replace_where() -> None:
        frame.write.format("delta").mode("overwrite").option("replaceWhere", "dt = DATE'2026-01-01'").save(table)

    def merge() -> None:
        (DeltaTable.forPath(spark, table).alias("t").merge(frame.alias("s"), "t.id = s.id")
         .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())

    operations = {
        "Spark job over a cached 100-row frame (count)": lambda: frame.count(),
        "Spark query with a shuffle (range(10) grouped count)": lambda: spark.range(10).groupBy((F.col("id") % 2).alias("k")).count().collect(),
        "Delta read of a 100-row table, filtered and counted": lambda: spark.read.format("delta").load(table).where("id < 5").count(),
        "Delta replaceWhere overwrite of 100 rows (one commit)": replace_where,
        "Delta MERGE of 100 rows (one commit)": merge,
    }
    results = []
    try:
        for name, operation in operations.items():
            operation()
            first_job, started = scheduler.nextJobId(), time.monotonic()
            count = repeats if "Delta" not in name or "read" in name else max(3, repeats // 2)
            for _ in range(count):
                operation()
            results.append({"operation": name, "ms": round((time.monotonic() - started) / count * 1000),
                            "jobs": round((scheduler.nextJobId() - first_job) / count, 1)})
    finally:
        frame.unpersist()
        shutil.rmtree(folder, ignore_errors=True)
    out.write_text(json.dumps(results, indent=2))
    return results


def render_primitives(results: list[dict]) -> list[str]:
    return ["## What one operation costs on this machine (whatever its size)", "",
            "| operation | ms each | Spark jobs each |", "|---|---:|---:|",
            *[f"| {r['operation']} | {r['ms']} | {r['jobs']} |" for r in results], ""]
