"""The tag engine: the online tags of the catalog computed per one_id, in dependency order.

Plan, then compute. :func:`plan` checks every online tag against the sources' columns and the
other tags (unknown names, type mismatches, dependencies on tags that are not online, cycles)
without running anything, and orders them. :func:`compute` then builds one wide frame:

* fact tags copy (or derive) a column of an identity-grain source;
* statistic tags aggregate an event-grain source: every statistic of one source in a single
  ``groupBy`` with conditional aggregates, so a source is scanned once whatever the tag count;
* model tags take a model's score;
* rule and bucket tags are columns over the tags before them, compiled from expressions by
  :mod:`tags.expr` (nothing is pasted into SQL text).

Tags whose refresh day it is not keep the values of their last refresh (``carried``).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import date
from typing import Mapping, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tags import expr
from tags.catalog import BUCKET, FACT, MODEL, ONLINE, RULE, STATISTIC, CatalogError, TagDef

ONE_ID = "one_id"
COUNTS = ("count", "count_distinct")
ORDERABLE = (expr.NUMBER, expr.DATE, expr.STRING)
# Money and rates are kept to these decimals; they are descriptive values, not ledgers.
DECIMALS = 4
TOP_VALUES = 10
# Planning compiles every expression to find mistakes early; a type never depends on the date.
PLAN_AS_OF = date(2000, 1, 1)

TAG_VALUE_COLUMNS = ("ds", ONE_ID, "tag_code", "tag_value")
CATALOG_COLUMNS = (
    "ds", "tag_code", "name_zh", "name_en", "category_path", "category_l1", "tag_type", "status", "refresh",
    "owner", "description", "value_type", "depends_on", "definition", "defined_in", "computed_ds", "population",
    "covered", "coverage", "distinct_values", "top_values", "numeric_summary", "inputs_fingerprint",
)


@dataclass(frozen=True)
class EventSource:
    """An event-grain source of statistic tags: one row per event, its ``one_id`` and a date."""

    frame: DataFrame
    date_column: str


@dataclass(frozen=True)
class TagSources:
    population: DataFrame  # one_id: every identity that gets a row
    events: Mapping[str, EventSource]
    identity: Mapping[str, DataFrame]  # one_id-grain frames for fact tags
    models: Mapping[str, DataFrame]  # model name → (one_id, probability)


@dataclass(frozen=True)
class PlannedTag:
    tag: TagDef
    value_type: str
    spark_type: T.DataType
    depends_on: tuple[str, ...]

    @property
    def code(self) -> str:
        return self.tag.code


@dataclass(frozen=True)
class TagResult:
    wide: DataFrame  # one_id and one column per planned tag, in plan order
    computed: frozenset[str]  # tags computed on this run; the others were carried
    reused: frozenset[str] = frozenset()  # statistics recomputed only for the touched identities
    touched: int | None = None  # how many identities they were recomputed for


@dataclass(frozen=True)
class EarlierStatistics:
    """Statistic values an earlier day computed, which still hold for every identity outside
    ``touched``: the identities whose rows, window edges or records changed since then.

    An identity's statistic reads only that identity's rows, so recomputing the touched
    identities over their whole history and keeping the others' values gives the full result.
    """

    values: DataFrame  # one_id and the statistic columns of the earlier day
    touched: DataFrame  # one_id


def column_types(schema: T.StructType) -> dict[str, str]:
    """The columns an expression may name, with their expression types; others are hidden."""
    types = {}
    for field in schema.fields:
        value_type = _expression_type(field.dataType)
        if value_type:
            types[field.name] = value_type
    return types


def _expression_type(data_type: T.DataType) -> str | None:
    if isinstance(data_type, T.BooleanType):
        return expr.BOOLEAN
    if isinstance(data_type, T.StringType):
        return expr.STRING
    if isinstance(data_type, T.DateType):
        return expr.DATE
    if isinstance(data_type, T.NumericType):
        return expr.NUMBER
    return None


def plan(tags: Sequence[TagDef], sources: TagSources) -> tuple[PlannedTag, ...]:
    """The online tags in an order where every tag follows the tags it uses, typed and checked.

    Raises:
        CatalogError: naming the tag: an unknown source, column, tag or model, a type mismatch,
            a dependency on a tag that is not online, or a dependency cycle.
    """
    by_code = {tag.code: tag for tag in tags}
    online = [tag for tag in tags if tag.status == ONLINE]
    dependencies = {tag.code: _dependencies(tag, sources) for tag in online}
    for tag in online:
        for used in dependencies[tag.code]:
            if used not in by_code:
                close = ", ".join(_close(used, by_code))
                raise CatalogError(f"tag {tag.code}: uses unknown tag {used!r}" + (f" (did you mean {close}?)" if close else ""))
            if by_code[used].status != ONLINE:
                raise CatalogError(f"tag {tag.code}: uses tag {used}, which is {by_code[used].status}; only online tags are computed")
    ordered = _topological(online, dependencies)
    planned: dict[str, PlannedTag] = {}
    for tag in ordered:
        tag_types = {code: item.value_type for code, item in planned.items()}
        value_type, spark_type = _type_of(tag, sources, tag_types)
        planned[tag.code] = PlannedTag(tag, value_type, spark_type, tuple(sorted(dependencies[tag.code])))
    return tuple(planned.values())


def _close(name: str, known: Mapping[str, object]) -> list[str]:
    return difflib.get_close_matches(name, list(known), n=3)


def _dependencies(tag: TagDef, sources: TagSources) -> frozenset[str]:
    """The other tags a tag uses: rules name them in conditions, buckets in ``of``."""
    context = f"tag {tag.code}"
    if tag.tag_type == RULE:
        if "condition" in tag.spec:
            return expr.references(_tree(tag.spec["condition"], context))
        used: set[str] = set()
        for case in tag.spec["cases"]:
            used |= expr.references(_tree(case["when"], context))
        return frozenset(used)
    if tag.tag_type == BUCKET:
        used = {tag.spec["of"]}
        if "population" in tag.spec:
            used |= expr.references(_tree(tag.spec["population"], context))
        return frozenset(used)
    return frozenset()


def _tree(condition: object, context: str) -> object:
    """A condition as :mod:`tags.expr` takes it: strings parsed, trees as they are."""
    return expr.parse(condition, context) if isinstance(condition, str) else condition


def _topological(tags: Sequence[TagDef], dependencies: Mapping[str, frozenset[str]]) -> list[TagDef]:
    """Kahn's algorithm, taking ready tags in catalog order so the plan never depends on hashing."""
    remaining = {tag.code: set(dependencies[tag.code]) for tag in tags}
    ordered: list[TagDef] = []
    while remaining:
        ready = [tag for tag in tags if tag.code in remaining and not remaining[tag.code]]
        if not ready:
            cycle = _a_cycle(remaining)
            raise CatalogError(f"tag {cycle[0]}: dependency cycle {' → '.join(cycle)}")
        for tag in ready:
            ordered.append(tag)
            del remaining[tag.code]
        for waiting in remaining.values():
            waiting -= {tag.code for tag in ready}
    return ordered


