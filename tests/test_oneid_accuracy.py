"""OneID accuracy against ground truth: hand-computed golden cases, and random cases against a
brute-force oracle that enumerates every pair."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from random import Random

import pytest
from pyspark.sql import DataFrame, SparkSession

from oneid.accuracy import Accuracy, Coverage, coverage, evaluate

THRESHOLD = 0.6
STRONG, MEDIUM, WEAK = 0.9, 0.6, 0.3
MAPPING_SCHEMA = "id_type string, id_value string, one_id string"
LINKS_SCHEMA = "src string, dst string, rule string, confidence double"
TRUTH_SCHEMA = "person_id string, id_type string, id_value string"
NON_IDENTIFIERS_SCHEMA = "id_type string, raw_value string, kind string"


def local_frame(spark: SparkSession, rows: list[tuple], schema: str) -> DataFrame:
    """Tiny input data in one partition, so the shared two cores run fewer tasks."""
    return spark.createDataFrame(spark.sparkContext.parallelize(rows, 1), schema)


def run(spark: SparkSession, mapping, links, truth, non_identifiers=()) -> Accuracy:
    return evaluate(
        local_frame(spark, list(mapping), MAPPING_SCHEMA),
        local_frame(spark, [(src, dst, "rule", confidence) for src, dst, confidence in links], LINKS_SCHEMA),
        local_frame(spark, list(truth), TRUTH_SCHEMA),
        local_frame(spark, list(non_identifiers), NON_IDENTIFIERS_SCHEMA),
        THRESHOLD,
    )


def test_perfect_mapping(spark):
    truth = [("P1", "member_id", "M1"), ("P1", "card_no", "C1"), ("P1", "mobile", "13911112222"),
             ("P2", "member_id", "M2"), ("P2", "email", "amy@qq.com")]
    links = [("member_id:M1", "card_no:C1", STRONG), ("member_id:M1", "mobile:13911112222", STRONG),
             ("member_id:M2", "email:amy@qq.com", STRONG)]
    mapping = [("member_id", "M1", "O1"), ("card_no", "C1", "O1"), ("mobile", "13911112222", "O1"),
               ("member_id", "M2", "O2"), ("email", "amy@qq.com", "O2")]
    assert run(spark, mapping, links, truth) == Accuracy(
        identifiers_mapped=5, identities=2,
        predicted_pairs=4, true_positive_pairs=4, precision=1.0,
        true_pairs=4, recall=1.0,
        reachable_pairs=4, recall_reachable=1.0,
        missing_identifiers={}, non_identifiers_mapped={}, unknown_values_mapped=0,
        largest_identity=3, largest_identity_persons=1, impure_identities=0,
    )


def test_over_merge_through_a_store_phone(spark):
    # Two members whose cards were typed with the store's phone, which OneID let join them.
    store_phone = "13800138000"
    truth = [("P1", "member_id", "M1"), ("P1", "card_no", "C1"),
             ("P2", "member_id", "M2"), ("P2", "card_no", "C2")]
    links = [("member_id:M1", "card_no:C1", STRONG), ("member_id:M2", "card_no:C2", STRONG),
             ("card_no:C1", f"mobile:{store_phone}", MEDIUM), ("card_no:C2", f"mobile:{store_phone}", MEDIUM)]
    mapping = [("member_id", "M1", "O1"), ("card_no", "C1", "O1"), ("member_id", "M2", "O1"),
               ("card_no", "C2", "O1"), ("mobile", store_phone, "O1")]
    non_identifiers = [("mobile", store_phone, "store_phone")]
    # 4 identifiers in one one_id: 6 predicted pairs, of which M1-C1 and M2-C2 are right.
    assert run(spark, mapping, links, truth, non_identifiers) == Accuracy(
        identifiers_mapped=4, identities=1,
        predicted_pairs=6, true_positive_pairs=2, precision=2 / 6,
        true_pairs=2, recall=1.0,
        reachable_pairs=2, recall_reachable=1.0,
        missing_identifiers={}, non_identifiers_mapped={"store_phone": 1}, unknown_values_mapped=0,
        largest_identity=5, largest_identity_persons=2, impure_identities=1,
    )


def test_under_merge_the_evidence_allowed(spark):
    # A medium link sits exactly at the threshold, so it joins: all three pairs are reachable.
    truth = [("P1", "member_id", "M1"), ("P1", "card_no", "C1"), ("P1", "mobile", "13911112222")]
    links = [("member_id:M1", "card_no:C1", STRONG), ("card_no:C1", "mobile:13911112222", MEDIUM)]
    mapping = [("member_id", "M1", "O1"), ("card_no", "C1", "O1"), ("mobile", "13911112222", "O2")]
    assert run(spark, mapping, links, truth) == Accuracy(
        identifiers_mapped=3, identities=2,
        predicted_pairs=1, true_positive_pairs=1, precision=1.0,
        true_pairs=3, recall=1 / 3,
        reachable_pairs=3, recall_reachable=1 / 3,
        missing_identifiers={}, non_identifiers_mapped={}, unknown_values_mapped=0,
        largest_identity=2, largest_identity_persons=1, impure_identities=0,
    )


def test_under_merge_the_evidence_did_not_allow(spark):
    # The mobile is tied to the card only weakly, and strongly to another person's member id;
    # the email is in no link and missing from the mapping. Only M1-C1 is reachable.
    truth = [("P1", "member_id", "M1"), ("P1", "card_no", "C1"), ("P1", "mobile", "13911112222"),
             ("P1", "email", "amy@qq.com"), ("P2", "member_id", "M2")]
    links = [("member_id:M1", "card_no:C1", STRONG), ("card_no:C1", "mobile:13911112222", WEAK),
             ("member_id:M2", "mobile:13911112222", STRONG)]
    mapping = [("member_id", "M1", "O1"), ("card_no", "C1", "O1"), ("mobile", "13911112222", "O2"),
               ("member_id", "M2", "O3")]
    assert run(spark, mapping, links, truth) == Accuracy(
        identifiers_mapped=4, identities=3,
        predicted_pairs=1, true_positive_pairs=1, precision=1.0,
        true_pairs=6, recall=1 / 6,
        reachable_pairs=1, recall_reachable=1.0,
        missing_identifiers={"email": 1}, non_identifiers_mapped={}, unknown_values_mapped=0,
        largest_identity=2, largest_identity_persons=1, impure_identities=0,
    )


def test_non_identifiers_are_counted_by_kind_and_left_out_of_pairs(spark):
    truth = [("P1", "member_id", "M1"), ("P1", "mobile", "13911112222")]
    links = [("member_id:M1", "mobile:13911112222", STRONG), ("member_id:M1", "mobile:13800000000", STRONG)]
    non_identifiers = [
        ("mobile", "13800000000", "placeholder"),
        ("mobile", "13800000000", "store_phone"),  # under two kinds: counts under the first
        ("mobile", "139-1111-222", "invalid"),  # mapped in its digits form
        ("device_id", " UNKNOWN", "junk_device"),  # mapped trimmed and lower-cased
        ("device_id", None, "junk_device"),  # the empty junk device, as a CSV reader gives it
        ("mobile", "139****2222", "masked"),  # not in the mapping
    ]
    mapping = [("member_id", "M1", "O1"), ("mobile", "13911112222", "O1"), ("mobile", "13800000000", "O1"),
               ("mobile", "1391111222", "O2"), ("device_id", "unknown", "O3"),
               ("device_id", "a1b2c3", "O4")]  # a family device: in neither truth file
    assert run(spark, mapping, links, truth, non_identifiers) == Accuracy(
        identifiers_mapped=2, identities=4,
        predicted_pairs=1, true_positive_pairs=1, precision=1.0,
        true_pairs=1, recall=1.0,
        reachable_pairs=1, recall_reachable=1.0,
        missing_identifiers={}, non_identifiers_mapped={"invalid": 1, "junk_device": 1, "placeholder": 1},
        unknown_values_mapped=1,
        largest_identity=3, largest_identity_persons=1, impure_identities=0,
    )


def test_buyer_ids_keep_the_colons_of_their_value(spark):
    # Node keys split at the first colon: "ecom_buyer_id:jd:u:9" is the buyer "jd:u:9". Were it
    # split elsewhere, neither link would join and both reachable pairs would vanish.
    truth = [("P1", "ecom_buyer_id", "tmall:tb123"), ("P1", "member_id", "M1"),
             ("P2", "ecom_buyer_id", "jd:u:9"), ("P2", "member_id", "M2")]
    links = [("ecom_buyer_id:tmall:tb123", "member_id:M1", STRONG), ("member_id:M2", "ecom_buyer_id:jd:u:9", STRONG)]
    mapping = [("ecom_buyer_id", "tmall:tb123", "O1"), ("member_id", "M1", "O1"),
               ("ecom_buyer_id", "jd:u:9", "O2"), ("member_id", "M2", "O3")]
    assert run(spark, mapping, links, truth) == Accuracy(
        identifiers_mapped=4, identities=3,
        predicted_pairs=1, true_positive_pairs=1, precision=1.0,
        true_pairs=2, recall=0.5,
        reachable_pairs=2, recall_reachable=0.5,
        missing_identifiers={}, non_identifiers_mapped={}, unknown_values_mapped=0,
        largest_identity=2, largest_identity_persons=1, impure_identities=0,
    )


def test_an_identifier_of_two_persons_belongs_to_the_smaller_person_id(spark):
    # The mobile is claimed by P1 and P2: P1 owns it, so M2-mobile is a false pair and the
    # link M2-mobile crosses persons. A repeated truth row counts once.
    truth = [("P1", "member_id", "M1"), ("P1", "member_id", "M1"), ("P1", "mobile", "13911112222"),
             ("P2", "member_id", "M2"), ("P2", "mobile", "13911112222")]
    links = [("member_id:M1", "mobile:13911112222", STRONG), ("member_id:M2", "mobile:13911112222", STRONG)]
    mapping = [("member_id", "M1", "O1"), ("mobile", "13911112222", "O1"), ("member_id", "M2", "O1")]
    assert run(spark, mapping, links, truth) == Accuracy(
        identifiers_mapped=3, identities=1,
        predicted_pairs=3, true_positive_pairs=1, precision=1 / 3,
        true_pairs=1, recall=1.0,
        reachable_pairs=1, recall_reachable=1.0,
        missing_identifiers={}, non_identifiers_mapped={}, unknown_values_mapped=0,
        largest_identity=3, largest_identity_persons=2, impure_identities=1,
    )


def test_a_value_with_two_one_ids_is_refused(spark):
    mapping = [("member_id", "M1", "O1"), ("member_id", "M1", "O2"), ("member_id", "M2", "O2")]
    with pytest.raises(ValueError, match="member_id:M1"):
        run(spark, mapping, [], [("P1", "member_id", "M1")])


def test_coverage_counts_one_ids_per_person_as_far_as_any_link_allows(spark):
    truth = [("P1", "member_id", "M1"), ("P1", "card_no", "C1"), ("P1", "wx_openid", "o1"), ("P1", "device_id", "d1"),
             ("P2", "ecom_buyer_id", "tmall:b2"), ("P2", "mobile", "13911112222"),
             ("P3", "member_id", "M3"), ("P3", "ecom_buyer_id", "tmall:b3"),  # nothing links them
             ("P4", "wx_openid", "o4")]
    links = [("member_id:M1", "card_no:C1", STRONG), ("wx_openid:o1", "member_id:M1", STRONG),
             ("wx_openid:o1", "device_id:d1", WEAK),  # P1's phone, left out: a linked pair missed
             ("ecom_buyer_id:tmall:b2", "mobile:13911112222", WEAK),  # joined
             ("wx_openid:o1", "device_id:df", WEAK), ("wx_openid:o4", "device_id:df", WEAK)]
    mapping = [("member_id", "M1", "O1"), ("card_no", "C1", "O1"), ("wx_openid", "o1", "O1"), ("device_id", "d1", "O2"),
               ("ecom_buyer_id", "tmall:b2", "O3"), ("mobile", "13911112222", "O3"),
               ("member_id", "M3", "O4"), ("ecom_buyer_id", "tmall:b3", "O5"),
               # The family tablet wrongly joined P4 to P1.
               ("wx_openid", "o4", "O1"), ("device_id", "df", "O1")]
    got = coverage(
        local_frame(spark, mapping, MAPPING_SCHEMA),
        local_frame(spark, [(src, dst, "rule", confidence) for src, dst, confidence in links], LINKS_SCHEMA),
        local_frame(spark, truth, TRUTH_SCHEMA),
        local_frame(spark, [("device_id", "df", "family_device")], NON_IDENTIFIERS_SCHEMA),
        ["family_device", "gift_receiver"],
    )
    # Linked pairs: P1's four identifiers (6) and P2's two (1); predicted among them: M1-C1-o1 (3) and b2-m2 (1).
    assert got == Coverage(
        linked_pairs=7, recall_linked=4 / 7, persons=4, one_ids_per_person=6 / 4,
        linked_persons=3, one_ids_per_linked_person=4 / 3,
        shared_values_joining_persons={"family_device": 1, "gift_receiver": 0},
    )


def test_lines_align_the_table():
    accuracy = Accuracy(
        identifiers_mapped=4, identities=1,
        predicted_pairs=6, true_positive_pairs=2, precision=2 / 6,
        true_pairs=2, recall=1.0,
        reachable_pairs=2, recall_reachable=1.0,
        missing_identifiers={"mobile": 3, "email": 1200}, non_identifiers_mapped={"store_phone": 1},
        unknown_values_mapped=0,
        largest_identity=5, largest_identity_persons=2, impure_identities=1,
    )
    assert accuracy.lines() == [
        "identifiers mapped           4",
        "identities                   1",
        "precision               0.3333  2 of 6 predicted pairs",
        "recall                  1.0000  2 of 2 same-person pairs",
        "recall, reachable       1.0000  of 2 pairs the joining links allow",
        "largest identity             5  values, of 2 persons",
        "impure identities            1  one_ids holding several persons",
        "missing identifiers      1,203  email 1,200, mobile 3",
        "non-identifiers mapped       1  store_phone 1",
        "unknown values mapped        0  in neither truth file",
    ]


# --- random cases against a brute-force oracle ----------------------------------------------

ID_TYPES = ("member_id", "card_no", "mobile", "email", "wx_openid", "device_id", "ecom_buyer_id")
TRAPS = [("mobile", "13800000000", "placeholder"), ("mobile", "139****1234", "masked"),
         ("mobile", " 139-1234-567", "invalid"), ("email", "Amy@", "invalid"),
         ("device_id", "unknown", "junk_device"), ("device_id", None, "junk_device"),
         ("mobile", "13812345678", "store_phone")]


def oracle(mapping, links, truth, non_identifiers, threshold) -> Accuracy:
    """The definitions of oneid.accuracy, by enumerating every pair of truth identifiers."""
    owner: dict[tuple, str] = {}
    for person, *key in truth:
        owner[tuple(key)] = min(owner.get(tuple(key), person), person)
    one_id = {(id_type, value): identity for id_type, value, identity in mapping}

    parent = {key: key for key in owner}

    def root(key):
        while parent[key] != key:
            key = parent[key]
        return key

    for src, dst, confidence in links:
        a, b = tuple(src.split(":", 1)), tuple(dst.split(":", 1))
        if confidence >= threshold and a in owner and b in owner and owner[a] == owner[b]:
            parent[root(a)] = root(b)

    predicted = true_positive = true = reachable = reachable_predicted = 0
    for a, b in itertools.combinations(sorted(owner), 2):
        same_identity = a in one_id and b in one_id and one_id[a] == one_id[b]
        same_person = owner[a] == owner[b]
        same_component = root(a) == root(b)
        predicted += same_identity
        true_positive += same_identity and same_person
        true += same_person
        reachable += same_component
        reachable_predicted += same_identity and same_component

    missing: dict[str, int] = {}
    for id_type, _ in set(owner) - set(one_id):
        missing[id_type] = missing.get(id_type, 0) + 1
    kind_of: dict[tuple, str] = {}
    for id_type, raw, kind in non_identifiers:
        raw = raw or ""
        forms = {raw, raw.strip().lower()} | ({re.sub(r"\D", "", raw)} if id_type == "mobile" else set())
        for form in forms:
            kind_of[(id_type, form)] = min(kind_of.get((id_type, form), kind), kind)
    others = set(one_id) - set(owner)
    non_identifiers_mapped = dict(Counter(kind_of[key] for key in others if key in kind_of))
    unknown = sum(key not in kind_of for key in others)

    members: dict[str, list] = {}
    for key, identity in one_id.items():
        members.setdefault(identity, []).append(key)
    sizes = [(len(keys), len({owner[k] for k in keys if k in owner})) for keys in members.values()]
    largest = max(sizes, default=(0, 0))
    return Accuracy(
        identifiers_mapped=len(set(owner) & set(one_id)), identities=len(members),
        predicted_pairs=predicted, true_positive_pairs=true_positive,
        precision=true_positive / predicted if predicted else 1.0,
        true_pairs=true, recall=true_positive / true if true else 1.0,
        reachable_pairs=reachable, recall_reachable=reachable_predicted / reachable if reachable else 1.0,
        missing_identifiers=missing, non_identifiers_mapped=non_identifiers_mapped,
        unknown_values_mapped=unknown,
        largest_identity=largest[0], largest_identity_persons=largest[1],
        impure_identities=sum(persons > 1 for _, persons in sizes),
    )


def random_case(rng: Random, persons: int = 12):
    """About 50 identifiers of `persons` persons, a mapping that merges, splits and misses
    some of them and maps some traps, and links of every strength within and across persons."""
    truth = []
    for p in range(persons):
        for n in range(rng.randint(1, 7)):
            id_type = rng.choice(ID_TYPES)
            value = f"{rng.choice(('tmall', 'jd:shop'))}:b{p}{n}" if id_type == "ecom_buyer_id" else f"v{p}_{n}"
            truth.append((f"P{p:02d}", id_type, value))
    truth += [(f"P{rng.randrange(persons):02d}", id_type, value) for _, id_type, value in rng.sample(truth, 2)]
    keys = sorted({(id_type, value) for _, id_type, value in truth})
    owner = {}
    for person, id_type, value in sorted(truth):
        owner.setdefault((id_type, value), person)

    mapping = []
    for key in keys:
        roll = rng.random()
        if roll < 0.1:
            continue  # missing
        if roll < 0.75:
            identity = owner[key]
        else:  # into another person's identity, or alone
            identity = rng.choice((f"P{rng.randrange(persons):02d}", f"alone{len(mapping)}"))
        mapping.append((*key, f"O{identity}"))
    # Traps as OneID would canonicalise them, and a family device that neither file lists.
    traps = [("mobile", "13800000000"), ("mobile", "139****1234"), ("mobile", "1391234567"),
             ("email", "amy@"), ("device_id", "family-1")]
    mapping += [(*trap, f"O{owner[rng.choice(keys)]}") for trap in rng.sample(traps, 4)]
    nodes = [f"{id_type}:{value}" for id_type, value in keys] + ["mobile:13800000000", "device_id:family-1"]
    by_person: dict[str, list] = {}
    for (id_type, value), person in owner.items():
        by_person.setdefault(person, []).append(f"{id_type}:{value}")
    links = [(*rng.sample(group, 2), rng.choice((STRONG, MEDIUM, WEAK)))
             for group in by_person.values() if len(group) > 1 for _ in range(len(group) - 1)]
    links += [(*rng.sample(nodes, 2), rng.choice((STRONG, MEDIUM, WEAK))) for _ in range(8)]
    return mapping, links, truth, TRAPS


def test_a_random_case_matches_the_pair_enumeration(spark):
    mapping, links, truth, non_identifiers = random_case(Random(7))
    expected = oracle(mapping, links, truth, non_identifiers, THRESHOLD)
    # The case exercises what it is meant to: merges, splits, misses, traps, unreachable pairs.
    assert expected.true_positive_pairs < min(expected.predicted_pairs, expected.true_pairs)
    assert expected.reachable_pairs < expected.true_pairs and expected.impure_identities > 0
    assert expected.missing_identifiers and expected.non_identifiers_mapped and expected.unknown_values_mapped
    assert run(spark, mapping, links, truth, non_identifiers) == expected
