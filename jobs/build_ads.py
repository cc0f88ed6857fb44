"""ADS build: one business date's RFM, lifecycle, analyses, model, tags and segments, per one_id.

Recipe: read the CDM facts and who owns them (OneID) → the analyses (RFM, lifecycle and its
transitions, repurchase funnel, retention cohorts, channel overlap, AIPL) → the purchase model
(fitted up to ds − 90, evaluated on the last 90 days) → the online tags of the catalog →
segments and their profiles. Every table is validated with its suite, then replaces its ds
partition, so a rerun of a ds gives the same tables. Every input is read as it stood on ds (the
facts dated up to ds, the member version, WeChat rows and coupon states of ds, and the identities
of OneID's run for ds), so a backfill of an older ds gives what building it in order gave.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import build_oneid
from jobs import catalog as tables
from jobs.config import (
    AdsSettings,
    Catalog,
    Settings,
    TableSpec,
    load_ads_settings,
    load_oneid_settings,
    load_segments,
    load_tag_catalog,
)
from jobs.publish import Publication, Publisher, PublishValidationError, Replace
from models.ads import (
    aipl,
    base,
    channel_overlap,
    member_lifecycle,
    member_rfm,
    purchase_propensity,
    repurchase_funnel,
    retention_cohort,
)
from tags import engine, segments
from tags.catalog import DAILY, MONTHLY, STATISTIC, WEEKLY, CatalogError, TagDef
from tags.expr import ExpressionError

TAG_ACTIONS = ("page_view", "product_view", "search", "add_cart", "favorite", "share", "coupon_claim", "sign_in",
               segments.PURCHASE)


class AdsValidationError(Exception):
    """A table failed its suite; it was not published."""


@dataclass
class AdsResult:
    loads: list[tuple[str, int, float]] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)
    failure: str | None = None


@dataclass(frozen=True)
class AdsInputs:
    orders: DataFrame
    order_items: DataFrame
    events: DataFrame
    coupons: DataFrame
    points: DataFrame
    identities: DataFrame
    profile: DataFrame
    wechat_accounts: DataFrame
    followers: DataFrame


class AdsBuild:
    def __init__(self, spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, conf: AdsSettings,
                 publisher: Publisher | None = None):
        self.spark, self.settings, self.catalog, self.ds, self.conf = spark, settings, catalog, ds, conf
        self.publisher = publisher or Publisher(spark, settings, catalog, "ads")
        self.result = AdsResult()

    def table(self, name: str) -> TableSpec:
        return self.catalog.table(name if "." in name else f"ads.{name}")

    def read(self, name: str) -> DataFrame:
        return tables.read_table(self.spark, self.settings, self.table(name))

    def oneid(self, name: str) -> DataFrame:
        """A OneID state table as OneID's run for ds left it (``oneid_versions``)."""
        versions = self.oneid_versions
        if versions is None:
            return self.read(f"oneid.{name}")
        reader = build_oneid.OneidBuild(self.spark, self.settings, self.catalog, self.ds, load_oneid_settings())
        return reader.read_version(name, versions[name])

    @functools.cached_property
    def oneid_versions(self) -> dict[str, int] | None:
        """The Delta version of each OneID state table that OneID's run for ds recorded, when a
        later day has run since (the current tables hold that day's identities); None when no
        later day has, and the current tables are ds's own, or the newest before it.

        Raises:
            ValueError: a later day ran but ds did not, so the identities of ds are unknown.
        """
        runs = tables.read_table_if_exists(self.spark, self.settings, self.catalog.table("oneid.runs"))
        if runs is None:
            return None
        # One row per day run: read once, in the driver.
        versions = {row.ds: dict(row.versions) for row in runs.select("ds", "versions").collect()}
        later = sorted(day.isoformat() for day in versions if day > self.ds)
        if not later:
            return None
        if self.ds not in versions:
            raise ValueError(
                f"OneID has no run for {self.ds} but ran for {', '.join(later)}: the identities of {self.ds} were "
                f"never recorded, and later ones would leak into its ADS. Run OneID for {self.ds} first (and, as "
                f"OneID runs days in order, the days after it again)."
            )
        return versions[self.ds]

    def partition(self, name: str, ds: date) -> DataFrame | None:
        """One earlier ds partition of an ADS table, or None when it was never written."""
        frame = tables.read_table_if_exists(self.spark, self.settings, self.table(name))
        if frame is None:
            return None
        return frame.where(F.col("ds") == F.lit(ds))

    def publication(self, name: str, build: Callable[[], DataFrame], keep: bool = False,
                    add_columns: bool = False) -> Publication:
        """A table validated with its suite that replaces its ds partition."""
        return Publication(self.table(name).qualified_name, build, Replace(_ds_predicate(self.ds), add_columns),
                           keep=keep)

    def publish_all(self, *publications: Publication) -> dict[str, DataFrame | None]:
        """Publishes tables that do not depend on each other, concurrently.

        Returns:
            The kept frames, still cached, by table name (the caller unpersists them).
        """
        try:
            published = self.publisher.publish_all(list(publications))
        except PublishValidationError as error:
            raise AdsValidationError(str(error)) from error
        return {self.catalog.table(table).name: item.frame for table, item in published.items()}

    def publish(self, name: str, frame: DataFrame, add_columns: bool = False) -> DataFrame:
        """Validates ``frame`` with its suite and replaces the table's ds partition.

        Returns:
            The published frame, persisted, for the steps that build on it.
        """
        return self.publish_all(self.publication(name, lambda: frame, keep=True, add_columns=add_columns))[name]


