"""Which identity a source record belongs to: the key later layers use to reach one_ids.

A record carries several identifiers; its owner is the identity of the first one, in the
field order ``conf/oneid.yml`` gives per record, that the mapping holds. The order matters
where a record names someone else too: an e-commerce order's receiver mobile may be a gift's
receiver, so it never decides whose order it is.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

COLUMNS = ("record_key", "source", "entity", "one_id", "owner_field")


def owners(valid_evidence: DataFrame, mapping: DataFrame, owner_fields: Mapping[str, Sequence[str]]) -> DataFrame:
    """``(record_key, source, entity, one_id, owner_field)``, one row per owned record.

    Args:
        valid_evidence: evidence rows with a valid identifier (record_key, source, entity,
            field, node), any number of dts: the newest dt of a record decides.
        mapping: ``(node, one_id)``.
        owner_fields: ``source.entity`` → fields that may own the record, best first.
    """
    spark = valid_evidence.sparkSession
    order = spark.createDataFrame(
        [(record, field, rank) for record, fields in owner_fields.items() for rank, field in enumerate(fields)],
        T.StructType([T.StructField("record", T.StringType()), T.StructField("field", T.StringType()),
                      T.StructField("field_rank", T.IntegerType())]),
    )
    candidates = (
        valid_evidence.withColumn("record", F.concat_ws(".", "source", "entity"))
        .join(F.broadcast(order), on=["record", "field"], how="inner")
        .join(mapping.select("node", "one_id"), on="node", how="inner")
    )
    first = Window.partitionBy("record_key").orderBy(F.col("dt").desc(), F.col("field_rank"))
    return (
        candidates.withColumn("rank", F.row_number().over(first))
        .where(F.col("rank") == 1)
        .select("record_key", "source", "entity", "one_id", F.col("field").alias("owner_field"))
    )
