"""OneID build: the day's identity evidence resolved into stable one_ids.

Recipe: normalize the evidence → draw the day's links by the rules → fold every link so far
into edges → take out shared and unbound values → add the weak links whose evidence is
uncontested and corroborated (``oneid.weak``) and the forced pairs (``oneid.overrides``) →
recompute the identities the day's evidence reaches (incremental) or all of them (full) → cut
oversized ones and pairs to keep apart → give them stable ids → publish the mapping, the
golden profiles and the logs.

State: each run records in ``oneid.runs`` the Delta version of every state table it wrote
(mapping, shared values, aliases, owners, profiles, weak-link decisions, overrides applied). A
run for ds reads the state the newest earlier ds left, by those versions, so rerunning a ds
gives the same tables. Running a ds older than one already run replays every later day run
after it, in order: their identities rest on it, and a late file loaded into an old day must
reach them; each replayed day again reads the state the day before it left.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import catalog as tables
from jobs.config import Catalog, OneidSettings, Settings, TableSpec, load_cdm_settings, load_oneid_settings, pii_salt
from jobs.publish import Publication, Publisher, PublishValidationError, Replace
from jobs.spark import has_graphframes
from models.cdm import agg_member_trade
from oneid import assign, graph, overrides, profile, records, rules, stats, weak
from oneid.components import connected_components
from oneid.normalize import Validity, normalize

INCREMENTAL, FULL = "incremental", "full"
STATE = ("id_mapping", "shared_identifiers", "one_id_alias", "record_identity", "profile", "weak_links", "overrides")
MAPPING_COLUMNS = ("id_type", "id_value", "one_id", "first_seen", "last_seen", "source_count", "sources",
                   "cluster_id", "assigned_ds")
SHARED_COLUMNS = ("id_type", "id_value", "anchors", "anchors_by_type", "max_anchors", "decision", "first_shared_ds")
EMPTY_SCHEMAS = {
    "id_mapping": "id_type string, id_value string, one_id string, first_seen timestamp_ntz, last_seen timestamp_ntz, "
                  "source_count int, sources array<string>, cluster_id string, assigned_ds date",
    "shared_identifiers": "id_type string, id_value string, anchors long, anchors_by_type map<string,long>, "
                          "max_anchors int, decision string, first_shared_ds date",
    "one_id_alias": "alias_one_id string, one_id string, merged_ds date",
    "record_identity": "record_key string, source string, entity string, one_id string, owner_field string",
    "weak_links": "rule string, id_type string, id_value string, claimant string, claimant_identities int, held boolean, "
                  "records long, first_at timestamp_ntz, last_at timestamp_ntz, share double, decision string",
    "overrides": overrides.SCHEMA,
}


class OneidOrderError(Exception):
    """The run would rest on state that does not fit: a later ds already ran, or the rules changed."""


class OneidValidationError(Exception):
    """A table failed its suite; it was not published."""


@dataclass
class OneidResult:
    mode: str
    loads: list[tuple[str, int, float]] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)
    failure: str | None = None
    # The later days run again after this one, in order, and how each ended.
    replayed: list[tuple[date, OneidResult]] = field(default_factory=list)


@dataclass(frozen=True)
class PreviousRun:
    ds: date
    fingerprint: str
    versions: dict[str, int]


class OneidBuild:
    def __init__(self, spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, conf: OneidSettings,
                 publisher: Publisher | None = None):
        self.spark, self.settings, self.catalog, self.ds, self.conf = spark, settings, catalog, ds, conf
        self.publisher = publisher or Publisher(spark, settings, catalog, "oneid")
        self.result = OneidResult(mode=INCREMENTAL)
        self.versions: dict[str, int] = {}

    def table(self, name: str) -> TableSpec:
        return self.catalog.table(name if "." in name else f"oneid.{name}")

    def read(self, name: str) -> DataFrame | None:
        return tables.read_table_if_exists(self.spark, self.settings, self.table(name))

    def read_version(self, name: str, version: int | None) -> DataFrame | None:
        """The table as a run left it; empty (None for a table without an empty form) before any run."""
        if version is None:
            return self.spark.createDataFrame([], EMPTY_SCHEMAS[name]) if name in EMPTY_SCHEMAS else None
        return self.spark.read.format("delta").option("versionAsOf", version).load(self.table(name).path(self.settings.lakehouse))

    def components(self, nodes: DataFrame, edge_frame: DataFrame) -> DataFrame:
        return connected_components(
            nodes, edge_frame, engine=self.conf.engine, driver_max_edges=self.conf.driver_max_edges,
            graphframes_available=has_graphframes(self.settings.jars_dir),
        )

    def publication(self, name: str, build: Callable[[], DataFrame], predicate: str | None = None,
                    validate: bool = True, keep: bool = False) -> Publication:
        """A table to publish: validated with its suite (unless a working table without one),
        replacing the table or the ``predicate`` rows; ``keep`` returns the published frame
        still cached, for the steps that build on it, instead of reading the table back."""
        return Publication(self.table(name).qualified_name, build, Replace(predicate), validate=validate, keep=keep)

    def publish(self, *publications: Publication) -> dict[str, DataFrame | None]:
        """Publishes tables that do not depend on each other, concurrently, and records the
        Delta version of every state table written.

        Returns:
            The kept frames by table name (None for the others).
        """
        try:
            published = self.publisher.publish_all(list(publications))
        except PublishValidationError as error:
            raise OneidValidationError(str(error)) from error
        for item in publications:
            spec = self.catalog.table(item.table)
            if spec.layer == "oneid" and spec.name in STATE:
                self.versions[spec.name] = tables.latest_version(self.spark, self.settings, spec)
        return {self.catalog.table(table).name: item.frame for table, item in published.items()}


def previous_run(build: OneidBuild) -> PreviousRun | None:
    """The newest run before ``build.ds``; None when there is none."""
    runs = build.read("runs")
    if runs is None:
        return None
    # One row per day run: read once, in the driver.
    earlier = runs.where(F.col("ds") < F.lit(build.ds)).select("ds", "rules_fingerprint", "versions").collect()
    if not earlier:
        return None
    row = max(earlier, key=lambda item: item.ds)
    return PreviousRun(row.ds, row.rules_fingerprint, dict(row.versions))


def later_runs(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date) -> list[date]:
    """The days after ds that OneID has run, oldest first."""
    runs = tables.read_table_if_exists(spark, settings, catalog.table("oneid.runs"))
    if runs is None:
        return []
    return sorted(row.ds for row in runs.where(F.col("ds") > F.lit(ds)).select("ds").collect())


def normalized_evidence(build: OneidBuild, up_to: bool) -> DataFrame:
    """``cdm.identity_evidence`` of the ds (or of every dt up to it) with canonical values."""
    evidence = tables.read_table(build.spark, build.settings, build.catalog.table("cdm.identity_evidence"))
    day = F.col("dt") <= F.lit(build.ds) if up_to else F.col("dt") == F.lit(build.ds)
    return normalize(evidence.where(day), Validity.from_mapping(build.conf.validity))


@dataclass(frozen=True)
class Graph:
    edges: DataFrame  # every edge so far, joining or not
    joining: DataFrame
    active: DataFrame  # what joins: joining edges between values that are not shared, weak edges let join, forced pairs
    shared: DataFrame  # values that join nobody: shared, or unbound by override
    weak: DataFrame  # the weak-link decisions (oneid.weak_links)
    applied: DataFrame  # the overrides applied


def identity_graph(links: DataFrame, conf: OneidSettings, components: graph.Components) -> Graph:
    spark = links.sparkSession
    applied = overrides.frame(spark, conf.overrides)
    all_edges = graph.edges(links).persist(StorageLevel.MEMORY_AND_DISK)
    joining = graph.joining(all_edges, conf.join_threshold)
    # Checkpoints, not caches: every later step plans on these, and their lineage (every link
    # so far, folded) cost more to plan again than to store.
    shared = (
        graph.shared_values(joining, conf.shared_anchor_types, conf.shared_max_anchors)
        .unionByName(graph.unbound_values(overrides.unbound(applied)))
        .localCheckpoint()
    )
    strong = graph.without_nodes(joining, shared).localCheckpoint()
    decisions = weak.decide(weak.claims(links, conf.weak_joins), strong, shared, conf.weak_joins, components).localCheckpoint()
    active = strong.unionByName(weak.joining_edges(decisions, all_edges)).unionByName(overrides.forced_edges(applied))
    active = active.localCheckpoint()
    return Graph(all_edges, joining, active, shared, decisions, applied)


def keep_apart(conf: OneidSettings, identity: Graph) -> DataFrame | None:
    """The pairs to keep apart, None without any (the guard then skips the check)."""
    if not any(item.kind == overrides.KEEP_APART for item in conf.overrides):
        return None
    return overrides.pairs(identity.applied, overrides.KEEP_APART)


def previous_nodes(mapping: DataFrame) -> DataFrame:
    return mapping.select(rules.node_key(F.col("id_type"), F.col("id_value")).alias("node"), "one_id", "cluster_id", "assigned_ds")


def recompute_scope(previous: DataFrame, seeds: DataFrame) -> DataFrame:
    """Previous rows of every cluster a seed touches: the identities the run must recompute.

    Clusters (graph components before the identity guard's cuts) are closed under the active
    edges, so recomputing whole clusters plus the new identifiers gives exactly what a full
    recompute would give them; everything else cannot have changed.
    """
    touched = previous.join(seeds, on="node", how="left_semi").select("cluster_id").distinct()
    return previous.join(touched, on="cluster_id", how="left_semi")


def shared_changes(current: DataFrame, before: DataFrame, joining: DataFrame) -> DataFrame:
    """Values whose shared judgement changed, with their neighbours: their identities change."""
    now = current.select("node")
    then = before.select(rules.node_key(F.col("id_type"), F.col("id_value")).alias("node"))
    changed = now.join(then, on="node", how="left_anti").unionByName(then.join(now, on="node", how="left_anti"))
    neighbours = (
        joining.join(changed.withColumnRenamed("node", "src"), on="src", how="left_semi").select(F.col("dst").alias("node"))
        .unionByName(joining.join(changed.withColumnRenamed("node", "dst"), on="dst", how="left_semi").select(F.col("src").alias("node")))
    )
    return changed.unionByName(neighbours).distinct()


def resolve(build: OneidBuild, universe: DataFrame, identity: Graph, previous: DataFrame,
            previous_weak: DataFrame) -> tuple[DataFrame, DataFrame]:
    """``(node, cluster, one_id)`` for ``universe`` and the ds's merge-log events."""
    sub_edges = graph.within(identity.active, universe).persist(StorageLevel.MEMORY_AND_DISK)
    clusters = build.components(universe, sub_edges.select("src", "dst")).withColumnRenamed("component", "cluster")
    guarded = graph.guard_identities(clusters, sub_edges, build.conf.max_per_identity, build.components,
                                     keep_apart(build.conf, identity))
    weak_values = weak.joined_pairs(identity.weak).unionByName(weak.joined_pairs(previous_weak)).select(F.col("value").alias("node"))
    return assign.assign(guarded, previous.select("node", "one_id"), sub_edges, build.ds, weak_values)


def node_attributes(sightings: DataFrame) -> DataFrame:
    return sightings.groupBy("node", "id_type", "id_value").agg(
        F.min("first_seen_at").alias("first_seen"),
        F.max("last_seen_at").alias("last_seen"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("sources")))).alias("sources"),
    ).withColumn("source_count", F.size("sources").cast("int"))


