"""CDM build: one business date's ODS partitions merged into the conformed dimensions and facts.

Dimensions first (with inferred members for every key the day's facts reference), then facts,
then the aggregates over them. Each table is validated with its Great Expectations suite —
including referential integrity to its dimensions — before it is published; a failing suite
stops the build there, and a rerun of the ds repeats exactly the same merges.
"""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs import catalog as tables
from jobs import quality
from jobs.config import Catalog, CdmSettings, Settings, TableSpec, load_cdm_settings, pii_salt
from models.cdm import (
    agg_member_trade,
    dim_channel,
    dim_date,
    dim_member,
    dim_product,
    dim_region,
    dim_store,
    fct_coupon,
    fct_ecom_order_lifecycle,
    fct_event,
    fct_order,
    fct_order_item,
    fct_points,
    fct_trade_daily,
    identity_evidence,
    references,
)
from models.cdm import common as c

AUDIT_SCHEMA = T.StructType(
    [
        T.StructField("table_name", T.StringType(), False),
        T.StructField("rows_inserted", T.LongType(), False),
        T.StructField("rows_updated", T.LongType(), False),
        T.StructField("rows_deleted", T.LongType(), False),
        T.StructField("seconds", T.DoubleType(), False),
        T.StructField("run_id", T.StringType(), False),
    ]
)


class CdmValidationError(Exception):
    """A table's suite failed; the table was not published."""


@dataclass(frozen=True)
class CdmResult:
    loads: list[TableLoad]
    failure: str | None


@dataclass(frozen=True)
class TableLoad:
    table: str
    inserted: int
    updated: int
    deleted: int
    seconds: float


class CdmBuild:
    """The state of one ds's build: the day's ODS frames, and what was published so far."""

    def __init__(self, spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, conf: CdmSettings, salt: str):
        self.spark, self.settings, self.catalog, self.ds, self.conf, self.salt = spark, settings, catalog, ds, conf, salt
        self.loads: list[TableLoad] = []
        self.validations: list[quality.Validation] = []
        self.unknown: list[tuple] = []
        self._ods: dict[str, DataFrame] = {}

    def ods(self, entity: str) -> DataFrame:
        """The ds partition of an ODS table, cached for the build."""
        if entity not in self._ods:
            table = self.catalog.table(f"ods.{entity}")
            frame = tables.read_table_if_exists(self.spark, self.settings, table)
            if frame is None:
                raise RuntimeError(f"{table.qualified_name} has never been loaded; run the ods stage first")
            self._ods[entity] = frame.where(F.col(c.ODS_DT) == F.lit(self.ds)).persist(StorageLevel.MEMORY_AND_DISK)
        return self._ods[entity]

    def table(self, name: str) -> TableSpec:
        return self.catalog.table(f"cdm.{name}")

    def current(self, name: str) -> DataFrame | None:
        return tables.read_table_if_exists(self.spark, self.settings, self.table(name))

    def keys(self, name: str, column: str) -> DataFrame:
        frame = self.current(name)
        if frame is None:
            return self.spark.createDataFrame([], f"{column} string")
        return frame.select(column)

    def publish(
        self, name: str, frame: DataFrame, mode: str, version: str | None = None, action: str | None = None,
        predicate: str | None = None,
    ) -> None:
        """Validates ``frame`` (with its references checked) and writes it.

        Args:
            mode: ``upsert`` (MERGE on the catalog keys), ``partition`` (replace the ds
                partition) or ``overwrite`` (the whole table, or the rows of ``predicate``).
        """
        spec = self.table(name)
        started = time.monotonic()
        staged = frame.persist(StorageLevel.MEMORY_AND_DISK)
        upserted = staged.where(F.col(action) == tables.ACTION_UPSERT) if action else staged
        checked = self._with_reference_checks(spec, upserted).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            if spec.references:
                per_column = [
                    references.unknown_references(checked, spec.qualified_name, column, reference.table, f"inferred_{column}")
                    for column, reference in spec.references.items()
                ]
                self.unknown += functools.reduce(DataFrame.unionByName, per_column).collect()
            validation = quality.validate(checked, "cdm", name)
            self.validations.append(validation)
            if not validation.success:
                raise CdmValidationError(f"cdm.{name} failed its suite: " + "; ".join(validation.failures()))
            if mode == "upsert":
                counts = tables.upsert(self.spark, self.settings, spec, staged, newer_version_column=version, action_column=action)
            elif mode == "partition":
                written = tables.replace_partition(self.spark, self.settings, spec, staged, self.ds)
                counts = tables.MergeCounts(inserted=written, updated=0, deleted=0)
            else:
                written = tables.overwrite(self.spark, self.settings, spec, staged, predicate)
                counts = tables.MergeCounts(inserted=written, updated=0, deleted=0)
        finally:
            checked.unpersist()
            staged.unpersist()
        self.loads.append(
            TableLoad(spec.qualified_name, counts.inserted, counts.updated, counts.deleted, time.monotonic() - started)
        )

    def _with_reference_checks(self, spec: TableSpec, frame: DataFrame) -> DataFrame:
        """Adds, per catalog reference, ``inferred_<column>`` (the dimension row is inferred;
        null when there is none) and ``ref_<column>`` (the key is null or found), which the
        table's suite expects to be true."""
        for column, reference in spec.references.items():
            target = tables.read_table(self.spark, self.settings, self.catalog.table(reference.table))
            inferred = F.col("is_inferred") if "is_inferred" in target.columns else F.lit(False)
            found = target.groupBy(F.col(reference.column).alias(column)).agg(F.max(inferred).alias(f"inferred_{column}"))
            frame = frame.join(found, on=column, how="left").withColumn(
                f"ref_{column}", F.col(column).isNull() | F.col(f"inferred_{column}").isNotNull()
            )
        return frame

    def release(self) -> None:
        for frame in self._ods.values():
            frame.unpersist()


