"""`ecom status`: the pipeline's health, judged from plain data.

:mod:`ecom.status.probe` reads the real components into a :class:`Snapshot` (the
plain data defined here); :func:`ecom.status.rules.evaluate` turns it into findings, each
with the command that fixes it; :func:`exit_code` turns those into the command's exit
status, :func:`freshness` gives per-table ages, and :mod:`ecom.status.report` prints it
all. Only the probe talks to services: everything else is unit-tested with hand-made
snapshots.

Exit status (bits, OR-ed together; 1 stays "could not check", as for every command):

* 0   healthy
* 2   a connector or one of its tasks is not RUNNING (failed, paused, stopped, missing)
* 4   replication slot: missing or lost while the connector exists, about to be lost
      (``unreserved``), inactive while the connector should stream, or retaining more
      WAL than ``ECOM_SLOT_LAG_WARN_BYTES``
* 8   consumer lag: above ``ECOM_STATUS_MAX_LAG``, or pending with nobody consuming,
      or growing between the two samples while no offset was committed
* 16  a stream worker that was started is down
* 32  the schema registry does not answer
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pydantic import Field

from common.settings import EcomSettings, read
from connectors.manage import ConnectorState
from schemas import SOURCE_TABLES
from stream_apps.workers import WorkerState

EXIT_CONNECTOR = 2
EXIT_SLOT = 4
EXIT_CONSUMER_LAG = 8
EXIT_WORKER = 16
EXIT_REGISTRY = 32
EXIT_NAMES = {
    EXIT_CONNECTOR: "connector",
    EXIT_SLOT: "replication slot",
    EXIT_CONSUMER_LAG: "consumer lag",
    EXIT_WORKER: "stream worker",
    EXIT_REGISTRY: "schema registry",
}
CRITICAL = "critical"
WARNING = "warning"
LAKE_KINDS = ("bronze", "silver")


class HealthSettings(EcomSettings):
    """Thresholds of `ecom status`, read from the environment (see :func:`load`)."""

    slot_lag_warn_bytes: int = Field(1 << 30, ge=0, le=1 << 50)
    """WAL the slot may retain (current LSN - restart_lsn) before status fails (default
    1 GiB, a quarter of max_slot_wal_keep_size=4GB)."""
    max_lag: int = Field(100_000, ge=0, le=1 << 50, validation_alias="ECOM_STATUS_MAX_LAG")
    """Messages the stream group may be behind in total."""
    sample_seconds: float = Field(
        2.0, ge=0, le=60, validation_alias="ECOM_STATUS_SAMPLE_SECONDS"
    )
    """Seconds between the two lag samples (0: one sample)."""
    dlq_max_messages: int = Field(
        1_000_000, ge=1, le=1 << 40, validation_alias="ECOM_STATUS_DLQ_MAX"
    )
    """Most dead letters read to count them."""
    gold_stale_hours: float = Field(
        26.0, ge=0.01, le=8760, validation_alias="ECOM_STATUS_GOLD_STALE_HOURS"
    )
    """A warning when the last good gold build is older than this."""


def load() -> HealthSettings:
    return read(HealthSettings)


# ---------------------------------------------------------------- the data
@dataclass(frozen=True)
class SlotSample:
    """One read of the slot's row in pg_replication_slots (``exists=False``: no row)."""

    exists: bool
    active: bool | None = None
    wal_status: str | None = None
    #: pg_current_wal_lsn() - confirmed_flush_lsn: changes not yet confirmed by Debezium
    lag_bytes: int | None = None
    #: pg_current_wal_lsn() - restart_lsn: WAL kept on disk for the slot
    retained_bytes: int | None = None
    safe_wal_size: int | None = None
    confirmed_flush_lsn: int | None = None


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    end: int
    committed: int  # negative: the group never committed here
    #: the same partition in the first sample (None with a single sample)
    prev_end: int | None = None
    prev_committed: int | None = None

    @property
    def lag(self) -> int:
        return max(0, self.end - max(self.committed, 0))

    @property
    def prev_lag(self) -> int | None:
        if self.prev_end is None or self.prev_committed is None:
            return None
        return max(0, self.prev_end - max(self.prev_committed, 0))


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str  # the group coordinator's state, e.g. STABLE, EMPTY, DEAD
    members: int
    partitions: tuple[PartitionLag, ...]
    sample_seconds: float = 0.0
    missing_topics: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def prev_total(self) -> int | None:
        prev = [p.prev_lag for p in self.partitions]
        return None if not prev or any(x is None for x in prev) else sum(x or 0 for x in prev)

    @property
    def committed_moved(self) -> bool:
        return any(
            p.prev_committed is not None and p.committed != p.prev_committed
            for p in self.partitions
        )


