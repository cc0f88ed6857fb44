"""Cross-field anomaly rules of a landing entity (``anomalies:`` in ``conf/sources.yml``).

A row can type perfectly and still be impossible as a whole: paid before it was created,
shipped before it was paid, a refund above the payment, a zero quantity, a time after its
business date. Such rows are data, not outages: one clock-skewed order among millions must
never stop the day. Each rule says what to do with the rows it matches:

- ``reject``: the row goes to ``ods.rejects`` with the reason ``anomaly:<rule>``;
- ``flag``: the row is kept with the rule's name in its ``anomaly_flags``, the load audit counts
  it, and the CDM does not compute the measures the rule lists in ``nulls`` from it (they are
  null), so a minus-five-minute payment never enters an average.

``when`` is a Spark SQL condition over the entity's typed columns; ``business_date`` is the ds
being loaded. A condition that is null (a time missing) does not match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from models.ods import reasons

REJECT, FLAG = "reject", "flag"
ACTIONS = (REJECT, FLAG)
FLAGS_COLUMN = "anomaly_flags"
BUSINESS_DATE = "business_date"
ANOMALY = "anomaly"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class AnomalyRule:
    name: str
    when: str
    action: str
    nulls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"anomaly rule {self.name!r}: a name is lower-case letters, digits and _")
        if self.action not in ACTIONS:
            raise ValueError(f"anomaly rule {self.name!r}: action {self.action!r}, expected one of {ACTIONS}")
        if self.nulls and self.action != FLAG:
            raise ValueError(f"anomaly rule {self.name!r}: only a flag rule nulls measures")
        if not self.when.strip():
            raise ValueError(f"anomaly rule {self.name!r}: no condition (when)")

    @property
    def reason(self) -> str:
        return reasons.column_reason(ANOMALY, self.name)

    def matches(self) -> Column:
        return F.coalesce(F.expr(self.when), F.lit(False))


def parse_rules(entries: Sequence[Mapping[str, Any]], where: str) -> tuple[AnomalyRule, ...]:
    """The ``anomalies:`` list of one entity.

    Raises:
        ValueError: an unknown key, action or repeated name, naming ``where`` (source/entity).
    """
    rules = []
    for entry in entries:
        unknown = set(entry) - {"name", "when", "action", "nulls"}
        if unknown:
            raise ValueError(f"{where}: anomaly rule {entry.get('name')!r} has unknown key(s) {sorted(unknown)}")
        try:
            rules.append(AnomalyRule(str(entry["name"]), str(entry["when"]), str(entry["action"]),
                                     tuple(str(measure) for measure in entry.get("nulls", ()))))
        except KeyError as missing:
            raise ValueError(f"{where}: anomaly rule {entry.get('name')!r} lacks {missing}") from None
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: anomaly rule names repeat: {names}")
    return tuple(rules)


def apply(checked: DataFrame, rules: tuple[AnomalyRule, ...], ds: date, reason_column: str) -> DataFrame:
    """Adds the reject rules' reasons to ``reason_column`` and, when there are flag rules, the
    ``anomaly_flags`` column (the names of the flag rules a row matches, empty when none)."""
    if not rules:
        return checked
    frame = checked.withColumn(BUSINESS_DATE, F.lit(ds))
    rejects = [F.when(rule.matches(), F.lit(rule.reason)) for rule in rules if rule.action == REJECT]
    if rejects:
        frame = frame.withColumn(reason_column, F.nullif(
            F.concat_ws(reasons.REASON_SEPARATOR, F.col(reason_column), *rejects), F.lit("")
        ))
    flags = [F.when(rule.matches(), F.lit(rule.name)) for rule in rules if rule.action == FLAG]
    if flags:
        frame = frame.withColumn(FLAGS_COLUMN, F.filter(F.array(*flags), lambda name: name.isNotNull()))
    return frame.drop(BUSINESS_DATE)


def flag_columns(rules: tuple[AnomalyRule, ...]) -> tuple[str, ...]:
    """The column an entity's ODS table gains when it has flag rules."""
    return (FLAGS_COLUMN,) if any(rule.action == FLAG for rule in rules) else ()


def flagged_counts(kept: DataFrame, rules: tuple[AnomalyRule, ...]) -> dict[str, int]:
    """Kept rows per flag rule (one small job over the cached rows)."""
    flag_rules = [rule for rule in rules if rule.action == FLAG]
    if not flag_rules:
        return {}
    counts = kept.agg(*[
        F.count_if(F.array_contains(FLAGS_COLUMN, rule.name)).alias(rule.name) for rule in flag_rules
    ]).first()
    return {rule.name: int(counts[rule.name]) for rule in flag_rules}


def nulled_unless(measure: str, rules: tuple[AnomalyRule, ...], flags: Column, value: Column) -> Column:
    """``value``, or null when ``flags`` holds a rule that lists ``measure`` in its nulls."""
    nulling = [rule.name for rule in rules if measure in rule.nulls]
    if not nulling:
        return value
    return F.when(~F.arrays_overlap(F.coalesce(flags, F.array().cast("array<string>")),
                                    F.array(*[F.lit(name) for name in nulling])), value)