def run(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date) -> CdmResult:
    """Builds every CDM table for ``ds``, stopping at the first table that fails its suite."""
    build = CdmBuild(spark, settings, catalog, ds, load_cdm_settings(), pii_salt())
    run_id = f"cdm-{ds.isoformat()}-{uuid.uuid4().hex[:12]}"
    failure = None
    try:
        _dimensions(build)
        _identity_evidence(build)
        _orders(build)
        _other_facts(build)
        _aggregates(build)
    except CdmValidationError as error:
        failure = str(error)
    finally:
        _publish_audit(build, run_id)
        build.release()
    return CdmResult(build.loads, failure)


def _dimensions(build: CdmBuild) -> None:
    conf, ods = build.conf, build.ods
    if not _calendar_covers(build):
        calendar = dim_date.build(build.spark.range(1), conf.calendar_start, conf.calendar_end)
        build.publish("dim_date", calendar, "overwrite")
    places = references.places(ods("pos_stores"), ods("ecom_orders"))
    build.publish("dim_region", dim_region.build(places, conf.city_tiers), "upsert")
    stores = dim_store.build(ods("pos_stores"), build.keys("dim_store", "store_id"),
                             references.store_ids(ods("pos_orders"), ods("crm_members")))
    build.publish("dim_store", stores, "upsert", version=c.SOURCE_VERSION)
    products = dim_product.build(ods("product_products"), build.keys("dim_product", "sku_id"),
                                 references.sku_ids(ods("pos_order_items"), ods("ecom_orders"), ods("wechat_events")),
                                 conf.price_bands)
    build.publish("dim_product", products, "upsert", version=c.SOURCE_VERSION)
    apps = references.apps(ods("wechat_users"), ods("wechat_events"), build.current("dim_channel"))
    build.publish("dim_channel", dim_channel.build(conf.channels, build.current("dim_store"), apps), "overwrite")
    member_ids = references.member_ids(*(ods(name) for name in references.MEMBER_REFERENCING))
    members = dim_member.build(ods("crm_members"), build.current("dim_member"), member_ids, build.salt, conf.channel_labels)
    build.publish("dim_member", members, "upsert", action=dim_member.ACTION)


def _calendar_covers(build: CdmBuild) -> bool:
    """The calendar depends on configuration only: written again only when that changed."""
    calendar = build.current("dim_date")
    if calendar is None:
        return False
    span = calendar.agg(F.min("calendar_date"), F.max("calendar_date"), F.count(F.lit(1))).first()
    expected_days = (build.conf.calendar_end - build.conf.calendar_start).days + 1
    return tuple(span) == (build.conf.calendar_start, build.conf.calendar_end, expected_days)


