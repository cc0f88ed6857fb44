"""One chunk of a generation, start to finish, in whichever process runs it: its persons,
their records through every source, the extracts with their defects, its files and its truth."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from random import Random

from jobs.sample_data import crm, ecom, pos, product, wechat
from jobs.sample_data.contract import load_contract
from jobs.sample_data.defects import BAD_ROW_RATE_FIRST_DT, BAD_ROW_RATE_LATER_DT, defect_plans, inject_bad_rows
from jobs.sample_data.draws import IdShare
from jobs.sample_data.landing import apply_column_quirks, assemble, split_parts, write_batch
from jobs.sample_data.simulation import Row, Simulation
from jobs.sample_data.truth import Truth, chunk_folder
from jobs.sample_data.world import MINI_PROGRAM, Person, Window, build_persons, build_world


@dataclass(frozen=True)
class Chunk:
    """Everything a worker needs to generate one chunk of the population."""

    out: Path
    conf_dir: Path
    seed: int
    window: Window
    population: int  # persons of the whole generation
    index: int
    chunks: int
    first_person: int  # number of the chunk's first person
    persons: int

    @property
    def share(self) -> IdShare:
        return IdShare(self.index, self.chunks)

    @property
    def is_first(self) -> bool:
        return self.index == 0


@dataclass(frozen=True)
class ChunkResult:
    rows: dict[str, int]  # records written per "source/entity", defective ones included
    bad_rows: dict[str, int]
    files: int


def world_rng(seed: int) -> Random:
    return Random(f"{seed}/world")


def chunk_rng(seed: int, index: int) -> Random:
    return Random(f"{seed}/chunk/{index}")


@contextmanager
def cycle_collection_deferred() -> Iterator[None]:
    """Collect reference cycles (housemates) once at the end rather than all along.

    A chunk allocates millions of objects that live until it is written; the collector would
    scan them again and again as they pile up, a third of the chunk's time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


def run_chunk(chunk: Chunk) -> ChunkResult:
    """Generate one chunk and write its part files and its share of the truth."""
    with cycle_collection_deferred():
        return generate_chunk(chunk)


def generate_chunk(chunk: Chunk) -> ChunkResult:
    contract = load_contract(chunk.conf_dir)
    world = build_world(world_rng(chunk.seed), chunk.population, chunk.window)
    rng = chunk_rng(chunk.seed, chunk.index)
    persons = build_persons(rng, world, chunk.window, chunk.first_person, chunk.persons,
                            chunk.population, chunk.share)
    simulation = Simulation(rng, world, chunk.window, chunk.share, persons)
    truth = Truth()
    batches = assemble(rng, contract, simulate(simulation, lists_shared_records=chunk.is_first),
                       chunk.window, truth)
    if chunk.is_first:  # the population has one file of each quirk
        apply_column_quirks(rng, batches, chunk.window)
    plans = defect_plans(rng, contract)
    for batch in batches:
        split_parts(rng, batch)
        rate = BAD_ROW_RATE_FIRST_DT if batch.dt == chunk.window.start else BAD_ROW_RATE_LATER_DT
        inject_bad_rows(rng, batch, rate, *plans[batch.spec.name])

    files = sum(write_batch(rng, chunk.out, batch, chunk.index, truth) for batch in batches)
    truth.write(chunk_folder(chunk.out, chunk.index))
    rows = dict.fromkeys(contract, 0)
    for batch in batches:
        rows[batch.spec.name] += sum(len(part) for part in batch.parts)
    bad_rows = dict.fromkeys(contract, 0)
    for source, entity, *_ in truth.bad_rows:
        bad_rows[f"{source}/{entity}"] += 1
    return ChunkResult(rows, bad_rows, files)


def simulate(sim: Simulation, lists_shared_records: bool) -> list[Row]:
    """Every record version of the chunk; the stores and the catalog, which every chunk
    shares, are listed by one chunk only."""
    if lists_shared_records:
        pos.store_rows(sim)
        product.product_rows(sim)
    for person in sim.persons:
        simulate_person(sim, person)
    pos.walk_in_orders(sim)
    return sim.rows


def simulate_person(sim: Simulation, person: Person) -> None:
    memberships = crm.memberships(sim, person) if person.is_member else []
    if person.shops_pos:
        pos.orders(sim, person, memberships)
    for platform in person.platforms:
        ecom.orders(sim, person, memberships, platform)
    for membership in memberships:
        crm.coupon_rows(sim, person, membership)
        crm.points_movements(sim, person, membership)
    accounts = wechat.users(sim, person, memberships)
    if accounts:
        wechat.events(sim, person, accounts)
    if not memberships and any(a.app.app_type == MINI_PROGRAM for a in accounts) \
            and sim.rng.random() < crm.COUPON_CLAIM_SHARE:
        crm.claimed_coupon(sim, min(a.subscribed_at for a in accounts))
