"""Gold computed by DuckDB from the silver change-logs, with the shared definitions of
:mod:`compaction.gold_sql`.

In one DuckDB database (a file, so it can stay between builds as the local copy of the
state): ``st_<table>`` is the state of each source table (the last version of every key,
ended keys included), ``st_history`` the customers' SCD2 versions, ``cur_<table>`` views
the current state, tables of the relations derived from it (:data:`gold_sql.DERIVED`,
made by :func:`derive`), and schema ``gold_out`` the gold tables :func:`compute_gold` computes (a
build does not keep gold: it computes each table straight into the CSV file it loads).
DuckDB runs with a memory limit and spills to its temp folder beyond it. No DuckDB
extension is ever downloaded: DuckDB reads the Delta tables' Parquet data files (or their
Arrow datasets) with what it has built in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from compaction import gold_sql
from compaction.silver_files import ParquetFiles
from compaction.state import Position, run_sql, silver_arrow_schema, sql_str
from schemas import SOURCE_TABLES
from schemas.columns import COLUMNS

if TYPE_CHECKING:
    import pyarrow.dataset as pads

HISTORY_TABLE = "st_history"
GOLD_SCHEMA = "gold_out"
#: (k0, k1, k2, k3) change position, see compaction/sql/gold/state.sql.
Pos = tuple[int, int, int, int]


@dataclass
class TableRead:
    """What reading one silver change-log gave."""

    table: str
    changes: int = 0
    rows: int = 0
    #: bronze topic -> Kafka partition -> newest bronze offset in the change-log read
    coverage: dict[str, dict[int, int]] = field(default_factory=dict)
    position: Position = field(default_factory=lambda: Position(None, None))
    #: position and commit time of the table's last truncate, if any
    truncate: Pos | None = None
    truncate_ts: datetime | None = None


def register(
    con: duckdb.DuckDBPyConnection, table: str, source: pa.Table | pads.Dataset | None
) -> str:
    """Make ``source`` (None: an empty change-log) the relation ``silver_<table>``."""
    name = gold_sql.silver_relation(table)
    arrow = silver_arrow_schema(table).empty_table() if source is None else source
    con.register(name, arrow)
    return name


#: Change-log columns a build reads besides the table's own (state, history, summary).
READ_ENVELOPE = (
    "op", "is_delete", "source_lsn", "commit_lsn", "commit_ts", "bronze_topic",
    "bronze_partition", "bronze_offset",
)  # fmt: skip


def read_silver(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: pa.Table | pads.Dataset | ParquetFiles | None,
) -> TableRead:
    """Build ``st_<table>`` (and for customers ``st_history``) from the change-log:
    ``source`` is the silver table as an Arrow dataset or table, its data files on local
    disk, or None (no table yet: an empty change-log).

    The change-log is scanned once, into the temporary table ``silver_<table>`` (only
    the columns the build reads), and the state, the history and the summary are all
    computed from that copy: each further scan of a lake table would fetch and decode its
    Parquet files again."""
    name = gold_sql.silver_relation(table)
    if isinstance(source, ParquetFiles) and source.count:
        _copy_parquet(con, table, name, source)
    else:
        empty = source is None or isinstance(source, ParquetFiles)  # no table, no files
        con.register("silver_source", silver_arrow_schema(table).empty_table() if empty else source)
        try:
            run_sql(con, f"CREATE OR REPLACE TEMP TABLE {name} AS "
                         f"SELECT {', '.join(read_columns(table))} FROM silver_source")  # fmt: skip
        finally:
            con.unregister("silver_source")
    try:
        run_sql(con, f"CREATE OR REPLACE TABLE {gold_sql.state_relation(table)} AS "
                  f"{gold_sql.state_sql(table, split=True)}")  # fmt: skip
        if table == "customers":
            run_sql(con, f"CREATE OR REPLACE TABLE {HISTORY_TABLE} AS "
                      f"{gold_sql.GOLD[gold_sql.HISTORY].sql}")  # fmt: skip
        read = summarise(con, table, name)
    finally:
        run_sql(con, f"DROP TABLE IF EXISTS temp.{name}")
    create_view(con, table)
    read.rows = count(con, gold_sql.current_relation(table))
    return read


def read_columns(table: str) -> tuple[str, ...]:
    """The change-log columns a build reads of ``table``."""
    return (*READ_ENVELOPE, *(c.name for c in COLUMNS[table]))


def _copy_parquet(
    con: duckdb.DuckDBPyConnection, table: str, name: str, files: ParquetFiles
) -> None:
    """``silver_<table>`` from the table's data files."""
    run_sql(con, f"CREATE OR REPLACE TEMP TABLE {name} AS {parquet_select(con, table, files)}")


