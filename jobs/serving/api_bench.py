"""`cdp bench-serve`: `cdp serve` under load on loopback, at a million identifiers.

A database of its own (``cdp_serving_bench``) gets the serving tables of ``schema.sql`` and a
synthetic ``id_mapping`` generated inside PostgreSQL (``generate_series``: a million rows in
seconds, no Spark). For each uvicorn worker count a server is started as `cdp serve` starts it,
and measured with:

* single lookups with wrk (a real load tool, Debian's) over 200 connections, every request a
  mobile written ``+86 130...`` so each one is normalised, always a hit: once saturating (each
  connection sends its next request as soon as the answer comes: the most the machine gives), once
  paced to a fixed rate (2,000/s) by wrk's ``delay()``;
* batches of 1,000 mobiles posted one after another by one client (latency), then by four at once.

Saturating, wrk keeps all 200 requests in flight, so the mean latency is 200 / throughput
(Little's law): a p99 of 20 ms there would need over 10,000 answers/s. The paced run gives the
latency at the target rate. The CPU each part spends per lookup (server, PostgreSQL, wrk) is
measured too, and with it what an otherwise idle machine would give, since the development
machine is shared with other work while the benchmark runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import quantiles

import asyncpg
import httpx
import psutil

from jobs.config import REPO_ROOT
from jobs.serving.keys import ONEID_READ, key_hash
from jobs.serving.settings import API_KEYS_FILE_VARIABLE, DATABASE_VARIABLE, load_serve_settings

DATABASE = "cdp_serving_bench"
SCHEMA_FILE = Path(__file__).with_name("schema.sql")
BENCH_KEY = "cdp_bench-key"
FIRST_MOBILE, MOBILE_STEP = 13_000_000_001, 7  # identifier i is the mobile FIRST_MOBILE + i * MOBILE_STEP
BATCH = 1000

# A million mobiles, three to a one_id, as the publish stage would leave them.
GENERATE = """
INSERT INTO cdp.id_mapping (id_type, id_value, one_id, first_seen, last_seen, source_count, sources, assigned_ds)
SELECT 'mobile', (13000000001 + i * 7)::text, 'OID' || lpad((i / 3)::text, 9, '0'),
       now()::timestamp, now()::timestamp, 1, ARRAY['crm'], current_date
FROM generate_series(0, $1 - 1) AS i
"""

WRK_SCRIPT = """
wrk.headers["X-API-Key"] = "{key}"
math.randomseed(os.time())
request = function()
  local i = math.random(0, {rows} - 1)
  local mobile = string.format("%.0f", {first} + i * {step})
  return wrk.format("GET", "/v1/oneid?id_type=mobile&id_value=%2B86%20" .. mobile)
end
"""
# Each connection waits this long before its next request: 200 connections then offer the target
# rate whatever the server could do at most, and wrk's latencies are the service's at that rate.
PACING = """
delay = function()
  return {milliseconds}
end
"""


def run(identifiers: int, duration: int, connections: int, rate: int, workers: list[int], out: Path) -> list[str]:
    """Measures every worker count; writes the figures to ``out`` and returns a table to print."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: `bash scripts/setup.sh` installs it (Debian package wrk)")
    settings = load_serve_settings()
    started = time.monotonic()
    asyncio.run(_fill(settings.postgres, identifiers))
    lines = [f"{identifiers:,} identifiers generated and indexed in {time.monotonic() - started:.1f}s; "
             f"{connections} connections, saturating (max) and paced to {rate}/s",
             f"{'workers':>7} {'offered':>7} {'lookups/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
             f"{'cpu ms/lookup srv+pg+wrk':>25} {'idle est/s':>10} {'others':>6}"
             f"   {'batch p50 ms':>12} {'batch p99 ms':>12} {'batches/s x4':>12}"]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        keys_file = Path(scratch) / "keys.json"
        keys_file.write_text(json.dumps([{"name": "bench", "sha256": key_hash(BENCH_KEY), "scopes": [ONEID_READ]}]))
        saturating = Path(scratch) / "lookup.lua"
        saturating.write_text(WRK_SCRIPT.format(key=BENCH_KEY, rows=identifiers, first=FIRST_MOBILE, step=MOBILE_STEP))
        paced = Path(scratch) / "paced.lua"
        # The wait leaves room for the answer's own few milliseconds within each connection's turn.
        paced.write_text(saturating.read_text() + PACING.format(milliseconds=round(connections / rate * 1000) - 3))
        for count in workers:
            server = _server(settings.port + 1, count, keys_file)
            with server as url:
                for load, script in (("max", saturating), (f"{rate}/s", paced)):
                    single = _wrk(url, script, connections, duration, server.process.pid)
                    batches = asyncio.run(_batches(url, identifiers))
                    results.append({"workers": count, "connections": connections, "offered": load, **single, **batches})
                    lines.append(
                        f"{count:>7} {load:>7} {single['lookups_per_s']:>10,.0f} {single['p50_ms']:>7.2f} "
                        f"{single['p99_ms']:>7.2f} {single['errors']:>6} "
                        f"{'+'.join(str(v) for v in single['cpu_ms_per_lookup'].values()):>25} "
                        f"{single['idle_machine_lookups_per_s']:>10,} {single['others_cpu_share']:>6.0%}"
                        f"   {batches['batch_p50_ms']:>12.1f} "
                        f"{batches['batch_p99_ms']:>12.1f} {batches['batches_per_s_4_clients']:>12.1f}")
    asyncio.run(_drop_database(settings.postgres))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"identifiers": identifiers, "cpus": os.cpu_count(), "results": results}, indent=2))
    return [*lines, f"written to {out}"]


