"""CDM build: one business date's ODS partitions merged into the conformed dimensions and facts.

Dimensions first (with inferred members for every key the day's facts reference), then facts,
then the aggregates over them; tables that do not depend on each other are published at once.
Each table is validated with its Great Expectations suite — including referential integrity to
its dimensions — before it is published; a failing suite stops the build after its group of
tables, and a rerun of the ds repeats exactly the same merges.
"""

from __future__ import annotations

import functools
import threading
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Callable

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs import catalog as tables
from jobs import quality
from jobs.config import Catalog, CdmSettings, Settings, TableSpec, load_cdm_settings, load_contracts, pii_salt
from jobs.publish import Merge, Publication, Publisher, PublishValidationError, Replace, TableLoad
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
from models.ods.anomalies import AnomalyRule

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


@dataclass(frozen=True)
class CdmResult:
    loads: list[TableLoad]
    failure: str | None
    publisher: Publisher | None = None
    warnings: tuple[str, ...] = ()


class CdmBuild:
    """The state of one ds's build: the day's ODS frames, and what was published so far."""

    def __init__(self, spark: SparkSession, settings: Settings, catalog: Catalog, ds: date, conf: CdmSettings, salt: str,
                 publisher: Publisher):
        self.spark, self.settings, self.catalog, self.ds, self.conf, self.salt = spark, settings, catalog, ds, conf, salt
        self.publisher = publisher
        self.unknown: list[tuple] = []
        self.warnings: list[str] = []
        self._ods: dict[str, DataFrame] = {}
        self._audited: list[DataFrame] = []
        self._lock = threading.Lock()

    def ods(self, entity: str) -> DataFrame:
        """The ds partition of an ODS table, cached for the build."""
        with self._lock:
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

    def publication(
        self, name: str, build: Callable[[], DataFrame], mode: str, version: str | None = None,
        action: str | None = None, predicate: Callable[[], str] | None = None,
    ) -> Publication:
        """A table to publish, validated with its references checked.

        Args:
            mode: ``upsert`` (MERGE on the catalog keys), ``partition`` (replace the ds
                partition) or ``overwrite`` (the whole table, or the rows of ``predicate``,
                known once the frame is built).
        """
        if mode == "upsert":
            write: Replace | Merge = Merge(newer_version_column=version, action_column=action)
        elif mode == "partition":
            write = Replace(f"dt = DATE'{self.ds.isoformat()}'")
        else:
            write = Replace(predicate() if predicate else None)
        spec = self.table(name)
        return Publication(spec.qualified_name, build, write, audit=lambda staged: self._audit(spec, staged, action))

    def publish(self, *publications: Publication) -> None:
        """Publishes tables that do not depend on each other, concurrently."""
        self.publisher.publish_all(list(publications))

    def _audit(self, spec: TableSpec, staged: DataFrame, action: str | None) -> DataFrame:
        """The frame the suite sees: the rows to upsert with their reference checks; the keys
        that found only an inferred dimension row are kept for ``cdm.unknown_references``."""
        upserted = staged.where(F.col(action) == tables.ACTION_UPSERT) if action else staged
        checked = self._with_reference_checks(spec, upserted).persist(StorageLevel.MEMORY_AND_DISK)
        if spec.references:
            per_column = [
                references.unknown_references(checked, spec.qualified_name, column, reference.table, f"inferred_{column}")
                for column, reference in spec.references.items()
            ]
            self.add_unknown(functools.reduce(DataFrame.unionByName, per_column).collect())
        with self._lock:
            self._audited.append(checked)
        return checked

    def warn(self, message: str) -> None:
        """Something the user should know that does not stop the day; printed with the stage."""
        with self._lock:
            self.warnings.append(message)

    def add_unknown(self, rows: list[tuple]) -> None:
        with self._lock:
            self.unknown += rows

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
        for frame in [*self._ods.values(), *self._audited]:
            frame.unpersist()


def run(spark: SparkSession, settings: Settings, catalog: Catalog, ds: date,
        publisher: Publisher | None = None) -> CdmResult:
    """Builds every CDM table for ``ds``, stopping after the first group of tables in which
    one fails its suite (tables are published in dependency order, independent ones at once)."""
    publisher = publisher or Publisher(spark, settings, catalog, "cdm")
    build = CdmBuild(spark, settings, catalog, ds, load_cdm_settings(), pii_salt(), publisher)
    run_id = f"cdm-{ds.isoformat()}-{uuid.uuid4().hex[:12]}"
    failure = None
    try:
        _dimensions_and_evidence(build)
        _facts(build)
    except PublishValidationError as error:
        failure = str(error)
    finally:
        published = list(publisher.loads)
        _publish_audit(build, run_id, published)
        build.release()
    return CdmResult(published, failure, publisher, tuple(build.warnings))


