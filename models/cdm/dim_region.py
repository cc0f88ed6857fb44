"""cdm.dim_region: one row per province and city (grain: region_id), with the city tier."""

from __future__ import annotations

from typing import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from models.cdm import common as c

COLUMNS = ("region_id", "province", "city", "city_tier")


def region_id(province: Column, city: Column) -> Column:
    """``province/city``; ``unknown`` when the city is not known."""
    return F.when(city.isNull(), F.lit(c.UNKNOWN_KEY)).otherwise(
        F.concat_ws("/", F.coalesce(province, F.lit(c.UNKNOWN)), city)
    )


def build(places: DataFrame, city_tiers: Mapping[str, Sequence[str]]) -> DataFrame:
    """Rows to upsert: every (province, city) seen, plus the explicit unknown region.

    Args:
        places: ``province`` and ``city`` columns from stores and shipping addresses.
        city_tiers: tier name → cities (``conf/cdm.yml``); unlisted cities get ``未知``.
    """
    tier_of = {city: tier for tier, cities in city_tiers.items() for city in cities}
    tier_map = F.create_map(*[F.lit(value) for pair in sorted(tier_of.items()) for value in pair])
    seen = (
        places.select(c.trimmed("province").alias("province"), c.trimmed("city").alias("city"))
        .where(F.col("city").isNotNull())
        .distinct()
    )
    known = seen.select(
        region_id(F.col("province"), F.col("city")).alias("region_id"),
        "province",
        "city",
        F.coalesce(tier_map[F.col("city")], F.lit(c.UNKNOWN)).alias("city_tier"),
    )
    unknown = places.sparkSession.createDataFrame(
        [(c.UNKNOWN_KEY, None, None, c.UNKNOWN)], "region_id string, province string, city string, city_tier string"
    )
    return known.unionByName(unknown).select(*COLUMNS)
