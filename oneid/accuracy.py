"""How well OneID found the sample data's persons: pairwise precision and recall of
``oneid.id_mapping`` against the ground truth that ``jobs/sample_data`` writes under
``_truth/`` (SPEC section 3).

Definitions (the README quotes them):

* An identifier is an ``(id_type, id_value)`` of ``identifiers.csv`` and its person is its
  ``person_id``. Should the truth give one identifier to several persons (it does not: values
  used by several persons go to ``shared.csv``), the smallest ``person_id`` owns it and the
  other claims are ignored, so every pair below has one answer.
* Pairs are unordered pairs of distinct identifiers. A pair is *predicted* when both are in
  the mapping under one one_id; *true* when both have the same person, mapped or not, so an
  identifier missing from the mapping costs recall. Mapping values that are no identifiers
  take part in no pair: they are counted by kind, or as unknown.
* A pair is *reachable* when the legitimate evidence allows the join: the joining links
  (``confidence >= join_threshold``) whose two ends are identifiers of one person connect it,
  within that person. A person whose records never tie two of their identifiers together
  costs recall but not ``recall_reachable``.
* precision = true positive pairs / predicted pairs; recall = true positive pairs / true
  pairs; recall_reachable = reachable predicted pairs / reachable pairs. A ratio with no pairs
  to count is 1.0: nothing was claimed wrongly, or nothing was there to find.
* Every mapping value is, in this order, a truth identifier (``identifiers_mapped``), a
  non-identifier (``non_identifiers_mapped`` under its kind), or unknown. The truth gives
  non-identifiers raw; a mapping value is one when it equals the raw value, the raw value
  trimmed and lower-cased, or for mobiles its digits. A value under several kinds counts
  under the first, alphabetically. Values of ``shared.csv`` only (family devices) are unknown
  unless the caller passes them as non-identifiers.
* ``identities`` counts the one_ids of the mapping; ``largest_identity`` is the number of
  mapping values (identifiers or not) of the one_id with the most, the most persons breaking
  ties; ``impure_identities`` the one_ids holding identifiers of several persons.

``coverage`` answers "how many customers do we have" against the truth:

* A pair is *linked* when any links (weak ones too: every piece of evidence the records give)
  whose two ends are identifiers of one person connect it within that person; recall_linked =
  linked predicted pairs / linked pairs. A person is *linked* when those links connect all of
  their identifiers (or they have one). one_ids per person count an unmapped identifier as a
  one_id of its own.
* A shared value (a family device, a gift recipient's mobile: a non-identifier of a kind the
  caller names) *joins persons* when its one_id holds identifiers of two or more persons.

Every pair count is a sum of n*(n-1)/2 over groups, never an enumeration of pairs: over the
identifiers of one one_id, of one one_id and person, of one person, in one Spark pass; over
the identifiers of one reachability component, and of one component and one_id, in the driver,
which computes those components from the (few) same-person joining links.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import reduce
from typing import Iterable

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

ID_TYPE, ID_VALUE, ONE_ID, PERSON_ID = "id_type", "id_value", "one_id", "person_id"
RAW_VALUE, KIND = "raw_value", "kind"
SRC, DST, CONFIDENCE = "src", "dst", "confidence"
KEYS = (ID_TYPE, ID_VALUE)
NODE_SEPARATOR = ":"  # node keys are "{id_type}:{id_value}"; values may hold the separator
MOBILE = "mobile"

# Working columns.
LAST_ONE_ID, IS_MAPPED = "last_one_id", "is_mapped"
LINK_ENDS, LINK_END, END = "link_ends", "link_end", "end"
STATUS, STATUS_KEY, GROUPING, GROUP_KEY = "status", "status_key", "grouping", "group_key"

# What a value of the mapping or the truth turned out to be (STATUS), with its STATUS_KEY.
MAPPED = "mapped"  # a truth identifier in the mapping
MISSING = "missing"  # a truth identifier absent from the mapping; key: its id_type
NON_IDENTIFIER = "non_identifier"  # key: the kind the truth gives it
UNKNOWN = "unknown"  # in the mapping, in neither truth file
CONFLICT = "conflict"  # in the mapping with no one_id or several

# Each count is a sum over the groups of one grouping of the values.
PREDICTED, TRUE_POSITIVE, TRUE = "predicted", "true_positive", "true"
GROUPINGS = {
    PREDICTED: (ONE_ID,),  # also the identities: their sizes and persons
    TRUE_POSITIVE: (ONE_ID, PERSON_ID),
    TRUE: (PERSON_ID,),
    STATUS: (STATUS, STATUS_KEY),
}


@dataclass(frozen=True)
class Accuracy:
    """OneID's result against the ground truth; see the module docstring for definitions."""

    identifiers_mapped: int  # truth identifiers present in the mapping
    identities: int  # distinct one_ids of the mapping
    predicted_pairs: int
    true_positive_pairs: int
    precision: float
    true_pairs: int
    recall: float  # against every same-person pair of truth identifiers
    reachable_pairs: int
    recall_reachable: float  # against the pairs the legitimate evidence allows
    missing_identifiers: dict[str, int]  # truth identifiers absent from the mapping, per id_type
    non_identifiers_mapped: dict[str, int]  # mapping values the truth says are not identifiers, per kind
    unknown_values_mapped: int  # mapping values in neither truth file
    largest_identity: int  # mapping values of the biggest one_id
    largest_identity_persons: int  # distinct truth persons among them
    impure_identities: int  # one_ids holding identifiers of more than one person

    def lines(self) -> list[str]:
        """An aligned text table for the command line."""
        rows = [
            ("identifiers mapped", f"{self.identifiers_mapped:,}", ""),
            ("identities", f"{self.identities:,}", ""),
            ("precision", f"{self.precision:.4f}",
             f"{self.true_positive_pairs:,} of {self.predicted_pairs:,} predicted pairs"),
            ("recall", f"{self.recall:.4f}",
             f"{self.true_positive_pairs:,} of {self.true_pairs:,} same-person pairs"),
            ("recall, reachable", f"{self.recall_reachable:.4f}",
             f"of {self.reachable_pairs:,} pairs the joining links allow"),
            ("largest identity", f"{self.largest_identity:,}",
             f"values, of {self.largest_identity_persons:,} persons"),
            ("impure identities", f"{self.impure_identities:,}", "one_ids holding several persons"),
            ("missing identifiers", f"{sum(self.missing_identifiers.values()):,}",
             by_key(self.missing_identifiers)),
            ("non-identifiers mapped", f"{sum(self.non_identifiers_mapped.values()):,}",
             by_key(self.non_identifiers_mapped)),
            ("unknown values mapped", f"{self.unknown_values_mapped:,}", "in neither truth file"),
        ]
        label_width = max(len(label) for label, _, _ in rows)
        value_width = max(len(value) for _, value, _ in rows)
        return [f"{label:<{label_width}}  {value:>{value_width}}  {detail}".rstrip()
                for label, value, detail in rows]


