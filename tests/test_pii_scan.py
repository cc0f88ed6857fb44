"""No raw mobile or email outside the restricted tables (SPEC section 4).

Every non-restricted table of the shared build, and every segment it exports, is scanned whole:
every text value (string and whole-number columns, and whatever arrays, maps and structs hold)
is searched for
* the generator's real mobiles and emails (its truth), found also glued to letters or written
  with separators no pattern expects; and
* anything shaped like a raw mainland mobile (``13800138000``, ``+86 138-0013-8000``) or an
  unmasked email, whoever wrote it. Masked forms (``138****8000``, ``s***@qq.com``) and
  salted hashes are what SPEC section 4 allows, and pass; so do the placeholders
  ``conf/oneid.yml`` lists (``13800000000``, ``test@test.com``), which are no one's.
"""

from __future__ import annotations

import csv
import operator
from functools import reduce
from pathlib import Path

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F, types as T

from generated_build import DAYS, conf_in_use
from jobs.access import ANALYST, catalog_for
from jobs.build_ads import export_segment
from jobs.catalog import read_table_if_exists
from jobs.config import load_catalog, load_oneid_settings, load_segments
from jobs.sample_data.truth import IDENTIFIERS, SHARED
from models.cdm.identity_evidence import EMAIL, MOBILE
from models.identifiers import mobile_text
from oneid.normalize import Validity

# A mobile standing alone (not inside a longer run of letters and digits, as in a hash), with
# an optional +86 / 0086 / 86 and spaces or dashes anywhere.
SHAPED_MOBILE = r"(?<![0-9A-Za-z])(?:(?:\+|00)?86[\s-]?)?(1[3-9]\d(?:[\s-]?\d){8})(?![0-9A-Za-z])"
# The character before the @ must belong to the address: a masked s***@qq.com does not match.
SHAPED_EMAIL = r"([a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+)"
# Any separators between two digits, so a known mobile is found however it was written.
DIGIT_SEPARATORS = r"(?<=\d)[^0-9A-Za-z@*]{1,3}(?=\d)"
DIGIT_RUN = r"(\d{11,})"
COUNTRY_CODE = r"^(00)?86(?=\d{11}$)"


def scan(frame: DataFrame, table: str, raw: DataFrame) -> DataFrame:
    """(table, column, example, values) of every column of ``frame`` holding a raw mobile or
    email, one pass over the whole frame (``offenders`` collects every table's in one job).

    Args:
        raw: the known raw values, one canonical ``token`` per row (mobile digits, lower-case email).
    """
    texts = [F.struct(F.lit(field.name).alias("column"), text.alias("text"))
             for field in frame.schema.fields if (text := _text(F.col(f"`{field.name}`"), field.dataType)) is not None]
    if not texts:
        return frame.sparkSession.createDataFrame([], "table string, column string, example string, values long")
    values = frame.select(F.explode(F.array(*texts)).alias("value")).select("value.*").where(F.col("text").isNotNull())
    half_width = mobile_text(F.col("text"))
    candidates = F.concat(
        _tokens(F.regexp_extract_all(half_width, F.lit(SHAPED_MOBILE), 1), shaped=True,
                clean=lambda token: F.regexp_replace(token, r"[\s-]", "")),
        _tokens(F.regexp_extract_all(F.lower("text"), F.lit(SHAPED_EMAIL), 1), shaped=True),
        _tokens(F.regexp_extract_all(F.regexp_replace(half_width, DIGIT_SEPARATORS, ""), F.lit(DIGIT_RUN), 1),
                shaped=False, clean=lambda token: F.regexp_replace(token, COUNTRY_CODE, "")),
    )
    known = raw.select("token", F.lit(True).alias("is_known"))
    return (
        values.select("column", F.explode(candidates).alias("candidate")).select("column", "candidate.*")
        .join(F.broadcast(known), on="token", how="left")
        .where((F.col("is_shaped") & ~_placeholder(F.col("token"))) | F.col("is_known").isNotNull())
        .groupBy("column").agg(F.min("token").alias("example"), F.countDistinct("token").alias("values"))
        .select(F.lit(table).alias("table"), "column", "example", "values")
    )


def _text(column: Column, data_type: T.DataType) -> Column | None:
    """A column's values as text, or None for types that cannot hold a mobile or an email."""
    if isinstance(data_type, T.StringType):
        return column
    if isinstance(data_type, (T.LongType, T.DecimalType)):
        return column.cast("string")
    if isinstance(data_type, (T.ArrayType, T.MapType, T.StructType)):
        return F.to_json(column)
    return None


