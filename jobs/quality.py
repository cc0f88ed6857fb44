"""Write, audit, publish: Great Expectations validates a frame before it replaces a table.

Suites are JSON files in Great Expectations' own format, kept next to the models they guard
(``models/<layer>/expectations/<table>.json``, ``oneid/expectations/<table>.json``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from jobs.config import REPO_ROOT

# Great Expectations phones home and draws progress bars unless told otherwise.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402  (must follow the environment set-up above)

DQ_RESULT_SCHEMA = T.StructType(
    [
        T.StructField("table_name", T.StringType(), False),
        T.StructField("expectation_id", T.StringType(), False),
        T.StructField("expectation_type", T.StringType(), False),
        T.StructField("kwargs", T.StringType(), False),
        T.StructField("success", T.BooleanType(), False),
        T.StructField("element_count", T.LongType(), True),
        T.StructField("unexpected_count", T.LongType(), True),
        T.StructField("observed_value", T.StringType(), True),
        T.StructField("severity", T.StringType(), True),
    ]
)
CRITICAL, WARNING = "critical", "warning"
_SUCCESS, _SEVERITY = DQ_RESULT_SCHEMA.fieldNames().index("success"), DQ_RESULT_SCHEMA.fieldNames().index("severity")


@dataclass(frozen=True)
class Validation:
    """A suite's outcome: ``success`` when every critical expectation held (a failed warning
    is recorded and reported, and does not stop the table); ``remedies`` says, per row of
    ``rows``, what a user should do when that expectation fails."""

    table_name: str
    success: bool
    rows: list[tuple[Any, ...]]
    remedies: tuple[str, ...] = ()

    def failures(self) -> list[str]:
        return self._failed(CRITICAL)

    def warnings(self) -> list[str]:
        return self._failed(WARNING)

    def _failed(self, severity: str) -> list[str]:
        return [
            f"{row[2]}({row[3]}): unexpected {row[6]}, observed {row[7]}; {remedy}"
            for row, remedy in zip(self.rows, self.remedies)
            if not row[_SUCCESS] and row[_SEVERITY] == severity
        ]


def remedy(expectation_type: str, kwargs: dict[str, Any], meta: dict[str, Any], suite: Path) -> str:
    """What to do when the expectation fails: the suite's own ``meta.remedy``, else the advice
    that fits its kind."""
    if meta.get("remedy"):
        return str(meta["remedy"])
    column = kwargs.get("column", "")
    rerun = "then rerun the day (cdp run --ds D)"
    if column.startswith("ref_"):
        key = column.removeprefix("ref_")
        if key.endswith("_date"):
            return (f"some {key} values are outside cdm.dim_date: widen calendar earliest/latest in conf/cdm.yml, "
                    f"or reject such rows with an anomaly rule in conf/sources.yml, {rerun}")
        return f"some {key} values are missing from their dimension; load the dimension's source for the day, {rerun}"
    if expectation_type == "expect_column_values_to_not_be_null":
        return f"rows without {column}: fix them at the source or reject them with a rule in conf/sources.yml, {rerun}"
    if expectation_type in ("expect_column_values_to_be_between", "expect_column_values_to_be_in_set"):
        return (f"{column} has values outside what the model allows: reject or flag them with an anomaly rule in "
                f"conf/sources.yml (or give the expectation a `mostly` in {suite.name}), {rerun}")
    if "unique" in expectation_type:
        return f"duplicate keys: the rows sharing them are in the frame's source for the day; fix them, {rerun}"
    return f"fix the source rows it names, {rerun}; if the data is right, change the expectation in {suite.name}"


# OneID is a package of its own at the top level; the other layers live under models/.
LAYER_FOLDERS = {"ods": "models/ods", "cdm": "models/cdm", "oneid": "oneid", "ads": "models/ads"}


def suite_path(layer: str, table_name: str) -> Path:
    return REPO_ROOT / LAYER_FOLDERS[layer] / "expectations" / f"{table_name}.json"


@lru_cache(maxsize=1)
def _context() -> Any:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    return context


# Great Expectations runs a suite on Spark with about a dozen Spark jobs whatever the frame's
# size, over a second of fixed cost; on a frame small enough to collect, its pandas engine runs
# the same suite in milliseconds. Suites use engine-neutral typed row conditions for that.
SPARK_ENGINE, PANDAS_ENGINE = "spark", "pandas"


@lru_cache(maxsize=None)
def _data_source(engine: str) -> Any:
    sources = _context().data_sources
    if engine == PANDAS_ENGINE:
        return sources.add_pandas(name=f"cdp_{engine}")
    return sources.add_spark(name=f"cdp_{engine}")


@lru_cache(maxsize=None)
def _batch_definition(engine: str, asset_name: str) -> Any:
    asset = _data_source(engine).add_dataframe_asset(name=asset_name)
    return asset.add_batch_definition_whole_dataframe(name=f"{asset_name}_whole")


def load_suite(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        document = json.load(handle)
    suite = gx.ExpectationSuite(name=document["name"], expectations=document["expectations"])
    return _context().suites.add_or_update(suite)


def validate(frame: DataFrame, layer: str, table_name: str, engine: str = SPARK_ENGINE) -> Validation:
    """Runs the table's suite on ``frame``; a table without a suite file is an error.

    Args:
        engine: ``spark`` validates the frame where it is; ``pandas`` collects it first
            (Arrow) and validates the copy, for frames that fit the driver comfortably.

    Raises:
        FileNotFoundError: no suite in version control for the table.
    """
    path = suite_path(layer, table_name)
    if not path.exists():
        raise FileNotFoundError(f"no expectation suite for {layer}.{table_name} at {path}")
    suite = load_suite(path)
    # Through Arrow with its own time units: a pandas nanosecond timestamp cannot hold 9999-12-31.
    data = frame.toArrow().to_pandas() if engine == PANDAS_ENGINE else frame
    batch = _batch_definition(engine, f"{layer}_{table_name}").get_batch(batch_parameters={"dataframe": data})
    # A pass needs no detail, and the boolean-only form runs about half the Spark jobs; a
    # failing suite is validated again in full so its results say what was unexpected.
    result = batch.validate(suite, result_format="BOOLEAN_ONLY")
    if not result.success:
        result = batch.validate(suite, result_format="SUMMARY")
    rows, remedies = [], []
    for index, outcome in enumerate(result.results):
        config = outcome.expectation_config
        details = outcome.result or {}
        observed = details.get("observed_value")
        severity = str(getattr(config.severity, "value", config.severity) or CRITICAL).lower()
        remedies.append(remedy(config.type, config.kwargs, config.meta or {}, path))
        rows.append(
            (
                f"{layer}.{table_name}",
                f"{index:03d}-{config.type}",
                config.type,
                json.dumps(config.kwargs, sort_keys=True, default=str, ensure_ascii=False),
                bool(outcome.success),
                details.get("element_count"),
                details.get("unexpected_count"),
                None if observed is None else json.dumps(observed, default=str, ensure_ascii=False),
                severity,
            )
        )
    critical_held = all(row[_SUCCESS] for row in rows if row[_SEVERITY] == CRITICAL)
    return Validation(f"{layer}.{table_name}", critical_held, rows, tuple(remedies))


def results_frame(spark: SparkSession, validations: list[Validation]) -> DataFrame:
    return spark.createDataFrame([row for validation in validations for row in validation.rows], DQ_RESULT_SCHEMA)
