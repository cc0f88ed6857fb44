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

# Jobs hash mobiles and emails with the salt from the environment; the tests fix theirs.
TEST_PII_SALT = "test-salt"
os.environ["CDP_PII_SALT"] = TEST_PII_SALT

# py4j logs its connection teardown after pytest has closed the captured streams.
logging.getLogger("py4j").setLevel(logging.WARNING)

TEST_SPARK_CONF = {
    # The whole suite shares one driver: with the ADS tests before it, the three-day OneID job
    # ran out of a 4 GiB heap in CI (broadcasts failed, then the JVM died).
    "spark.driver.memory": "8g",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "Asia/Shanghai",
    "spark.databricks.delta.snapshotPartitions": "1",
    # As conf/env/local.yml: on two cores adaptive execution doubles the jobs of small queries.
    "spark.sql.adaptive.enabled": "false",
}


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("cdp")
    local = load_settings(env="local", landing=str(root / "landing"), lakehouse=str(root / "lakehouse"))
    return dataclasses.replace(
        local, spark=SparkSettings(master="local[2]", app_name="cdp-tests", conf=TEST_SPARK_CONF)
    )


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


@pytest.fixture(scope="module", autouse=True)
def release_cached_frames():
    """Drops every cached frame when a test module ends, so modules do not pile up memory."""
    yield
    session = SparkSession.getActiveSession()
    if session is not None:
        session.catalog.clearCache()
