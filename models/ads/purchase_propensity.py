"""ads purchase propensity: the ``purchase_90d`` tag, the probability that an identity makes a
purchase in the next 90 days, from a logistic regression fitted with Spark ML.

Population: identities with at least one purchase (a paid sale order, whatever its amount:
SPEC section 4) up to the snapshot date. Features use only orders and events dated on or before
the snapshot date; the label is 1.0 when the identity makes a purchase in
(snapshot, snapshot + horizon]. A window of N days ending on a date d holds d − N < date ≤ d.

One run on ``as_of`` with horizon h (90 days) uses three snapshots:

    as_of − 2h               as_of − h                as_of
        | features --label--> |                        |   fit the out-of-time model
        |                     | features --label-----> |   evaluate it: AUC out of time
        |                     | features --label-----> |   refit on that same set
        |                     |                        | features -> scores (the tag)

The evaluated model sees data up to as_of − h (= ds − 90) only and is judged on the last h days,
which it never saw, so its metrics are an honest estimate for a model one horizon old. The tag
comes from the refit on the newest fully labelled snapshot (as_of − h labelled up to as_of),
which uses the same recipe and features shifted by one horizon. Events reach back only 90 days
in the data, so the event features are zero in the older snapshots; the scaler then gives them
zero spread and the model no weight, which is the intended, harmless outcome.

Calibration bins are deciles (``calibration_bins`` equal-count groups) of the predicted
probability, ties broken by ``one_id`` so the split does not depend on partitioning. Metric
values are rounded to 6 decimals so reruns give identical rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Sequence

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

MODEL_NAME = "purchase_90d"

RECENT_DAYS = 30
QUARTER_DAYS = 90
YEAR_DAYS = 365

FEATURES = (
    "recency_days",        # as_of − last purchase date
    "tenure_days",         # as_of − first purchase date
    "avg_days_between",    # mean gap between first and last purchase; tenure_days for one purchase
    "purchases_30d",
    "purchases_90d",
    "purchases_365d",
    "purchases_lifetime",
    "net_paid_365d",       # sales minus returns
    "net_paid_lifetime",
    "returns_365d",        # return orders
    "events_30d",
    "events_90d",
    "add_carts_90d",
)
FEATURE_COLUMNS = ("one_id", *FEATURES)
LABEL = "label"
LABEL_COLUMNS = ("one_id", LABEL)
PROBABILITY = "probability"
SCORE_COLUMNS = ("one_id", PROBABILITY)
HOLDOUT_COLUMNS = ("one_id", PROBABILITY, LABEL)
EVAL_COLUMNS = ("ds", "model_name", "train_as_of", "eval_as_of", "metric", "bucket", "value", "status")

SCORE_SCHEMA = T.StructType(
    [T.StructField("one_id", T.StringType()), T.StructField(PROBABILITY, T.DoubleType())]
)
HOLDOUT_SCHEMA = T.StructType([*SCORE_SCHEMA.fields, T.StructField(LABEL, T.DoubleType())])
EVAL_SCHEMA = T.StructType(
    [
        T.StructField("ds", T.DateType()),
        T.StructField("model_name", T.StringType()),
        T.StructField("train_as_of", T.DateType()),
        T.StructField("eval_as_of", T.DateType()),
        T.StructField("metric", T.StringType()),
        T.StructField("bucket", T.StringType()),
        T.StructField("value", T.DoubleType()),
        T.StructField("status", T.StringType()),
    ]
)

STATUS_OK = "ok"
STATUS_INSUFFICIENT = "insufficient_data"
ALL_ROWS = "all"
RETURN_ORDER = "return"
ADD_CART_EVENT = "add_cart"
METRIC_DECIMALS = 6

_AS_OF = "as_of"
_ASSEMBLED = "assembled_features"
_SCALED = "scaled_features"
_RAW_PROBABILITY = "probability_vector"


@dataclass(frozen=True)
class PropensityParams:
    horizon_days: int = 90
    reg_param: float = 0.01
    max_iter: int = 100
    calibration_bins: int = 10
    # Fewer training or evaluation rows, or one class only, and no model is fitted.
    min_rows: int = 200

    def __post_init__(self) -> None:
        if self.horizon_days < 1 or self.calibration_bins < 1 or self.min_rows < 1:
            raise ValueError(f"horizon_days, calibration_bins and min_rows must be positive: {self}")


@dataclass(frozen=True)
class PropensityRun:
    """What one run produces.

    Attributes:
        scores: the tag for ``as_of``: one_id, probability (empty unless status is ok).
        holdout: the out-of-time evaluation set as the evaluated model scored it: one_id,
            probability, label (empty unless status is ok).
        evaluation: one row per metric and bucket, columns ``EVAL_COLUMNS``.
        status: ``ok`` or ``insufficient_data: <why>``.
    """

    scores: DataFrame
    holdout: DataFrame
    evaluation: DataFrame
    status: str


def features(orders: DataFrame, events: DataFrame, as_of: date) -> DataFrame:
    """One row per one_id with at least one purchase up to ``as_of``; no nulls in ``FEATURES``.

    Args:
        orders: the ``orders`` contract of models/ads/base.py.
        events: the ``events`` contract of models/ads/base.py.
        as_of: the snapshot date; later orders and events are ignored.

    Returns:
        ``FEATURE_COLUMNS``, every feature a double.
    """
    return _snapshots(orders, events, (as_of,), horizon_days=0).select(*FEATURE_COLUMNS)


def labels(orders: DataFrame, as_of: date, horizon_days: int) -> DataFrame:
    """Whether each identity with a purchase up to ``as_of`` buys again within the horizon.

    Returns:
        ``LABEL_COLUMNS``: label 1.0 when a purchase falls in (as_of, as_of + horizon_days],
        else 0.0; identities whose first purchase comes later are not in the population.
    """
    return _order_snapshots(orders, (as_of,), horizon_days).select(*LABEL_COLUMNS)


def fit(train: DataFrame, params: PropensityParams) -> PipelineModel | None:
    """Fits the pipeline on ``FEATURES`` and ``label``; None when the data cannot support a model.

    The frame is read several times (size check, scaler, each solver iteration): cache it.
    """
    rows, positives = _class_counts(train)
    if _shortfall("training set", rows, positives, params.min_rows):
        return None
    return _pipeline(params).fit(train)


def score(model: PipelineModel, feature_frame: DataFrame) -> DataFrame:
    """``SCORE_COLUMNS``: the predicted probability of a purchase, rounded to 6 decimals."""
    return model.transform(feature_frame).select("one_id", _probability())


def evaluate(scored_with_labels: DataFrame, params: PropensityParams) -> list[tuple[str, str, float]]:
    """Out-of-time metrics of scored rows (one_id, probability, label), at least one of each label.

    The frame is read three times (two areas, one aggregate): pass a cached or checkpointed one.

    Returns:
        (metric, bucket, value) triples: over bucket ``all`` rows, positives, base_rate,
        mean_predicted, brier, auc_roc and auc_pr; then for each non-empty calibration bin
        ``bin_01``, ``bin_02``, ... (ascending probability) rows, mean_predicted and observed_rate.
    """
    areas = [
        (metric, _area(scored_with_labels, name))
        for metric, name in (("auc_roc", "areaUnderROC"), ("auc_pr", "areaUnderPR"))
    ]
    bins = _calibration_sums(scored_with_labels, params.calibration_bins)
    rows = sum(b["rows"] for b in bins)
    positives = sum(b["positives"] for b in bins)
    overall = [
        ("rows", rows),
        ("positives", positives),
        ("base_rate", positives / rows),
        ("mean_predicted", sum(b["predicted"] for b in bins) / rows),
        ("brier", sum(b["squared_error"] for b in bins) / rows),
        *areas,
    ]
    per_bin = [
        (metric, f"bin_{b['bin']:02d}", value)
        for b in bins
        for metric, value in (
            ("rows", b["rows"]),
            ("mean_predicted", b["predicted"] / b["rows"]),
            ("observed_rate", b["positives"] / b["rows"]),
        )
    ]
    triples = [(metric, ALL_ROWS, value) for metric, value in overall] + per_bin
    return [(metric, bucket, round(float(value), METRIC_DECIMALS)) for metric, bucket, value in triples]


def run(
    orders: DataFrame, events: DataFrame, as_of: date, params: PropensityParams = PropensityParams()
) -> PropensityRun:
    """Fits, evaluates out of time and scores, as the module docstring lays out.

    Args:
        orders: the ``orders`` contract; rows after ``as_of`` are ignored.
        events: the ``events`` contract; rows after ``as_of`` are ignored.
        as_of: the run's ds.
        params: model and evaluation settings.

    Returns:
        The scores, the scored hold-out set and the evaluation rows; with too little data the
        status says why, the frames are empty and the evaluation holds the set sizes.
    """
    horizon = timedelta(days=params.horizon_days)
    train_as_of, eval_as_of = as_of - 2 * horizon, as_of - horizon
    snapshots = _snapshots(
        orders.where(F.col("order_date") <= F.lit(as_of)),
        events.where(F.col("event_date") <= F.lit(as_of)),
        (train_as_of, eval_as_of, as_of),
        params.horizon_days,
    ).persist()
    session = snapshots.sparkSession
    try:
        sizes = _class_counts_by_date(snapshots)
        train_size, eval_size = sizes.get(train_as_of, (0, 0)), sizes.get(eval_as_of, (0, 0))
        size_rows = [
            ("train_rows", ALL_ROWS, float(train_size[0])),
            ("train_positives", ALL_ROWS, float(train_size[1])),
        ]
        shortfalls = [
            why
            for name, day, (rows, positives) in (
                ("training set", train_as_of, train_size),
                ("evaluation set", eval_as_of, eval_size),
            )
            if (why := _shortfall(f"{name} at {day}", rows, positives, params.min_rows))
        ]
        if shortfalls:
            status = f"{STATUS_INSUFFICIENT}: {'; '.join(shortfalls)}"
            metrics = size_rows + [
                ("rows", ALL_ROWS, float(eval_size[0])),
                ("positives", ALL_ROWS, float(eval_size[1])),
            ]
            return PropensityRun(
                scores=session.createDataFrame([], SCORE_SCHEMA),
                holdout=session.createDataFrame([], HOLDOUT_SCHEMA),
                evaluation=_evaluation_frame(session, as_of, train_as_of, eval_as_of, metrics, status),
                status=status,
            )

        def snapshot(day: date) -> DataFrame:
            return snapshots.where(F.col(_AS_OF) == F.lit(day))

        evaluated = _pipeline(params).fit(snapshot(train_as_of))
        # Checkpointed, not cached: the frames outlive the snapshot cache released below.
        holdout = evaluated.transform(snapshot(eval_as_of)).select("one_id", _probability(), LABEL)
        holdout = holdout.localCheckpoint(eager=True)
        metrics = size_rows + evaluate(holdout, params)
        scores = score(_pipeline(params).fit(snapshot(eval_as_of)), snapshot(as_of)).localCheckpoint(eager=True)
    finally:
        snapshots.unpersist()
    return PropensityRun(
        scores=scores,
        holdout=holdout,
        evaluation=_evaluation_frame(session, as_of, train_as_of, eval_as_of, metrics, STATUS_OK),
        status=STATUS_OK,
    )


def _pipeline(params: PropensityParams) -> Pipeline:
    return Pipeline(
        stages=[
            VectorAssembler(inputCols=list(FEATURES), outputCol=_ASSEMBLED),
            StandardScaler(inputCol=_ASSEMBLED, outputCol=_SCALED, withMean=True, withStd=True),
            LogisticRegression(
                featuresCol=_SCALED,
                labelCol=LABEL,
                probabilityCol=_RAW_PROBABILITY,
                family="binomial",
                regParam=params.reg_param,
                maxIter=params.max_iter,
            ),
        ]
    )


def _probability() -> Column:
    """P(label = 1) out of the model's probability vector."""
    return F.round(vector_to_array(F.col(_RAW_PROBABILITY))[1], METRIC_DECIMALS).alias(PROBABILITY)