def _identity_evidence(build: CdmBuild) -> None:
    frames = [
        identity_evidence.build(source, entity, build.ods(f"{source}_{entity}"))
        for source, entity in identity_evidence.FIELDS
    ]
    build.publish("identity_evidence", functools.reduce(DataFrame.unionByName, frames), "partition")


def _orders(build: CdmBuild) -> None:
    ods = build.ods
    headers = fct_order.headers(ods("pos_orders"), ods("ecom_orders")).persist(StorageLevel.MEMORY_AND_DISK)
    lines = fct_order_item.raw_lines(ods("pos_order_items"), ods("ecom_orders"))
    known = build.current("fct_order")
    candidates = headers.select(*fct_order_item.ALLOCATION_HEADER)
    if known is not None:
        earlier = known.join(headers.select("order_key"), on="order_key", how="left_anti").select(
            *[F.abs("paid_amount").alias("pay_amount") if name == "pay_amount" else name
              for name in fct_order_item.ALLOCATION_HEADER]
        )
        candidates = candidates.unionByName(earlier.join(lines.select("order_key"), on="order_key", how="left_semi"))
    items, orphans = fct_order_item.build(lines, candidates)
    build.unknown += references.orphan_lines(orphans).collect()
    build.publish("fct_order_item", items, "upsert", version=c.SOURCE_VERSION)
    # A ticket sent again without its lines keeps the lines it already has: the order's line
    # totals come from the published lines, not from the day's alone.
    order_lines = build.current("fct_order_item").join(headers.select("order_key"), on="order_key", how="left_semi")
    store_regions = build.current("dim_store").select("store_id", "region_id")
    card_members = build.current("dim_member").select("card_no", "member_id", "effective_from")
    orders = fct_order.build(headers, order_lines, card_members, store_regions)
    build.publish("fct_order", orders, "upsert", version=c.SOURCE_VERSION)
    dates = sorted(row.order_date for row in headers.select("order_date").distinct().collect())
    headers.unpersist()
    if dates:
        listed = ", ".join(f"DATE'{day}'" for day in dates)
        touched = build.current("fct_order").where(F.col("order_date").isin(*dates))
        build.publish("fct_trade_daily", fct_trade_daily.build(touched), "overwrite", predicate=f"trade_date IN ({listed})")


def _other_facts(build: CdmBuild) -> None:
    ods = build.ods
    lifecycle = fct_ecom_order_lifecycle.build(ods("ecom_orders"), build.current("fct_ecom_order_lifecycle"))
    build.publish("fct_ecom_order_lifecycle", lifecycle, "upsert")
    build.publish("fct_points", fct_points.build(ods("crm_points_ledger"), build.current("fct_points")), "upsert")
    coupons = fct_coupon.build(ods("crm_coupons"), build.current("fct_coupon"), build.current("fct_order"),
                               build.conf.channel_labels)
    build.publish("fct_coupon", coupons, "upsert")
    build.publish("fct_event", fct_event.build(ods("wechat_events")), "upsert", version=c.SOURCE_VERSION)


def _aggregates(build: CdmBuild) -> None:
    trade = agg_member_trade.build(build.current("fct_order"), build.ds, build.conf.trade_windows_days)
    build.publish("agg_member_trade", trade, "partition")


def _publish_audit(build: CdmBuild, run_id: str) -> None:
    spark, settings, ds = build.spark, build.settings, build.ds
    unknown = spark.createDataFrame(build.unknown, references.UNKNOWN_REFERENCE_SCHEMA).withColumn("dt", F.lit(ds))
    tables.replace_partition(spark, settings, build.table("unknown_references"), unknown, ds)
    if build.validations:
        results = quality.results_frame(spark, build.validations).withColumn("dt", F.lit(ds))
        tables.replace_partition(spark, settings, build.table("dq_results"), results, ds)
    audit_rows = [(load.table, load.inserted, load.updated, load.deleted, load.seconds, run_id) for load in build.loads]
    audit = spark.createDataFrame(audit_rows, AUDIT_SCHEMA).withColumn("dt", F.lit(ds))
    tables.replace_partition(spark, settings, build.table("load_audit"), audit, ds)
