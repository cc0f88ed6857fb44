"""The one SparkSession factory: Delta, the jars set-up resolved, checkpoints, env settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from jobs.config import Settings

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
GRAPHFRAMES_JAR_PREFIX = "graphframes-"


def local_jars(jars_dir: Path) -> list[str]:
    """The jars set-up resolved into ``jars_dir``; Spark never downloads anything itself.

    Raises:
        FileNotFoundError: when set-up has not run, so the session would start without Delta.
    """
    jars = sorted(str(path) for path in jars_dir.glob("*.jar"))
    if not any(Path(jar).name.startswith("delta-spark") for jar in jars):
        raise FileNotFoundError(f"no Delta jar in {jars_dir}: run `make setup` first")
    return jars


def has_graphframes(jars_dir: Path) -> bool:
    return any(path.name.startswith(GRAPHFRAMES_JAR_PREFIX) for path in jars_dir.glob("*.jar"))


def get_spark(settings: Settings) -> SparkSession:
    """Returns the session for ``settings``, creating it on first use.

    Every ``spark.*`` key of the environment file is applied; a ``SPARK_CONF_<KEY>`` variable
    is not consulted: environments differ through their files only.
    """
    # The Python workers must run the interpreter of the job itself, not whatever `python3` is
    # first on PATH (Airflow tasks and tests run from the virtualenv).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # pandas-on-Spark asks for this before any Arrow conversion; harmless elsewhere.
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    if settings.spark.master.startswith("local"):
        # A local driver talks only to itself; binding loopback avoids the hostname lookup.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(settings.spark.master)
        .appName(settings.spark.app_name)
        .config("spark.jars", ",".join(local_jars(settings.jars_dir)))
        .config("spark.sql.extensions", DELTA_EXTENSION)
        .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
        .config("spark.checkpoint.dir", settings.checkpoint_dir)
        .config("spark.sql.warehouse.dir", f"{settings.lakehouse}/_warehouse")
    )
    for key, value in settings.spark.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(settings.checkpoint_dir)
    return spark