def run(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, mode: str = INCREMENTAL,
        from_scratch: bool = False, publisher: Publisher | None = None) -> OneidResult:
    """Resolves identities for ``ds``.

    Args:
        mode: ``incremental`` recomputes the identities the day's evidence reaches; ``full``
            reprocesses all evidence up to ds (after a rule change) and recomputes every
            identity. Both keep one_ids stable against the previous run.
        from_scratch: ignore the previous run's ids (a first build, or tests comparing modes).

    Every later day OneID has run is then run again, incrementally and in order, and listed in
    ``replayed``; the first that fails stops the replay.
    """
    later = later_runs(spark, settings, catalog, ds)
    result = _run_day(spark, settings, catalog, ds, mode, from_scratch, publisher)
    for day in later:
        if result.failure is not None:
            break
        replay = _run_day(spark, settings, catalog, day, INCREMENTAL, False, None)
        result.replayed.append((day, replay))
        if replay.failure is not None:
            result.failure = f"replaying {day}: {replay.failure}"
    return result


def _run_day(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, mode: str, from_scratch: bool,
             publisher: Publisher | None) -> OneidResult:
    build = OneidBuild(spark, settings, catalog, ds, load_oneid_settings(), publisher)
    started = time.monotonic()
    try:
        _resolve_day(build, mode, from_scratch)
    except (OneidValidationError, OneidOrderError) as error:
        build.result.failure = str(error)
    finally:
        build.result.loads = [(load.table, load.rows, load.seconds) for load in build.publisher.loads]
        build.publisher.publish_suite_results(build.table("dq_results").qualified_name, "ds", ds)
    build.result.figures["seconds"] = round(time.monotonic() - started)
    return build.result


