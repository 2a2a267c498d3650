"""Ground truth of what the source changed: a test_decoding replication slot of our own.

The slot is created before the load starts, so it sees every row change the source
commits from then on, each with the LSN of its WAL record: the same LSN Debezium puts in
``source.lsn`` (both are the change's ``lsn`` in the logical decoding context). Reading
it after the drill gives the exact set of (table, primary key, LSN) changes that must
be in bronze and silver, whatever happened to the generator (a generator killed by a
PostgreSQL restart prints no summary). The slot is persistent, so it survives a
PostgreSQL restart. It is dropped at the end (it holds WAL while it exists).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg2

from schemas import PRIMARY_KEYS, SOURCE_TABLES

_LINE = re.compile(
    r"table public\.(?P<table>\w+): (?P<kind>INSERT|UPDATE|DELETE|TRUNCATE):(?P<rest>.*)", re.S
)
OPS = {"INSERT": "c", "UPDATE": "u", "DELETE": "d", "TRUNCATE": "t"}


@dataclass(frozen=True)
class SourceChange:
    lsn: int
    table: str
    key: int | None  # None for a truncate
    op: str  # c, u, d, t (Debezium's letters)


def parse(lsn: int, data: str) -> SourceChange | None:
    """One test_decoding output line -> a change of a source table (None otherwise)."""
    m = _LINE.match(data)
    if m is None or m["table"] not in SOURCE_TABLES:
        return None  # BEGIN/COMMIT, the cdc.* plumbing tables
    table, kind, rest = m["table"], m["kind"], m["rest"]
    if kind == "TRUNCATE":
        return SourceChange(lsn, table, None, "t")
    if kind == "UPDATE" and "new-tuple:" in rest:
        rest = rest.split("new-tuple:", 1)[1]
    pk = PRIMARY_KEYS[table]
    km = re.match(rf"\s*{pk}\[[^\]]*\]:(-?\d+)", rest)
    if km is None:  # the primary key is every table's first column
        raise AssertionError(f"no {table}.{pk} at the start of: {data[:200]}")
    return SourceChange(lsn, table, int(km.group(1)), OPS[kind])


class WalTap:
    """A logical replication slot (test_decoding) on the source database."""

    def __init__(self, dsn: str, name: str = "ecom_chaos_tap") -> None:
        self.dsn = dsn
        self.name = name

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        conn = psycopg2.connect(self.dsn, connect_timeout=10)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description is not None else []
        finally:
            conn.close()

    def open(self) -> WalTap:
        self.close()  # a slot left over by an interrupted run
        self._run("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (self.name,))
        return self

    def close(self) -> None:
        self._run(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (self.name,),
        )

    def changes(self) -> list[SourceChange]:
        """Every change of a source table since the slot was opened (consumes them)."""
        rows = self._run(
            "SELECT lsn - '0/0'::pg_lsn, data FROM pg_logical_slot_get_changes(%s, NULL, NULL, "
            "'include-xids', '0', 'skip-empty-xacts', '1')",
            (self.name,),
        )
        out = []
        for lsn, data in rows:
            change = parse(int(lsn), str(data))  # type: ignore[call-overload]
            if change is not None:
                out.append(change)
        return out
