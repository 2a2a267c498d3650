"""`ecom replay`: reprocess CDC changes by resetting a consumer group's committed offsets.

The flow (see the field notes, "Replay with confluent-kafka's AdminClient"):

1. ``describe_consumer_groups``: refuse while the group has active members (naming them);
   an unknown group (state DEAD, or no committed offsets at all) is refused too.
2. ``list_offsets`` gives each partition's earliest and end offsets (and, for
   ``--to-datetime``, the first offset at or after the timestamp; -1 means past the end).
3. :func:`build_plan` (pure) validates the target and computes per partition the current
   offset, the new offset and the number of messages to reprocess.
4. ``alter_consumer_group_offsets``, one group per call, unless it is a dry run.

Every run, dry or not, is appended to the audit log ``<home>/logs/replay-audit.jsonl``.
The core never prints: the CLI formats :class:`ReplayPlan`.
"""

from __future__ import annotations

import concurrent.futures
import getpass
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.errors import EcomError, TransientError
from common.kafka import client_config
from common.retry import poll
from common.settings import Settings
from schemas import SOURCE_TABLES
from stream_apps.configuration import StreamSettings

#: The stream workers' group (it reads the CDC topics).
STREAM_GROUP = "ecom-stream"
#: Offsets Kafka reports for "no committed offset".
NO_OFFSET = -1001

TP = tuple[str, int]


class ReplayError(EcomError):
    """Bad replay input or a state that forbids a replay; nothing was changed."""


# ---------------------------------------------------------------- input
@dataclass(frozen=True)
class Target:
    """Where the offsets go: ``earliest``, ``datetime`` (``timestamp_ms``) or ``offset``."""

    mode: str
    timestamp_ms: int | None = None
    offsets: Mapping[int, int] = field(default_factory=dict)

    def describe(self) -> str:
        if self.mode == "datetime" and self.timestamp_ms is not None:
            return f"datetime {datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).isoformat()}"
        if self.mode == "offset":
            return "offset " + ",".join(f"{p}:{o}" for p, o in sorted(self.offsets.items()))
        return self.mode


_OFFSET_RE = re.compile(r"(\d+):(\d+)")


def parse_offsets(specs: Sequence[str]) -> dict[int, int]:
    """``["0:10", "3:0"]`` -> ``{0: 10, 3: 0}``; ReplayError on anything else."""
    out: dict[int, int] = {}
    for spec in specs:
        m = _OFFSET_RE.fullmatch(spec.strip())
        if not m:
            raise ReplayError(
                f"bad --to-offset {spec!r}", hint="use PARTITION:OFFSET, e.g. --to-offset 0:42"
            )
        p, o = int(m.group(1)), int(m.group(2))
        if p in out:
            raise ReplayError(f"--to-offset names partition {p} twice")
        out[p] = o
    if not out:
        raise ReplayError("--to-offset needs at least one PARTITION:OFFSET")
    return out


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 datetime *with* a timezone; ReplayError otherwise."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise ReplayError(
            f"bad --to-datetime {text!r}", hint="use ISO 8601, e.g. 2026-11-28T07:00:00+00:00"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ReplayError(
            f"--to-datetime {text!r} has no timezone",
            hint="add one, e.g. Z or +00:00, so the time is not ambiguous",
        )
    return value


def make_target(
    *, to_earliest: bool = False, to_datetime: str | None = None, to_offset: Sequence[str] = ()
) -> Target:
    chosen = sum([bool(to_earliest), to_datetime is not None, bool(to_offset)])
    if chosen != 1:
        raise ReplayError(
            "choose exactly one of --to-earliest, --to-datetime, --to-offset", hint="see --help"
        )
    if to_earliest:
        return Target("earliest")
    if to_datetime is not None:
        return Target("datetime", timestamp_ms=int(parse_datetime(to_datetime).timestamp() * 1000))
    return Target("offset", offsets=parse_offsets(to_offset))


def validate_tables(tables: Iterable[str] | None) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(tables or ()))
    for t in chosen:
        if t not in SOURCE_TABLES:
            raise ReplayError(
                f"unknown table {t!r}", hint=f"choose from {', '.join(SOURCE_TABLES)}"
            )
    return chosen or SOURCE_TABLES