@dataclass(frozen=True)
class PreviousState:
    mapping: DataFrame
    nodes: DataFrame  # (node, one_id, cluster_id, assigned_ds)
    shared: DataFrame
    aliases: DataFrame
    owners: DataFrame  # oneid.record_identity
    profiles: DataFrame | None
    weak: DataFrame  # oneid.weak_links
    applied: DataFrame  # oneid.overrides


@dataclass(frozen=True)
class DayInput:
    normalized: DataFrame  # the evidence the run read (the ds, or everything up to it)
    links: DataFrame  # every link up to ds
    sightings: DataFrame  # every sighting up to ds
    today_links: DataFrame
    today_sightings: DataFrame


def _resolve_day(build: OneidBuild, mode: str, from_scratch: bool) -> None:
    before = None if from_scratch else previous_run(build)
    _check_rules_unchanged(build, mode, before)
    # With no earlier run to build on, the day is a full build over all evidence so far; so is
    # a day after a run that kept less state (an older release), keeping its ids.
    incremental = mode == INCREMENTAL and before is not None and set(STATE) <= before.versions.keys()
    build.result.mode = INCREMENTAL if incremental else FULL
    previous = _previous_state(build, before)
    day = _draw_links(build, incremental)
    identity = identity_graph(day.links, build.conf, build.components)
    attributes = node_attributes(day.sightings).persist(StorageLevel.MEMORY_AND_DISK)
    if incremental:
        # Checkpointed: the merge log reads the scope several times, and each read would
        # otherwise draw the seeds again from the day's links, the shared values, the weak-link
        # decisions and the overrides.
        seeds = _seeds(day, identity, previous).localCheckpoint()
        recomputed_previous = recompute_scope(previous.nodes, seeds).localCheckpoint()
        universe = recomputed_previous.select("node").unionByName(seeds).distinct()
    else:
        recomputed_previous, universe = previous.nodes, attributes.select("node")
    universe = universe.join(identity.shared.select("node"), on="node", how="left_anti").localCheckpoint()
    assigned, events = resolve(build, universe, identity, recomputed_previous, previous.weak)
    assigned, events = assigned.localCheckpoint(), events.localCheckpoint()
    mapping = _publish_mapping(build, previous.nodes, recomputed_previous, assigned, attributes)
    _publish_logs(build, identity, previous, events)
    _publish_downstream(build, mapping, previous, incremental)
    _publish_stats(build, mapping, events, identity, day, universe.count())
    _record_run(build, build.result.mode)
    day.normalized.unpersist()


