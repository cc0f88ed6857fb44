"""cdm.dim_member: the CRM member as a type 2 slowly changing dimension.

Grain: one row per member and version (member_id, effective_from). A new version starts when
a tracked attribute changes (level, status, mobile, card, email); the other attributes are type
1 and always show the newest values on every version. Mobile and email appear only masked and
salted-hashed.

The day's extract and the member's existing versions are folded into one ordered history and
the version chain is derived from it again. That makes the result independent of the order the
extracts arrive in and of reruns: the same evidence always gives the same chain. The model
returns the rows to change, each with an ``action``: ``upsert`` or ``delete`` (versions that a
late extract showed to be no change, and inferred rows replaced by real ones).
"""

from __future__ import annotations

from typing import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from models import pii
from models.cdm import common as c
from models.cdm.dim_channel import label_channel_id

ACTION = "action"
UPSERT, DELETE = "upsert", "delete"
KEYS = ("member_id", "effective_from")
TRACKED = ("level", "member_status", "mobile_hash", "card_no", "email_hash")
TRACKED_DETAIL = ("mobile_masked", "email_masked")
TYPE_1 = ("member_name", "gender", "birthday", "join_channel_id", "join_store_id", "join_at")
# When the type 1 values were extracted, so a late extract never overwrites newer ones.
ATTRIBUTES_AT = "attributes_at"
# Every updated_at folded into a version: a late extract that falls inside a version splits it
# at the right moments only if those moments are kept.
OBSERVED_AT = "observed_at"
COLUMNS = (
    "member_id", "effective_from", "effective_to", "is_current", *TRACKED, *TRACKED_DETAIL, *TYPE_1,
    ATTRIBUTES_AT, OBSERVED_AT, "is_inferred", c.SOURCE_VERSION, c.SOURCE_DT,
)
# Inferred members (referenced before the CRM sent them) hold one open version from this time.
INFERRED_FROM = "1900-01-01 00:00:00"
END_OF_TIME = "9999-12-31 00:00:00"
GENDERS = {"M": "M", "F": "F", "U": "U", "男": "M", "女": "F"}


def _timestamp(wall_clock: str) -> Column:
    """A TIMESTAMP_NTZ literal, like every ODS time (wall-clock, no zone)."""
    return F.lit(wall_clock).cast("timestamp_ntz")


def _gender(raw: Column) -> Column:
    mapping = F.create_map(*[F.lit(value) for pair in GENDERS.items() for value in pair])
    return F.coalesce(mapping[F.trim(raw)], F.lit("U"))


def member_versions(ods_members: DataFrame, salt: str, channel_labels: Mapping[str, str]) -> DataFrame:
    """One candidate version per extracted member row, keyed by its ``updated_at``."""
    return ods_members.select(
        c.trimmed("member_id").alias("member_id"),
        F.col("updated_at").alias("effective_from"),
        c.trimmed("level").alias("level"),
        F.col("status").alias("member_status"),
        pii.salted_hash(pii.mobile_digits(F.col("mobile")), salt).alias("mobile_hash"),
        F.upper(c.trimmed("card_no")).alias("card_no"),
        pii.salted_hash(pii.normalized_email(F.col("email")), salt).alias("email_hash"),
        pii.mask_mobile(F.col("mobile")).alias("mobile_masked"),
        pii.mask_email(F.col("email")).alias("email_masked"),
        c.trimmed("name").alias("member_name"),
        _gender(F.col("gender")).alias("gender"),
        "birthday",
        label_channel_id(F.col("join_channel"), c.trimmed("join_store_id"), channel_labels).alias("join_channel_id"),
        c.trimmed("join_store_id").alias("join_store_id"),
        F.col("join_time").alias("join_at"),
        F.col("updated_at").alias(ATTRIBUTES_AT),
        F.lit(False).alias("is_inferred"),
        c.source_version(F.col("updated_at")).alias(c.SOURCE_VERSION),
        F.col(c.ODS_DT).alias(c.SOURCE_DT),
    )