def _a_cycle(remaining: Mapping[str, set[str]]) -> list[str]:
    """One cycle among tags that all still wait: follow first dependencies until a repeat."""
    path = [min(remaining)]
    while True:
        following = min(code for code in remaining[path[-1]] if code in remaining)
        if following in path:
            return path[path.index(following):] + [following]
        path.append(following)


def _type_of(tag: TagDef, sources: TagSources, tag_types: Mapping[str, str]) -> tuple[str, T.DataType]:
    """The tag's expression type and Spark type; compiles its expressions to find mistakes now."""
    spec, context = tag.spec, f"tag {tag.code}"
    if tag.tag_type == FACT:
        frame = _source(sources.identity, spec["source"], context, "identity")
        types = column_types(frame.schema)
        if "column" in spec:
            column = _column(types, spec["column"], spec["source"], context)
            return types[column], _stored_type(frame.schema[column].dataType)
        compiled = expr.compile_expression(spec["value"], types, context, as_of=PLAN_AS_OF)
        # Analysing the plan gives the expression's Spark type without running anything.
        return compiled.value_type, _stored_type(frame.select(compiled.column.alias("value")).schema["value"].dataType)
    if tag.tag_type == STATISTIC:
        return _statistic_type(tag, sources)
    if tag.tag_type == MODEL:
        _source(sources.models, spec["model"], context, "model")
        return expr.NUMBER, T.DoubleType()
    if tag.tag_type == BUCKET:
        if tag_types.get(spec["of"]) != expr.NUMBER:
            raise CatalogError(f"{context}: buckets cut a number, and tag {spec['of']} is {tag_types.get(spec['of'])}")
        if "population" in spec:
            expr.compile_condition(spec["population"], tag_types, context, as_of=PLAN_AS_OF)
        return expr.STRING, T.StringType()
    if "condition" in spec:
        expr.compile_condition(spec["condition"], tag_types, context, as_of=PLAN_AS_OF)
        return expr.BOOLEAN, T.BooleanType()
    for case in spec["cases"]:
        expr.compile_condition(case["when"], tag_types, context, as_of=PLAN_AS_OF)
    return expr.STRING, T.StringType()