def _shortfall(what: str, rows: int, positives: int, min_rows: int) -> str | None:
    """Why a set cannot fit or judge a model, or None when it can."""
    if rows < min_rows:
        return f"{what} has {rows} rows (fewer than {min_rows})"
    if positives in (0, rows):
        return f"{what} has one class only ({positives} positives of {rows} rows)"
    return None


def _class_counts(labelled: DataFrame) -> tuple[int, int]:
    row = labelled.agg(F.count(F.lit(1)).alias("rows"), F.coalesce(F.sum(LABEL), F.lit(0.0)).alias("positives")).first()
    return row["rows"], int(row["positives"])


def _class_counts_by_date(snapshots: DataFrame) -> dict[date, tuple[int, int]]:
    counted = snapshots.groupBy(_AS_OF).agg(F.count(F.lit(1)).alias("rows"), F.sum(LABEL).alias("positives"))
    return {row[_AS_OF]: (row["rows"], int(row["positives"])) for row in counted.collect()}


def _area(scored: DataFrame, metric_name: str) -> float:
    # numBins=0: the default down-samples the curve to 1,000 points, which approximates the area.
    evaluator = BinaryClassificationEvaluator(
        rawPredictionCol=PROBABILITY, labelCol=LABEL, metricName=metric_name, numBins=0
    )
    return evaluator.evaluate(scored)


