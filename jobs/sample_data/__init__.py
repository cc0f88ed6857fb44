"""Deterministic sample landing zone for the CDP pipeline, with its ground truth.

`generate` simulates the shoppers of a Chinese fashion retailer across its channels (CRM,
stores, marketplaces, WeChat), writes what each source extracted per business date under
the landing contract of ``conf/sources.yml`` (SPEC section 2), and writes under ``_truth/``
what a perfect pipeline must find: every defective row with its reason, and every person's
identifiers in the canonical forms of SPEC section 3, with the traps that must not merge
people.

How it works, and why:

* The simulation emits every version of every record with the moment the source produced
  it. The landing is then cut by business date: the first dt is the initial history extract,
  each later dt that day's increment. A keyed record that changes (a member, an e-commerce
  order, a coupon, ...) appears once per extract, in its newest version, like a real extract.
* Defective rows are extra, mutated copies of good rows, so the good data stays complete and
  each defective row has exactly one defect.
* The identity truth is read off the good rows that are written, so it never names an
  identifier the data does not carry.
* The population is generated in chunks of ``chunk_persons``, in parallel processes, each
  written to its own part files (``part-{chunk}-{n}``) as soon as it is done: memory holds a
  chunk per process, never the population. What every chunk shares (stores, catalog, apps,
  the flagship's store phone) is built from the seed alone, so each chunk builds the same;
  the stores and products are listed by the first chunk, which also carries the one file
  with an extra column and the one without ``guide_id``. Relations between persons
  (households, family devices, gifts) stay within a chunk. Numbers behind identifiers
  (mobiles, emails, buyer ids, member, card, coupon, ledger and order numbers) come from the
  chunk's own residue class modulo the chunk count, so chunks never hand out the same one.
* Each chunk draws from its own ``random.Random`` seeded with the seed and its index, and
  the shared world from one seeded with the seed: the same arguments give the same bytes,
  whatever the number of processes.
* Each chunk writes its truth sorted; the chunks' files are then merged, streaming, into one
  file each (see ``truth``).

Modules: ``world`` (stores, catalog, persons), one per source (``crm``, ``pos``, ``ecom``,
``wechat``, ``product``) on the shared ``simulation`` state, ``landing`` (extracts, quirks,
files), ``defects``, ``truth``, ``identifiers`` (values and their dirty forms), ``draws``,
``contract``, and ``chunk`` (one chunk start to finish).
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

from jobs.sample_data.chunk import Chunk, ChunkResult, run_chunk
from jobs.sample_data.contract import DEFAULT_CONF_DIR, load_contract
from jobs.sample_data.identifiers import (
    CASHIER_MOBILE_FORMS,
    CRM_MOBILE_FORMS,
    EMAIL_HANDLES,
    INVALID,
    INVALID_EMAILS,
    JUNK_DEVICE,
    JUNK_DEVICES,
    MASKED,
    PLACEHOLDER,
    PLACEHOLDER_MOBILES,
    UNIONID_PREFIX,
    WECHAT_MOBILE_FORMS,
    card_text,
    email_text,
    masked_mobile,
    mistyped_mobile,
    mobile_text,
    new_device,
    new_email,
    new_mobile,
    wechat_id,
)
from jobs.sample_data.landing import clear_output
from jobs.sample_data.truth import TRUTH_DIR, merge
from jobs.sample_data.world import APPS, Window

__all__ = [
    "APPS", "CASHIER_MOBILE_FORMS", "CRM_MOBILE_FORMS", "EMAIL_HANDLES", "INVALID", "INVALID_EMAILS",
    "JUNK_DEVICE", "JUNK_DEVICES", "MASKED", "PLACEHOLDER", "PLACEHOLDER_MOBILES", "TRUTH_DIR",
    "UNIONID_PREFIX", "WECHAT_MOBILE_FORMS", "card_text", "email_text", "generate", "masked_mobile",
    "mistyped_mobile", "mobile_text", "new_device", "new_email", "new_mobile", "wechat_id",
]

# About 0.7 GB of records in flight per process, a few seconds of work.
CHUNK_PERSONS = 20_000


def generate(out: Path, persons: int, start: date, days: int, seed: int,
             conf_dir: Path | None = None, chunk_persons: int = CHUNK_PERSONS) -> dict:
    """Write a sample landing zone under ``out`` and its ground truth under ``out/_truth``.

    Args:
        out: landing root. The dt folders of the contract's entities and ``_truth`` are
            rewritten; nothing else in it is touched.
        persons: size of the simulated population (10 000 gives about 60 stores).
        start: first business date; its dt holds the initial history extract.
        days: number of business dates, ``start`` included.
        seed: seed of the random generators; the same arguments give the same bytes.
        conf_dir: folder of ``sources.yml``; the repository's ``conf/`` by default.
        chunk_persons: persons per chunk, the unit of parallel work and of memory. Part of
            what decides the output: another chunking draws other data.

    Returns:
        ``{"rows": {"source/entity": records written, defective ones included},
        "bad_rows": {"source/entity": n}, "files": n, "dts": ["YYYY-MM-DD", ...]}``

    Several chunks run in spawned processes, which import the caller's main module: a script
    calls ``generate`` under ``if __name__ == "__main__":``.
    """
    if persons < 1 or days < 1 or chunk_persons < 1:
        raise ValueError("persons, days and chunk_persons must be at least 1")
    out = Path(out)
    conf = Path(conf_dir) if conf_dir else DEFAULT_CONF_DIR
    contract = load_contract(conf)
    window = Window(start, days)
    count = math.ceil(persons / chunk_persons)
    chunks = [
        Chunk(out, conf, seed, window, persons, index, count, first_person=index * chunk_persons + 1,
              persons=min(chunk_persons, persons - index * chunk_persons))
        for index in range(count)
    ]

    clear_output(out, contract)
    results = run_all(chunks)
    summary = {
        "rows": {name: sum(r.rows[name] for r in results) for name in contract},
        "bad_rows": {name: sum(r.bad_rows[name] for r in results) for name in contract},
        "files": sum(r.files for r in results),
        "dts": [dt.isoformat() for dt in window.dts],
    }
    arguments = {"persons": persons, "start": start.isoformat(), "days": days, "seed": seed,
                 "chunk_persons": chunk_persons}
    merge(out, count, {**summary, "arguments": arguments})
    return summary


def run_all(chunks: list[Chunk]) -> list[ChunkResult]:
    """The chunks' results in chunk order; one chunk runs in this process."""
    if len(chunks) == 1:
        return [run_chunk(chunks[0])]
    workers = min(os.cpu_count() or 1, len(chunks))
    # Spawned, not forked: the caller may hold threads (a Spark gateway, Airflow's) whose
    # locks a fork would copy mid-use.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(run_chunk, chunks))