def _ds_predicate(ds: date) -> str:
    return f"ds = DATE'{ds.isoformat()}'"


def run(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date,
        publisher: Publisher | None = None) -> AdsResult:
    """Builds every ADS table for ``ds``. Tag and segment definitions are checked first, so a
    bad one publishes nothing; it, or a failing suite, stops the build with the reason in
    ``failure``."""
    build = AdsBuild(spark, settings, catalog, ds, load_ads_settings(), publisher)
    started = time.monotonic()
    persisted: list[DataFrame] = []
    try:
        tag_defs, segment_defs = load_tag_catalog(), load_segments()
        inputs = read_inputs(build)
        persisted += [inputs.orders, inputs.events, inputs.identities]
        planned = plan_definitions(build, inputs, tag_defs, segment_defs)
        step = time.monotonic()
        analyses = build_analyses(build, inputs)
        persisted += [analyses.rfm, analyses.lifecycle, analyses.aipl]
        step = _lap(build, "analyses_seconds", step)
        scores = build_model(build, inputs)
        step = _lap(build, "model_seconds", step)
        wide, values = build_tags(build, inputs, analyses, scores, tag_defs, planned)
        persisted += [wide, values]
        step = _lap(build, "tags_seconds", step)
        build_segments(build, inputs, wide, values, planned, segment_defs)
        _lap(build, "segments_seconds", step)
    except (AdsValidationError, CatalogError, ExpressionError, ValueError) as error:
        build.result.failure = str(error)
    finally:
        for frame in persisted:
            frame.unpersist()
        build.result.loads = [(load.table, load.rows, load.seconds) for load in build.publisher.loads]
        build.publisher.publish_suite_results(build.table("dq_results").qualified_name, "ds", ds)
    build.result.figures["seconds"] = round(time.monotonic() - started)
    return build.result


def _lap(build: AdsBuild, figure: str, since: float) -> float:
    now = time.monotonic()
    build.result.figures[figure] = round(now - since)
    return now


def plan_definitions(build: AdsBuild, inputs: AdsInputs, tag_defs: tuple[TagDef, ...],
                     segment_defs: tuple[segments.SegmentDef, ...]) -> tuple[engine.PlannedTag, ...]:
    """Plans the online tags and checks the segments against the sources' columns, before
    anything is computed: the analyses are Spark plans here, the model's scores an empty frame
    of their schema.

    Raises:
        CatalogError, ExpressionError: the first definition that does not fit, naming it.
    """
    frames = analysis_frames(build, inputs)
    analyses = Analyses(**{field: frames[name] for name, field in TAG_INPUTS.items()})
    scores = build.spark.createDataFrame([], purchase_propensity.SCORE_SCHEMA)
    planned = engine.plan(tag_defs, tag_sources(inputs, analyses, scores))
    segments.check(segment_defs, {item.code: item.value_type for item in planned}, TAG_ACTIONS, build.ds)
    return planned