def _calibration_sums(scored: DataFrame, bins: int) -> list[dict]:
    """Per probability decile (ascending): rows, positives and sums of predictions and squared errors."""
    # One ordered window over the whole set: evaluation sets are one snapshot of buyers, small
    # enough for the single partition it needs.
    decile = F.ntile(bins).over(Window.orderBy(PROBABILITY, "one_id"))
    error = F.col(PROBABILITY) - F.col(LABEL)
    summed = (
        scored.withColumn("bin", decile)
        .groupBy("bin")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(LABEL).alias("positives"),
            F.sum(PROBABILITY).alias("predicted"),
            F.sum(error * error).alias("squared_error"),
        )
    )
    return sorted((row.asDict() for row in summed.collect()), key=lambda b: b["bin"])


def _evaluation_frame(
    session: SparkSession,
    as_of: date,
    train_as_of: date,
    eval_as_of: date,
    metrics: Sequence[tuple[str, str, float]],
    status: str,
) -> DataFrame:
    rows = [
        (as_of, MODEL_NAME, train_as_of, eval_as_of, metric, bucket, value, status)
        for metric, bucket, value in metrics
    ]
    return session.createDataFrame(rows, EVAL_SCHEMA).select(*EVAL_COLUMNS)


def _at_dates(frame: DataFrame, date_column: str, as_of_dates: Sequence[date], lookahead_days: int = 0) -> DataFrame:
    """``frame`` once per snapshot date (column ``as_of``), up to that date plus the lookahead."""
    snapshot_dates = F.explode(F.array(*(F.lit(day) for day in sorted(set(as_of_dates)))))
    return frame.select("*", snapshot_dates.alias(_AS_OF)).where(
        F.col(date_column) <= F.date_add(F.col(_AS_OF), lookahead_days)
    )


