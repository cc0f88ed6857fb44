"""ads.channel_overlap: what OneID is worth, one row per ds and channel combination (grain: ds,
combination) of the persons who purchased in the window.

A person is flagged POS when they made a store purchase in the window, e-commerce when they
made an ecom purchase there, and WeChat when any WeChat account (openid) belongs to them.
source_keys counts the customers the source systems would see without OneID: the distinct
buyer keys of the persons' window purchases plus their distinct WeChat accounts. Every
combination is emitted, zeros included, plus a total row ``all`` whose flags are null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

CHANNEL_GROUP_STORE = "store"
CHANNEL_GROUP_ECOM = "ecom"

COMBINATION_ALL = "all"
# Persons who bought only through another channel group (a WeChat order without a known
# WeChat account, say) and have none of the three flags.
COMBINATION_OTHER = "other"

# (code, name, has_pos, has_ecom, has_wechat): every combination of the three flags.
COMBINATIONS = (
    ("pos+ecom+wechat", "POS+电商+微信", True, True, True),
    ("pos+ecom", "POS+电商", True, True, False),
    ("pos+wechat", "POS+微信", True, False, True),
    ("ecom+wechat", "电商+微信", False, True, True),
    ("pos", "仅POS", True, False, False),
    ("ecom", "仅电商", False, True, False),
    ("wechat", "仅微信", False, False, True),
    (COMBINATION_OTHER, "其他渠道", False, False, False),
)
COMBINATION_ALL_NAME = "全部"
FLAGS = ("has_pos", "has_ecom", "has_wechat")

COLUMNS = (
    "ds", "combination", "combination_name", "has_pos", "has_ecom", "has_wechat", "persons", "share", "source_keys",
)


@dataclass(frozen=True)
class Params:
    """window_days: trailing window of the purchases that make a person and their channels."""

    window_days: int = 365

    def __post_init__(self) -> None:
        if self.window_days < 1:
            raise ValueError(f"window_days must be at least 1, got {self.window_days}")


def build(orders: DataFrame, wechat: DataFrame, as_of: date, params: Params = Params()) -> DataFrame:
    """Persons, their share and their source keys per channel combination.

    Args:
        orders: the ADS ``orders`` frame.
        wechat: one row per WeChat account of an identity: one_id, wechat_key.
        as_of: the run date; later orders are ignored.
        params: the window.

    Returns:
        ``COLUMNS``; share (of all persons, rounded to 4 places) is null when nobody purchased.
    """
    keys = _person_keys(orders, wechat, as_of, params.window_days)
    measures = (
        F.countDistinct("one_id").alias("persons"),
        (F.countDistinct("buyer_key") + F.countDistinct("wechat_key")).alias("source_keys"),
    )
    per_combination = keys.groupBy(*FLAGS).agg(*measures)
    total = keys.agg(*measures)
    return (
        _combinations(total)
        .join(per_combination, on=list(FLAGS), how="left")
        .unionByName(_total_row(total))
        .select(
            F.lit(as_of).alias("ds"),
            "combination",
            "combination_name",
            *FLAGS,
            F.coalesce(F.col("persons"), F.lit(0).cast("long")).alias("persons"),
            _share(F.coalesce(F.col("persons"), F.lit(0)), F.col("total_persons")).alias("share"),
            F.coalesce(F.col("source_keys"), F.lit(0).cast("long")).alias("source_keys"),
        )
        .select(*COLUMNS)
    )


def _person_keys(orders: DataFrame, wechat: DataFrame, as_of: date, window_days: int) -> DataFrame:
    """The source keys of every person (a buyer_key or a wechat_key per row, the other null),
    each row carrying the person's flags."""
    in_window = F.col("order_date").between(F.lit(as_of - timedelta(days=window_days - 1)), F.lit(as_of))
    purchases = orders.where(F.col("is_purchase") & in_window).select(
        "one_id",
        F.lit(True).alias("is_purchase"),
        F.col("channel_group").eqNullSafe(CHANNEL_GROUP_STORE).alias("is_pos"),
        F.col("channel_group").eqNullSafe(CHANNEL_GROUP_ECOM).alias("is_ecom"),
        "buyer_key",
        F.lit(None).cast("string").alias("wechat_key"),
    )
    accounts = wechat.select(
        "one_id",
        F.lit(False).alias("is_purchase"),
        F.lit(False).alias("is_pos"),
        F.lit(False).alias("is_ecom"),
        F.lit(None).cast("string").alias("buyer_key"),
        "wechat_key",
    )
    person = Window.partitionBy("one_id").rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    return (
        purchases.unionByName(accounts)
        .select(
            "one_id",
            "buyer_key",
            "wechat_key",
            F.bool_or("is_purchase").over(person).alias("is_person"),
            F.bool_or("is_pos").over(person).alias("has_pos"),
            F.bool_or("is_ecom").over(person).alias("has_ecom"),
            F.bool_or(~F.col("is_purchase")).over(person).alias("has_wechat"),
        )
        .where(F.col("is_person"))
    )


def _combinations(total: DataFrame) -> DataFrame:
    """Every combination with its name and flags, next to the total number of persons."""
    rows = [
        F.struct(
            F.lit(code).alias("combination"),
            F.lit(name).alias("combination_name"),
            *(F.lit(value).alias(flag) for flag, value in zip(FLAGS, values)),
        )
        for code, name, *values in COMBINATIONS
    ]
    return total.select(F.col("persons").alias("total_persons"), F.inline(F.array(*rows)))


def _total_row(total: DataFrame) -> DataFrame:
    return total.select(
        F.lit(COMBINATION_ALL).alias("combination"),
        F.lit(COMBINATION_ALL_NAME).alias("combination_name"),
        *(F.lit(None).cast("boolean").alias(flag) for flag in FLAGS),
        "persons",
        "source_keys",
        F.col("persons").alias("total_persons"),
    )


def _share(part: Column, whole: Column) -> Column:
    return F.when(whole > 0, F.round(part / whole, 4))