def read_inputs(build: AdsBuild) -> AdsInputs:
    """Every input as it stood on ds: facts dated up to ds, the identities of OneID's run for ds."""
    read = functools.partial(tables.read_table, build.spark, build.settings)
    table = build.catalog.table
    owners = build.oneid("record_identity")
    mapping = build.oneid("id_mapping")
    dim_channel, dim_product = read(table("cdm.dim_channel")), read(table("cdm.dim_product"))
    orders = base.orders(read(table("cdm.fct_order")), read(table("cdm.fct_ecom_order_lifecycle")), owners,
                         dim_channel, read(table("cdm.dim_store")), build.ds).persist(StorageLevel.MEMORY_AND_DISK)
    events = base.events(read(table("cdm.fct_event")), owners, dim_channel, dim_product)
    events = events.where(F.col("event_date") <= F.lit(build.ds)).persist(StorageLevel.MEMORY_AND_DISK)
    members = base.member_identities(mapping)
    profile = build.oneid("profile")
    # The tag engine clips its statistics to ds as well; reading only the ledger up to ds keeps
    # every consumer of the points as of ds.
    points = read(table("cdm.fct_points")).where(F.col("txn_date") <= F.lit(build.ds))
    return AdsInputs(
        orders=orders,
        order_items=base.order_items(read(table("cdm.fct_order_item")), orders, dim_product),
        events=events,
        coupons=base.coupons(read(table("cdm.fct_coupon")), members, build.ds),
        points=base.points(points, members),
        identities=base.identities(profile).persist(StorageLevel.MEMORY_AND_DISK),
        profile=base.profile_source(
            profile, base.members_on(read(table("cdm.dim_member")), build.ds), read(table("cdm.dim_region"))
        ),
        wechat_accounts=base.wechat_accounts(mapping),
        followers=base.followers(read(table("ods.wechat_users")), owners, build.ds),
    )


@dataclass(frozen=True)
class Analyses:
    rfm: DataFrame
    lifecycle: DataFrame
    aipl: DataFrame


def analysis_frames(build: AdsBuild, inputs: AdsInputs) -> dict[str, DataFrame]:
    """Every analysis table of the ds, not yet computed (Spark plans), by table name."""
    ds, conf = build.ds, build.conf
    stages = conf.params("lifecycle", member_lifecycle.LifecycleParams)
    aipl_members = aipl.build_members(
        inputs.orders, inputs.events, inputs.followers, inputs.identities, ds, conf.params("aipl", aipl.Params)
    )
    return {
        "member_rfm": member_rfm.build(inputs.orders, ds, conf.params("rfm", member_rfm.RfmParams)),
        "member_lifecycle": member_lifecycle.build(inputs.orders, inputs.identities, ds, stages),
        "lifecycle_transition": member_lifecycle.transitions(inputs.orders, inputs.identities, ds, stages),
        "repurchase_funnel": repurchase_funnel.build(
            inputs.orders, ds, conf.params("repurchase_funnel", repurchase_funnel.Params)
        ),
        "retention_cohort": retention_cohort.build(
            inputs.orders, ds, conf.params("retention_cohort", retention_cohort.Params)
        ),
        "channel_overlap": channel_overlap.build(
            inputs.orders, inputs.wechat_accounts, ds, conf.params("channel_overlap", channel_overlap.Params)
        ),
        "aipl_member": aipl_members,
        "aipl": aipl.summarize(aipl_members),
    }


# The analyses the tags read stay persisted after publishing; the others are released.
TAG_INPUTS = {"member_rfm": "rfm", "member_lifecycle": "lifecycle", "aipl_member": "aipl"}


def build_analyses(build: AdsBuild, inputs: AdsInputs) -> Analyses:
    frames = analysis_frames(build, inputs)
    published = build.publish_all(*(
        build.publication(name, functools.partial(lambda frame: frame, frame), keep=name in TAG_INPUTS)
        for name, frame in frames.items()
    ))
    return Analyses(**{field: published[name] for name, field in TAG_INPUTS.items()})


def build_model(build: AdsBuild, inputs: AdsInputs) -> DataFrame:
    """Fits and evaluates the purchase model; its scores feed the model tag."""
    params = build.conf.params("purchase_propensity", purchase_propensity.PropensityParams)
    outcome = purchase_propensity.run(inputs.orders, inputs.events, build.ds, params)
    build.publish("model_eval", outcome.evaluation).unpersist()
    build.result.figures["model"] = outcome.status
    return outcome.scores