def _count_where(condition: Column) -> Column:
    return F.count(F.when(condition, True))


def _order_snapshots(orders: DataFrame, as_of_dates: Sequence[date], horizon_days: int) -> DataFrame:
    """(as_of, one_id, order features, label) per snapshot date, buyers up to that date only."""
    age = F.datediff(F.col(_AS_OF), F.col("order_date"))
    held = age >= 0
    purchase = F.col("is_purchase") & held
    # The lookahead filter bounds later orders to the horizon.
    next_purchase = F.col("is_purchase") & ~held

    def net_paid(condition: Column) -> Column:
        return F.coalesce(F.sum(F.when(condition, F.col("net_paid_amount"))), F.lit(0)).cast(T.DoubleType())

    aggregated = (
        _at_dates(orders, "order_date", as_of_dates, horizon_days)
        .groupBy(_AS_OF, "one_id")
        .agg(
            F.min(F.when(purchase, F.col("order_date"))).alias("first_purchase_date"),
            F.max(F.when(purchase, F.col("order_date"))).alias("last_purchase_date"),
            _count_where(purchase & (age < RECENT_DAYS)).alias("purchases_30d"),
            _count_where(purchase & (age < QUARTER_DAYS)).alias("purchases_90d"),
            _count_where(purchase & (age < YEAR_DAYS)).alias("purchases_365d"),
            _count_where(purchase).alias("purchases_lifetime"),
            net_paid(held & (age < YEAR_DAYS)).alias("net_paid_365d"),
            net_paid(held).alias("net_paid_lifetime"),
            _count_where(held & (age < YEAR_DAYS) & (F.col("order_type") == RETURN_ORDER)).alias("returns_365d"),
            F.when(_count_where(next_purchase) > 0, 1.0).otherwise(0.0).alias(LABEL),
        )
        .where(F.col("last_purchase_date").isNotNull())
    )
    return aggregated.select(
        _AS_OF,
        "one_id",
        F.datediff(F.col(_AS_OF), F.col("last_purchase_date")).alias("recency_days"),
        F.datediff(F.col(_AS_OF), F.col("first_purchase_date")).alias("tenure_days"),
        _average_gap().alias("avg_days_between"),
        "purchases_30d",
        "purchases_90d",
        "purchases_365d",
        "purchases_lifetime",
        "net_paid_365d",
        "net_paid_lifetime",
        "returns_365d",
        LABEL,
    )