@dataclass(frozen=True)
class TopicRef:
    table: str
    layer: str  # "cdc": the table's CDC topic (both lake layers are landed from it)
    topic: str


def topics_for(group: str, tables: Sequence[str], s: StreamSettings) -> list[TopicRef]:
    """The topics a replay of ``tables`` resets: their CDC topics. The stream group lands
    bronze and silver from them; other groups (downstream consumers) read them too."""
    return [TopicRef(t, "cdc", s.base.cdc_topic(t)) for t in tables]


# ---------------------------------------------------------------- plan
@dataclass(frozen=True)
class PartitionPlan:
    table: str
    layer: str
    topic: str
    partition: int
    earliest: int
    end: int
    current: int  # -1: nothing committed
    new: int

    @property
    def reprocess(self) -> int:
        """Messages read again: from the new offset to the committed one (or the end)."""
        upto = self.current if self.current >= 0 else self.end
        return max(0, upto - self.new)

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), reprocess=self.reprocess)


@dataclass
class ReplayPlan:
    group: str
    tables: tuple[str, ...]
    target: Target
    partitions: list[PartitionPlan]
    members: list[str] = field(default_factory=list)
    dry_run: bool = True
    applied: bool = False
    stopped_workers: int = 0

    @property
    def total_reprocess(self) -> int:
        return sum(p.reprocess for p in self.partitions)

    @property
    def gold_note(self) -> str:
        return (
            "gold: the next `ecom gold rebuild` recomputes ALL dates (gold is rebuilt whole "
            "from silver), so every gold date is recomputed, not only the replayed ones"
        )

    def audit_record(self, who: str, when: datetime) -> dict[str, Any]:
        return {
            "who": who,
            "when": when.astimezone(UTC).isoformat(),
            "group": self.group,
            "tables": list(self.tables),
            "mode": self.target.describe(),
            "dry_run": self.dry_run,
            "applied": self.applied,
            "stopped_workers": self.stopped_workers,
            "partitions": [
                {"topic": p.topic, "partition": p.partition, "old": p.current, "new": p.new}
                for p in self.partitions
            ],
        }


def build_plan(
    group: str,
    tables: Sequence[str],
    refs: Sequence[TopicRef],
    target: Target,
    partitions: Mapping[str, Sequence[int]],
    earliest: Mapping[TP, int],
    end: Mapping[TP, int],
    committed: Mapping[TP, int],
    by_time: Mapping[TP, int] | None = None,
) -> ReplayPlan:
    """Validate the target against the partitions' offsets and compute the new offsets.

    ``by_time`` is the offset list_offsets returned for the timestamp (-1: past the end).
    """
    if target.mode == "offset":
        _check_partitions(target, refs, partitions)
    plans: list[PartitionPlan] = []
    for ref in refs:
        for p in sorted(partitions.get(ref.topic, ())):
            tp = (ref.topic, p)
            lo, hi = earliest[tp], end[tp]
            cur = committed.get(tp, NO_OFFSET)
            cur = cur if cur >= 0 else -1
            new = _new_offset(target, tp, lo, hi, by_time or {})
            if new is not None:
                plans.append(PartitionPlan(ref.table, ref.layer, ref.topic, p, lo, hi, cur, new))
    return ReplayPlan(group, tuple(tables), target, plans)


def _check_partitions(
    target: Target, refs: Sequence[TopicRef], partitions: Mapping[str, Sequence[int]]
) -> None:
    """Every partition named by --to-offset exists in every topic."""
    counts = {r.topic: len(partitions.get(r.topic, ())) for r in refs}
    for p in target.offsets:
        bad = [t for t, n in counts.items() if not 0 <= p < n]
        if bad:
            raise ReplayError(
                f"partition {p} out of range for {bad[0]} ({counts[bad[0]]} partitions)",
                hint=f"use 0..{counts[bad[0]] - 1}",
            )