def _check_rules_unchanged(build: OneidBuild, mode: str, before: PreviousRun | None) -> None:
    if mode == INCREMENTAL and before is not None and before.fingerprint != build.conf.fingerprint:
        raise OneidOrderError(
            f"conf/oneid.yml changed since the run of {before.ds} (rules fingerprint {before.fingerprint} → "
            f"{build.conf.fingerprint}): run `cdp oneid rebuild --ds {build.ds}` to apply it to all evidence."
        )


def _previous_state(build: OneidBuild, before: PreviousRun | None) -> PreviousState:
    versions = before.versions if before else {}
    mapping = build.read_version("id_mapping", versions.get("id_mapping"))
    return PreviousState(
        mapping=mapping,
        nodes=previous_nodes(mapping).persist(StorageLevel.MEMORY_AND_DISK),
        shared=build.read_version("shared_identifiers", versions.get("shared_identifiers")),
        aliases=build.read_version("one_id_alias", versions.get("one_id_alias")),
        owners=build.read_version("record_identity", versions.get("record_identity")),
        profiles=build.read_version("profile", versions.get("profile")),
        weak=build.read_version("weak_links", versions.get("weak_links")),
        applied=build.read_version("overrides", versions.get("overrides")),
    )


def _draw_links(build: OneidBuild, incremental: bool) -> DayInput:
    """Publishes the links and sightings of the evidence read, and reads back all up to ds."""
    ds = build.ds
    normalized = normalized_evidence(build, up_to=not incremental).persist(StorageLevel.MEMORY_AND_DISK)
    scope = f"dt = DATE'{ds.isoformat()}'" if incremental else f"dt <= DATE'{ds.isoformat()}'"
    build.publish(
        build.publication("links", lambda: rules.links(normalized, build.conf.rules), scope, validate=False),
        build.publication("sightings", lambda: rules.sightings(normalized), scope, validate=False),
        build.publication("record_identifiers", lambda: rules.record_identifiers(normalized), scope, validate=False),
    )
    links = build.read("links").where(F.col("dt") <= F.lit(ds))
    sightings = build.read("sightings").where(F.col("dt") <= F.lit(ds))
    today = F.col("dt") == F.lit(ds)
    return DayInput(normalized, links, sightings, links.where(today), sightings.where(today))


