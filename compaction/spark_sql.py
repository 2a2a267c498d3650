"""The gold definitions (DuckDB dialect, :mod:`compaction.gold_sql`) as Spark SQL.

The definitions are written once; the Spark engine runs them through sqlglot's
DuckDB -> Spark transpiler rather than a second, hand-kept copy. What the transpiler
changes matters for exactness, and the unit tests pin it down:

* integer division ``//`` becomes Spark's ``DIV`` (integral, truncating like DuckDB's on
  the non-negative operands the definitions use);
* ``ORDER BY`` keys get DuckDB's default ``NULLS LAST`` spelled out (Spark's default for
  ascending order is NULLS FIRST);
* DuckDB's ``TIMESTAMP`` (no time zone) becomes ``TIMESTAMP_NTZ``; the session time zone
  is UTC, so a cast from the silver ``TIMESTAMP WITH TIME ZONE`` gives the UTC wall clock
  as in DuckDB;
* DECIMAL casts keep their precision and scale. Spark's own decimal rules (result
  precision capped at 38 with a minimum scale of 6) never reach a rounded value: the
  definitions round in integer arithmetic and cast the result to its declared type.

Anything sqlglot cannot transpile without loss (it warns, or produces more than one
statement) is an error here, never a silently different query.
"""

from __future__ import annotations

import logging
from functools import cache

import sqlglot
import sqlglot.errors

from compaction.exceptions import GoldError

READ = "duckdb"
WRITE = "spark"


class TranspileError(GoldError):
    """A gold definition that sqlglot cannot turn into one equivalent Spark statement."""


class _Unsupported(logging.Handler):
    """Collects sqlglot's warnings about constructs it could not carry over."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@cache
def to_spark(sql: str) -> str:
    """``sql`` (one DuckDB statement) as one Spark SQL statement."""
    logger = logging.getLogger("sqlglot")
    handler = _Unsupported()
    logger.addHandler(handler)
    try:
        out = sqlglot.transpile(
            sql,
            read=READ,
            write=WRITE,
            unsupported_level=sqlglot.ErrorLevel.RAISE,
            pretty=True,
        )
    except sqlglot.errors.SqlglotError as exc:
        raise TranspileError(
            f"cannot transpile a gold definition to Spark SQL: {_first(str(exc))}",
            hint="keep the definitions in the plain SQL subset compaction/gold_sql.py describes",
        ) from exc
    finally:
        logger.removeHandler(handler)
    if handler.messages:
        raise TranspileError(
            f"sqlglot could not carry a gold definition over to Spark SQL: {handler.messages[0]}",
            hint="keep the definitions in the plain SQL subset compaction/gold_sql.py describes",
        )
    statements = [s for s in out if s.strip()]
    if len(statements) != 1:
        raise TranspileError(
            f"a gold definition must be one statement; it transpiled to {len(statements)}"
        )
    return statements[0]


def _first(text: str) -> str:
    return " ".join(text.split())[:300]