def tag_sources(inputs: AdsInputs, analyses: Analyses, scores: DataFrame) -> engine.TagSources:
    return engine.TagSources(
        population=inputs.identities.select(base.ONE_ID),
        events={
            "orders": engine.EventSource(inputs.orders, "order_date"),
            "order_items": engine.EventSource(inputs.order_items, "order_date"),
            "events": engine.EventSource(inputs.events, "event_date"),
            "coupons": engine.EventSource(inputs.coupons, "issue_date"),
            "points": engine.EventSource(inputs.points, "txn_date"),
        },
        identity={"profile": inputs.profile, "rfm": analyses.rfm, "lifecycle": analyses.lifecycle, "aipl": analyses.aipl},
        models={purchase_propensity.MODEL_NAME: scores},
    )


def refresh_day(cycle: str, ds: date, conf: AdsSettings) -> date:
    """The latest day on or before ds on which a tag of this cycle is computed."""
    if cycle == WEEKLY:
        return ds - timedelta(days=(ds.isoweekday() - conf.weekly_on) % 7)
    if cycle == MONTHLY:
        month_start = ds.replace(day=conf.monthly_on)
        if month_start > ds:
            previous = ds.replace(day=1) - timedelta(days=1)
            month_start = previous.replace(day=conf.monthly_on)
        return month_start
    return ds


def carried_tags(build: AdsBuild, planned: tuple[engine.PlannedTag, ...]) -> tuple[DataFrame | None, dict[str, date]]:
    """The values of weekly and monthly tags from their refresh day's partition, when that day
    ran with the same definition; the others are computed today.

    Returns:
        ``(one_id, tag columns)`` or None, and the refresh day of every carried tag.
    """
    wanted: dict[date, list[engine.PlannedTag]] = {}
    for item in planned:
        day = refresh_day(item.tag.refresh, build.ds, build.conf)
        if day != build.ds:
            wanted.setdefault(day, []).append(item)
    carried, computed_on = None, {}
    for day, items in sorted(wanted.items()):
        catalog_then = build.partition("tag_catalog", day)
        wide_then = build.partition("tag_wide", day)
        if catalog_then is None or wide_then is None:
            continue
        definitions = {row.tag_code: row for row in catalog_then.select("tag_code", "definition", "computed_ds").collect()}
        same = [
            item.code for item in items
            if item.code in definitions and item.code in wide_then.columns
            and definitions[item.code].computed_ds == day
            and definitions[item.code].definition == engine.definition_text(item.tag)
        ]
        if not same:
            continue
        part = wide_then.select(base.ONE_ID, *same)
        carried = part if carried is None else carried.join(part, on=base.ONE_ID, how="full")
        computed_on.update({code: day for code in same})
    return carried, computed_on


CHANNEL_ATTRIBUTES = ("channel_id", "channel_group", "channel_type", "app_type", "platform")


def channel_fingerprint(build: AdsBuild) -> str:
    """A hash of the channel attributes statistic rows take (``cdm.dim_channel`` keeps no load
    day): statistics computed under another hash are not reused."""
    channels = tables.read_table(build.spark, build.settings, build.catalog.table("cdm.dim_channel"))
    rows = channels.select(*CHANNEL_ATTRIBUTES).collect()
    text = json.dumps(sorted([list(row) for row in rows], key=lambda row: [str(value) for value in row]))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def earlier_statistics(build: AdsBuild, sources: engine.TagSources, planned: tuple[engine.PlannedTag, ...],
                       fingerprint: str) -> tuple[engine.EarlierStatistics | None, str]:
    """The statistics of the last ADS day before ds that an incremental day may keep, with the
    identities touched since; None when today must compute every statistic in full.

    Returns:
        The earlier statistics or None, and the reason, for the run's figures.
    """
    if not build.conf.incremental_statistics:
        return None, "full: incremental_statistics is off in conf/ads.yml"
    audit = tables.read_table_if_exists(build.spark, build.settings, build.catalog.table("cdm.load_audit"))
    last_load = audit.agg(F.max("dt")).first()[0] if audit is not None else None
    if last_load is not None and last_load > build.ds:
        # A backfill: facts already carry later days' versions, which no change day reveals.
        return None, f"full: a backfill (facts are loaded up to {last_load})"
    catalog_then = tables.read_table_if_exists(build.spark, build.settings, build.table("tag_catalog"))
    since = catalog_then.where(F.col("ds") < F.lit(build.ds)).agg(F.max("ds")).first()[0] if catalog_then is not None else None
    if since is None:
        return None, "full: no earlier ADS day"
    if "inputs_fingerprint" not in catalog_then.columns:
        return None, f"full: {since} recorded no inputs fingerprint"
    recorded = {row.tag_code: row for row in catalog_then.where(F.col("ds") == F.lit(since))
                .select("tag_code", "definition", "computed_ds", "inputs_fingerprint").collect()}
    wide_then = build.partition("tag_wide", since)
    if wide_then is None:
        return None, f"full: no ads.tag_wide for {since}"
    same = [
        item.code for item in planned
        if item.tag.tag_type == STATISTIC and item.code in recorded and item.code in wide_then.columns
        and recorded[item.code].computed_ds == since and recorded[item.code].inputs_fingerprint == fingerprint
        and recorded[item.code].definition == engine.definition_text(item.tag)
    ]
    if not same:
        return None, f"full: no statistic of {since} has today's definition and inputs"
    touched = touched_since(build, sources, planned, since)
    return engine.EarlierStatistics(wide_then.select(base.ONE_ID, *same), touched), f"incremental since {since}"


