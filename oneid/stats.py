"""oneid.stats: the day's health of the identity graph, one row per ds, metric and dimension.

Long form so that a new metric is a new row, not a schema change; analysts pivot it.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

COLUMNS = ("ds", "metric", "dimension", "value")


def _rows(ds: date, metric: str, frame: DataFrame, dimension: F.Column, value: F.Column) -> DataFrame:
    return frame.select(
        F.lit(ds).alias("ds"), F.lit(metric).alias("metric"), dimension.cast("string").alias("dimension"),
        value.cast("long").alias("value"),
    )


def size_bucket(size: F.Column) -> F.Column:
    """Cluster sizes 1–5 exactly, then ranges: the tail is where bad merges show."""
    return (
        F.when(size <= 5, size.cast("string"))
        .when(size <= 10, F.lit("6-10"))
        .when(size <= 20, F.lit("11-20"))
        .when(size <= 50, F.lit("21-50"))
        .otherwise(F.lit("51+"))
    )


def type_combinations(mapping: DataFrame) -> DataFrame:
    """``(types, identities)``: one_ids per combination of the id types they hold, such as
    ``device_id`` (a device nothing else joined) or ``card_no+member_id+mobile``: what the
    customer count is made of."""
    per_identity = mapping.groupBy("one_id").agg(F.array_join(F.array_sort(F.collect_set("id_type")), "+").alias("types"))
    return per_identity.groupBy("types").agg(F.count(F.lit(1)).alias("identities"))


def build(ds: date, mapping: DataFrame, events: DataFrame, shared: DataFrame, rejected: DataFrame, day_links: DataFrame,
          recomputed: int, weak_decisions: DataFrame) -> DataFrame:
    """Identities, identities per type combination, identifiers per type, cluster sizes,
    largest cluster, merges, splits, shared values per type, weak-link decisions per rule and
    decision, rejected values per type and reason, the day's links per rule, and how many
    identifiers the run recomputed."""
    sizes = mapping.groupBy("one_id").agg(F.count(F.lit(1)).alias("size"))
    one = F.lit("")
    parts = [
        _rows(ds, "identities", sizes.agg(F.count(F.lit(1)).alias("n")), one, F.col("n")),
        _rows(ds, "identities_by_types", type_combinations(mapping), F.col("types"), F.col("identities")),
        _rows(ds, "identifiers", mapping.groupBy("id_type").count(), F.col("id_type"), F.col("count")),
        _rows(ds, "cluster_size", sizes.groupBy(size_bucket(F.col("size")).alias("bucket")).count(), F.col("bucket"),
              F.col("count")),
        _rows(ds, "largest_cluster", sizes.agg(F.coalesce(F.max("size"), F.lit(0)).alias("n")), one, F.col("n")),
        _rows(ds, "identity_events", events.groupBy("kind").count(), F.col("kind"), F.col("count")),
        _rows(ds, "shared_values", shared.groupBy("id_type").count(), F.col("id_type"), F.col("count")),
        _rows(ds, "weak_links", weak_decisions.groupBy("rule", "decision").count(),
              F.concat_ws("/", "rule", "decision"), F.col("count")),
        _rows(ds, "rejected_values", rejected, F.concat_ws("/", "id_type", "invalid_reason"), F.col("values")),
        _rows(ds, "rejected_occurrences", rejected, F.concat_ws("/", "id_type", "invalid_reason"), F.col("occurrences")),
        _rows(ds, "links", day_links.groupBy("rule").count(), F.col("rule"), F.col("count")),
        _rows(ds, "recomputed_identifiers", mapping.sparkSession.range(1), one, F.lit(recomputed)),
    ]
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union.select(*COLUMNS)
