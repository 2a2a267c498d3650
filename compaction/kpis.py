"""Analytics KPIs over the gold tables: parse ``sql/kpis.sql``, run them, print tables.

The SQL file is the single source of the queries: each one starts with
``-- name: <snake_case>`` and ``-- description: <one line>`` comment lines and runs to
the next ``-- name:`` line. :func:`load` parses it; :func:`run` runs one query read-only
against the gold database and returns ``(columns, rows)`` with values exactly as
psycopg2 gives them (money as :class:`decimal.Decimal`, never float).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors

from common.errors import EcomError, TerminalError, TransientError

SQL_FILE = Path(__file__).resolve().parent / "sql" / "kpis.sql"
DEFAULT_TABLE_LIMIT = 25
STATEMENT_TIMEOUT_MS = 300_000

_NAME_RE = re.compile(r"^--\s*name:\s*(?P<name>\S*)\s*$")
_DESC_RE = re.compile(r"^--\s*description:\s*(?P<text>.*?)\s*$")
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Kpi:
    """One named query of the KPI file."""

    name: str
    description: str
    sql: str
    line: int  # where its ``-- name:`` line is, for messages


class KpiFileError(TerminalError):
    """The KPI file is malformed (a developer mistake: tests catch it)."""


def parse(text: str, *, source: str = "kpis.sql") -> list[Kpi]:
    """Split the KPI file into named queries, checking names and descriptions.

    Everything before the first ``-- name:`` line must be comments or blank. Inside a
    query, other comment lines are kept in its SQL; a trailing ``;`` is dropped.
    """
    kpis: list[Kpi] = []
    current: dict[str, Any] | None = None

    def finish() -> None:
        if current is None:
            return
        sql = "\n".join(current["lines"]).strip()
        sql = sql.rstrip().rstrip(";").rstrip()
        where = f"{source}:{current['line']}"
        if not current["description"]:
            raise KpiFileError(
                f"{where}: query {current['name']!r} has no `-- description:` line",
                hint="add one right after its `-- name:` line",
            )
        if not _strip_comments(sql):
            raise KpiFileError(f"{where}: query {current['name']!r} has no SQL")
        if ";" in _strip_comments(sql):
            raise KpiFileError(
                f"{where}: query {current['name']!r} holds more than one statement",
                hint="one statement per `-- name:` block",
            )
        kpis.append(Kpi(current["name"], current["description"], sql, current["line"]))

    for number, line in enumerate(text.splitlines(), start=1):
        name_match = _NAME_RE.match(line.strip())
        if name_match:
            finish()
            name = name_match.group("name")
            if not _SNAKE.match(name):
                raise KpiFileError(f"{source}:{number}: KPI name {name!r} is not snake_case")
            if any(k.name == name for k in kpis):
                raise KpiFileError(f"{source}:{number}: KPI name {name!r} is used twice")
            current = {"name": name, "description": "", "lines": [], "line": number}
            continue
        if current is None:
            if line.strip() and not line.lstrip().startswith("--"):
                raise KpiFileError(
                    f"{source}:{number}: SQL before the first `-- name:` line",
                    hint="start every query with `-- name:` and `-- description:` lines",
                )
            continue
        desc_match = _DESC_RE.match(line.strip())
        if (
            desc_match
            and not current["description"]
            and not _strip_comments("\n".join(current["lines"]))
        ):
            current["description"] = desc_match.group("text")
            continue
        current["lines"].append(line)
    finish()
    return kpis


def _strip_comments(sql: str) -> str:
    """The SQL without ``--`` comment lines and blank lines (no string parsing needed:
    the KPI queries keep comments on their own lines)."""
    return "\n".join(
        line for line in sql.splitlines() if line.strip() and not line.strip().startswith("--")
    ).strip()


@functools.cache
def _load(path: Path | None) -> tuple[Kpi, ...]:
    try:
        if path is None:  # the packaged file (works from a wheel as well as a checkout)
            text = (
                resources.files("compaction")
                .joinpath("sql", SQL_FILE.name)
                .read_text(encoding="utf-8")
            )
        else:
            text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KpiFileError(
            f"cannot read the KPI file {path or SQL_FILE}: {exc.strerror or exc}",
            hint="compaction/sql/*.sql must be installed as package data",
        ) from exc
    return tuple(parse(text, source=(path or SQL_FILE).name))


def load(path: Path | None = None) -> list[Kpi]:
    """Every KPI of the file (default: the packaged ``sql/kpis.sql``), in file order."""
    return list(_load(path))


def names(path: Path | None = None) -> list[str]:
    return [k.name for k in load(path)]


def get(name: str, path: Path | None = None) -> Kpi:
    """The KPI called ``name``; an unknown name is a one-line error listing them all."""
    for kpi in load(path):
        if kpi.name == name:
            return kpi
    raise EcomError(
        f"unknown KPI {name!r}; known: {', '.join(names(path))}",
        hint="`ecom kpi --list` describes them",
    )


# ---------------------------------------------------------------- running
def _connect(dsn: str) -> psycopg2.extensions.connection:
    try:
        conn = psycopg2.connect(dsn, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TransientError(
            f"cannot connect to the gold database: {first}",
            hint="start the stack with `ecom stack up`, or check ECOM_PG_* and ECOM_GOLD_DB",
        ) from exc
    conn.set_session(readonly=True, autocommit=False)
    with conn.cursor() as cur:
        cur.execute(f"SET statement_timeout = {int(STATEMENT_TIMEOUT_MS)}")
        cur.execute("SET TIME ZONE 'UTC'")  # months and days of timestamptz columns in UTC
    conn.commit()  # keep the settings; each KPI then runs in its own read-only transaction
    return conn


def _execute(conn: psycopg2.extensions.connection, kpi: Kpi) -> tuple[list[str], list[Row]]:
    try:
        with conn.cursor() as cur:
            cur.execute(kpi.sql)
            columns = [d.name for d in cur.description or ()]
            rows = [tuple(r) for r in cur.fetchall()]
    except psycopg2.errors.UndefinedTable as exc:
        conn.rollback()
        first = str(exc).strip().splitlines()[0]
        raise TerminalError(
            f"KPI {kpi.name}: a gold table is missing ({first})",
            hint="build gold first with `ecom gold rebuild`",
        ) from exc
    except psycopg2.Error as exc:
        conn.rollback()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TerminalError(f"KPI {kpi.name} failed: {first}") from exc
    conn.rollback()  # read-only: end the transaction, keep no snapshot open
    return columns, rows


def run(dsn: str, name: str, *, path: Path | None = None) -> tuple[list[str], list[Row]]:
    """Run the KPI ``name`` read-only against ``dsn``: ``(column names, rows)``."""
    kpi = get(name, path)
    conn = _connect(dsn)
    try:
        return _execute(conn, kpi)
    finally:
        conn.close()


def run_many(
    dsn: str, selected: Iterable[str] | None = None, *, path: Path | None = None
) -> Iterator[tuple[Kpi, list[str], list[Row]]]:
    """Run several KPIs (default: all, in file order) on one connection."""
    kpis = [get(n, path) for n in selected] if selected is not None else load(path)
    conn = _connect(dsn)
    try:
        for kpi in kpis:
            columns, rows = _execute(conn, kpi)
            yield kpi, columns, rows
    finally:
        conn.close()


# ---------------------------------------------------------------- output
def format_value(value: Any) -> str:
    """Exact text for a cell: decimals as PostgreSQL prints them, NULL as ``NULL``."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def format_table(columns: Sequence[str], rows: Sequence[Row], *, limit: int | None = None) -> str:
    """An aligned text table (numbers right-aligned); ``limit`` rows at most (0 = all)."""
    shown = rows if not limit else rows[:limit]
    cells = [[format_value(v) for v in row] for row in shown]
    numeric = [
        any(_is_number(row[i]) for row in shown)
        and all(_is_number(row[i]) or row[i] is None for row in shown)
        for i in range(len(columns))
    ]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    if not rows:
        out.append("(no rows)")
    elif len(shown) < len(rows):
        out.append(f"({len(shown)} of {len(rows)} rows; --limit 0 shows all)")
    else:
        out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def format_kpi(kpi: Kpi, columns: Sequence[str], rows: Sequence[Row], *, limit: int | None) -> str:
    """A titled table for people."""
    title = f"{kpi.name}: {kpi.description}"
    return f"{title}\n{'=' * min(len(title), 100)}\n{format_table(columns, rows, limit=limit)}"


def format_list(kpis: Sequence[Kpi]) -> str:
    width = max((len(k.name) for k in kpis), default=0)
    return "\n".join(f"{k.name:<{width}}  {k.description}" for k in kpis)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: never through float
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def as_json(
    kpi: Kpi, columns: Sequence[str], rows: Sequence[Row], *, limit: int | None
) -> dict[str, Any]:
    """JSON-friendly form: decimals as exact strings, dates as ISO text."""
    shown = rows if not limit else rows[:limit]
    return {
        "name": kpi.name,
        "description": kpi.description,
        "columns": list(columns),
        "row_count": len(rows),
        "rows": [{c: _json_value(v) for c, v in zip(columns, r, strict=True)} for r in shown],
    }


def dumps(documents: Any) -> str:
    return json.dumps(documents, indent=2)