def _statistic_type(tag: TagDef, sources: TagSources) -> tuple[str, T.DataType]:
    spec, context = tag.spec, f"tag {tag.code}"
    source = _source(sources.events, spec["source"], context, "event")
    types = column_types(source.frame.schema)
    for field in ("where", "ratio_where"):
        if field in spec:
            expr.compile_condition(spec[field], types, context, as_of=PLAN_AS_OF)
    agg = spec["agg"]
    if agg in COUNTS and "of" not in spec:
        return expr.NUMBER, T.LongType()
    if agg == "ratio":
        return expr.NUMBER, T.DoubleType()
    of = _column(types, spec["of"], spec["source"], context)
    of_type = types[of]
    if agg in COUNTS:
        return expr.NUMBER, T.LongType()
    if agg in ("sum", "avg") and of_type != expr.NUMBER:
        raise CatalogError(f"{context}: agg {agg} needs a number, and {spec['source']}.{of} is {of_type}")
    if agg in ("min", "max") and of_type not in ORDERABLE:
        raise CatalogError(f"{context}: agg {agg} needs a number, date or text, and {spec['source']}.{of} is {of_type}")
    if agg == "avg_interval_days" and of_type != expr.DATE:
        raise CatalogError(f"{context}: avg_interval_days needs a date column, and {spec['source']}.{of} is {of_type}")
    if agg in ("sum", "avg", "avg_interval_days"):
        return expr.NUMBER, T.DoubleType()
    return of_type, _stored_type(source.frame.schema[of].dataType)


def _source(sources: Mapping[str, object], name: str, context: str, kind: str):
    if name not in sources:
        raise CatalogError(f"{context}: unknown {kind} source {name!r}; known: {', '.join(sorted(sources))}")
    return sources[name]


def _column(types: Mapping[str, str], name: str, source: str, context: str) -> str:
    if name not in types:
        close = ", ".join(_close(name, types))
        raise CatalogError(f"{context}: source {source} has no column {name!r}" + (f" (did you mean {close}?)" if close else ""))
    return name


def _stored_type(data_type: T.DataType) -> T.DataType:
    """Whole numbers stay whole (long), every other number is a double; the rest as it is."""
    if isinstance(data_type, T.IntegralType):
        return T.LongType()
    if isinstance(data_type, T.NumericType):
        return T.DoubleType()
    return data_type