def _dimensions_and_evidence(build: CdmBuild) -> None:
    """Dimensions in dependency order (stores find their regions, channels their stores),
    with the tables that reference none of them alongside."""
    conf, ods = build.conf, build.ods
    first = [
        build.publication("dim_region", lambda: dim_region.build(
            references.places(ods("pos_stores"), ods("ecom_orders")), conf.city_tiers), "upsert"),
        build.publication("dim_product", lambda: dim_product.build(
            ods("product_products"), build.keys("dim_product", "sku_id"),
            references.sku_ids(ods("pos_order_items"), ods("ecom_orders"), ods("wechat_events")), conf.price_bands,
        ), "upsert", version=c.SOURCE_VERSION),
        build.publication("dim_member", lambda: dim_member.build(
            ods("crm_members"), build.current("dim_member"),
            references.member_ids(*(ods(name) for name in references.MEMBER_REFERENCING)), build.salt,
            conf.channel_labels,
        ), "upsert", action=dim_member.ACTION),
        build.publication("identity_evidence", lambda: functools.reduce(DataFrame.unionByName, [
            identity_evidence.build(source, entity, build.ods(f"{source}_{entity}"))
            for source, entity in identity_evidence.FIELDS
        ]), "partition"),
    ]
    calendar = _calendar_needed(build)
    if calendar is not None:
        first.append(build.publication(
            "dim_date", lambda: dim_date.build(build.spark.range(1), *calendar), "overwrite"
        ))
    build.publish(*first)
    build.publish(
        build.publication("dim_store", lambda: dim_store.build(
            ods("pos_stores"), build.keys("dim_store", "store_id"),
            references.store_ids(ods("pos_orders"), ods("crm_members")),
        ), "upsert", version=c.SOURCE_VERSION),
        build.publication("fct_points", lambda: fct_points.build(ods("crm_points_ledger"), build.current("fct_points")),
                          "upsert"),
    )

    def channels() -> DataFrame:
        apps = references.apps(ods("wechat_users"), ods("wechat_events"), build.current("dim_channel"))
        return dim_channel.build(conf.channels, build.current("dim_store"), apps)

    build.publish(build.publication("dim_channel", channels, "overwrite"))


# The ODS time each fact's calendar reference is derived from (models/cdm/fct_*).
FACT_TIMES = {
    "pos_orders": "order_time", "ecom_orders": "created_at", "crm_points_ledger": "txn_time",
    "crm_coupons": "issued_at", "wechat_events": "event_time",
}


def _calendar_needed(build: CdmBuild) -> tuple[date, date] | None:
    """The span ``dim_date`` must have for the day, or None when the published calendar has it.

    The calendar covers the configured span, every date it already has (it never shrinks, so
    a rerun of an older day keeps the dates a later one added) and the day's fact dates that
    lie within the configured earliest..latest bounds. Two small jobs: the cached day, the calendar.
    """
    conf = build.conf
    day_dates = functools.reduce(DataFrame.unionByName, [
        build.ods(entity).select(F.to_date(column).alias("fact_date")) for entity, column in FACT_TIMES.items()
    ]).where(F.col("fact_date").between(F.lit(conf.calendar_earliest), F.lit(conf.calendar_latest)))
    in_day = tuple(day_dates.agg(F.min("fact_date"), F.max("fact_date")).first())
    calendar = build.current("dim_date")
    needed = calendar_to_write(conf, in_day, None if calendar is None else _calendar_span(calendar))
    if needed and (needed[0] < conf.calendar_start or needed[1] > conf.calendar_end):
        build.warn(f"cdm.dim_date covers {needed[0]}..{needed[1]} to cover the facts "
                   f"(conf/cdm.yml calendar is {conf.calendar_start}..{conf.calendar_end})")
    return needed


def calendar_to_write(conf: CdmSettings, in_day: tuple[date | None, date | None],
                      published: tuple[date, date, int] | None) -> tuple[date, date] | None:
    """The first and last date of the calendar to write, or None when ``published`` (its first
    date, last date and row count) already is that calendar.

    Args:
        in_day: the earliest and latest fact date of the day within earliest..latest (None, None
            for a day without facts).
    """
    known = [conf.calendar_start, conf.calendar_end, *in_day, *(published[:2] if published else ())]
    first, last = min(day for day in known if day is not None), max(day for day in known if day is not None)
    if published == (first, last, (last - first).days + 1):
        return None
    return first, last