def parquet_select(con: duckdb.DuckDBPyConnection, table: str, files: ParquetFiles) -> str:
    """A SELECT of the change-log columns a build reads from a table's data files. A
    column no file has (added to the table after they were written) reads as NULL, as
    in the table's Arrow dataset."""
    scan = f"read_parquet('{sql_str(files.glob)}', union_by_name = true)"
    have = {str(r[0]) for r in run_sql(con, f"DESCRIBE SELECT * FROM {scan}")}
    schema = silver_arrow_schema(table)
    cols = [
        c if c in have else f"CAST(NULL AS {duck_type(schema.field(c).type)}) AS {c}"
        for c in read_columns(table)
    ]
    return f"SELECT {', '.join(cols)} FROM {scan}"


def duck_type(arrow: pa.DataType) -> str:
    """The DuckDB type of a silver column's Arrow type."""
    if pa.types.is_decimal(arrow):
        return f"DECIMAL({arrow.precision}, {arrow.scale})"
    if pa.types.is_timestamp(arrow):
        return "TIMESTAMPTZ" if arrow.tz else "TIMESTAMP"
    simple = {pa.string(): "VARCHAR", pa.bool_(): "BOOLEAN", pa.int64(): "BIGINT",
              pa.int32(): "INTEGER", pa.date32(): "DATE"}  # fmt: skip
    return simple[arrow]


