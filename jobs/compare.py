"""`cdp compare`: whether two lakehouses hold the same tables, row for row.

Used to check that the same day run on another cluster manager (``CDP_ENV=standalone``) gives
what the embedded default gives. Columns that record a run rather than the data (run ids,
seconds) are left out of the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.catalog import read_table_if_exists
from jobs.config import Catalog, Settings

RUN_COLUMNS = frozenset({"ingest_run_id", "run_id", "seconds"})
# Tables that record runs (how often a day was rerun), not data.
RUN_RECORDS_LAYER = "ops"
# The purchase model's coefficients come from floating-point sums whose order follows the
# partitioning; its figures are compared to this many decimals.
DECIMALS = 6


@dataclass(frozen=True)
class TableComparison:
    table: str
    left_rows: int | None
    right_rows: int | None
    only_left: int
    only_right: int

    @property
    def same(self) -> bool:
        return self.left_rows == self.right_rows and self.only_left == 0 and self.only_right == 0


def _comparable(frame: DataFrame) -> DataFrame:
    columns = []
    for field in frame.schema.fields:
        if field.name in RUN_COLUMNS:
            continue
        column = F.col(f"`{field.name}`")
        if isinstance(field.dataType, (T.DoubleType, T.FloatType)):
            column = F.round(column, DECIMALS)
        elif isinstance(field.dataType, T.MapType):
            # Set operations refuse maps: their sorted entries compare the same way.
            column = F.array_sort(F.map_entries(column))
        columns.append(column.alias(field.name))
    return frame.select(*columns)


def compare(spark: SparkSession, left: Settings, right: Settings, catalog: Catalog) -> list[TableComparison]:
    results = []
    for spec in catalog.tables.values():
        if spec.layer == RUN_RECORDS_LAYER:
            continue
        a = read_table_if_exists(spark, left, spec)
        b = read_table_if_exists(spark, right, spec)
        if a is None and b is None:
            continue
        if a is None or b is None:
            results.append(TableComparison(spec.qualified_name, a and a.count(), b and b.count(), 0, 0))
            continue
        a = _comparable(a)
        b = _comparable(b).select(*a.columns)
        results.append(TableComparison(
            spec.qualified_name, a.count(), b.count(), a.exceptAll(b).count(), b.exceptAll(a).count()
        ))
    return results
