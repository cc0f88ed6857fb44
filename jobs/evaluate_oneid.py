"""`cdp oneid evaluate`: the published mapping against a sample generator's identity truth."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from jobs import catalog as tables
from jobs.config import Catalog, Settings, load_oneid_settings
from oneid.accuracy import Accuracy
from oneid.accuracy import evaluate as accuracy_of


def evaluate(spark: SparkSession, settings: Settings, catalog: Catalog, truth: Path) -> Accuracy:
    """Reads the truth CSVs of ``truth`` (the generator's ``_truth`` folder) and measures."""
    def csv(name: str):
        return spark.read.option("header", True).option("inferSchema", False).csv(str(truth / name))

    mapping = tables.read_table(spark, settings, catalog.table("oneid.id_mapping"))
    links = tables.read_table(spark, settings, catalog.table("oneid.links"))
    return accuracy_of(mapping, links, csv("identifiers.csv"), csv("non_identifiers.csv"),
                       load_oneid_settings().join_threshold)