def _new_offset(
    target: Target, tp: TP, lo: int, hi: int, by_time: Mapping[TP, int]
) -> int | None:
    """Where the target puts the partition ``tp`` (earliest ``lo``, end ``hi``); None
    when --to-offset leaves it alone."""
    if target.mode == "earliest":
        return lo
    if target.mode == "datetime":
        found = by_time.get(tp, -1)
        return hi if found < 0 else max(found, lo)
    topic, p = tp
    if p not in target.offsets:
        return None
    new = target.offsets[p]
    if not lo <= new <= hi:
        raise ReplayError(
            f"offset {new} out of range for {topic}[{p}]",
            hint=f"valid offsets are {lo}..{hi}",
        )
    return new


# ---------------------------------------------------------------- audit
def audit_path(settings: Settings) -> Path:
    return settings.home / "logs" / "replay-audit.jsonl"


def write_audit(settings: Settings, plan: ReplayPlan) -> Path:
    path = audit_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = plan.audit_record(getpass.getuser(), datetime.now(UTC))
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    return path


# ---------------------------------------------------------------- Kafka
def _admin(s: StreamSettings) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(client_config(s.base))


def _result(fut: Any, what: str) -> Any:
    from confluent_kafka import KafkaException

    try:
        return fut.result(timeout=30)
    except KafkaException as exc:
        raise TransientError(
            f"{what} failed: {exc}", hint="is Kafka up? `ecom stack status`"
        ) from exc
    except concurrent.futures.TimeoutError as exc:  # the broker never answered
        raise TransientError(
            f"{what}: Kafka did not answer within 30s", hint="is Kafka up? `ecom stack status`"
        ) from exc


@dataclass(frozen=True)
class GroupInfo:
    state: str
    members: list[str]  # "client_id@host"


def describe_group(admin: Any, group: str) -> GroupInfo:
    desc = _result(admin.describe_consumer_groups([group])[group], f"describe group {group}")
    members = [f"{m.client_id}@{m.host.lstrip('/')}" for m in desc.members]
    return GroupInfo(str(getattr(desc.state, "name", desc.state)), members)


def _committed(admin: Any, group: str, tps: Sequence[TP] | None = None) -> dict[TP, int]:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    req = ConsumerGroupTopicPartitions(
        group, [TopicPartition(t, p) for t, p in tps] if tps is not None else None
    )
    res = _result(admin.list_consumer_group_offsets([req])[group], f"committed offsets of {group}")
    return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions or []}


def _list_offsets(admin: Any, specs: Mapping[TP, Any]) -> dict[TP, int]:
    from confluent_kafka import TopicPartition

    if not specs:
        return {}
    futs = admin.list_offsets({TopicPartition(t, p): spec for (t, p), spec in specs.items()})
    return {
        (tp.topic, tp.partition): _result(f, f"list offsets {tp.topic}[{tp.partition}]").offset
        for tp, f in futs.items()
    }


def _members_error(group: str, info: GroupInfo) -> ReplayError:
    return ReplayError(
        f"group {group} has {len(info.members)} active member(s): "
        + ", ".join(sorted(info.members)),
        hint="stop them first (`ecom stream stop`) or pass --stop-workers",
    )


def _refuse_members(group: str, info: GroupInfo) -> None:
    if info.members:
        raise _members_error(group, info)


def local_workers(s: StreamSettings) -> list[str]:
    """Our stream workers that run on this machine (they may not have joined the group yet)."""
    from stream_apps import workers

    return [f"worker {w.index} (pid {w.pid})" for w in workers.status(s) if w.pid is not None]


def _refuse_running(s: StreamSettings, group: str, info: GroupInfo) -> None:
    _refuse_members(group, info)
    if group == s.app_id:
        running = local_workers(s)
        if running:
            raise ReplayError(
                f"stream workers of group {group} are running: {', '.join(running)}",
                hint="stop them first (`ecom stream stop`) or pass --stop-workers",
            )


def wait_group_empty(admin: Any, group: str, timeout: float = 90.0) -> GroupInfo:
    return poll(
        lambda: describe_group(admin, group),
        lambda info: not info.members,
        timeout=timeout,
        interval=1.0,
        on_timeout=lambda info: _members_error(group, info),
    )