def compute(
    sources: TagSources,
    planned: Sequence[PlannedTag],
    as_of: date,
    due: frozenset[str],
    carried: DataFrame | None = None,
    earlier: EarlierStatistics | None = None,
) -> TagResult:
    """One row per one_id of the population with every planned tag.

    Args:
        due: tags whose refresh day ``as_of`` is; the others take their value from ``carried``
            (the wide frame of their last refresh day) when it has them, else they are computed.
        carried: ``one_id`` and earlier tag columns, or None.
        earlier: statistics of an earlier day to keep for the identities it does not list as
            touched (see :func:`reusable`); the others are computed for the whole population.
    """
    carried_codes = set(carried.columns) - {ONE_ID} if carried is not None else set()
    kept = {item.code for item in planned if item.code not in due and item.code in carried_codes}
    computed = [item for item in planned if item.code not in kept]
    population = sources.population.select(ONE_ID).distinct()
    wide = population
    if kept:
        wide = wide.join(carried.select(ONE_ID, *sorted(kept)), on=ONE_ID, how="left")
    for source_name in sorted({item.tag.spec["source"] for item in computed if item.tag.tag_type == FACT}):
        facts = [item for item in computed if item.tag.tag_type == FACT and item.tag.spec["source"] == source_name]
        wide = wide.join(_facts(sources.identity[source_name], facts, as_of), on=ONE_ID, how="left")
    reused = [item for item in computed if earlier is not None and reusable(item, earlier.values.columns)]
    touched = _touched(earlier, population) if reused else None
    for source_name in sorted({item.tag.spec["source"] for item in computed if item.tag.tag_type == STATISTIC}):
        source = sources.events[source_name]
        statistics = [item for item in computed if item.tag.tag_type == STATISTIC and item.tag.spec["source"] == source_name]
        again = [item for item in statistics if item in reused]
        fresh = [item for item in statistics if item not in reused]
        if fresh:
            wide = wide.join(_statistics(source, fresh, as_of), on=ONE_ID, how="left")
        if again:
            wide = wide.join(_statistics_of_touched(source, again, as_of, earlier, touched), on=ONE_ID, how="left")
        for item in statistics:
            if "default" in item.tag.spec:
                wide = wide.withColumn(item.code, F.coalesce(F.col(item.code), F.lit(item.tag.spec["default"]).cast(item.spark_type)))
    for item in computed:
        if item.tag.tag_type == MODEL:
            scores = sources.models[item.tag.spec["model"]].select(ONE_ID, F.col("probability").alias(item.code))
            wide = wide.join(scores, on=ONE_ID, how="left")
    wide = wide.localCheckpoint() if any(item.tag.tag_type in (RULE, BUCKET) for item in computed) else wide
    types: dict[str, str] = {}
    for item in planned:
        if item.code in {tag.code for tag in computed} and item.tag.tag_type in (RULE, BUCKET):
            column = _rule(item, types, as_of) if item.tag.tag_type == RULE else _bucket(wide, item, types, as_of)
            wide = wide.withColumn(item.code, column)
        types[item.code] = item.value_type
    typed = [F.col(item.code).cast(item.spark_type).alias(item.code) for item in planned]
    return TagResult(wide.select(ONE_ID, *typed), frozenset(item.code for item in computed),
                     frozenset(item.code for item in reused), touched.count() if touched is not None else None)


def reusable(item: PlannedTag, earlier_columns: Sequence[str]) -> bool:
    """Whether a statistic's earlier value holds for an identity none of whose rows changed:
    its conditions must not read the run's date (a window is fine: its edges are watched)."""
    spec = item.tag.spec
    if item.tag.tag_type != STATISTIC or item.code not in earlier_columns:
        return False
    return not any(expr.reads_as_of(spec[field], f"tag {item.code}") for field in ("where", "ratio_where") if field in spec)


def _touched(earlier: EarlierStatistics, population: DataFrame) -> DataFrame:
    """The touched identities of the population, and every identity the earlier day did not have."""
    new = population.join(earlier.values.select(ONE_ID), on=ONE_ID, how="left_anti")
    listed = earlier.touched.select(ONE_ID).join(population, on=ONE_ID, how="left_semi")
    return listed.unionByName(new).distinct().localCheckpoint()


