"""`cdp oneid evaluate`: the published mapping against a sample generator's identity truth.

Besides pairwise accuracy and coverage (``oneid.accuracy``) and the one_ids per type
combination, it checks ids run over run (the mapping of each run is read back by the Delta
version ``oneid.runs`` recorded): for every pair of consecutive runs, the persons none of whose
identifiers were seen on the later day must keep exactly the one_ids they had, and every
identifier whose one_id changed must be explained by a merge-log event of the later day from
its old one_id to its new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import catalog as tables
from jobs.config import Catalog, Settings, load_oneid_settings
from oneid.accuracy import Accuracy, Coverage, coverage
from oneid.accuracy import evaluate as accuracy_of
from oneid.stats import type_combinations

TYPE_COMBINATIONS_SHOWN = 12


@dataclass(frozen=True)
class Stability:
    ds: str
    persons_without_new_evidence: int
    persons_with_changed_one_id: int
    identifiers_with_changed_one_id: int
    unexplained_changes: int  # of them, with no merge-log event from the old one_id to the new


@dataclass(frozen=True)
class Evaluation:
    accuracy: Accuracy
    coverage: Coverage
    type_combinations: list[tuple[str, int]]  # (id types, one_ids), most first
    stability: list[Stability]

    def lines(self) -> list[str]:
        lines = ["== accuracy against the generator's truth", *self.accuracy.lines(),
                 "== one person, one customer", *self.coverage.lines(),
                 "== one_ids per combination of id types (the customer count, explained)"]
        total = sum(count for _, count in self.type_combinations)
        lines += [f"{types:<60} {count:>10,} {count / total:>7.1%}" for types, count in self.type_combinations[:TYPE_COMBINATIONS_SHOWN]]
        rest = self.type_combinations[TYPE_COMBINATIONS_SHOWN:]
        if rest:
            lines.append(f"{f'{len(rest)} other combinations':<60} {sum(count for _, count in rest):>10,}")
        if self.stability:
            lines += ["== one_id stability: persons with no evidence on the day keep their one_ids; "
                      "every change is in the merge log",
                      f"{'ds':<12} {'persons without new evidence':>30} {'of them with a changed one_id':>30} "
                      f"{'identifiers with a new one_id':>30} {'unexplained':>12}"]
            lines += [f"{row.ds:<12} {row.persons_without_new_evidence:>30,} {row.persons_with_changed_one_id:>30,} "
                      f"{row.identifiers_with_changed_one_id:>30,} {row.unexplained_changes:>12,}"
                      for row in self.stability]
        return lines


def evaluate(spark: SparkSession, settings: Settings, catalog: Catalog, truth: Path) -> Evaluation:
    """Reads the truth CSVs of ``truth`` (the generator's ``_truth`` folder) and measures."""
    def csv(name: str) -> DataFrame:
        return spark.read.option("header", True).option("inferSchema", False).csv(str(truth / name))

    def table(name: str) -> DataFrame:
        return tables.read_table(spark, settings, catalog.table(name))

    identifiers = csv("identifiers.csv")
    # Values several persons use legitimately (family devices, gift receivers' mobiles) are
    # no one's identifier: they count as non-identifiers of their kind.
    shared = csv("shared.csv").select("id_type", F.col("id_value").alias("raw_value"), "kind")
    non_identifiers = csv("non_identifiers.csv").unionByName(shared)
    mapping, links = table("oneid.id_mapping"), table("oneid.links")
    accuracy = accuracy_of(mapping, links, identifiers, non_identifiers, load_oneid_settings().join_threshold)
    shared_kinds = [row.kind for row in shared.select("kind").distinct().collect()]
    combinations = sorted(((row.types, row.identities) for row in type_combinations(mapping).collect()),
                          key=lambda item: (-item[1], item[0]))
    return Evaluation(accuracy, coverage(mapping, links, identifiers, non_identifiers, shared_kinds), combinations,
                      stability(spark, settings, catalog, identifiers))


def stability(spark: SparkSession, settings: Settings, catalog: Catalog, identifiers: DataFrame) -> list[Stability]:
    runs = sorted(tables.read_table(spark, settings, catalog.table("oneid.runs")).collect(), key=lambda row: row.ds)
    path = catalog.table("oneid.id_mapping").path(settings.lakehouse)
    sightings = tables.read_table(spark, settings, catalog.table("oneid.sightings"))
    merge_log = tables.read_table(spark, settings, catalog.table("oneid.merge_log"))

    def mapping_at(run) -> DataFrame:
        return spark.read.format("delta").option("versionAsOf", run.versions["id_mapping"]).load(path)

    report = []
    for before, after in zip(runs, runs[1:]):
        seen = sightings.where(F.col("dt") == F.lit(after.ds)).select("id_type", "id_value")
        touched = identifiers.join(seen, on=["id_type", "id_value"], how="left_semi").select("person_id").distinct()
        quiet = identifiers.join(touched, on="person_id", how="left_anti")
        old = mapping_at(before).select("id_type", "id_value", F.col("one_id").alias("old_one_id"))
        new = mapping_at(after).select("id_type", "id_value", "one_id")
        compared = quiet.join(old, on=["id_type", "id_value"], how="inner").join(new, on=["id_type", "id_value"], how="left")
        counts = compared.agg(
            F.countDistinct("person_id").alias("persons"),
            F.countDistinct(F.when(~F.col("one_id").eqNullSafe(F.col("old_one_id")), F.col("person_id"))).alias("changed"),
        ).first()
        moved = old.join(new, on=["id_type", "id_value"], how="inner").where(F.col("one_id") != F.col("old_one_id"))
        events = merge_log.where(F.col("ds") == F.lit(after.ds)).select(
            F.col("from_one_id").alias("old_one_id"), F.col("to_one_id").alias("one_id"))
        unexplained = moved.join(events, on=["old_one_id", "one_id"], how="left_anti")
        report.append(Stability(after.ds.isoformat(), counts.persons, counts.changed, moved.count(), unexplained.count()))
    return report