def stop_workers_and_wait(s: StreamSettings, group: str, *, admin: Any = None) -> int:
    """Stop our stream workers and wait until ``group`` has no members; return how many."""
    from stream_apps import workers

    stopped = workers.stop(s)
    wait_group_empty(admin or _admin(s), group)
    return stopped


def plan_replay(
    s: StreamSettings,
    group: str,
    tables: Iterable[str] | None,
    target: Target,
    *,
    dry_run: bool = False,
    allow_members: bool = False,
    admin: Any = None,
) -> ReplayPlan:
    """Check the group and compute the plan; nothing changes here.

    Active members are refused unless ``allow_members`` (a dry run, or the caller stops
    the workers before applying); they are listed in ``plan.members``.
    """
    from confluent_kafka.admin import OffsetSpec

    chosen = validate_tables(tables)
    admin = admin or _admin(s)
    info = describe_group(admin, group)
    if not allow_members:
        _refuse_running(s, group, info)
    elif group == s.app_id:
        info.members.extend(local_workers(s))  # a starting worker may not have joined yet
    if info.state in ("DEAD", "UNKNOWN") or not _committed(admin, group):
        raise ReplayError(
            f"unknown group {group!r} (no members, no committed offsets)",
            hint=f"the stream workers' group is {s.app_id}",
        )
    refs = topics_for(group, chosen, s)
    md = admin.list_topics(timeout=15)
    partitions = {
        r.topic: sorted(md.topics[r.topic].partitions) for r in refs if r.topic in md.topics
    }
    tps = [(t, p) for t, ps in partitions.items() for p in ps]
    earliest = _list_offsets(admin, {tp: OffsetSpec.earliest() for tp in tps})
    end = _list_offsets(admin, {tp: OffsetSpec.latest() for tp in tps})
    by_time = None
    if target.mode == "datetime" and target.timestamp_ms is not None:
        by_time = _list_offsets(
            admin, {tp: OffsetSpec.for_timestamp(target.timestamp_ms) for tp in tps}
        )
    committed = _committed(admin, group, tps)
    plan = build_plan(
        group,
        chosen,
        refs,
        target,
        partitions,
        earliest,
        end,
        committed,
        by_time,
    )
    plan.dry_run = dry_run
    plan.members = info.members
    return plan


def apply_plan(s: StreamSettings, plan: ReplayPlan, *, admin: Any = None) -> ReplayPlan:
    """Re-check the group is empty, then alter its committed offsets (one call, one group)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    admin = admin or _admin(s)
    _refuse_running(s, plan.group, describe_group(admin, plan.group))
    tps = [TopicPartition(p.topic, p.partition, p.new) for p in plan.partitions]
    if tps:
        req = ConsumerGroupTopicPartitions(plan.group, tps)
        res = _result(admin.alter_consumer_group_offsets([req])[plan.group], "alter offsets")
        failed = [tp for tp in res.topic_partitions or [] if tp.error]
        if failed:
            raise TransientError(
                f"alter offsets failed for {failed[0].topic}[{failed[0].partition}]: "
                f"{failed[0].error}"
            )
    plan.applied = True
    return plan


def format_plan(plan: ReplayPlan) -> str:
    lines = [
        f"replay group {plan.group} to {plan.target.describe()} (tables: {', '.join(plan.tables)})",
        f"{'topic':<40} {'part':>4} {'current':>9} {'new':>9} {'end':>9} {'reprocess':>9}",
    ]
    for p in plan.partitions:
        cur = str(p.current) if p.current >= 0 else "-"
        lines.append(
            f"{p.topic:<40} {p.partition:>4} {cur:>9} {p.new:>9} {p.end:>9} {p.reprocess:>9}"
        )
    lines.append(f"messages to reprocess: {plan.total_reprocess}")
    if plan.total_reprocess:
        lines.append(
            "lake: offsets already in bronze and silver are skipped (each Delta commit records "
            "the offsets it holds), so the replay adds no row and no file there; offsets not "
            "landed yet are landed once"
        )
        lines.append(
            "silver topics: the replayed changes are published again (at least once: "
            "consumers see repeats, with the same bronze coordinates)"
        )
    lines.append(plan.gold_note)
    return "\n".join(lines)
