"""ads.member_rfm: one row per as-of date and one_id with at least one purchase up to that date:
recency, frequency and monetary value, their scores 1–5 and the RFM segment.

Definitions (SPEC section 4): a purchase is an order with ``is_purchase`` (a sale whatever its
amount, zero included). recency_days = as_of − the last purchase date over all history;
frequency = purchases in the window; monetary = the net paid amount of every order (sales and
returns) dated in the window, so it may be 0 or negative. A window of N days ending on as_of
holds the dates d with as_of − N < d ≤ as_of; orders after as_of are ignored. Customers with
returns only are not in the table.

Scores. Each dimension has four ascending cut points: exact percentiles of the population
(linear interpolation, like ``numpy.percentile``) for ``score_method="quantile"``, or the
configured thresholds for ``"thresholds"``. One rule serves both: a value's bucket is 1 + the
number of cut points it exceeds strictly, so a value equal to a cut point stays in the lower
bucket and equal values always share a score. Frequency and monetary scores are the bucket;
recency is reversed (fewer days is better): r_score = 6 − bucket.

Segments. A score is high when it is above the population's mean of that score; a score equal
to the mean is low. The comparison is made exactly, as score × population > Σ score.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

SCORE_METHOD_QUANTILE = "quantile"
SCORE_METHOD_THRESHOLDS = "thresholds"
SCORE_METHODS = (SCORE_METHOD_QUANTILE, SCORE_METHOD_THRESHOLDS)
CUT_POINTS = 4
TOP_SCORE = CUT_POINTS + 1
MONEY = "decimal(18,2)"

COLUMNS = (
    "ds", "one_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score",
    "rfm_segment", "rfm_segment_name", "first_purchase_date", "last_purchase_date",
)

# (r_high, f_high, m_high) -> (rfm_segment, rfm_segment_name)
SEGMENTS = {
    (True, True, True): ("important_value", "重要价值客户"),
    (False, True, True): ("important_retain", "重要保持客户"),
    (True, False, True): ("important_develop", "重要发展客户"),
    (False, False, True): ("important_winback", "重要挽留客户"),
    (True, True, False): ("general_value", "一般价值客户"),
    (False, True, False): ("general_retain", "一般保持客户"),
    (True, False, False): ("general_develop", "一般发展客户"),
    (False, False, False): ("general_winback", "一般挽留客户"),
}

# Metric column -> (score column, whether fewer is better).
_SCORED = {
    "recency_days": ("r_score", True),
    "frequency": ("f_score", False),
    "monetary": ("m_score", False),
}


def _strictly_ascending(values: tuple[float, ...]) -> bool:
    return all(low < high for low, high in zip(values, values[1:]))


@dataclass(frozen=True)
class RfmParams:
    """How RFM is scored; defaults from the seed documents.

    ``quantiles`` are fractions of the population (0..1). Thresholds are ascending cut points
    per dimension, used by ``score_method="thresholds"``; recency thresholds are in days.
    """

    window_days: int = 365
    score_method: str = SCORE_METHOD_QUANTILE
    quantiles: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
    recency_thresholds: tuple[float, ...] = ()
    frequency_thresholds: tuple[float, ...] = ()
    monetary_thresholds: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.window_days < 1:
            raise ValueError(f"window_days must be at least 1, got {self.window_days}")
        if self.score_method not in SCORE_METHODS:
            raise ValueError(f"score_method must be one of {SCORE_METHODS}, got {self.score_method!r}")
        cut_sets = {"quantiles": self.quantiles}
        if self.score_method == SCORE_METHOD_THRESHOLDS:
            cut_sets |= {
                "recency_thresholds": self.recency_thresholds,
                "frequency_thresholds": self.frequency_thresholds,
                "monetary_thresholds": self.monetary_thresholds,
            }
        for name, cuts in cut_sets.items():
            if len(cuts) != CUT_POINTS or not _strictly_ascending(cuts):
                raise ValueError(f"{name} must be {CUT_POINTS} strictly ascending cut points, got {cuts}")
        if not all(0 <= q <= 1 for q in self.quantiles):
            raise ValueError(f"quantiles must lie in [0, 1], got {self.quantiles}")

    def thresholds(self, metric: str) -> tuple[float, ...]:
        return {
            "recency_days": self.recency_thresholds,
            "frequency": self.frequency_thresholds,
            "monetary": self.monetary_thresholds,
        }[metric]


def build(orders: DataFrame, as_of: date, params: RfmParams) -> DataFrame:
    """RFM per one_id as of ``as_of``.

    Args:
        orders: the shared ``orders`` frame (one row per order with an owner one_id).
        as_of: the business date; later orders are ignored.
        params: window, scoring method and cut points.

    Returns:
        One row per one_id with a purchase up to ``as_of``, columns ``COLUMNS``; empty (with
        the schema) when nobody has purchased.
    """
    metrics = _metrics(orders, as_of, params.window_days)
    scored = _scored(_with_cut_points(metrics, params), metrics.columns)
    return _segmented(scored).withColumn("ds", F.lit(as_of)).select(*COLUMNS)


def _metrics(orders: DataFrame, as_of: date, window_days: int) -> DataFrame:
    held = orders.where(F.col("order_date") <= F.lit(as_of))
    purchase = F.col("is_purchase")
    inside = F.datediff(F.lit(as_of), F.col("order_date")) < window_days
    per_customer = held.groupBy("one_id").agg(
        F.min(F.when(purchase, F.col("order_date"))).alias("first_purchase_date"),
        F.max(F.when(purchase, F.col("order_date"))).alias("last_purchase_date"),
        F.count(F.when(purchase & inside, True)).alias("frequency"),
        F.sum(F.when(inside, F.col("net_paid_amount"))).alias("monetary"),
    )
    return per_customer.where(F.col("last_purchase_date").isNotNull()).select(
        "one_id",
        F.datediff(F.lit(as_of), F.col("last_purchase_date")).alias("recency_days"),
        "frequency",
        F.coalesce(F.col("monetary"), F.lit(0)).cast(MONEY).alias("monetary"),
        "first_purchase_date",
        "last_purchase_date",
    )


def _cuts(metric: str) -> str:
    return f"_cuts_{metric}"


def _with_cut_points(metrics: DataFrame, params: RfmParams) -> DataFrame:
    """Adds each metric's cut points as an array column: thresholds, or population percentiles."""
    if params.score_method == SCORE_METHOD_THRESHOLDS:
        return metrics.select(
            "*",
            *[F.array(*[F.lit(float(cut)) for cut in params.thresholds(m)]).alias(_cuts(m)) for m in _SCORED],
        )
    quantiles = list(params.quantiles)
    # One row; an empty population gives null cut points but no rows to score.
    percentiles = metrics.agg(*[F.percentile(F.col(m), quantiles).alias(_cuts(m)) for m in _SCORED])
    return metrics.crossJoin(F.broadcast(percentiles))


