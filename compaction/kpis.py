"""Analytics KPIs over the gold tables: parse ``sql/kpis.sql`` and run the queries.

The SQL file is the single source of the queries: each one starts with
``-- name: <snake_case>`` and ``-- description: <one line>`` comment lines and runs to
the next ``-- name:`` line. :func:`load` parses it; :func:`run` runs one query read-only
against the gold database and returns ``(columns, rows)`` with values exactly as
psycopg2 gives them (money as :class:`decimal.Decimal`, never float).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors

from common import pg
from common.errors import EcomError, TerminalError, first_line

SQL_FILE = Path(__file__).resolve().parent / "sql" / "kpis.sql"
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


@dataclass
class _Block:
    """The lines of one query while the file is read."""

    name: str
    line: int
    description: str = ""
    lines: list[str] = field(default_factory=list)


def parse(text: str, *, source: str = "kpis.sql") -> list[Kpi]:
    """Split the KPI file into named queries, checking names and descriptions.

    Everything before the first ``-- name:`` line must be comments or blank. Inside a
    query, other comment lines are kept in its SQL; a trailing ``;`` is dropped.
    """
    kpis: list[Kpi] = []
    current: _Block | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        name_match = _NAME_RE.match(line.strip())
        if name_match:
            if current is not None:
                kpis.append(_kpi_of(current, source))
            current = _Block(
                _new_name(name_match.group("name"), kpis, f"{source}:{number}"), number
            )
            continue
        if current is None:
            if line.strip() and not line.lstrip().startswith("--"):
                raise KpiFileError(
                    f"{source}:{number}: SQL before the first `-- name:` line",
                    hint="start every query with `-- name:` and `-- description:` lines",
                )
            continue
        desc_match = _DESC_RE.match(line.strip())
        if desc_match and not current.description and not _strip_comments("\n".join(current.lines)):
            current.description = desc_match.group("text")
            continue
        current.lines.append(line)
    if current is not None:
        kpis.append(_kpi_of(current, source))
    return kpis


def _new_name(name: str, kpis: list[Kpi], where: str) -> str:
    if not _SNAKE.match(name):
        raise KpiFileError(f"{where}: KPI name {name!r} is not snake_case")
    if any(k.name == name for k in kpis):
        raise KpiFileError(f"{where}: KPI name {name!r} is used twice")
    return name


def _kpi_of(block: _Block, source: str) -> Kpi:
    """The finished query, checked: a description, and exactly one SQL statement."""
    sql = "\n".join(block.lines).strip()
    sql = sql.rstrip().rstrip(";").rstrip()
    where = f"{source}:{block.line}"
    if not block.description:
        raise KpiFileError(
            f"{where}: query {block.name!r} has no `-- description:` line",
            hint="add one right after its `-- name:` line",
        )
    if not _strip_comments(sql):
        raise KpiFileError(f"{where}: query {block.name!r} has no SQL")
    if ";" in _strip_comments(sql):
        raise KpiFileError(
            f"{where}: query {block.name!r} holds more than one statement",
            hint="one statement per `-- name:` block",
        )
    return Kpi(block.name, block.description, sql, block.line)


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
    conn = pg.connect(
        dsn, "the gold database", connect_timeout=5,
        hint="start the stack with `ecom stack up`, or check ECOM_PG_* and ECOM_GOLD_DB",
    )  # fmt: skip
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
        first = first_line(exc)
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
