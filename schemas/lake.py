"""Lake layout: object keys inside a bronze or silver bucket, and offset coverage.

An object holds the records of one table read from one Kafka partition, offsets
``first_offset..last_offset`` inclusive::

    <table>/dt=YYYY-MM-DD/p=<partition>/<first:020d>-<last:020d>.parquet

``dt`` is the UTC commit date of the object's records (see
``stream_apps.formats.commit_date``). Offsets are zero-padded to 20 digits so the
lexical order of keys under one partition prefix is the offset order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

# A table name, or a few "/"-separated safe segments (e.g. "_unknown/<topic>" for
# messages of a topic that is not a source table); no segment starts with "." or
# contains "=", so a table can never be mistaken for a ``dt=``/``p=`` level.
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]*"
_TABLE = rf"{_SEGMENT}(?:/{_SEGMENT})*"
_TABLE_RE = re.compile(_TABLE)
_MAX_OFFSET = 10**20 - 1
_KEY_RE = re.compile(
    "(?P<table>" + _TABLE + ")"
    r"/dt=(?P<dt>\d{4}-\d{2}-\d{2})/p=(?P<p>0|[1-9]\d{0,9})/"
    r"(?P<first>\d{20})-(?P<last>\d{20})\.parquet"
)


@dataclass(frozen=True)
class ObjectKey:
    table: str
    commit_date: date
    partition: int
    first_offset: int
    last_offset: int


def _check(table: str, partition: int, first_offset: int, last_offset: int) -> None:
    if not _TABLE_RE.fullmatch(table):
        raise ValueError(f"invalid table name for an object key: {table!r}")
    if partition < 0:
        raise ValueError(f"negative partition {partition} for table {table}")
    if not 0 <= first_offset <= last_offset <= _MAX_OFFSET:
        raise ValueError(
            f"invalid offset range {first_offset}-{last_offset} for {table} partition {partition}"
        )


def object_key(
    table: str, commit_date: date, partition: int, first_offset: int, last_offset: int
) -> str:
    """The key of the object holding ``table``'s offsets ``first..last`` of ``partition``."""
    _check(table, partition, first_offset, last_offset)
    return (
        f"{table}/dt={commit_date.isoformat()}/p={partition}/"
        f"{first_offset:020d}-{last_offset:020d}.parquet"
    )


def parse_key(key: str) -> ObjectKey:
    """Parse a key made by :func:`object_key`; ``ValueError`` on anything else."""
    m = _KEY_RE.fullmatch(key)
    if m is None:
        raise ValueError(f"not a lake object key: {key!r}")
    try:
        dt = date.fromisoformat(m["dt"])
    except ValueError as exc:
        raise ValueError(f"not a lake object key (bad date): {key!r}") from exc
    parsed = ObjectKey(m["table"], dt, int(m["p"]), int(m["first"]), int(m["last"]))
    if parsed.first_offset > parsed.last_offset:
        raise ValueError(f"not a lake object key (first offset > last offset): {key!r}")
    return parsed


def table_prefix(table: str) -> str:
    """The prefix under which every object of ``table`` lives."""
    if not _TABLE_RE.fullmatch(table):
        raise ValueError(f"invalid table name: {table!r}")
    return f"{table}/"


def partition_day_prefix(table: str, commit_date: date, partition: int) -> str:
    """The prefix of ``table``'s objects of one commit date and Kafka partition."""
    _check(table, partition, 0, 0)
    return f"{table}/dt={commit_date.isoformat()}/p={partition}/"


def uncovered_ranges(
    first: int, last: int, covered: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Sub-ranges of ``[first, last]`` (inclusive) not covered by any ``covered`` range.

    ``covered`` ranges are inclusive and may overlap, touch or come in any order;
    empty ones (start > end) are ignored. The result is sorted and disjoint, and
    empty when ``first > last``.
    """
    gaps: list[tuple[int, int]] = []
    cursor = first  # lowest offset not yet known to be covered
    for start, end in sorted(r for r in covered if r[0] <= r[1]):
        if cursor > last:
            break
        if end < cursor:
            continue
        if start > cursor:
            gaps.append((cursor, min(start - 1, last)))
        cursor = max(cursor, end + 1)
    if cursor <= last:
        gaps.append((cursor, last))
    return gaps