def _statistics_of_touched(source: EventSource, statistics: Sequence[PlannedTag], as_of: date,
                           earlier: EarlierStatistics, touched: DataFrame) -> DataFrame:
    """The statistics recomputed over the touched identities' rows, the earlier values for the rest."""
    rows = source.frame.join(touched, on=ONE_ID, how="left_semi")
    recomputed = _statistics(EventSource(rows, source.date_column), statistics, as_of)
    codes = [item.code for item in statistics]
    # A touched identity without rows gets no recomputed row: its value is null, as in a full run.
    untouched = earlier.values.select(ONE_ID, *codes).join(touched, on=ONE_ID, how="left_anti")
    return recomputed.unionByName(untouched)


def _facts(frame: DataFrame, facts: Sequence[PlannedTag], as_of: date) -> DataFrame:
    types = column_types(frame.schema)
    columns = []
    for item in facts:
        spec = item.tag.spec
        if "column" in spec:
            columns.append(F.col(spec["column"]).alias(item.code))
        else:
            compiled = expr.compile_expression(spec["value"], types, f"tag {item.code}", as_of=as_of)
            columns.append(compiled.column.alias(item.code))
    return frame.select(ONE_ID, *columns)


def _statistics(source: EventSource, statistics: Sequence[PlannedTag], as_of: date) -> DataFrame:
    """Every statistic of one source in one aggregation over its rows up to ``as_of``."""
    frame = source.frame.where(F.col(source.date_column) <= F.lit(as_of))
    types = column_types(frame.schema)
    age = F.datediff(F.lit(as_of), F.col(source.date_column))
    return frame.groupBy(ONE_ID).agg(*[_aggregate(item, types, age, as_of) for item in statistics])


def _aggregate(item: PlannedTag, types: Mapping[str, str], age: Column, as_of: date) -> Column:
    spec, context = item.tag.spec, f"tag {item.code}"
    selected = F.lit(True)
    if "where" in spec:
        selected = expr.compile_condition(spec["where"], types, context, as_of=as_of)
    if "window_days" in spec:
        selected = selected & (age < spec["window_days"])
    agg = spec["agg"]
    value = F.when(selected, F.col(spec["of"])) if "of" in spec else F.when(selected, F.lit(1))
    if agg == "count":
        result = F.count(value)
    elif agg == "count_distinct":
        result = F.count_distinct(value)
    elif agg in ("sum", "avg"):
        aggregated = F.sum(value) if agg == "sum" else F.avg(value)
        result = F.round(aggregated.cast("double"), DECIMALS)
    elif agg == "min":
        result = F.min(value)
    elif agg == "max":
        result = F.max(value)
    elif agg == "mode":
        # Deterministic mode: of the most frequent values, the smallest.
        result = F.mode(value, deterministic=True)
    elif agg == "avg_interval_days":
        # The mean gap between consecutive distinct dates telescopes to (last − first) / (n − 1).
        distinct_days = F.count_distinct(value)
        span = F.datediff(F.max(value), F.min(value))
        result = F.when(distinct_days > 1, F.round(span / (distinct_days - 1), DECIMALS))
    else:
        matching = expr.compile_condition(spec["ratio_where"], types, context, as_of=as_of)
        rows = F.count(F.when(selected, F.lit(1)))
        result = F.when(rows > 0, F.round(F.count(F.when(selected & matching, F.lit(1))) / rows, DECIMALS))
    return result.cast(item.spark_type).alias(item.code)


def _rule(item: PlannedTag, types: Mapping[str, str], as_of: date) -> Column:
    spec, context = item.tag.spec, f"tag {item.code}"
    if "condition" in spec:
        return expr.compile_condition(spec["condition"], types, context, as_of=as_of)
    labelled = None
    for case in spec["cases"]:
        holds = expr.compile_condition(case["when"], types, context, as_of=as_of)
        labelled = F.when(holds, F.lit(str(case["value"]))) if labelled is None else labelled.when(holds, F.lit(str(case["value"])))
    otherwise = spec.get("else")
    return labelled.otherwise(F.lit(None if otherwise is None else str(otherwise)).cast("string"))