@dataclass(frozen=True)
class LakeTable:
    """One Delta table of one lake layer, as of the check."""

    kind: str  # bronze or silver
    table: str
    uri: str = ""
    exists: bool = False
    version: int | None = None
    last_commit: datetime | None = None
    files: int = 0
    bytes: int = 0
    rows: int = 0
    #: newest source commit time in the table (from the files' column statistics)
    max_commit_ts: datetime | None = None
    #: the table's CDC topic, and partition -> its newest offset landed in this layer
    landed_topic: str = ""
    landed: dict[int, int] = field(default_factory=dict)
    error: str | None = None

    def behind(self, lag: GroupLag, topic: str) -> int | None:
        """Offsets of ``topic`` in Kafka not yet in this table (by the topic's end offsets
        in ``lag``); None when the topic's partitions are unknown."""
        ends = {p.partition: p.end for p in lag.partitions if p.topic == topic}
        if not ends:
            return None
        return sum(max(0, end - 1 - self.landed.get(p, -1)) for p, end in ends.items())


@dataclass(frozen=True)
class GoldBuild:
    build_id: int
    status: str
    as_of: str
    started_at: datetime | None
    finished_at: datetime | None
    max_commit_ts: datetime | None
    max_source_lsn: str | None
    step: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class GoldInfo:
    problem: str | None = None  # the gold database or its log cannot be read
    last: GoldBuild | None = None
    last_succeeded: GoldBuild | None = None


@dataclass(frozen=True)
class DlqCounts:
    topic: str
    exists: bool = True
    total: int = 0
    by_reason: dict[tuple[str, str], int] = field(default_factory=dict)
    partial: bool = False  # stopped at the limit or the time-out before the end


@dataclass(frozen=True)
class SubjectState:
    """A silver topic's subject in the schema registry (``version`` None: no subject yet,
    the topic's first record registers it)."""

    subject: str
    topic: str
    version: int | None = None
    schema_id: int | None = None
    compatibility: str | None = None  # the subject's own rule; None: the registry default


@dataclass(frozen=True)
class RegistryInfo:
    url: str
    up: bool
    version: str = ""
    problem: str | None = None  # why it could not be read
    subjects: tuple[SubjectState, ...] = ()


@dataclass
class Snapshot:
    """Everything `ecom status` read, at ``checked_at``."""

    checked_at: datetime
    connect_url: str
    slot_name: str
    connectors: list[ConnectorState]
    slot: SlotSample
    slot_first: SlotSample | None
    wal_at_start: int | None  # pg_current_wal_lsn() when the check started
    lag: GroupLag
    lake: list[LakeTable]
    gold: GoldInfo
    dlq: DlqCounts
    workers: list[WorkerState]
    registry: RegistryInfo
    waited_caught_up: bool = False  # --wait-caught-up already proved it
    #: messages held by topics that look like CDC topics of tables outside the contract
    #: (the workers do not read them: kept in Kafka, counted here)
    unknown_table_topics: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    component: str
    severity: str  # critical (sets exit bit ``code``) or warning
    code: int
    message: str
    fix: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), fix=list(self.fix))


def exit_code(findings: Sequence[Finding]) -> int:
    code = 0
    for f in findings:
        if f.severity == CRITICAL:
            code |= f.code
    return code


def caught_up(snap: Snapshot) -> bool:
    """Nothing in flight: connector streaming, the slot confirmed the WAL position the
    check started at, and the stream group consumed every CDC and silver partition."""
    if snap.waited_caught_up:
        return True
    return (
        bool(snap.connectors)
        and all(c.healthy for c in snap.connectors)
        and snap.slot.confirmed_flush_lsn is not None
        and snap.wal_at_start is not None
        and snap.slot.confirmed_flush_lsn >= snap.wal_at_start
        and snap.lag.total == 0
    )


def freshness(snap: Snapshot) -> dict[str, dict[str, float | None]]:
    """Per table: seconds from the newest source commit visible in bronze, in silver and
    in gold to ``checked_at`` (None: nothing there yet). Gold is rebuilt whole, so every
    table shares the last good build's covered commit time."""
    newest = {(t.kind, t.table): t.max_commit_ts for t in snap.lake}
    good = snap.gold.last_succeeded
    gold_ts = good.max_commit_ts if good else None

    def age(ts: datetime | None) -> float | None:
        return None if ts is None else max(0.0, (snap.checked_at - ts).total_seconds())

    return {
        table: {
            "bronze": age(newest.get(("bronze", table))),
            "silver": age(newest.get(("silver", table))),
            "gold": age(gold_ts),
        }
        for table in SOURCE_TABLES
    }


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def unknown_table_topics(topics: Sequence[str], prefix: str) -> list[str]:
    """Topics named like Debezium table topics (``<prefix>.<schema>.<table>``) whose table
    is not one of the contract's six: a table added to the connector but not to the
    pipeline. Debezium's transaction topic (``<prefix>.transaction``) has no schema part."""
    known = set(SOURCE_TABLES)
    out = []
    for t in topics:
        parts = t.split(".")
        if len(parts) == 3 and parts[0] == prefix and parts[2] not in known:
            out.append(t)
    return sorted(out)