def _placeholder(token: Column) -> Column:
    """Whether ``token`` is a value OneID's validity lists say is never an identifier (a
    cashier's 13800000000, an expectation's kwargs listing them)."""
    validity = Validity.from_mapping(load_oneid_settings().validity)
    listed = token.isin(*validity.mobile_placeholders, *validity.email_placeholders)
    return reduce(operator.or_, [token.rlike(pattern) for pattern in validity.mobile_placeholder_patterns], listed)


def _tokens(found: Column, shaped: bool, clean=lambda token: token) -> Column:
    return F.transform(found, lambda token: F.struct(clean(token).alias("token"), F.lit(shaped).alias("is_shaped")))


def generator_identifiers(spark: SparkSession, truth: Path) -> DataFrame:
    """Every mobile and email the generator gave a person, canonical, as ``token``."""
    values = set()
    for name in (IDENTIFIERS, SHARED):
        with (truth / name).open(encoding="utf-8", newline="") as handle:
            values |= {row["id_value"] for row in csv.DictReader(handle) if row["id_type"] in (MOBILE, EMAIL)}
    return spark.createDataFrame([(value,) for value in sorted(values)], "token string")


def offenders(frames: dict[str, DataFrame], raw: DataFrame) -> list[tuple]:
    """Every (table, column, example, values) of ``frames`` holding a raw identifier."""
    scans = [scan(frame, name, raw) for name, frame in frames.items()]
    return sorted(tuple(row) for row in reduce(DataFrame.unionByName, scans).collect())


def test_the_scan_finds_raw_identifiers_however_they_are_stored_and_passes_masked_ones(spark):
    raw = spark.createDataFrame([("13800138000",), ("13911112222",), ("lee@163.com",)], "token string")
    frame = spark.createDataFrame(
        [("138****8000", "s***@qq.com", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
          13800138000, ["a", "+86 139-1111-2222"], {"contact": "Lee@163.COM"}, ("tel13800138000",), "o-17700001111"),
         ("13912345678a", "mail x.y@corp.cn, not test@test.com", None, 42, [], {}, ("１３８００１３８０００",),
          "typed 13800000000")],
        "masked string, masked_email string, mobile_hash string, mobile_number bigint, phones array<string>, "
        "contacts map<string,string>, detail struct<remark:string>, remark string",
    )
    assert offenders({"probe": frame}, raw) == [
        ("probe", "contacts", "lee@163.com", 1),  # a known email, in a map, upper case
        ("probe", "detail", "13800138000", 1),  # glued to letters (known) and full-width (shaped)
        ("probe", "masked_email", "x.y@corp.cn", 1),  # an email no one generated, in free text
        ("probe", "mobile_number", "13800138000", 1),  # a mobile stored as a number
        ("probe", "phones", "13911112222", 1),  # +86 and dashes, in an array
        ("probe", "remark", "17700001111", 1),  # a mobile no one generated, after a dash; not the placeholder
    ]


@pytest.mark.slow
def test_no_raw_mobile_or_email_outside_the_restricted_tables(built, spark, tmp_path):
    settings, catalog = built.settings, load_catalog()
    raw = generator_identifiers(spark, built.truth).cache()
    frames = {name: frame for name, table in catalog.tables.items() if not table.restricted
              if (frame := read_table_if_exists(spark, settings, table)) is not None}
    assert {"cdm.dim_member", "oneid.profile", "ads.tag_wide"} <= set(frames), sorted(frames)
    # Every export an analyst can make of the build's last day, read back as the CRM reads it.
    with conf_in_use(built.conf):
        for segment in load_segments():
            path, _ = export_segment(spark, settings, catalog_for(catalog, ANALYST), segment.code, DAYS[-1],
                                     tmp_path / f"{segment.code}.csv")
            frames[f"export {path.name}"] = spark.read.option("header", True).csv(str(path))

    assert offenders(frames, raw) == []
    # The scan sees what is there: the restricted members table holds both kinds, shaped and known.
    members = read_table_if_exists(spark, settings, catalog.table("ods.crm_members"))
    assert {row[1] for row in offenders({"ods.crm_members": members}, raw)} >= {"mobile", "email"}