def _scored(with_cuts: DataFrame, keep: list[str]) -> DataFrame:
    scores = []
    for metric, (score, fewer_is_better) in _SCORED.items():
        bucket = _bucket(F.col(metric).cast("double"), F.col(_cuts(metric)))
        scores.append((F.lit(TOP_SCORE + 1) - bucket if fewer_is_better else bucket).alias(score))
    return with_cuts.select(*keep, *scores)


def _bucket(value: Column, cuts: Column) -> Column:
    """1 + the number of cut points the value exceeds strictly: ties share a bucket."""
    return F.lit(1) + F.size(F.filter(cuts, lambda cut: cut < value))


def _segmented(scored: DataFrame) -> DataFrame:
    scores = [score for score, _ in _SCORED.values()]
    totals = scored.agg(
        F.count(F.lit(1)).alias("_population"), *[F.sum(score).alias(f"_total_{score}") for score in scores]
    )
    # Exact integer form of "score > mean score".
    highs = [F.col(score).cast("bigint") * F.col("_population") > F.col(f"_total_{score}") for score in scores]
    return scored.crossJoin(F.broadcast(totals)).select(
        *scored.columns,
        _segment_part(highs, 0).alias("rfm_segment"),
        _segment_part(highs, 1).alias("rfm_segment_name"),
    )


def _segment_part(highs: list[Column], part: int) -> Column:
    """The code (part 0) or name (part 1) of the segment the high/low flags select."""
    r_high, f_high, m_high = highs
    return F.coalesce(
        *[
            F.when((r_high == r) & (f_high == f) & (m_high == m), F.lit(names[part]))
            for (r, f, m), names in SEGMENTS.items()
        ]
    )
