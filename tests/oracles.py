"""Definitions the pandas oracles share, written from Spark's documentation, not its code."""

from __future__ import annotations

import math


def spark_percentile(values: list[float], percentage: float) -> float:
    """The exact percentile as Spark's ``percentile`` defines it: linear interpolation between
    the two ranks around (n - 1) * percentage."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * percentage
    lower, higher = math.floor(position), math.ceil(position)
    if ordered[lower] == ordered[higher]:
        return ordered[lower]
    return (higher - position) * ordered[lower] + (position - lower) * ordered[higher]