def touched_since(build: AdsBuild, sources: engine.TagSources, planned: tuple[engine.PlannedTag, ...],
                  since: date) -> DataFrame:
    """The one_ids whose statistics may differ between ``since`` and ds: a row of theirs was
    loaded (or took attributes from a dimension row loaded) after ``since``, entered the day's
    range or left a window, an identifier was assigned to them, or they took part in a merge
    or split."""
    ds = build.ds
    windows: dict[str, set[int]] = {}
    for item in planned:
        if item.tag.tag_type == STATISTIC and "window_days" in item.tag.spec:
            windows.setdefault(item.tag.spec["source"], set()).add(int(item.tag.spec["window_days"]))
    touched = []
    for name, source in sorted(sources.events.items()):
        day = F.col(source.date_column)
        changed = (F.col("source_dt") > F.lit(since)) | ((day > F.lit(since)) & (day <= F.lit(ds)))
        for window in sorted(windows.get(name, ())):
            # A window of N days holds ds - N < d <= ds: the rows of these days left it.
            changed = changed | ((day > F.lit(since - timedelta(days=window))) & (day <= F.lit(ds - timedelta(days=window))))
        touched.append(source.frame.where(changed).select(base.ONE_ID))
    mapping = build.oneid("id_mapping")
    touched.append(mapping.where(F.col("assigned_ds") > F.lit(since)).select(base.ONE_ID))
    merges = tables.read_table_if_exists(build.spark, build.settings, build.catalog.table("oneid.merge_log"))
    if merges is not None:
        recent = merges.where((F.col("ds") > F.lit(since)) & (F.col("ds") <= F.lit(ds)))
        touched += [recent.select(F.col(side).alias(base.ONE_ID)) for side in ("from_one_id", "to_one_id")]
    return functools.reduce(DataFrame.unionByName, touched)


def build_tags(build: AdsBuild, inputs: AdsInputs, analyses: Analyses, scores: DataFrame,
               tag_defs: tuple[TagDef, ...], planned: tuple[engine.PlannedTag, ...]) -> tuple[DataFrame, DataFrame]:
    """Publishes the wide and long tag tables and the catalog; returns the first two, cached,
    for the segments."""
    sources = tag_sources(inputs, analyses, scores)
    carried, carried_on = carried_tags(build, planned)
    due = frozenset(item.code for item in planned if item.tag.refresh == DAILY or item.code not in carried_on)
    fingerprint = channel_fingerprint(build)
    earlier, mode = earlier_statistics(build, sources, planned, fingerprint)
    result = engine.compute(sources, planned, build.ds, due, carried, earlier)
    wide = build.publish("tag_wide", result.wide.withColumn("ds", F.lit(build.ds)).select("ds", *result.wide.columns),
                         add_columns=True)
    values = build.publish("tag_value", engine.long_form(wide, planned, build.ds))
    computed_ds = {item.code: carried_on.get(item.code, build.ds) if item.code not in result.computed else build.ds
                   for item in planned}
    rows = engine.catalog_rows(wide, values, tag_defs, planned, computed_ds, build.ds, fingerprint)
    build.publish("tag_catalog", rows, add_columns=True).unpersist()
    build.result.figures["tags"] = len(planned)
    build.result.figures["tags_carried"] = len(planned) - len(result.computed)
    build.result.figures["statistics"] = mode
    build.result.figures["statistics_reused"] = len(result.reused)
    if result.touched is not None:
        build.result.figures["identities_touched"] = result.touched
    return wide, values