def _calendar_span(calendar: DataFrame) -> tuple[date, date, int]:
    return tuple(calendar.agg(F.min("calendar_date"), F.max("calendar_date"), F.count(F.lit(1))).first())


def _facts(build: CdmBuild) -> None:
    ods = build.ods
    headers = fct_order.headers(ods("pos_orders"), ods("ecom_orders")).persist(StorageLevel.MEMORY_AND_DISK)

    def items() -> DataFrame:
        lines = fct_order_item.raw_lines(ods("pos_order_items"), ods("ecom_orders"))
        known = build.current("fct_order")
        candidates = headers.select(*fct_order_item.ALLOCATION_HEADER)
        if known is not None:
            earlier = known.join(headers.select("order_key"), on="order_key", how="left_anti").select(
                *[F.abs("paid_amount").alias("pay_amount") if name == "pay_amount" else name
                  for name in fct_order_item.ALLOCATION_HEADER]
            )
            candidates = candidates.unionByName(earlier.join(lines.select("order_key"), on="order_key", how="left_semi"))
        built, unplaced = fct_order_item.build(lines, candidates)
        reported = references.unplaced_lines(unplaced).collect()
        build.add_unknown(reported)
        negative = sum(row.rows for row in reported if row.column == "order_type")
        if negative:
            build.warn(f"cdm.fct_order_item: {negative} POS line(s) written negative under a sale ticket left out "
                       "(only a return's lines may be negative); cdm.unknown_references lists their orders "
                       "under column order_type")
        return built

    build.publish(
        build.publication("fct_order_item", items, "upsert", version=c.SOURCE_VERSION),
        build.publication("fct_ecom_order_lifecycle", lambda: fct_ecom_order_lifecycle.build(
            ods("ecom_orders"), build.current("fct_ecom_order_lifecycle"), _anomalies("ecom", "orders")), "upsert"),
        build.publication("fct_event", lambda: fct_event.build(ods("wechat_events")), "upsert", version=c.SOURCE_VERSION),
    )

    def orders() -> DataFrame:
        # A ticket sent again without its lines keeps the lines it already has: the order's
        # line totals come from the published lines, not from the day's alone.
        order_lines = build.current("fct_order_item").join(headers.select("order_key"), on="order_key", how="left_semi")
        store_regions = build.current("dim_store").select("store_id", "region_id")
        card_members = build.current("dim_member").select("card_no", "member_id", "effective_from")
        return fct_order.build(headers, order_lines, card_members, store_regions)

    build.publish(build.publication("fct_order", orders, "upsert", version=c.SOURCE_VERSION))
    dates = sorted(row.order_date for row in headers.select("order_date").distinct().collect())
    headers.unpersist()
    later = [build.publication("fct_coupon", lambda: fct_coupon.build(
        ods("crm_coupons"), build.current("fct_coupon"), build.current("fct_order"), build.conf.channel_labels,
    ), "upsert")]
    if dates:
        listed = ", ".join(f"DATE'{day}'" for day in dates)
        later.append(build.publication(
            "fct_trade_daily",
            lambda: fct_trade_daily.build(build.current("fct_order").where(F.col("order_date").isin(*dates))),
            "overwrite", predicate=lambda: f"trade_date IN ({listed})",
        ))
    later.append(build.publication(
        "agg_member_trade",
        lambda: agg_member_trade.build(build.current("fct_order"), build.ds, build.conf.trade_windows_days),
        "partition",
    ))
    build.publish(*later)


def _anomalies(source: str, entity: str) -> tuple[AnomalyRule, ...]:
    return next(contract.anomalies for contract in load_contracts() if (contract.source, contract.entity) == (source, entity))


def _publish_audit(build: CdmBuild, run_id: str, published: list[TableLoad]) -> None:
    """The day's unknown references, suite results and load audit, each replacing its ds."""
    spark, ds = build.spark, build.ds
    day = Replace(f"dt = DATE'{ds.isoformat()}'")
    records = [
        Publication("cdm.unknown_references", lambda: spark.createDataFrame(
            build.unknown, references.UNKNOWN_REFERENCE_SCHEMA).withColumn("dt", F.lit(ds)), day, validate=False),
        Publication("cdm.load_audit", lambda: spark.createDataFrame(
            [(load.table, load.inserted, load.updated, load.deleted, load.seconds, run_id) for load in published],
            AUDIT_SCHEMA).withColumn("dt", F.lit(ds)), day, validate=False),
    ]
    if build.publisher.validations:
        records.append(Publication("cdm.dq_results", lambda: quality.results_frame(
            spark, build.publisher.validations).withColumn("dt", F.lit(ds)), Replace(day.predicate, add_columns=True),
            validate=False))
    build.publisher.publish_all(records)