def _dsn(postgres) -> dict:
    return {"host": postgres.host, "port": postgres.port, "user": postgres.user, "password": postgres.password()}


async def _drop_database(postgres, create_again: bool = False) -> None:
    admin = await asyncpg.connect(**_dsn(postgres), database=postgres.database)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        if create_again:
            await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()


async def _fill(postgres, identifiers: int) -> None:
    await _drop_database(postgres, create_again=True)
    connection = await asyncpg.connect(**_dsn(postgres), database=DATABASE)
    try:
        await connection.execute(SCHEMA_FILE.read_text(encoding="utf-8"))
        # Loaded without its key, then indexed, as the publish stage loads it.
        await connection.execute("ALTER TABLE cdp.id_mapping DROP CONSTRAINT id_mapping_pkey")
        await connection.execute(GENERATE, identifiers)
        await connection.execute("ALTER TABLE cdp.id_mapping ADD PRIMARY KEY (id_type, id_value)")
        await connection.execute("VACUUM ANALYZE cdp.id_mapping")
    finally:
        await connection.close()


class _server:
    """`cdp serve` with ``workers`` processes over the bench database, for a ``with`` block."""

    def __init__(self, port: int, workers: int, keys_file: Path) -> None:
        self.port, self.workers, self.keys_file = port, workers, keys_file

    def __enter__(self) -> str:
        environment = {**os.environ, DATABASE_VARIABLE: DATABASE, API_KEYS_FILE_VARIABLE: str(self.keys_file)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jobs.cli", "serve", "--port", str(self.port), "--workers", str(self.workers)],
            cwd=REPO_ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"cdp serve exited: {self.process.stderr.read().decode()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    time.sleep(1)  # every worker up, not just the first
                    return url
            except httpx.TransportError:
                time.sleep(0.2)
        self.process.terminate()
        raise SystemExit("cdp serve did not answer within 60 s")

    def __exit__(self, *_) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server's processes, of the bench database's PostgreSQL backends,
    of this process's finished children (wrk) and of the whole machine (busy time)."""
    server = psutil.Process(server_pid)
    processes = [server, *server.children(recursive=True)]
    backends = [process for process in psutil.process_iter(["name", "cmdline"])
                if process.info["name"] == "postgres" and DATABASE in " ".join(process.info["cmdline"] or ())]

    def used(group: list[psutil.Process]) -> float:
        total = 0.0
        for process in group:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine = psutil.cpu_times()
    return {"server": used(processes), "postgres": used(backends), "wrk": children.ru_utime + children.ru_stime,
            "machine": machine.user + machine.system + machine.nice + machine.irq + machine.softirq}


def _wrk(url: str, script: Path, connections: int, duration: int, server_pid: int) -> dict:
    """wrk's figures, and the CPU each part spent per lookup: what the lookups cost an idle machine."""
    before = _cpu_seconds(server_pid)
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True).stdout
    after = _cpu_seconds(server_pid)
    spent = {part: after[part] - before[part] for part in before}

    def milliseconds(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    requests = int(re.search(r"(\d+) requests in", output).group(1))
    ours = spent["server"] + spent["postgres"] + spent["wrk"]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "lookups_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": milliseconds("50%"), "p90_ms": milliseconds("90%"), "p99_ms": milliseconds("99%"),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
        "cpu_ms_per_lookup": {part: round(spent[part] / requests * 1000, 4) for part in ("server", "postgres", "wrk")},
        # Lookups/s an otherwise idle machine would give: all its cores over the CPU one lookup costs.
        "idle_machine_lookups_per_s": round(psutil.cpu_count() / (ours / requests)),
        # The share of the machine's busy time spent by other work (other Spark runs) meanwhile.
        "others_cpu_share": round(max(spent["machine"] - ours, 0.0) / (psutil.cpu_count() * duration), 2),
        "wrk_output": output,
    }


async def _batches(url: str, identifiers: int, sequential: int = 40, concurrent_each: int = 10) -> dict:
    rng = random.Random(7)

    def body() -> dict:
        return {"identifiers": [{"id_type": "mobile", "id_value": f"+86 {FIRST_MOBILE + rng.randrange(identifiers) * MOBILE_STEP}"}
                                for _ in range(BATCH)]}

    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": BENCH_KEY}, timeout=30) as client:
        async def post(payload: dict) -> float:
            started = time.perf_counter()
            response = await client.post("/v1/oneid:batch", json=payload)
            elapsed = time.perf_counter() - started
            answers = response.json()["results"]
            if response.status_code != 200 or any(answer["status"] != "found" for answer in answers):
                raise SystemExit(f"a batch failed: {response.status_code} {response.text[:300]}")
            return elapsed * 1000

        payloads = [body() for _ in range(sequential)]
        await post(payloads[0])  # warm: statements prepared, pages cached
        latencies = [await post(payload) for payload in payloads]
        parallel = [body() for _ in range(4 * concurrent_each)]
        started = time.perf_counter()

        async def client_loop(part: list[dict]) -> None:
            for payload in part:
                await post(payload)

        await asyncio.gather(*(client_loop(parallel[n::4]) for n in range(4)))
        throughput = len(parallel) / (time.perf_counter() - started)
    cuts = quantiles(latencies, n=100)
    return {"batch_p50_ms": cuts[49], "batch_p99_ms": cuts[98], "batch_max_ms": max(latencies),
            "batches_per_s_4_clients": throughput}