def build_segments(build: AdsBuild, inputs: AdsInputs, wide: DataFrame, values: DataFrame,
                   planned: tuple[engine.PlannedTag, ...], segment_defs: tuple[segments.SegmentDef, ...]) -> None:
    tag_types = {item.code: item.value_type for item in planned}
    actions = segments.behaviour(inputs.events, inputs.orders)
    chosen = build.publish("segment_member", segments.members(wide, segment_defs, tag_types, actions, build.ds))
    population = wide.count()
    # The profiles read the long tag table three times for a few of its tags: caching those
    # rows first took a 100,000-person day's profiles from 16.8 s to 5.7 s.
    profiled_codes = sorted({code for segment in segment_defs for code in segment.profile_tags})
    profiled = values.where(F.col("tag_code").isin(profiled_codes)).persist(StorageLevel.MEMORY_AND_DISK)
    build.publish("segment_profile", segments.profiles(chosen, profiled, segment_defs, population, build.ds)).unpersist()
    profiled.unpersist()
    build.result.figures["segments"] = len(segment_defs)
    chosen.unpersist()


def export_segment(spark: SparkSession, settings: Settings, catalog: Catalog, segment_code: str, ds: date,
                   out: Path | None = None) -> tuple[Path, int]:
    """Writes a segment's members for ds as a CSV the CRM can load: one_id, then the segment's
    export tags (no raw mobile or email ever reaches a tag).

    Returns:
        The file written and its row count.

    Raises:
        ValueError: the segment is unknown or was not built for ds.
    """
    defs = {segment.code: segment for segment in load_segments()}
    if segment_code not in defs:
        raise ValueError(f"unknown segment {segment_code!r}; conf/segments has {', '.join(sorted(defs)) or 'none'}")
    build = AdsBuild(spark, settings, catalog, ds, load_ads_settings())
    chosen = build.partition("segment_member", ds)
    built = chosen is not None and chosen.where(F.col("segment") == segment_code).limit(1).count() > 0
    if not built:
        ran = build.partition("tag_catalog", ds)
        if ran is None or ran.limit(1).count() == 0:
            raise ValueError(f"the ADS stage has not run for {ds}: run `cdp run --ds {ds} --stage ads` first")
    columns = list(defs[segment_code].export_tags)
    wide = build.partition("tag_wide", ds)
    members = (chosen.where(F.col("segment") == segment_code).select(base.ONE_ID) if chosen is not None
               else spark.createDataFrame([], "one_id string"))
    # Values as ads.tag_value writes them (true/false, ISO dates, plain numbers), whatever the CSV reader.
    texts = [engine.tag_text(F.col(name), wide.schema[name].dataType).alias(name) for name in columns]
    exported = members.join(wide.select(base.ONE_ID, *texts), on=base.ONE_ID, how="left").orderBy(base.ONE_ID)
    path = out or build.conf.exports_dir / f"{segment_code}_{ds.isoformat()}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = exported.toPandas()
    frame.to_csv(path, index=False, encoding="utf-8")
    return path, len(frame)


def check_definitions(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date) -> list[str]:
    """Plans every tag and checks every segment against the tables as they stand for ds,
    without computing anything: what an operator runs after editing ``conf/tags`` or
    ``conf/segments``.

    Raises:
        CatalogError: the first definition that does not fit, naming it.
    """
    build = AdsBuild(spark, settings, catalog, ds, load_ads_settings())
    tag_defs, segment_defs = load_tag_catalog(), load_segments()
    planned = plan_definitions(build, read_inputs(build), tag_defs, segment_defs)
    by_status: dict[str, int] = {}
    for tag in tag_defs:
        by_status[tag.status] = by_status.get(tag.status, 0) + 1
    by_type: dict[str, int] = {}
    for item in planned:
        by_type[item.tag.tag_type] = by_type.get(item.tag.tag_type, 0) + 1
    groups = sorted({tag.category[0] for tag in tag_defs})
    return [
        f"{len(tag_defs)} tags: " + ", ".join(f"{count} {status}" for status, count in sorted(by_status.items())),
        f"{len(planned)} online tags plan in order: " + ", ".join(f"{count} {kind}" for kind, count in sorted(by_type.items())),
        f"{len(groups)} groups: {', '.join(groups)}",
        f"{len(segment_defs)} segments check: {', '.join(segment.code for segment in segment_defs)}",
    ]
