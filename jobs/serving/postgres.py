"""Loads frames into the serving PostgreSQL so that a reader never sees a half-loaded table.

Every table is created in a staging schema from its block of ``schema.sql``, bulk-loaded with
COPY in the transaction that created it (with ``wal_level=minimal`` PostgreSQL then writes no
WAL for it, and ``FREEZE`` spares the first reader the hint-bit writes), given its key and
indexes, and counted. A table too big for the driver is created and committed first and then
COPYed into by Spark's tasks in parallel, each part in its own transaction. Then one
transaction drops the served tables and moves the staged ones into their place: readers wait
for that short transaction and then see the new tables, all from the same run. A rerun builds
everything anew, so it replaces and never duplicates.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv
from psycopg import sql

SCHEMA_FILE = Path(__file__).with_name("schema.sql")
SERVING_SCHEMA = "cdp"
STAGING_SCHEMA = "cdp_staging"
PUBLISHED_TABLES = "published_tables"
# Two publishes into one database would drop each other's staging tables: the second waits.
PUBLISH_LOCK = 0x0CD9_5E4E
SWAP_LOCK_TIMEOUT = "2s"
SWAP_ATTEMPTS = 10
_BLOCK_MARKER = re.compile(r"^-- table: (\w+)\s*$", re.MULTILINE)


class RowCountMismatch(RuntimeError):
    """A staged table holds another number of rows than its Delta source; nothing was swapped in."""


@dataclass(frozen=True)
class TableDdl:
    """One table's block of ``schema.sql``: its CREATE TABLE, then its key and indexes."""

    name: str
    create: str
    keys_and_indexes: tuple[str, ...]


@lru_cache(maxsize=1)
def table_ddls() -> dict[str, TableDdl]:
    """The blocks of ``schema.sql`` by table name.

    Raises:
        ValueError: a block does not start with the CREATE TABLE of its table.
    """
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    parts = _BLOCK_MARKER.split(text)
    ddls = {}
    for name, block in zip(parts[1::2], parts[2::2]):
        statements = [statement.strip() for statement in _without_comments(block).split(";") if statement.strip()]
        if not statements or not statements[0].upper().startswith(f"CREATE TABLE {name.upper()} "):
            raise ValueError(f"{SCHEMA_FILE}: the block of table {name} must start with CREATE TABLE {name}")
        ddls[name] = TableDdl(name, statements[0], tuple(statements[1:]))
    return ddls


def _without_comments(block: str) -> str:
    return "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("--"))


def served_tables() -> tuple[str, ...]:
    """Every table a publish replaces (all but the record of publishes itself)."""
    return tuple(name for name in table_ddls() if name != PUBLISHED_TABLES)


@dataclass(frozen=True)
class StagedTable:
    name: str
    rows: int
    load_seconds: float
    index_seconds: float


class Staging:
    """The staging schema of one publish, on one connection that holds the publish lock."""

    def __init__(self, connection: psycopg.Connection):
        self.connection = connection
        self.staged: list[StagedTable] = []

    def load(self, table: str, csv_chunks: Iterable[bytes], expected_rows: int) -> StagedTable:
        """Creates ``table`` in the staging schema, COPYs the CSV into it, builds its key and
        indexes and checks it holds ``expected_rows``, all in one transaction.

        Raises:
            RowCountMismatch: the staged table holds another number of rows.
        """
        ddl = table_ddls()[table]
        started = time.monotonic()
        with self.connection.transaction():
            self._create(ddl)
            with self.connection.cursor().copy(copy_statement(table, freeze=True)) as copy:
                for chunk in csv_chunks:
                    copy.write(chunk)
            loaded = time.monotonic()
            rows = self._index_and_count(ddl)
        return self._staged(table, rows, expected_rows, started, loaded)

    def load_in_parallel(self, table: str, copy_parts: Callable[[str], object], expected_rows: int) -> StagedTable:
        """Creates ``table`` in the staging schema and commits it, so that ``copy_parts`` can fill
        it from other connections (Spark's tasks, each COPYing its part in a transaction of its
        own), given the COPY statement. Then the key and indexes are built and the rows counted
        against ``expected_rows``; a part copied twice (a task retried after its commit) breaks
        the key or the count, and nothing is swapped in.

        Raises:
            RowCountMismatch: the staged table holds another number of rows.
        """
        ddl = table_ddls()[table]
        started = time.monotonic()
        with self.connection.transaction():
            self._create(ddl)
        copy_parts(copy_statement(table, freeze=False).as_string(self.connection))
        loaded = time.monotonic()
        with self.connection.transaction():
            rows = self._index_and_count(ddl)
        return self._staged(table, rows, expected_rows, started, loaded)

    def _create(self, ddl: TableDdl) -> None:
        self._use_staging_schema()
        self.connection.execute(ddl.create)

    def _index_and_count(self, ddl: TableDdl) -> int:
        self._use_staging_schema()
        for statement in ddl.keys_and_indexes:
            self.connection.execute(statement)
        return self.connection.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(ddl.name))).fetchone()[0]

    def _use_staging_schema(self) -> None:
        """The DDL of ``schema.sql`` names tables unqualified: in this transaction they are the staging ones."""
        self.connection.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(STAGING_SCHEMA)))

    def _staged(self, table: str, rows: int, expected_rows: int, started: float, loaded: float) -> StagedTable:
        if rows != expected_rows:
            raise RowCountMismatch(f"{STAGING_SCHEMA}.{table} holds {rows} rows, its Delta source {expected_rows}; "
                                   "nothing was swapped in")
        staged = StagedTable(table, rows, round(loaded - started, 2), round(time.monotonic() - loaded, 2))
        self.staged.append(staged)
        return staged

    def swap_in(self, ds: date) -> None:
        """Replaces every served table with its staged one in one transaction, and records the publish.

        Raises:
            psycopg.errors.LockNotAvailable: a reader held a table through every attempt.
        """
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            try:
                self._swap(ds)
                break
            except psycopg.errors.LockNotAvailable:
                if attempt == SWAP_ATTEMPTS:
                    raise
        self.connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(STAGING_SCHEMA)))

    def _swap(self, ds: date) -> None:
        with self.connection.transaction():
            # New readers queue behind a waiting DROP: give up soon and try again rather than
            # stall the API behind one long reader.
            self.connection.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(SWAP_LOCK_TIMEOUT)))
            for staged in self.staged:
                self.connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                    sql.Identifier(SERVING_SCHEMA, staged.name)))
                self.connection.execute(sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                    sql.Identifier(STAGING_SCHEMA, staged.name), sql.Identifier(SERVING_SCHEMA)))
                self.connection.execute(
                    sql.SQL("INSERT INTO {} (table_name, ds, row_count, published_at) VALUES (%s, %s, %s, now()) "
                            "ON CONFLICT (table_name) DO UPDATE SET ds = EXCLUDED.ds, row_count = EXCLUDED.row_count, "
                            "published_at = EXCLUDED.published_at").format(sql.Identifier(SERVING_SCHEMA, PUBLISHED_TABLES)),
                    (staged.name, ds, staged.rows),
                )