def _bucket(wide: DataFrame, item: PlannedTag, types: Mapping[str, str], as_of: date) -> Column:
    spec, context = item.tag.spec, f"tag {item.code}"
    value = F.col(spec["of"])
    member = value.isNotNull()
    if "population" in spec:
        member = member & expr.compile_condition(spec["population"], types, context, as_of=as_of)
    if spec["method"] == "fixed":
        cuts = [float(cut) for cut in spec["thresholds"]]
    else:
        cuts = quantile_cuts(wide.where(member), spec["of"], spec["quantiles"])
    labels = [str(label) for label in spec["labels"]]
    if cuts is None:
        return F.lit(None).cast("string")
    # The label of a value is the number of cut points it reaches: ties share a label.
    reached = sum((F.when(value.cast("double") >= F.lit(cut), 1).otherwise(0) for cut in cuts), F.lit(0))
    return F.when(member, F.element_at(F.array(*[F.lit(label) for label in labels]), reached + 1))


def quantile_cuts(frame: DataFrame, column: str, quantiles: Sequence[float]) -> list[float] | None:
    """Exact percentiles (linear interpolation) of ``column`` over ``frame``; None when it is empty."""
    row = frame.agg(F.percentile(F.col(column).cast("double"), [float(q) for q in quantiles]).alias("cuts")).first()
    return None if row is None or row.cuts is None else [float(cut) for cut in row.cuts]


def long_form(wide: DataFrame, planned: Sequence[PlannedTag], ds: date) -> DataFrame:
    """``ads.tag_value``: one row per one_id and tag that has a value, the value as text."""
    pairs = F.array(*[
        F.struct(F.lit(item.code).alias("tag_code"), tag_text(F.col(item.code), item.spark_type).alias("tag_value"))
        for item in planned
    ])
    exploded = wide.select(ONE_ID, F.explode(pairs).alias("pair")).select(ONE_ID, "pair.*")
    return exploded.where(F.col("tag_value").isNotNull()).withColumn("ds", F.lit(ds)).select(*TAG_VALUE_COLUMNS)


def tag_text(value: Column, spark_type: T.DataType) -> Column:
    """A tag value as text: whole numbers plain, others without trailing zeros, dates ISO."""
    if isinstance(spark_type, T.DoubleType):
        fixed = value.cast(f"decimal(38,{DECIMALS})").cast("string")
        return F.regexp_replace(F.regexp_replace(fixed, r"(\.\d*?)0+$", "$1"), r"\.$", "")
    if isinstance(spark_type, T.BooleanType):
        return F.when(value, F.lit("true")).when(~value, F.lit("false"))
    return value.cast("string")


def definition_text(tag: TagDef) -> str:
    """The definition as stable JSON: when it changes, values computed before are stale."""
    return json.dumps({"type": tag.tag_type, **tag.spec}, ensure_ascii=False, sort_keys=True, default=str)


