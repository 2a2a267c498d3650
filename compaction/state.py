"""Silver current state and customer history, column-oriented with DuckDB.

One table at a time: its silver change-log (the lake's Delta table as an Arrow dataset,
or a pyarrow table in tests) becomes the DuckDB table ``changes``
(deduplicated by bronze coordinates, with the change-order key), from which the
current state and, for customers, the SCD2 history are queried. DuckDB runs with a
memory limit and spills to its temp folder, so memory stays bounded whatever the
scale. No DuckDB extension is ever downloaded: DuckDB scans the Arrow dataset itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from compaction import gold_sql, sqlfiles
from schemas import PRIMARY_KEYS
from schemas.columns import COLUMNS, Column

if TYPE_CHECKING:
    import pyarrow.dataset as pads

_TS = pa.timestamp("us", tz="UTC")

#: Envelope columns of the silver change-log (see stream_apps.formats.SILVER_ENVELOPE).
ENVELOPE: tuple[tuple[str, pa.DataType], ...] = (
    ("op", pa.string()),
    ("is_delete", pa.bool_()),
    ("source_lsn", pa.int64()),
    ("commit_lsn", pa.int64()),
    ("tx_id", pa.int64()),
    ("tx_order", pa.int64()),
    ("commit_ts", _TS),
    ("snapshot", pa.bool_()),
    ("bronze_topic", pa.string()),
    ("bronze_partition", pa.int32()),
    ("bronze_offset", pa.int64()),
    ("commit_date", pa.date32()),
)


def _arrow_type(col: Column) -> pa.DataType:
    return {
        "int": pa.int64(),
        "str": pa.string(),
        "timestamp": _TS,
        "date": pa.date32(),
    }.get(col.kind) or pa.decimal128(col.precision or 38, col.scale or 0)


def silver_arrow_schema(table: str) -> pa.Schema:
    """The silver change-log's schema of ``table`` (envelope, then the table's columns)."""
    fields = [pa.field(n, t) for n, t in ENVELOPE]
    fields += [pa.field(c.name, _arrow_type(c)) for c in COLUMNS[table]]
    return pa.schema(fields)


def connect(
    database: Path | None = None,
    *,
    memory_limit: str = "2GB",
    threads: int = 2,
    temp_directory: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never downloads extensions and works in UTC."""
    con = duckdb.connect(
        str(database) if database is not None else ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    run_sql(con, "SET TimeZone = 'UTC'")
    run_sql(con, f"SET memory_limit = '{sql_str(memory_limit)}'")
    run_sql(con, f"SET threads = {int(threads)}")
    run_sql(con, "SET preserve_insertion_order = false")
    run_sql(con, "SET enable_progress_bar = false")  # the core never prints
    if temp_directory is not None:
        run_sql(con, f"SET temp_directory = '{sql_str(str(temp_directory))}'")
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A connection of its own to ``con``'s database, for another thread, working in UTC
    too (the time zone is a setting of each connection)."""
    cur = con.cursor()
    run_sql(cur, "SET TimeZone = 'UTC'")
    return cur


def run_sql(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    """Execute and fetch everything (DuckDB wants a result finished before the next one)."""
    return con.execute(sql).fetchall()


def sql_str(text: str) -> str:
    return text.replace("'", "''")


def load_changes(
    con: duckdb.DuckDBPyConnection, table: str, source: pa.Table | pads.Dataset | None
) -> int:
    """Make ``changes`` the deduplicated change-log of ``table``; returns its row count.

    Deduplicated: one row per bronze coordinates, and one per change (key, source LSN,
    op) delivered twice at different offsets (see duck_changes.sql).

    ``source`` is the silver Delta table as an Arrow dataset, a pyarrow table, or None
    (no table yet: an empty change-log).
    """
    arrow = silver_arrow_schema(table).empty_table() if source is None else source
    con.register("silver_source", arrow)
    try:
        run_sql(
            con,
            sqlfiles.read("duck_changes.sql").format(
                source="silver_source", pk=PRIMARY_KEYS[table]
            ),
        )
    finally:
        con.unregister("silver_source")
    return int(run_sql(con, "SELECT count(*) FROM changes")[0][0])  # type: ignore[call-overload]


def current_state_query(table: str, *, split: bool = False) -> str:
    """The current state of ``table`` from ``changes`` (compaction/sql/gold/state.sql;
    ``split``: see :func:`compaction.gold_sql.state_sql`)."""
    return gold_sql.current_state_sql(table, source="changes", split=split)


def history_query() -> str:
    """The customers' SCD2 history (compaction/sql/gold/dim_customers_history.sql) from
    the relation ``silver_customers``."""
    return gold_sql.GOLD[gold_sql.HISTORY].sql


def current_state(con: duckdb.DuckDBPyConnection, table: str, *, split: bool = False) -> pa.Table:
    """The current state of ``table`` (after :func:`load_changes`) as a pyarrow table."""
    return con.sql(current_state_query(table, split=split)).to_arrow_table()


def customers_history(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The SCD2 history of customers (after ``load_changes(con, "customers", ...)``)."""
    run_sql(con, "CREATE OR REPLACE TEMP VIEW silver_customers AS SELECT * FROM changes")
    return con.sql(history_query()).to_arrow_table()


@dataclass(frozen=True)
class Position:
    """The highest source position in a change-log."""

    max_commit_ts: datetime | None
    max_source_lsn: int | None

    def merge(self, other: Position) -> Position:
        ts = [t for t in (self.max_commit_ts, other.max_commit_ts) if t is not None]
        lsn = [n for n in (self.max_source_lsn, other.max_source_lsn) if n is not None]
        return Position(max(ts) if ts else None, max(lsn) if lsn else None)


def position(con: duckdb.DuckDBPyConnection) -> Position:
    ts, lsn = run_sql(con, "SELECT max(commit_ts), max(source_lsn) FROM changes")[0]
    return Position(ts, None if lsn is None else int(lsn))  # type: ignore[arg-type,call-overload]


def drop_changes(con: duckdb.DuckDBPyConnection) -> None:
    run_sql(con, "DROP TABLE IF EXISTS changes")