def _seeds(day: DayInput, identity: Graph, previous: PreviousState) -> DataFrame:
    """Identifiers the day reaches: seen today, linked today, next to a changed shared value, at
    either end of a weak link that joins since today or no longer does, or named by an
    override added or removed."""
    return (
        day.today_sightings.select("node")
        .unionByName(day.today_links.select(F.col("src").alias("node")))
        .unionByName(day.today_links.select(F.col("dst").alias("node")))
        .unionByName(shared_changes(identity.shared, previous.shared, identity.joining))
        .unionByName(weak_changes(identity.weak, previous.weak))
        .unionByName(overrides.changed_nodes(identity.applied, previous.applied))
        .distinct()
    )


def weak_changes(current: DataFrame, before: DataFrame) -> DataFrame:
    """Both ends of every weak link that joins now and did not before, or the other way round."""
    now, then = weak.joined_pairs(current), weak.joined_pairs(before)
    changed = now.exceptAll(then).unionByName(then.exceptAll(now))
    return changed.select(F.col("claimant").alias("node")).unionByName(changed.select(F.col("value").alias("node")))


def _publish_mapping(build: OneidBuild, previous: DataFrame, recomputed_previous: DataFrame, assigned: DataFrame,
                     attributes: DataFrame) -> DataFrame:
    """The untouched rows of the previous mapping plus the recomputed ones; ``assigned_ds``
    moves only for values whose one_id changed."""
    kept = previous.join(recomputed_previous.select("node"), on="node", how="left_anti")
    recomputed = (
        assigned.join(previous.select("node", F.col("one_id").alias("old_one_id"), "assigned_ds"), on="node", how="left")
        .withColumn("assigned_ds", F.when(F.col("old_one_id").eqNullSafe(F.col("one_id")), F.col("assigned_ds"))
                    .otherwise(F.lit(build.ds)))
        .select("node", "one_id", F.col("cluster").alias("cluster_id"), "assigned_ds")
    )
    mapping = (
        kept.select("node", "one_id", "cluster_id", "assigned_ds").unionByName(recomputed)
        .join(attributes, on="node", how="inner")
        .select(*MAPPING_COLUMNS)
    )
    return build.publish(build.publication("id_mapping", lambda: mapping, keep=True))["id_mapping"]


def _publish_logs(build: OneidBuild, identity: Graph, previous: PreviousState, events: DataFrame) -> None:
    ds = build.ds
    shared = (
        identity.shared.join(previous.shared.select("id_type", "id_value", "first_shared_ds"), on=["id_type", "id_value"], how="left")
        .withColumn("first_shared_ds", F.coalesce("first_shared_ds", F.lit(ds)))
        .select(*SHARED_COLUMNS)
    )
    build.publish(
        build.publication("shared_identifiers", lambda: shared),
        build.publication("weak_links", lambda: identity.weak),
        build.publication("overrides", lambda: identity.applied, validate=False),
        build.publication("one_id_alias", lambda: assign.resolve_aliases(previous.aliases, events, ds)),
        build.publication("merge_log", lambda: events, f"ds = DATE'{ds.isoformat()}'"),
    )


