"""The one generated build the end-to-end tests read.

One landing zone of generated persons; ODS loads each of its days (the default suite's round
trip reads only this part); the slow tests continue on the same lakehouse with CDM, OneID and
ADS for each day in order. Every stage's cost is recorded for the cost budget. The build is
read-only for its readers: a test that writes gets a copy, or writes what the build already
holds (a rerun of a day).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Iterator

from pyspark.sql import SparkSession

from jobs import build_ads, build_cdm, build_oneid, ingest_ods, pipeline
from jobs.config import Settings, conf_dir, load_catalog, load_contracts
from jobs.pipeline import StageCost
from jobs.publish import Publisher
from jobs.sample_data import TRUTH_DIR, generate

# A Friday: with weekly tags refreshed on Fridays, the second day carries them.
START = date(2026, 5, 1)
DAYS = (START, START + timedelta(days=1))
FRIDAY = 5
# Enough persons for every kind of planted bad row in most entities and for the purchase model
# to fit with the build's min_rows below.
PERSONS = 150
SEED = 5
# The shipped 200 needs thousands of persons; the build fits the model on its own few.
MODEL_MIN_ROWS = 30

# Tables that record each run (one row per load or suite, per run): a rerun adds or changes its own.
RUN_LOGS = frozenset({"ods.load_audit", "ods.dq_results", "cdm.load_audit", "cdm.dq_results", "oneid.dq_results",
                      "oneid.runs", "ads.dq_results"})

# A tag whose condition names a tag that does not exist (a typo of spend_180d).
BAD_TAG = """  - {code: big_spender, name_zh: 大额, name_en: Big spender, category: 价值/测试, type: rule, status: online,
     refresh: daily, owner: tests, description: a typo, condition: "spend_18d > 1000"}
"""


@dataclass
class GeneratedBuild:
    """What the build ran with and what each stage returned, per day."""

    settings: Settings
    conf: Path
    truth: Path
    ods: dict[date, list] = field(default_factory=dict)
    cdm: dict[date, build_cdm.CdmResult] = field(default_factory=dict)
    oneid: dict[date, build_oneid.OneidResult] = field(default_factory=dict)
    ads: dict[date, build_ads.AdsResult] = field(default_factory=dict)
    costs: dict[tuple[date, str], StageCost] = field(default_factory=dict)

    def stage(self, spark: SparkSession, name: str, ds: date, run: Callable[[Publisher], object]) -> object:
        """Runs one stage of ``ds`` with its own publisher and records what it cost."""
        with pipeline.measuring(spark, self.settings, load_catalog(), name) as measurement:
            outcome = run(measurement.publisher)
        self.costs[(ds, name)] = measurement.cost
        return outcome


def load_ods(spark: SparkSession, base_settings: Settings, root: Path) -> GeneratedBuild:
    """Generates the landing zone under ``root`` and loads ODS for each day."""
    settings = dataclasses.replace(base_settings, landing=str(root / "landing"), lakehouse=str(root / "lakehouse"))
    generate(root / "landing", persons=PERSONS, start=START, days=len(DAYS), seed=SEED)
    build = GeneratedBuild(settings=settings, conf=write_conf(root / "conf"), truth=root / "landing" / TRUTH_DIR)
    for ds in DAYS:
        build.ods[ds] = build.stage(spark, "ods", ds, lambda publisher: ingest_ods.run(
            spark, settings, load_catalog(), load_contracts(), ds, parallelism=settings.ods_parallelism,
            publisher=publisher))
    return build


def build_layers(spark: SparkSession, build: GeneratedBuild) -> GeneratedBuild:
    """CDM, OneID and ADS of each day in order, on the lakehouse ODS was loaded into."""
    settings, catalog = build.settings, load_catalog()
    with conf_in_use(build.conf):
        for ds in DAYS:
            build.cdm[ds] = build.stage(spark, "cdm", ds, lambda publisher: build_cdm.run(
                spark, settings, catalog, ds, publisher=publisher))
            build.oneid[ds] = build.stage(spark, "oneid", ds, lambda publisher: build_oneid.run(
                spark, settings, catalog, ds, publisher=publisher))
            build.ads[ds] = build.stage(spark, "ads", ds, lambda publisher: build_ads.run(
                spark, settings, catalog, ds, publisher=publisher))
    return build


def write_conf(folder: Path, extra_tag: str = "", full_statistics: bool = False) -> Path:
    """A copy of ``conf/`` whose weekly tags refresh on Fridays and whose purchase model fits
    on the build's persons; ``extra_tag`` (YAML list entries) is appended to the tag catalog
    and ``full_statistics`` computes every statistic over every identity."""
    shutil.copytree(conf_dir(), folder)
    ads = (folder / "ads.yml").read_text(encoding="utf-8")
    for shipped, built in (("weekly_on: 1", f"weekly_on: {FRIDAY}"), ("min_rows: 200", f"min_rows: {MODEL_MIN_ROWS}")) + (
        (("incremental_statistics: true", "incremental_statistics: false"),) if full_statistics else ()
    ):
        assert shipped in ads, f"conf/ads.yml no longer holds {shipped!r}"
        ads = ads.replace(shipped, built)
    (folder / "ads.yml").write_text(ads, encoding="utf-8")
    if extra_tag:
        (folder / "tags" / "99_extra.yml").write_text(f"tags:\n{extra_tag}", encoding="utf-8")
    return folder


@contextlib.contextmanager
def conf_in_use(folder: Path) -> Iterator[None]:
    """Points the jobs at the configuration in ``folder`` for the block."""
    before = os.environ.get("CDP_CONF_DIR")
    os.environ["CDP_CONF_DIR"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            del os.environ["CDP_CONF_DIR"]
        else:
            os.environ["CDP_CONF_DIR"] = before