def _average_gap() -> Column:
    """Mean days between purchases; with one purchase, the gap still open (tenure)."""
    span = F.datediff(F.col("last_purchase_date"), F.col("first_purchase_date"))
    gaps = F.greatest(F.col("purchases_lifetime") - 1, F.lit(1))
    return F.when(F.col("purchases_lifetime") > 1, span / gaps).otherwise(
        F.datediff(F.col(_AS_OF), F.col("first_purchase_date"))
    )


def _event_snapshots(events: DataFrame, as_of_dates: Sequence[date]) -> DataFrame:
    """(as_of, one_id, event counts) per snapshot date over the trailing 90 days."""
    age = F.datediff(F.col(_AS_OF), F.col("event_date"))
    return (
        _at_dates(events, "event_date", as_of_dates)
        .where(age < QUARTER_DAYS)
        .groupBy(_AS_OF, "one_id")
        .agg(
            _count_where(age < RECENT_DAYS).alias("events_30d"),
            F.count(F.lit(1)).alias("events_90d"),
            _count_where(F.col("event_type") == ADD_CART_EVENT).alias("add_carts_90d"),
        )
    )


def _snapshots(orders: DataFrame, events: DataFrame, as_of_dates: Sequence[date], horizon_days: int) -> DataFrame:
    """(as_of, one_id, FEATURES, label) for every snapshot date in one pass over each input."""
    joined = _order_snapshots(orders, as_of_dates, horizon_days).join(
        _event_snapshots(events, as_of_dates), on=[_AS_OF, "one_id"], how="left"
    )
    return joined.select(
        _AS_OF,
        "one_id",
        *(F.coalesce(F.col(name), F.lit(0)).cast(T.DoubleType()).alias(name) for name in FEATURES),
        LABEL,
    )