def create_view(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """The view ``cur_<table>``: the current state, from ``st_<table>``."""
    run_sql(con, f"CREATE OR REPLACE VIEW {gold_sql.current_relation(table)} AS "
                 f"{gold_sql.current_sql(table)}")  # fmt: skip


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    for table in SOURCE_TABLES:
        create_view(con, table)


def summarise(con: duckdb.DuckDBPyConnection, table: str, relation: str) -> TableRead:
    """Rows, newest offset per topic partition, newest source position and the last
    truncate of a change-log relation, in one scan."""
    rows = run_sql(
        con,
        f"""SELECT bronze_topic, bronze_partition, count(*), max(bronze_offset),
                   max(commit_ts), max(source_lsn),
                   arg_max([CASE WHEN commit_lsn IS NULL THEN 0 ELSE 1 END,
                            coalesce(commit_lsn, 0), coalesce(source_lsn, 0), bronze_offset],
                           [CASE WHEN commit_lsn IS NULL THEN 0 ELSE 1 END,
                            coalesce(commit_lsn, 0), coalesce(source_lsn, 0), bronze_offset])
                       FILTER (WHERE op = 't'),
                   arg_max(commit_ts,
                           [CASE WHEN commit_lsn IS NULL THEN 0 ELSE 1 END,
                            coalesce(commit_lsn, 0), coalesce(source_lsn, 0), bronze_offset])
                       FILTER (WHERE op = 't')
            FROM {relation} GROUP BY bronze_topic, bronze_partition""",
    )
    out = TableRead(table)
    for topic, part, n, last, ts, lsn, trunc, trunc_ts in rows:
        out.changes += int(n)  # type: ignore[call-overload]
        if topic is not None and part is not None and last is not None:
            out.coverage.setdefault(str(topic), {})[int(part)] = int(last)  # type: ignore[call-overload]
        out.position = out.position.merge(
            Position(ts, None if lsn is None else int(lsn))  # type: ignore[arg-type,call-overload]
        )
        if trunc is not None:
            pos: Pos = tuple(int(x) for x in trunc)  # type: ignore[assignment,attr-defined]
            if out.truncate is None or pos > out.truncate:
                out.truncate, out.truncate_ts = pos, trunc_ts  # type: ignore[assignment]
    return out


def count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return int(run_sql(con, f"SELECT count(*) FROM {relation}")[0][0])  # type: ignore[call-overload]


def set_params(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """``build_params`` for D = ``as_of``; the derived relations that read it are made
    again when D moved and they exist."""
    main = _main_tables(con)
    moved = gold_sql.PARAMS in main and scalar(
        con, f"SELECT as_of FROM main.{gold_sql.PARAMS}"
    ) != as_of
    run_sql(con, f"CREATE OR REPLACE TABLE {gold_sql.PARAMS} AS {gold_sql.build_params_sql(as_of)}")
    if moved:
        derive(con, only=gold_sql.DATED & main)


def _main_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = run_sql(con, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                        "AND database_name = current_database()")  # fmt: skip
    return {str(r[0]) for r in rows}


def derive(
    con: duckdb.DuckDBPyConnection,
    *,
    replace: bool = True,
    only: Iterable[str] | None = None,
) -> None:
    """Tables of the derived relations (:data:`gold_sql.DERIVED`, or those of ``only``)
    from the current state; with ``replace=False`` only those missing (a database kept
    by a build from before they existed)."""
    names = gold_sql.DERIVED if only is None else [n for n in gold_sql.DERIVED if n in only]
    for name in names:
        head = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE IF NOT EXISTS"
        run_sql(con, f"{head} main.{name} AS {gold_sql.derived_sql(name)}")


def compute_gold(
    con: duckdb.DuckDBPyConnection, as_of: date, schema: str = GOLD_SCHEMA
) -> dict[str, int]:
    """Every gold table into DuckDB schema ``schema`` from the current state; returns
    the row count of each."""
    set_params(con, as_of)
    derive(con)
    run_sql(con, f"CREATE SCHEMA IF NOT EXISTS {schema}")
    counts = {}
    for table in gold_sql.GOLD_TABLES:
        run_sql(con, f"CREATE OR REPLACE TABLE {schema}.{table.name} AS {gold_query(table.name)}")
        counts[table.name] = count(con, f"{schema}.{table.name}")
    return counts


def gold_query(name: str) -> str:
    """The SELECT of gold table ``name`` over the state (after :func:`set_params`): its
    definition; dim_customers_history is ``st_history`` as it is."""
    table = gold_sql.GOLD[name]
    if name == gold_sql.HISTORY:
        return f"SELECT {', '.join(table.column_names)} FROM {HISTORY_TABLE}"
    return table.sql


def export_csv(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> int:
    """Write ``query``'s rows as headerless CSV (NULL empty, empty string quoted) for
    PostgreSQL's ``COPY ... (FORMAT csv)``; returns the row count."""
    rows = run_sql(con, f"COPY ({query}) TO '{sql_str(str(path))}' (FORMAT csv, HEADER false)")
    return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


def export_gold(
    con: duckdb.DuckDBPyConnection, table: str, path: Path, relation: str | None = None
) -> int:
    """Export gold table ``table`` (from ``relation``, default the computed one)."""
    cols = ", ".join(gold_sql.GOLD[table].column_names)
    return export_csv(con, f"SELECT {cols} FROM {relation or GOLD_SCHEMA + '.' + table}", path)


def compute_to_csv(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> int:
    """Compute gold table ``table`` (after :func:`set_params`) straight into a CSV file
    for :func:`export_csv`'s reader, without keeping it in DuckDB; its row count."""
    cols = ", ".join(gold_sql.GOLD[table].column_names)
    return export_csv(con, f"SELECT {cols} FROM ({gold_query(table)}) AS g", path)


def state_tables() -> tuple[str, ...]:
    return (*(gold_sql.state_relation(t) for t in SOURCE_TABLES), HISTORY_TABLE)


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = run_sql(con, sql)
    return rows[0][0] if rows else None