def _publish_stats(build: OneidBuild, mapping: DataFrame, events: DataFrame, identity: Graph, day: DayInput,
                   recomputed: int) -> None:
    ds = build.ds
    rejected = rules.rejected(day.normalized.where(F.col("dt") == F.lit(ds)))
    build.publish(build.publication(
        "stats", lambda: stats.build(ds, mapping, events, identity.shared, rejected, day.today_links, recomputed,
                                     identity.weak),
        f"ds = DATE'{ds.isoformat()}'", validate=False,
    ))
    figures = {row.kind: row["count"] for row in events.groupBy("kind").count().collect()}
    build.result.figures.update(
        identifiers=mapping.count(), identities=mapping.select("one_id").distinct().count(), recomputed=recomputed,
        shared=identity.shared.count(), **figures,
    )


def _publish_downstream(build: OneidBuild, mapping: DataFrame, previous: PreviousState, incremental: bool) -> None:
    """The record owners, golden profiles and trade per identity, from the new mapping."""
    ds, conf = build.ds, build.conf
    nodes = mapping.select(rules.node_key(F.col("id_type"), F.col("id_value")).alias("node"), "one_id")
    identifiers = build.read("record_identifiers").where(F.col("dt") <= F.lit(ds))
    # The incremental frames are checkpointed: the golden records' plan repeats them a dozen
    # times, and planning it with their lineage cost more than computing it.
    changes = _mapping_changes(mapping, previous.mapping).localCheckpoint() if incremental else None
    found, decided = _record_owners(build, identifiers, nodes, previous, changes)
    owners = build.publish(build.publication("record_identity", lambda: found, keep=True))["record_identity"]

    cdm = functools.partial(tables.read_table, build.spark, build.settings)
    orders = cdm(build.catalog.table("cdm.fct_order"))
    receivers = (
        identifiers.where((F.col("source") == "ecom") & (F.col("field") == "receiver_mobile"))
        .join(nodes, on="node", how="inner")
        .select("record_key", "one_id")
        .distinct()
    )
    members = cdm(build.catalog.table("cdm.dim_member")).where(F.col("is_current") & ~F.col("is_inferred"))
    buyers = owners.select("record_key", "one_id")
    if changes is None:
        shipped = profile.self_shipped_addresses(orders, receivers, buyers)
        golden = profile.build(mapping, members, shipped, conf.source_priority, pii_salt(), ds)
    else:
        changed = _changed_identities(changes, decided).localCheckpoint()
        shipped = profile.self_shipped_addresses(orders, receivers, buyers.join(changed, on="one_id", how="left_semi"))
        rebuilt = profile.build(mapping.join(changed, on="one_id", how="left_semi").localCheckpoint(), members,
                                shipped.localCheckpoint(), conf.source_priority, pii_salt(), ds)
        kept = previous.profiles.join(changed, on="one_id", how="left_anti").withColumn("updated_ds", F.lit(ds))
        golden = kept.unionByName(rebuilt)
    windows = load_cdm_settings().trade_windows_days
    owned_orders = orders.join(buyers, on="record_key", how="left")
    trade = agg_member_trade.build(owned_orders, ds, windows, key="one_id")
    build.publish(
        build.publication("profile", lambda: golden),
        build.publication("cdm.agg_one_id_trade", lambda: trade, f"dt = DATE'{ds.isoformat()}'"),
    )
    owners.unpersist()


def _mapping_changes(mapping: DataFrame, before: DataFrame) -> DataFrame:
    """``(node, one_id, one_id_before, moved)`` of every identifier whose mapping row was added,
    removed or changed (a new one_id, seen again, a new source); ``moved``: its one_id changed."""
    seen = ("one_id", "first_seen", "last_seen", "sources")
    now = mapping.select("id_type", "id_value", "one_id", F.struct(*seen).alias("now"))
    then = before.select("id_type", "id_value", F.col("one_id").alias("one_id_before"), F.struct(*seen).alias("then"))
    return (
        now.join(then, on=["id_type", "id_value"], how="full_outer")
        .where(~F.col("now").eqNullSafe(F.col("then")))
        .select(rules.node_key(F.col("id_type"), F.col("id_value")).alias("node"), "one_id", "one_id_before",
                (~F.col("one_id").eqNullSafe(F.col("one_id_before"))).alias("moved"))
    )


