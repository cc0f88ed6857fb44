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
    ]
)


@dataclass(frozen=True)
class Validation:
    table_name: str
    success: bool
    rows: list[tuple[Any, ...]]

    def failures(self) -> list[str]:
        return [f"{row[2]}({row[3]}): unexpected {row[6]}, observed {row[7]}" for row in self.rows if not row[4]]


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
    rows = []
    for index, outcome in enumerate(result.results):
        config = outcome.expectation_config
        details = outcome.result or {}
        observed = details.get("observed_value")
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
            )
        )
    return Validation(table_name=f"{layer}.{table_name}", success=bool(result.success), rows=rows)


def results_frame(spark: SparkSession, validations: list[Validation]) -> DataFrame:
    return spark.createDataFrame([row for validation in validations for row in validation.rows], DQ_RESULT_SCHEMA)