@contextlib.contextmanager
def open_staging(conninfo: str) -> Iterator[Staging]:
    """A connection holding the publish lock, with an empty staging schema and the serving schema
    (and its record of publishes) in place. Leftovers of an interrupted publish are dropped."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (PUBLISH_LOCK,))
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(STAGING_SCHEMA)))
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(STAGING_SCHEMA)))
        connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SERVING_SCHEMA)))
        _create_record_of_publishes(connection)
        try:
            yield Staging(connection)
        finally:
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(STAGING_SCHEMA)))
            connection.execute("SELECT pg_advisory_unlock(%s)", (PUBLISH_LOCK,))


def served_ds(conninfo: str) -> date | None:
    """The newest business date the serving tables hold, or None before the first publish."""
    with psycopg.connect(conninfo) as connection:
        if connection.execute("SELECT to_regclass(%s)", (f"{SERVING_SCHEMA}.{PUBLISHED_TABLES}",)).fetchone()[0] is None:
            return None
        return connection.execute(sql.SQL("SELECT max(ds) FROM {}").format(
            sql.Identifier(SERVING_SCHEMA, PUBLISHED_TABLES))).fetchone()[0]


def _create_record_of_publishes(connection: psycopg.Connection) -> None:
    exists = connection.execute("SELECT to_regclass(%s)", (f"{SERVING_SCHEMA}.{PUBLISHED_TABLES}",)).fetchone()[0]
    if exists is None:
        ddl = table_ddls()[PUBLISHED_TABLES]
        with connection.transaction():
            connection.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(SERVING_SCHEMA)))
            for statement in (ddl.create, *ddl.keys_and_indexes):
                connection.execute(statement)


def copy_statement(table: str, freeze: bool) -> sql.Composed:
    """COPY into the staging table from CSV; FREEZE only in the transaction that created it."""
    columns = sql.SQL(", ").join(sql.Identifier(column) for column in declared_columns(table))
    options = sql.SQL("FORMAT csv, FREEZE" if freeze else "FORMAT csv")
    return sql.SQL("COPY {} ({}) FROM STDIN WITH ({})").format(sql.Identifier(STAGING_SCHEMA, table), columns, options)


def declared_columns(table: str) -> list[str]:
    """The table's columns in order, as ``schema.sql`` declares them (one per line)."""
    create = table_ddls()[table].create
    body = create[create.index("(") + 1 : create.rindex(")")]
    return [line.split()[0] for line in (part.strip() for part in body.split(",\n")) if line]


def csv_chunks(batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    """Arrow record batches as CSV for ``COPY ... (FORMAT csv)``: strings always quoted, so an
    empty string stays one and a null (an empty field) stays null; lists as array literals."""
    options = arrow_csv.WriteOptions(include_header=False, quoting_style="needed")
    for batch in batches:
        columns = [_array_literals(column) if pa.types.is_list(column.type) else column for column in batch.columns]
        sink = pa.BufferOutputStream()
        arrow_csv.write_csv(pa.RecordBatch.from_arrays(columns, names=batch.schema.names), sink, options)
        yield sink.getvalue().to_pybytes()


def _array_literals(lists: pa.ListArray) -> pa.Array:
    """``{"a","b\\"c",NULL}`` per list: every element quoted with its quotes and backslashes
    escaped, null elements as NULL (in pyarrow: the same in a Spark expression made the Arrow
    collect of 1M rows 7.3 s instead of 1.5 s)."""
    start, end = lists.offsets[0].as_py(), lists.offsets[-1].as_py()
    items = lists.values.slice(start, end - start).cast(pa.string())
    escaped = pc.replace_substring(pc.replace_substring(items, "\\", "\\\\"), '"', '\\"')
    quoted = pc.fill_null(pc.binary_join_element_wise("", escaped, "", '"'), "NULL")
    relisted = pa.ListArray.from_arrays(pc.subtract(lists.offsets, start), quoted, mask=lists.is_null())
    return pc.binary_join_element_wise("{", pc.binary_join(relisted, ","), "}", "")