def _record_owners(build: OneidBuild, identifiers: DataFrame, nodes: DataFrame, previous: PreviousState,
                   changes: DataFrame | None) -> tuple[DataFrame, DataFrame]:
    """The owner of every record, and the owners decided in this run. An incremental day (with
    the mapping's ``changes``) decides again only the records seen today and those holding an
    identifier whose one_id changed or that left the mapping; every other record's identifiers
    map as before, so its owner is the one it had."""
    if changes is None:
        found = records.owners(identifiers, nodes, build.conf.record_owner)
        return found, found
    redecided = (
        identifiers.join(changes.where("moved").select("node"), on="node", how="left_semi").select("record_key")
        .unionByName(identifiers.where(F.col("dt") == F.lit(build.ds)).select("record_key"))
        .distinct()
    )
    kept = previous.owners.join(redecided, on="record_key", how="left_anti")
    decided = records.owners(identifiers.join(redecided, on="record_key", how="left_semi"), nodes,
                             build.conf.record_owner).localCheckpoint()
    return kept.unionByName(decided), decided


def _changed_identities(changes: DataFrame, decided: DataFrame) -> DataFrame:
    """``one_id`` of every identity whose golden record may differ from the previous run's: an
    identifier of it was added, removed or changed, or one of its records was decided today.
    A member's new name or level arrives as today's member record, a new address as today's
    order, so the records decided today cover what ``cdm.dim_member`` and the orders add."""
    return (
        changes.select("one_id")
        .unionByName(changes.select(F.col("one_id_before").alias("one_id")))
        .unionByName(decided.select("one_id"))
        .where(F.col("one_id").isNotNull())
        .distinct()
    )


def _record_run(build: OneidBuild, mode: str) -> None:
    row = [(build.ds, mode, build.conf.fingerprint, {name: build.versions[name] for name in STATE})]
    frame = build.spark.createDataFrame(row, "ds date, mode string, rules_fingerprint string, versions map<string,long>")
    build.publish(build.publication("runs", lambda: frame, f"ds = DATE'{build.ds.isoformat()}'", validate=False))