def build(
    ods_members: DataFrame,
    existing: DataFrame | None,
    referenced_member_ids: DataFrame,
    salt: str,
    channel_labels: Mapping[str, str],
) -> DataFrame:
    """The rows to upsert or delete so that the touched members' chains are right.

    Args:
        ods_members: one ``dt`` of ``ods.crm_members``.
        existing: the current ``cdm.dim_member`` (every version of every member); None before
            the first run.
        referenced_member_ids: ``member_id`` referenced by the day's facts; those never seen
            get an inferred member.
        salt: the PII salt for mobile and email hashes.
        channel_labels: CRM channel label → channel_id (``conf/cdm.yml``).
    """
    incoming = member_versions(ods_members, salt, channel_labels).where(F.col("member_id").isNotNull())
    touched = incoming.select("member_id").distinct()
    if existing is None:
        existing = (
            incoming.limit(0)
            .withColumn("effective_to", F.col("effective_from"))
            .withColumn("is_current", F.lit(True))
            .withColumn(OBSERVED_AT, F.array("effective_from"))
        )
    before = existing.join(touched, on="member_id", how="left_semi")
    # A stored version is the moments it was observed at, each with its tracked values.
    observed = before.withColumn("effective_from", F.explode(OBSERVED_AT)).drop("effective_to", "is_current", OBSERVED_AT)
    history = observed.unionByName(incoming)
    real = history.where(~F.col("is_inferred"))
    chains = _chain(real)
    inferred = _inferred(referenced_member_ids, existing, touched)
    upserts = chains.unionByName(inferred).withColumn(ACTION, F.lit(UPSERT))
    stale = (
        before.join(chains.select(*KEYS), on=list(KEYS), how="left_anti")
        .select(*COLUMNS)
        .withColumn(ACTION, F.lit(DELETE))
    )
    return upserts.unionByName(stale).select(*COLUMNS, ACTION)


def _chain(history: DataFrame) -> DataFrame:
    """Versions in time order: consecutive moments with equal tracked values form one version,
    which starts at the first and remembers every moment in ``observed_at``."""
    same_moment = Window.partitionBy("member_id", "effective_from").orderBy(F.col(c.SOURCE_VERSION).desc())
    one_per_moment = (
        history.withColumn("_rank", F.row_number().over(same_moment)).where(F.col("_rank") == 1).drop("_rank")
    )
    in_time = Window.partitionBy("member_id").orderBy("effective_from")
    so_far = in_time.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    tracked = F.struct(*TRACKED)
    previous = F.lag(tracked).over(in_time)
    starts = F.when(previous.isNull() | ~previous.eqNullSafe(tracked), 1).otherwise(0)
    first_row = F.struct("effective_from", *TRACKED, *TRACKED_DETAIL, "is_inferred", c.SOURCE_VERSION, c.SOURCE_DT)
    versions = (
        one_per_moment.withColumn("_starts", starts)
        .withColumn("_version", F.sum("_starts").over(so_far))
        .groupBy("member_id", "_version")
        .agg(
            F.min_by(first_row, F.col("effective_from")).alias("_first"),
            F.array_sort(F.collect_list("effective_from")).alias(OBSERVED_AT),
        )
        .select("member_id", "_first.*", OBSERVED_AT)
    )
    newest = Window.partitionBy("member_id").orderBy(F.col(ATTRIBUTES_AT).desc(), F.col(c.SOURCE_VERSION).desc())
    type_1 = (
        history.withColumn("_rank", F.row_number().over(newest))
        .where(F.col("_rank") == 1)
        .select("member_id", *[F.col(name).alias(f"_new_{name}") for name in (*TYPE_1, ATTRIBUTES_AT)])
    )
    following = F.lead("effective_from").over(in_time)
    return (
        versions.join(type_1, on="member_id", how="inner")
        .select(
            "member_id",
            "effective_from",
            F.coalesce(following, _timestamp(END_OF_TIME)).alias("effective_to"),
            following.isNull().alias("is_current"),
            *TRACKED,
            *TRACKED_DETAIL,
            *[F.col(f"_new_{name}").alias(name) for name in (*TYPE_1, ATTRIBUTES_AT)],
            OBSERVED_AT,
            "is_inferred",
            c.SOURCE_VERSION,
            c.SOURCE_DT,
        )
    )


def _inferred(referenced_member_ids: DataFrame, existing: DataFrame, touched: DataFrame) -> DataFrame:
    missing = c.unknown_keys(referenced_member_ids, "member_id", existing, touched)
    return missing.select(
        "member_id",
        _timestamp(INFERRED_FROM).alias("effective_from"),
        _timestamp(END_OF_TIME).alias("effective_to"),
        F.lit(True).alias("is_current"),
        F.lit(c.UNKNOWN).alias("level"),
        F.lit(c.UNKNOWN).alias("member_status"),
        *[F.lit(None).cast("string").alias(name) for name in ("mobile_hash", "card_no", "email_hash", *TRACKED_DETAIL)],
        F.lit(c.UNKNOWN).alias("member_name"),
        F.lit("U").alias("gender"),
        F.lit(None).cast("date").alias("birthday"),
        *[F.lit(None).cast("string").alias(name) for name in ("join_channel_id", "join_store_id")],
        F.lit(None).cast("timestamp_ntz").alias("join_at"),
        _timestamp(INFERRED_FROM).alias(ATTRIBUTES_AT),
        F.array(_timestamp(INFERRED_FROM)).alias(OBSERVED_AT),
        F.lit(True).alias("is_inferred"),
        F.lit("").alias(c.SOURCE_VERSION),
        F.lit(None).cast("date").alias(c.SOURCE_DT),
    )
