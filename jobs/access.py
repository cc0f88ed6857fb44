"""Who may read the restricted tables (SPEC section 4) where the product serves analysts.

`cdp sql` and `cdp segment export` run as an analyst unless the caller passes
``--role data-engineer``. An analyst's query is analysed, not run, and refused when its plan
reads a restricted table however the query reaches it: by name, through a view, a CTE or a
subquery, or by path (``delta.`/lakehouse/ods/...```, ``parquet.`...```), since every one of
them ends in a relation over the table's folder. An analyst's export reads through a catalog
that refuses restricted tables. On a shared cluster the metastore's grants do the same for
every client (``conf/env/cluster.yml``); the embedded profile has no grants, only this check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from jobs.config import Catalog, Settings, TableSpec

if TYPE_CHECKING:  # the `cdp` parser imports the roles; Spark is imported only when a check runs
    from pyspark.sql import SparkSession

ANALYST, DATA_ENGINEER = "analyst", "data-engineer"
ROLES = (ANALYST, DATA_ENGINEER)
ROLE_OPTION = "--role"

# A relation over files (Delta, Parquet, CSV, ...): the leaf every read of a lakehouse table
# ends in, whatever name or path the query used. Relations of other kinds (JDBC, in-memory
# rows) hold no lakehouse table.
_LOGICAL_RELATION = "org.apache.spark.sql.execution.datasources.LogicalRelation"


class RestrictedTableError(PermissionError):
    """An analyst asked for a table that holds raw identifiers."""

    def __init__(self, table: str):
        super().__init__(
            f"table {table} is restricted (raw identifiers, SPEC section 4); "
            f"run as data-engineer with `{ROLE_OPTION} {DATA_ENGINEER}` if you are one"
        )
        self.table = table


def refuse_restricted_reads(spark: SparkSession, settings: Settings, catalog: Catalog, query: str, role: str) -> None:
    """Refuses an analyst's ``query`` when it reads a restricted table; runs nothing.

    Raises:
        RestrictedTableError: naming the first restricted table the query reads.
        AnalysisException: the query does not parse or resolve (as ``spark.sql`` would say).
    """
    if role == DATA_ENGINEER:
        return
    read = restricted_tables_read(spark, settings, catalog, query)
    if read:
        raise RestrictedTableError(read[0].qualified_name)


def restricted_tables_read(spark: SparkSession, settings: Settings, catalog: Catalog, query: str) -> list[TableSpec]:
    """The restricted tables ``query`` reads, in catalog order, from its analysed plan.

    The query is parsed and analysed without being executed: ``spark.sql`` would run a command
    such as ``CREATE TABLE ... AS SELECT`` at once, copying the rows before any check.
    """
    roots = {table.qualified_name: _qualified(spark, table.path(settings.lakehouse))
             for table in catalog.tables.values() if table.restricted}
    file_relation = spark._jvm.org.apache.spark.sql.execution.datasources.HadoopFsRelation._java_lang_class
    folders = set(_folders_read(_analysed(spark, query), file_relation))
    return [catalog.table(name) for name, root in roots.items()
            if any(folder == root or folder.startswith(root + "/") for folder in folders)]


def _analysed(spark: SparkSession, query: str):
    """The analysed plan of ``query``; a query that does not parse or resolve raises the
    AnalysisException ``spark.sql`` would."""
    from pyspark.errors.exceptions.captured import capture_sql_exception

    state = spark._jsparkSession.sessionState()
    # Analysed only: with SKIP, a command's plan is resolved but the command is not executed.
    skip_commands = getattr(getattr(spark._jvm.org.apache.spark.sql.execution, "CommandExecutionMode$"), "MODULE$").SKIP()
    return capture_sql_exception(
        lambda: state.executePlan(state.sqlParser().parsePlan(query), skip_commands).analyzed()
    )()


def _folders_read(node, file_relation) -> Iterator[str]:
    """The root folder of every relation over files under the plan ``node`` (Delta's relation
    is a subclass of ``file_relation``). Subqueries and the query of a ``CREATE VIEW`` are inner
    children, not children, of the node that holds them."""
    if node.getClass().getName() == _LOGICAL_RELATION and file_relation.isInstance(node.relation()):
        paths = node.relation().location().rootPaths()
        yield from (paths.apply(index).toString() for index in range(paths.size()))
    for nodes in (node.children(), node.innerChildren()):
        for index in range(nodes.size()):
            yield from _folders_read(nodes.apply(index), file_relation)


def _qualified(spark: SparkSession, path: str) -> str:
    """``path`` as Spark names a relation's folder (``file:/...``, ``hdfs://host:port/...``)."""
    hadoop_path = spark._jvm.org.apache.hadoop.fs.Path(path)
    filesystem = hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration())
    return filesystem.makeQualified(hadoop_path).toString()


@dataclass(frozen=True)
class AnalystCatalog(Catalog):
    """The catalog an analyst's job reads through: a restricted table answers with a refusal."""

    def table(self, qualified_name: str) -> TableSpec:
        table = super().table(qualified_name)
        if table.restricted:
            raise RestrictedTableError(table.qualified_name)
        return table


def catalog_for(catalog: Catalog, role: str) -> Catalog:
    """``catalog`` as ``role`` may read it."""
    return catalog if role == DATA_ENGINEER else AnalystCatalog(tables=catalog.tables)
