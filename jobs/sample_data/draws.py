"""Random draws: weighted choices, counts, moments, and a chunk's share of the number spaces
identifiers come from."""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from datetime import datetime, timedelta
from random import Random
from typing import Any, NamedTuple


class Weighted(NamedTuple):
    """Values with relative weights, prepared once for fast draws."""

    values: tuple
    cumulative: tuple[float, ...]


def weights(pairs) -> Weighted:
    pairs = tuple(pairs)
    return Weighted(tuple(v for v, _ in pairs), tuple(itertools.accumulate(w for _, w in pairs)))


def weighted(rng: Random, table: Weighted) -> Any:
    return table.values[bisect_right(table.cumulative, rng.random() * table.cumulative[-1])]


def poisson(rng: Random, lam: float) -> int:
    # Knuth's method: the rates here stay small.
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def random_moment(rng: Random, lo: datetime, hi: datetime) -> datetime:
    """A random whole second in [lo, hi)."""
    span = int((hi - lo).total_seconds())
    return lo + timedelta(seconds=rng.randrange(span)) if span > 0 else lo


class IdShare(NamedTuple):
    """One chunk's share of every number space identifiers are counted or drawn from: the
    numbers congruent to its index modulo the number of chunks.

    Chunks are simulated apart and never see each other's values, so disjoint shares are what
    keep one person's mobile, buyer id or member_id from being another chunk's person's too.
    The whole space (index 0 of 1) gives the plain draws.
    """

    index: int = 0
    count: int = 1

    def nth(self, n: int) -> int:
        """The share's n-th number, for counters that start at 1."""
        return n * self.count + self.index

    def draw(self, rng: Random, lo: int, hi: int) -> int:
        """A random number of the share in [lo, hi)."""
        return lo + self.index + self.count * rng.randrange((hi - lo - self.index + self.count - 1) // self.count)


WHOLE = IdShare()
