"""One Spark session for the whole test run: local[2], Delta, UI off, temporary lakehouse."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs.config import Settings, SparkSettings, load_settings
from jobs.spark import get_spark

import generated_build

# Jobs hash mobiles and emails with the salt from the environment; the tests fix theirs.
TEST_PII_SALT = "test-salt"
os.environ["CDP_PII_SALT"] = TEST_PII_SALT

# py4j logs its connection teardown after pytest has closed the captured streams.
logging.getLogger("py4j").setLevel(logging.WARNING)

# The suite runs with conf/env/local.yml's Spark settings; only these differ, on purpose.
TEST_SPARK_OVERRIDES = {
    # Test frames hold tens of rows: two partitions are two tasks, one per core.
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
}


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("cdp")
    local = load_settings(env="local", landing=str(root / "landing"), lakehouse=str(root / "lakehouse"))
    conf = {**local.spark.conf, **TEST_SPARK_OVERRIDES}
    return dataclasses.replace(local, spark=SparkSettings(master=local.spark.master, app_name="cdp-tests", conf=conf))


@pytest.fixture(scope="session")
def spark(base_settings: Settings) -> SparkSession:
    session = get_spark(base_settings)
    yield session
    session.stop()


@pytest.fixture
def settings_for(base_settings: Settings, tmp_path: Path):
    """Settings with a fresh landing zone and lakehouse under the test's temporary folder."""

    def make(landing: Path | None = None, lakehouse: Path | None = None) -> Settings:
        return dataclasses.replace(
            base_settings,
            landing=str(landing or tmp_path / "landing"),
            lakehouse=str(lakehouse or tmp_path / "lakehouse"),
        )

    return make


@pytest.fixture(scope="session")
def generated_ods(spark: SparkSession, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    """The shared generated landing zone with ODS loaded for each day (tests/generated_build.py)."""
    return generated_build.load_ods(spark, base_settings, tmp_path_factory.mktemp("generated"))


@pytest.fixture(scope="session")
def built(spark: SparkSession, generated_ods):
    """The shared build: ``generated_ods`` carried through CDM, OneID and ADS for each day."""
    return generated_build.build_layers(spark, generated_ods)


@pytest.fixture(scope="module", autouse=True)
def release_cached_frames():
    """Drops every cached frame when a test module ends, so modules do not pile up memory."""
    yield
    session = SparkSession.getActiveSession()
    if session is not None:
        session.catalog.clearCache()