def preview(spark: SparkSession, settings: Settings, catalog: Catalog, conf_path: Path, ds: date | None = None) -> list[str]:
    """What ``conf_path`` would do to the identities of ``ds`` (default: the newest run), written nowhere.

    The whole evidence up to ds is resolved under the new rules and compared with the
    published mapping: identities that would merge or split, and the largest one after; the
    weak-join rules with what they decide per rule, and the manual overrides with their effect.
    """
    new_conf = load_oneid_settings(conf_path)
    runs = tables.read_table_if_exists(spark, settings, catalog.table("oneid.runs"))
    if runs is None or runs.isEmpty():
        raise OneidOrderError("OneID has not run yet: there is nothing to compare the new rules with")
    ds = ds or runs.agg(F.max("ds")).first()[0]
    build = OneidBuild(spark, settings, catalog, ds, new_conf)
    normalized = normalized_evidence(build, up_to=True).persist(StorageLevel.MEMORY_AND_DISK)
    identity = identity_graph(rules.links(normalized, new_conf.rules), new_conf, build.components)
    universe = (
        rules.sightings(normalized).select("node").distinct()
        .join(identity.shared.select("node"), on="node", how="left_anti")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    sub_edges = graph.within(identity.active, universe)
    clusters = build.components(universe, sub_edges.select("src", "dst")).withColumnRenamed("component", "cluster")
    apart = keep_apart(new_conf, identity)
    proposed = graph.guard_identities(clusters, sub_edges, new_conf.max_per_identity, build.components, apart)
    current = previous_nodes(build.read("id_mapping")).select("node", "one_id")
    both = proposed.select("node", "component").join(current, on="node", how="inner").persist(StorageLevel.MEMORY_AND_DISK)
    merging = both.groupBy("component").agg(F.countDistinct("one_id").alias("ids")).where(F.col("ids") > 1)
    splitting = both.groupBy("one_id").agg(F.countDistinct("component").alias("parts")).where(F.col("parts") > 1)
    sizes = proposed.groupBy("component").count()
    unmapped_now = universe.join(current, on="node", how="left_anti").count()
    unmapped_new = current.join(universe, on="node", how="left_anti").count()
    figures = {
        "identities now": current.select("one_id").distinct().count(),
        "identities under the new rules": sizes.count(),
        "identities that would merge (new identities holding 2+ one_ids)": merging.count(),
        "one_ids merged away": merging.agg(F.coalesce(F.sum(F.col("ids") - 1), F.lit(0))).first()[0],
        "identities that would split (one_ids spread over 2+ identities)": splitting.count(),
        "new identities split off": splitting.agg(F.coalesce(F.sum(F.col("parts") - 1), F.lit(0))).first()[0],
        "identifiers mapped now": current.count(),
        "identifiers mapped under the new rules": universe.count(),
        "shared values now": build.read("shared_identifiers").count(),
        "shared values under the new rules": identity.shared.count(),
        "identifiers mapped only under the new rules": unmapped_now,
        "identifiers no longer mapped under the new rules": unmapped_new,
        "largest identity under the new rules": sizes.agg(F.coalesce(F.max("count"), F.lit(0))).first()[0],
    }
    figures["keep_apart pairs still together (strongest links hold them)"] = 0 if apart is None else graph.together(
        proposed.select("node", "component"), apart).count()
    identical = not any(figures[name] for name in (
        "identities that would merge (new identities holding 2+ one_ids)",
        "identities that would split (one_ids spread over 2+ identities)",
        "identifiers mapped only under the new rules", "identifiers no longer mapped under the new rules"))
    normalized.unpersist()
    decided = sorted((row.rule, row.decision, row["count"]) for row in identity.weak.groupBy("rule", "decision").count().collect())
    width = max(len(name) for name in figures)
    return (
        [f"preview of {conf_path} against the mapping of {ds} (nothing written)"]
        + [f"{name:<{width}}  {value:>10}" for name, value in figures.items()]
        + [f"{'same partition as the published mapping':<{width}}  {'yes' if identical else 'no':>10}"]
        + weak_join_lines(new_conf, decided) + override_lines(new_conf)
    )


def weak_join_lines(conf: OneidSettings, decided: list[tuple[str, str, int]]) -> list[str]:
    """The weak-join rules in words, and per rule how many (value, claimant identity) they decide how."""
    def says(corroboration) -> str:
        return (f"{corroboration.min_records}+ records over {corroboration.min_days}+ days, "
                f"{corroboration.min_share:.0%}+ of the claimant's")
    lines = ["", "weak links that join (weak_joins): contested values (2+ claimant identities) join nobody"]
    for policy in conf.weak_joins:
        held = "never" if policy.held is None else says(policy.held)
        lines.append(f"  {policy.rule}: unclaimed value joins with {says(policy.unclaimed)}; held by a stronger link: {held}")
        lines += [f"    {decision:<48} {count:>10,}" for rule, decision, count in decided if rule == policy.rule]
    return lines


def override_lines(conf: OneidSettings) -> list[str]:
    lines = ["", f"manual overrides: {len(conf.overrides)}"]
    lines += [f"  {item.kind:<15} {item.node}{' ' + item.other_node if item.other_node else ''}  ({item.reason})"
              for item in conf.overrides]
    return lines


def lookup(spark: SparkSession, settings: Settings, catalog: Catalog, one_id: str) -> DataFrame:
    """The identifiers of ``one_id``, following an alias when it was merged away."""
    aliases = tables.read_table(spark, settings, catalog.table("oneid.one_id_alias"))
    survivor = aliases.where(F.col("alias_one_id") == one_id).select("one_id").first()
    current = survivor.one_id if survivor else one_id
    mapping = tables.read_table(spark, settings, catalog.table("oneid.id_mapping"))
    return mapping.where(F.col("one_id") == current).select(
        F.lit(one_id).alias("asked_one_id"), "one_id", "id_type", "id_value", "first_seen", "last_seen", "sources"
    )