def catalog_rows(
    wide: DataFrame,
    values: DataFrame,
    tags: Sequence[TagDef],
    planned: Sequence[PlannedTag],
    computed_ds: Mapping[str, date],
    ds: date,
    inputs_fingerprint: str | None = None,
) -> DataFrame:
    """``ads.tag_catalog``: every tag of the catalog, with coverage and value distribution for
    the online ones, so operators see which tags are alive.

    Args:
        wide: the day's ``ads.tag_wide`` frame.
        values: the day's ``ads.tag_value`` frame.
        computed_ds: per online tag, the date its values were computed (today or its last refresh).
        inputs_fingerprint: recorded for the statistic tags: the reference data their rows took,
            which a later incremental day must share to keep their values.
    """
    spark = wide.sparkSession
    population = wide.count()
    counts = values.groupBy("tag_code", "tag_value").agg(F.count(F.lit(1)).alias("one_ids"))
    ranked = counts.withColumn(
        "rank", F.row_number().over(Window.partitionBy("tag_code").orderBy(F.col("one_ids").desc(), F.col("tag_value")))
    )
    share = F.round(F.col("one_ids") / F.lit(max(population, 1)), DECIMALS)
    distribution = ranked.groupBy("tag_code").agg(
        F.sum("one_ids").alias("covered"),
        F.count(F.lit(1)).alias("distinct_values"),
        F.sort_array(F.collect_list(F.when(F.col("rank") <= TOP_VALUES, F.struct(
            F.col("rank"), F.col("tag_value").alias("value"), F.col("one_ids"), share.alias("share"),
        )))).alias("top_values"),
    ).withColumn("top_values", F.transform("top_values", lambda entry: entry.dropFields("rank")))
    summaries = _numeric_summaries(wide, planned)
    types = {item.code: item for item in planned}
    rows = [
        (
            ds, tag.code, tag.name_zh, tag.name_en, tag.category_path, tag.category[0], tag.tag_type, tag.status,
            tag.refresh, tag.owner, tag.description,
            types[tag.code].value_type if tag.code in types else None,
            list(types[tag.code].depends_on) if tag.code in types else [],
            definition_text(tag),
            tag.defined_in, computed_ds.get(tag.code), population if tag.code in types else None,
            summaries.get(tag.code),
            inputs_fingerprint if tag.code in types and tag.tag_type == STATISTIC else None,
        )
        for tag in tags
    ]
    listed = spark.createDataFrame(rows, CATALOG_SCHEMA)
    return (
        listed.join(distribution, on="tag_code", how="left")
        .withColumn("covered", F.when(F.col("population").isNotNull(), F.coalesce(F.col("covered"), F.lit(0))))
        .withColumn("distinct_values", F.when(F.col("population").isNotNull(), F.coalesce(F.col("distinct_values"), F.lit(0))))
        .withColumn("coverage", F.round(F.col("covered") / F.greatest(F.col("population"), F.lit(1)), DECIMALS))
        .select(*CATALOG_COLUMNS)
    )


CATALOG_SCHEMA = T.StructType([
    T.StructField("ds", T.DateType()),
    T.StructField("tag_code", T.StringType()),
    T.StructField("name_zh", T.StringType()),
    T.StructField("name_en", T.StringType()),
    T.StructField("category_path", T.StringType()),
    T.StructField("category_l1", T.StringType()),
    T.StructField("tag_type", T.StringType()),
    T.StructField("status", T.StringType()),
    T.StructField("refresh", T.StringType()),
    T.StructField("owner", T.StringType()),
    T.StructField("description", T.StringType()),
    T.StructField("value_type", T.StringType()),
    T.StructField("depends_on", T.ArrayType(T.StringType())),
    T.StructField("definition", T.StringType()),
    T.StructField("defined_in", T.StringType()),
    T.StructField("computed_ds", T.DateType()),
    T.StructField("population", T.LongType()),
    T.StructField("numeric_summary", T.MapType(T.StringType(), T.DoubleType())),
    T.StructField("inputs_fingerprint", T.StringType()),
])
SUMMARY_POINTS = {"min": 0.0, "p25": 0.25, "median": 0.5, "p75": 0.75, "max": 1.0}


def _numeric_summaries(wide: DataFrame, planned: Sequence[PlannedTag]) -> dict[str, dict[str, float]]:
    """min, quartiles, max and mean of every number tag, in one aggregation."""
    numbers = [item.code for item in planned if item.value_type == expr.NUMBER]
    if not numbers:
        return {}
    aggregates = []
    for code in numbers:
        value = F.col(code).cast("double")
        aggregates += [F.percentile(value, list(SUMMARY_POINTS.values())).alias(f"{code}__p"),
                       F.avg(value).alias(f"{code}__mean")]
    row = wide.agg(*aggregates).first()
    summaries = {}
    for code in numbers:
        points = row[f"{code}__p"]
        if points is None:
            continue
        summary = {name: round(float(point), DECIMALS) for name, point in zip(SUMMARY_POINTS, points)}
        summary["mean"] = round(float(row[f"{code}__mean"]), DECIMALS)
        summaries[code] = summary
    return summaries