def by_key(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {count:,}" for key, count in sorted(counts.items()))


def evaluate(mapping: DataFrame, links: DataFrame, truth_identifiers: DataFrame,
             non_identifiers: DataFrame, join_threshold: float) -> Accuracy:
    """Scores a OneID result against the ground truth of the sample data.

    Args:
        mapping: ``oneid.id_mapping`` (id_type, id_value, one_id, ...), one one_id per value.
        links: ``oneid.links`` (src, dst, rule, confidence) with node keys "{id_type}:{id_value}".
        truth_identifiers: ``_truth/identifiers.csv`` (person_id, id_type, id_value).
        non_identifiers: ``_truth/non_identifiers.csv`` (id_type, raw_value, kind).
        join_threshold: ``join_threshold`` of ``conf/oneid.yml``.

    Raises:
        ValueError: when the mapping gives a value no one_id or several.
    """
    joining = links.where(F.col(CONFIDENCE) >= F.lit(join_threshold))
    values = value_table(mapping, truth_identifiers, non_identifiers, joining)
    totals, statuses = grouped_counts(scored(values))
    if statuses.get(CONFLICT):
        raise ValueError(f"the mapping gives {statuses[CONFLICT]} values no one_id or several, "
                         f"such as {conflict_examples(values)}")
    reachable, reachable_predicted = reachable_pairs(values)

    def pairs(grouping: str) -> int:
        return totals[grouping]["twice"] // 2 if grouping in totals else 0

    identities = totals.get(PREDICTED)
    largest = identities["largest"] if identities else None
    return Accuracy(
        identifiers_mapped=sum(statuses.get(MAPPED, {}).values()),
        identities=identities["groups"] if identities else 0,
        predicted_pairs=pairs(PREDICTED),
        true_positive_pairs=pairs(TRUE_POSITIVE),
        precision=ratio(pairs(TRUE_POSITIVE), pairs(PREDICTED)),
        true_pairs=pairs(TRUE),
        recall=ratio(pairs(TRUE_POSITIVE), pairs(TRUE)),
        reachable_pairs=reachable,
        recall_reachable=ratio(reachable_predicted, reachable),
        missing_identifiers=statuses.get(MISSING, {}),
        non_identifiers_mapped=statuses.get(NON_IDENTIFIER, {}),
        unknown_values_mapped=sum(statuses.get(UNKNOWN, {}).values()),
        largest_identity=largest["values"] if largest else 0,
        largest_identity_persons=largest["persons"] if largest else 0,
        impure_identities=identities["impure"] if identities else 0,
    )


def ratio(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def value_table(mapping: DataFrame, truth_identifiers: DataFrame, non_identifiers: DataFrame,
                joining_links: DataFrame) -> DataFrame:
    """What the mapping, the truth and the joining links say about each value they name.

    One row per (id_type, id_value), with: one_id and last_one_id, the smallest and largest
    one_id the mapping gives it (null when unmapped); is_mapped; person_id, the smallest
    person_id the truth gives it (null when it is no identifier); kind, the first of the
    non-identifier kinds the truth gives it, alphabetically; link_ends, the joining links that
    end at it, as (src, dst, end) where end says which end it is.
    """
    sides = [
        mapping.select(*KEYS, ONE_ID, F.lit(True).alias(IS_MAPPED)),
        truth_identifiers.select(*KEYS, PERSON_ID),
        non_identifier_forms(non_identifiers),
        *(joining_links.select(*node_parts(end), F.struct(SRC, DST, F.lit(end).alias(END)).alias(LINK_END))
          for end in (SRC, DST)),
    ]
    # Each side has some of the columns: the others are null.
    union = reduce(lambda first, second: first.unionByName(second, allowMissingColumns=True), sides)
    return union.groupBy(*KEYS).agg(
        F.min(ONE_ID).alias(ONE_ID),
        F.max(ONE_ID).alias(LAST_ONE_ID),
        F.coalesce(F.max(IS_MAPPED), F.lit(False)).alias(IS_MAPPED),
        F.min(PERSON_ID).alias(PERSON_ID),
        F.min(KIND).alias(KIND),
        F.collect_list(LINK_END).alias(LINK_ENDS),
    )


def non_identifier_forms(non_identifiers: DataFrame) -> DataFrame:
    """(id_type, id_value, kind) for every form a non-identifier could take in the mapping.

    The truth lists raw values; the mapping holds canonical ones. A value counts as the
    non-identifier when it equals the raw value, the raw value trimmed and lower-cased, or for
    mobiles the raw value's digits: the forms the sample data guarantees no identifier takes.
    """
    # A CSV reader turns the empty junk device into null.
    raw = F.coalesce(F.col(RAW_VALUE), F.lit(""))
    digits = F.when(F.col(ID_TYPE) == MOBILE, F.regexp_replace(raw, r"\D", ""))
    forms = F.array_distinct(F.array_compact(F.array(raw, F.lower(F.trim(raw)), digits)))
    return non_identifiers.select(ID_TYPE, KIND, F.explode(forms).alias(ID_VALUE))


def reachable_pairs(values: DataFrame) -> tuple[int, int]:
    """The reachable pairs, and those of them predicted.

    An identifier that no same-person link of ``values`` touches is alone and counts in no
    pair, so the links alone, each end with its one_id, give both sums.
    """
    placed = same_person_components(values)
    reachable = Counter(component for component, _ in placed.values())
    predicted = Counter((component, one_id) for component, one_id in placed.values() if one_id is not None)
    return pairs_within(reachable.values()), pairs_within(predicted.values())


def same_person_components(values: DataFrame) -> dict[str, tuple[int, str | None]]:
    """Node key → (component, one_id) over the links of ``values`` whose ends are identifiers
    of one person.

    The links are collected and their components computed in the driver with scipy: ground
    truth exists only for generated data, whose links are a few per sample person, and the
    yardstick stays independent of the component engine that OneID itself uses.
    """
    owned_ends = values.where(F.col(PERSON_ID).isNotNull()).select(
        PERSON_ID, ONE_ID, F.explode(LINK_ENDS).alias(LINK_END))
    end = F.col(f"{LINK_END}.{END}")
    edges = (
        owned_ends.groupBy(F.col(f"{LINK_END}.{SRC}").alias(SRC), F.col(f"{LINK_END}.{DST}").alias(DST))
        .agg(F.min(end).alias("first_end"), F.max(end).alias("last_end"),
             F.min(PERSON_ID).alias("first_person"), F.max(PERSON_ID).alias("last_person"),
             *(F.max(F.when(end == name, F.col(ONE_ID))).alias(f"{name}_{ONE_ID}") for name in (SRC, DST)))
        # Both ends are identifiers, of one person.
        .where((F.col("first_end") != F.col("last_end")) & (F.col("first_person") == F.col("last_person")))
        .collect()
    )
    one_id_of = {edge[name]: edge[f"{name}_{ONE_ID}"] for edge in edges for name in (SRC, DST)}
    nodes = sorted(one_id_of)
    index = {key: n for n, key in enumerate(nodes)}
    graph = coo_matrix(
        (np.ones(len(edges)), ([index[e[SRC]] for e in edges], [index[e[DST]] for e in edges])),
        shape=(len(nodes), len(nodes)),
    )
    _, components = connected_components(graph, directed=False)
    return {key: (component, one_id_of[key]) for key, component in zip(nodes, components.tolist())}


@dataclass(frozen=True)
class Coverage:
    """One person, one customer: see the module docstring for definitions."""

    linked_pairs: int
    recall_linked: float  # against the pairs any link (weak ones too) connects within a person
    persons: int
    one_ids_per_person: float
    linked_persons: int  # persons all of whose identifiers the links connect
    one_ids_per_linked_person: float
    shared_values_joining_persons: dict[str, int]  # per kind: shared values whose one_id holds 2+ persons

    def lines(self) -> list[str]:
        rows = [
            ("recall, linked", f"{self.recall_linked:.4f}", f"of {self.linked_pairs:,} pairs any link connects"),
            ("one_ids per person", f"{self.one_ids_per_person:.3f}", f"{self.persons:,} persons"),
            ("one_ids per linked person", f"{self.one_ids_per_linked_person:.3f}",
             f"{self.linked_persons:,} persons whose identifiers the links all connect"),
            ("shared values joining persons", f"{sum(self.shared_values_joining_persons.values()):,}",
             by_key(self.shared_values_joining_persons)),
        ]
        label_width = max(len(label) for label, _, _ in rows)
        value_width = max(len(value) for _, value, _ in rows)
        return [f"{label:<{label_width}}  {value:>{value_width}}  {detail}".rstrip() for label, value, detail in rows]


def coverage(mapping: DataFrame, links: DataFrame, truth_identifiers: DataFrame, non_identifiers: DataFrame,
             shared_kinds: Iterable[str]) -> Coverage:
    """How close the mapping comes to one one_id per person, as far as the evidence allows.

    Args:
        links: ``oneid.links``, every confidence.
        shared_kinds: the non-identifier kinds that stand for a value several persons use.
    """
    values = value_table(mapping, truth_identifiers, non_identifiers, links)
    placed = same_person_components(values)
    linked = Counter(component for component, _ in placed.values())
    linked_predicted = Counter((component, one_id) for component, one_id in placed.values() if one_id is not None)
    identifiers = values.where(F.col(PERSON_ID).isNotNull()).select(ID_TYPE, ID_VALUE, PERSON_ID, ONE_ID).collect()
    by_person: dict[str, list] = {}
    persons_of_one_id: dict[str, set] = {}
    for row in identifiers:
        key = f"{row[ID_TYPE]}{NODE_SEPARATOR}{row[ID_VALUE]}"
        by_person.setdefault(row[PERSON_ID], []).append((key, row[ONE_ID]))
        if row[ONE_ID] is not None:
            persons_of_one_id.setdefault(row[ONE_ID], set()).add(row[PERSON_ID])
    one_ids, linked_one_ids = [], []
    for keys in by_person.values():
        count = len({one_id if one_id is not None else f"unmapped {key}" for key, one_id in keys})
        one_ids.append(count)
        if len({placed[key][0] if key in placed else key for key, _ in keys}) == 1:
            linked_one_ids.append(count)
    kinds = list(shared_kinds)
    # A gift mobile is its recipient's identifier as well: the kind, not the person, marks it.
    shared = values.where(F.col(KIND).isin(kinds) & F.col(IS_MAPPED)).select(KIND, ONE_ID).collect()
    joining = Counter(row[KIND] for row in shared if len(persons_of_one_id.get(row[ONE_ID], ())) > 1)
    return Coverage(
        linked_pairs=pairs_within(linked.values()),
        recall_linked=ratio(pairs_within(linked_predicted.values()), pairs_within(linked.values())),
        persons=len(one_ids),
        one_ids_per_person=sum(one_ids) / len(one_ids) if one_ids else 1.0,
        linked_persons=len(linked_one_ids),
        one_ids_per_linked_person=sum(linked_one_ids) / len(linked_one_ids) if linked_one_ids else 1.0,
        shared_values_joining_persons={kind: joining.get(kind, 0) for kind in sorted(kinds)},
    )


def pairs_within(group_sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in group_sizes)


def node_parts(end: str) -> list[Column]:
    """The id_type and id_value of a link's end, its node key split at the first separator."""
    parts = F.split(F.col(end), NODE_SEPARATOR, 2)
    return [parts[0].alias(ID_TYPE), parts[1].alias(ID_VALUE)]


def scored(values: DataFrame) -> DataFrame:
    """The values that are identifiers or mapped, with their status."""
    is_identifier = F.col(PERSON_ID).isNotNull()
    status = (
        F.when(is_conflict(), status_of(CONFLICT))
        .when(is_identifier & F.col(IS_MAPPED), status_of(MAPPED))
        .when(is_identifier, status_of(MISSING, F.col(ID_TYPE)))
        .when(F.col(KIND).isNotNull(), status_of(NON_IDENTIFIER, F.col(KIND)))
        .otherwise(status_of(UNKNOWN))
    )
    return values.where(is_identifier | F.col(IS_MAPPED)).select(
        *KEYS,
        ONE_ID,
        PERSON_ID,
        status.getField(STATUS).alias(STATUS),
        status.getField(STATUS_KEY).alias(STATUS_KEY),
    )


def status_of(status: str, key: Column | None = None) -> Column:
    return F.struct(F.lit(status).alias(STATUS), (F.lit("") if key is None else key).alias(STATUS_KEY))


def grouped_counts(scored_values: DataFrame) -> tuple[dict[str, dict], dict[str, dict[str, int]]]:
    """Every grouping of ``GROUPINGS`` counted in one pass over the scored values.

    Each value takes part once in each grouping, so one shuffle counts them all.

    Returns:
        Per grouping: ``twice`` (the sum of n*(n-1) over its groups, n the identifiers of a
        group), ``groups``, and for the identities ``impure`` and ``largest`` (values, persons).
        Per status: the values per status key.
    """
    memberships = F.array(*(
        F.struct(F.lit(grouping).alias(GROUPING), F.array(*columns).alias(GROUP_KEY))
        for grouping, columns in GROUPINGS.items()
    ))
    # A value without one of a grouping's columns (an unmapped identifier has no one_id, a
    # non-identifier no person) is in no group of it.
    is_complete = F.size(F.array_compact(GROUP_KEY)) == F.size(GROUP_KEY)
    groups = (
        scored_values.select(PERSON_ID, F.explode(memberships).alias("membership"))
        .select("membership.*", PERSON_ID)
        .where(is_complete)
        .groupBy(GROUPING, GROUP_KEY)
        .agg(
            F.count(PERSON_ID).alias("identifiers"),
            F.count(F.lit(1)).alias("values"),
            F.size(F.collect_set(F.when(F.col(GROUPING) == PREDICTED, F.col(PERSON_ID)))).alias("persons"),
        )
    )
    n = F.col("identifiers")
    detail = F.when(F.col(GROUPING) == STATUS, F.col(GROUP_KEY)).alias("detail")
    rows = (
        groups.groupBy(GROUPING, detail)
        .agg(
            F.sum(n * (n - 1)).alias("twice"),
            F.sum("values").alias("values"),
            F.count(F.lit(1)).alias("groups"),
            F.count(F.when(F.col("persons") > 1, True)).alias("impure"),
            F.max(F.struct("values", "persons")).alias("largest"),
        )
        .collect()
    )
    totals = {row[GROUPING]: row.asDict() for row in rows if row[GROUPING] != STATUS}
    statuses: dict[str, dict[str, int]] = {}
    for row in sorted((row for row in rows if row[GROUPING] == STATUS), key=lambda row: row["detail"]):
        status, key = row["detail"]
        statuses.setdefault(status, {})[key] = row["values"]
    return totals, statuses


def is_conflict() -> Column:
    """A mapped value with no one_id or several."""
    return F.col(IS_MAPPED) & (F.col(ONE_ID).isNull() | (F.col(ONE_ID) != F.col(LAST_ONE_ID)))


def conflict_examples(values: DataFrame, limit: int = 5) -> str:
    rows = values.where(is_conflict()).limit(limit).collect()
    return ", ".join(f"{row[ID_TYPE]}:{row[ID_VALUE]}" for row in rows)
