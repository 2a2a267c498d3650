"""Which kind of gold build to run, from what the build log says the last kept state
covers and what the lake holds now. Pure: no I/O.

A build is **incremental** when a kept state exists and every silver table is the same
Delta table it was (same table id) at the same or a newer version; it then applies only
the changes that state does not cover. Otherwise it is **full** (from the whole
change-log), and it keeps its state for the next build unless it reads the lake as of an
earlier time than the kept state covers (time travel must not replace a newer state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from compaction.duckgold import Pos, TableRead
from compaction.state import Position


@dataclass(frozen=True)
class TableId:
    """A silver Delta table as a build reads it: its version and its table id (None:
    the table does not exist, or did not at the build's cutoff)."""

    version: int | None
    id: str | None


@dataclass(frozen=True)
class Covered:
    """What a build's state covers of one silver table (``gold_build_log.lake_versions``)."""

    version: int | None
    id: str | None
    #: bronze topic -> partition -> newest bronze offset
    offsets: dict[str, dict[int, int]] = field(default_factory=dict)
    truncate: Pos | None = None
    truncate_ts: str | None = None
    max_commit_ts: str | None = None
    max_source_lsn: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "id": self.id,
            "offsets": {t: {str(p): o for p, o in sorted(ps.items())} for t, ps in self.offsets.items()},
            "truncate": list(self.truncate) if self.truncate else None,
            "truncate_ts": self.truncate_ts,
            "max_commit_ts": self.max_commit_ts,
            "max_source_lsn": self.max_source_lsn,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Covered:
        trunc = doc.get("truncate")
        return cls(
            version=doc.get("version"),
            id=doc.get("id"),
            offsets={
                str(t): {int(p): int(o) for p, o in ps.items()}
                for t, ps in (doc.get("offsets") or {}).items()
            },
            truncate=tuple(int(x) for x in trunc) if trunc else None,  # type: ignore[arg-type]
            truncate_ts=doc.get("truncate_ts"),
            max_commit_ts=doc.get("max_commit_ts"),
            max_source_lsn=doc.get("max_source_lsn"),
        )

    @property
    def position(self) -> Position:
        ts = datetime.fromisoformat(self.max_commit_ts) if self.max_commit_ts else None
        return Position(ts, self.max_source_lsn)


def covered(table: TableId, read: TableRead, before: Covered | None = None) -> Covered:
    """What a build covers of a table after reading ``read`` (all of it, or the rows
    newer than ``before``)."""
    offsets = {t: dict(ps) for t, ps in (before.offsets if before else {}).items()}
    for topic, parts in read.coverage.items():
        mine = offsets.setdefault(topic, {})
        for p, last in parts.items():
            mine[p] = max(last, mine.get(p, last))
    position = read.position.merge(before.position) if before else read.position
    truncate, truncate_ts = (before.truncate, before.truncate_ts) if before else (None, None)
    if read.truncate is not None and (truncate is None or read.truncate > truncate):
        truncate, truncate_ts = read.truncate, _iso(read.truncate_ts)
    return Covered(
        version=table.version,
        id=table.id,
        offsets=offsets,
        truncate=truncate,
        truncate_ts=truncate_ts,
        max_commit_ts=_iso(position.max_commit_ts),
        max_source_lsn=position.max_source_lsn,
    )


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


@dataclass(frozen=True)
class Base:
    """The newest build that kept its state (what an incremental build starts from)."""

    build_id: int
    as_of: date
    lake: dict[str, Covered]
    #: state table -> its Delta version in the lake, as that build left it
    state: dict[str, int]
    row_counts: dict[str, int]
    #: whether it is also the newest successful build, i.e. the gold now in ``public``
    latest: bool

    @property
    def position(self) -> Position:
        out = Position(None, None)
        for c in self.lake.values():
            out = out.merge(c.position)
        return out


@dataclass(frozen=True)
class Plan:
    incremental: bool
    keep_state: bool
    why: str


def choose(
    base: Base | None,
    now: dict[str, TableId],
    *,
    full: bool,
    time_travel: bool,
    keep: bool = True,
) -> Plan:
    """The build to run. ``time_travel``: the build reads the lake as of a past time;
    ``keep``: states may be kept at all (``ECOM_GOLD_KEEP_STATE``)."""
    if not keep:
        return Plan(False, False, "no state is kept (ECOM_GOLD_KEEP_STATE=false)")
    if full:
        return Plan(False, not time_travel or base is None, "--full")
    if base is None:
        return Plan(False, True, "no kept state to start from")
    for table, ident in now.items():
        was = base.lake.get(table)
        if was is None:
            return Plan(False, not time_travel, f"the kept state does not cover {table}")
        if was.id is not None and ident.id is not None and was.id != ident.id:
            return Plan(False, not time_travel,
                        f"silver table {table} is a new Delta table (id {ident.id})")  # fmt: skip
        if was.version is not None and (ident.version is None or ident.version < was.version):
            return Plan(False, False, f"the lake as of the build's time is older than the "
                        f"kept state (silver {table} version {ident.version} < {was.version})")  # fmt: skip
    return Plan(True, True, f"from the state of build #{base.build_id}")
