"""The state one chunk's simulation shares across sources: its random generator, its world and
persons, its share of the identifier spaces, and the rows emitted so far."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from random import Random
from typing import Any, NamedTuple

from jobs.sample_data.draws import IdShare, poisson, random_moment
from jobs.sample_data.world import ORDER_HISTORY_DAYS, Person, Product, Window, World

ISO_TIME_SHARE = 0.10
STORE_HOURS = (10, 22)
ONLINE_HOURS = (7, 24)
MARKDOWNS = (1.0, 1.0, 1.0, 0.9, 0.8, 0.7, 0.5)
PROMOTION_SHARE = 0.2


@dataclass(slots=True)
class Row:
    """One version of one source record, as the simulation produced it."""

    entity: str
    at: datetime  # when the source produced this version: decides its dt
    values: dict[str, Any]
    evidence: tuple = ()  # Identifier / NonIdentifier / SharedUse carried by the row


class BasketLine(NamedTuple):
    product: Product
    qty: int
    unit_cents: int

    @property
    def amount_cents(self) -> int:
        return self.qty * self.unit_cents


class Simulation:
    """Emits every version of every source record of one chunk, person by person."""

    def __init__(self, rng: Random, world: World, window: Window, share: IdShare, persons: list[Person]):
        self.rng = rng
        self.world = world
        self.window = window
        self.share = share
        self.persons = persons
        # Gifts go to persons of the same chunk: their mobiles are in this chunk's truth.
        self.gift_receivers = [p for p in persons if p.can_receive_gifts]
        self.rows: list[Row] = []
        self.counters: dict[str, int] = {}
        self.taken_ids: set[str] = set()
        self.person_sales = 0
        self.orders_from = window.days_before(ORDER_HISTORY_DAYS)

    def emit(self, entity: str, at: datetime, values: dict, evidence: list | tuple = ()) -> None:
        self.rows.append(Row(entity, at, values, tuple(evidence)))

    def extracted(self, versions: list, at=itemgetter(0)) -> list:
        """The versions of one keyed record that some extract holds: the newest of each dt.

        ``versions`` are in time order. Only these are rendered, which is what keeps a
        changing record to one row per dt.
        """
        kept = []
        for version, following in zip(versions, [*versions[1:], None]):
            t = at(version)
            if t >= self.window.end:
                break
            if following is None or self.window.dt_of(at(following)) != self.window.dt_of(t):
                kept.append(version)
        return kept

    def next_number(self, counter: str, step: int = 1) -> int:
        """The next number of a counter, from the chunk's share: unique across chunks."""
        self.counters[counter] = self.counters.get(counter, 0) + step
        return self.share.nth(self.counters[counter])

    def fresh(self, make) -> str:
        """A new random identifier no one else in the chunk has."""
        while (value := make()) in self.taken_ids:
            pass
        self.taken_ids.add(value)
        return value

    def moment(self, lo: datetime, hi: datetime, hours: tuple[int, int] | None = None) -> datetime:
        """A random second in [lo, hi), moved into opening hours when that stays in range."""
        t = random_moment(self.rng, lo, hi)
        if hours and not hours[0] <= t.hour < hours[1]:
            shifted = t.replace(hour=hours[0] + t.hour % (hours[1] - hours[0]))
            if lo <= shifted < hi:
                return shifted
        return t

    def moments(self, per_year: float, lo: datetime, hi: datetime, hours: tuple[int, int],
                at_least_one: bool = False) -> list[datetime]:
        if lo >= hi:
            return []
        n = poisson(self.rng, per_year * (hi - lo).days / 365)
        return sorted(self.moment(lo, hi, hours) for _ in range(max(n, int(at_least_one))))

    def ts(self, t: datetime, millis: bool = False) -> str:
        if self.rng.random() < ISO_TIME_SHARE:
            return f"{t.isoformat()}.{self.rng.randrange(1000):03d}" if millis else t.isoformat()
        return t.isoformat(" ")

    def maybe_ts(self, t: datetime | None) -> str | None:
        return None if t is None else self.ts(t)

    def basket(self, day: date) -> list[BasketLine]:
        on_sale = self.world.products_on_sale(day)
        lines = []
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3, 4))):
            product = self.world.catalog[self.rng.randrange(on_sale)]
            unit = round(product.list_cents * self.rng.choice(MARKDOWNS))
            lines.append(BasketLine(product, self.rng.choice((1, 1, 1, 1, 2, 3)), unit))
        return lines

    def promotion(self, total_cents: int) -> int:
        return total_cents // 1000 * 100 if self.rng.random() < PROMOTION_SHARE else 0
