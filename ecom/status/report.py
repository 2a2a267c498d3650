"""`ecom status` output: the readable report and the one JSON document (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from ecom.status.model import (
    EXIT_NAMES,
    LAKE_KINDS,
    Finding,
    GoldBuild,
    HealthSettings,
    LakeTable,
    PartitionLag,
    Snapshot,
    caught_up,
    exit_code,
    freshness,
    human_bytes,
)
from schemas import SOURCE_TABLES


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def report_dict(snap: Snapshot, findings: Sequence[Finding]) -> dict[str, Any]:
    """The one JSON document of `ecom status --json`."""
    code = exit_code(findings)
    lag = snap.lag

    def build(b: GoldBuild | None) -> dict[str, Any] | None:
        if b is None:
            return None
        return {
            "build_id": b.build_id,
            "status": b.status,
            "as_of": b.as_of,
            "step": b.step,
            "started_at": _iso(b.started_at),
            "finished_at": _iso(b.finished_at),
            "max_commit_ts": _iso(b.max_commit_ts),
            "max_source_lsn": b.max_source_lsn,
            "error": b.error,
        }

    return {
        "checked_at": _iso(snap.checked_at),
        "healthy": code == 0,
        "exit_code": code,
        "caught_up": caught_up(snap),
        "connectors": [c.as_dict() for c in snap.connectors],
        "slot": dict(
            asdict(snap.slot),
            name=snap.slot_name,
            first_sample=asdict(snap.slot_first) if snap.slot_first else None,
        ),
        "consumer_lag": {
            "group": lag.group,
            "state": lag.state,
            "members": lag.members,
            "total": lag.total,
            "total_previous_sample": lag.prev_total,
            "sample_seconds": lag.sample_seconds,
            "committed_moved": lag.committed_moved,
            "missing_topics": list(lag.missing_topics),
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "end": p.end,
                    "committed": p.committed,
                    "lag": p.lag,
                    "lag_previous_sample": p.prev_lag,
                }
                for p in lag.partitions
            ],
        },
        "lake": {
            kind: {
                t.table: {
                    "uri": t.uri,
                    "exists": t.exists,
                    "version": t.version,
                    "last_commit": _iso(t.last_commit),
                    "files": t.files,
                    "bytes": t.bytes,
                    "rows": t.rows,
                    "max_commit_ts": _iso(t.max_commit_ts),
                    "landed_offsets": {str(p): o for p, o in sorted(t.landed.items())},
                    "behind": t.behind(snap.lag, t.landed_topic) if t.landed_topic else None,
                    "error": t.error,
                }
                for t in snap.lake
                if t.kind == kind
            }
            for kind in LAKE_KINDS
        },
        "gold": {
            "problem": snap.gold.problem,
            "last_build": build(snap.gold.last),
            "last_succeeded_build": build(snap.gold.last_succeeded),
        },
        "unknown_table_topics": dict(sorted(snap.unknown_table_topics.items())),
        "dlq": {
            "topic": snap.dlq.topic,
            "exists": snap.dlq.exists,
            "total": snap.dlq.total,
            "partial": snap.dlq.partial,
            "by_reason": [
                {"stage": s, "reason": r, "count": n}
                for (s, r), n in sorted(snap.dlq.by_reason.items())
            ],
        },
        "freshness_seconds": freshness(snap),
        "workers": [w.as_dict() for w in snap.workers],
        "schema_registry": {
            "url": snap.registry.url,
            "up": snap.registry.up,
            "version": snap.registry.version,
            "problem": snap.registry.problem,
            "subjects": [asdict(sub) for sub in snap.registry.subjects],
        },
        "findings": [f.as_dict() for f in findings],
    }


def human_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 2 * 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _ts(ts: datetime | None) -> str:
    return "-" if ts is None else ts.strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Left-aligned text columns; numbers right-aligned, with thousands separators."""

    def cell(c: Any) -> str:
        return f"{c:,}" if isinstance(c, int) and not isinstance(c, bool) else str(c)

    cells = [[str(h) for h in headers]] + [[cell(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [
        all(isinstance(r[i], int | float) for r in rows) and bool(rows) for i in range(len(headers))
    ]
    out = []
    for r in cells:
        parts = [
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True)
        ]
        out.append("  ".join(parts).rstrip())
    return out


def format_report(snap: Snapshot, findings: Sequence[Finding], cfg: HealthSettings) -> str:
    """The readable report: one table per component, then the problems and their fixes."""
    code = exit_code(findings)
    if code:
        failing = ", ".join(name for bit, name in EXIT_NAMES.items() if code & bit)
        head = f"UNHEALTHY (exit {code}: {failing})"
    else:
        head = "HEALTHY (exit 0)"
    sections = [
        [f"ecom status at {_ts(snap.checked_at)} UTC: {head}"],
        table(
            ["CONNECTOR", "STATE", "TASKS"],
            [
                (c.name, c.state, ", ".join(f"{t['id']}:{t['state']}" for t in c.tasks) or "-")
                for c in snap.connectors
            ],
        ),
        _slot_lines(snap, cfg),
        _lag_lines(snap, cfg),
        _lake_lines(snap),
        _gold_lines(snap),
        _dlq_lines(snap),
        _worker_lines(snap),
        _registry_lines(snap),
        [_caught_up_line(snap)],
    ]
    if findings:
        problems = [f"problems ({len(findings)}):"]
        for f in findings:
            problems.append(f"  {f.severity:<8} [{f.component}] {f.message}")
            problems += [f"           fix: {step}" for step in f.fix]
        sections.append(problems)
    return "\n\n".join("\n".join(lines) for lines in sections)


def _caught_up_line(snap: Snapshot) -> str:
    if caught_up(snap):
        return "caught up: yes"
    if snap.lag.total == 0 and all(c.healthy for c in snap.connectors):
        return (
            "caught up: not proven (nothing is behind in Kafka, but Debezium has not yet "
            "confirmed the WAL position this check started at; --wait-caught-up S waits for it)"
        )
    return "caught up: no"


def _slot_lines(snap: Snapshot, cfg: HealthSettings) -> list[str]:
    sl = snap.slot
    active = "-" if sl.active is None else ("yes" if sl.active else "NO")
    return table(
        [
            "REPLICATION SLOT",
            "ACTIVE",
            "WAL_STATUS",
            "LAG",
            "RETAINED",
            "SAFE_WAL_SIZE",
            "FAIL_ABOVE",
        ],
        [
            (
                snap.slot_name,
                active,
                sl.wal_status or ("MISSING" if not sl.exists else "-"),
                human_bytes(sl.lag_bytes),
                human_bytes(sl.retained_bytes),
                human_bytes(sl.safe_wal_size),
                human_bytes(cfg.slot_lag_warn_bytes),
            )
        ],
    )


def _lag_lines(snap: Snapshot, cfg: HealthSettings) -> list[str]:
    lag = snap.lag
    before = (
        "" if lag.prev_total is None else f" ({lag.prev_total:,} {lag.sample_seconds:g}s before)"
    )
    lines = [
        f"consumer group {lag.group}: {lag.state.lower()}, {lag.members} member(s), "
        f"lag {lag.total:,}{before}, fail above {cfg.max_lag:,}"
    ]
    per_topic: dict[str, list[PartitionLag]] = {}
    for p in lag.partitions:
        per_topic.setdefault(p.topic, []).append(p)
    lines += table(
        ["TOPIC", "PARTITIONS", "END", "COMMITTED", "LAG"],
        [
            (
                topic,
                len(ps),
                sum(p.end for p in ps),
                sum(max(p.committed, 0) for p in ps),
                sum(p.lag for p in ps),
            )
            for topic, ps in per_topic.items()
        ],
    )
    lagging = [p for p in lag.partitions if p.lag]
    if lagging:
        shown = ", ".join(f"{p.topic}[{p.partition}] {p.lag:,}" for p in lagging[:12])
        lines.append(f"partitions behind: {shown}" + (" ..." if len(lagging) > 12 else ""))
    if lag.missing_topics:
        lines.append(f"topics not created yet: {', '.join(lag.missing_topics)}")
    return lines


def _lake_lines(snap: Snapshot) -> list[str]:
    rows, behind_parts = [], []
    for t in sorted(snap.lake, key=lambda t: (LAKE_KINDS.index(t.kind), t.table)):
        if not t.exists:
            rows.append((t.kind, t.table, "-", "-", "-", "-", "error" if t.error else "no table"))
            continue
        behind = t.behind(snap.lag, t.landed_topic) if t.landed_topic else None
        rows.append((
            t.kind,
            t.table,
            str(t.version),
            _ts(t.last_commit),
            f"{t.files:,}",
            f"{t.bytes / 1048576:.1f}",
            "?" if behind is None else f"{behind:,}",
        ))  # fmt: skip
        behind_parts += _partitions_behind(t, snap)
    fresh = freshness(snap)
    ages = [
        (name, *(human_age(fresh[name][layer]) for layer in ("bronze", "silver", "gold")))
        for name in SOURCE_TABLES
    ]
    errors = [f"{t.kind} {t.table}: {t.error}" for t in snap.lake if t.error]
    shown = ", ".join(behind_parts[:12]) + (" ..." if len(behind_parts) > 12 else "")
    return [
        "lake: Delta tables (BEHIND: offsets of the table's CDC topic in Kafka not landed yet)",
        *table(
            ["LAYER", "TABLE", "VERSION", "LAST COMMIT (UTC)", "FILES", "MIB", "BEHIND"], rows
        ),  # fmt: skip
        *([f"partitions behind (layer table[partition]: landed/end): {shown}"] if shown else []),
        *errors,
        "",
        "freshness (now - newest source commit)",
        *table(["TABLE", "BRONZE", "SILVER", "GOLD"], ages),
    ]


def _partitions_behind(t: LakeTable, snap: Snapshot) -> list[str]:
    """``layer table[p] landed/end`` for each partition of the table not fully landed."""
    out = []
    for p in snap.lag.partitions:
        if p.topic == t.landed_topic and t.landed.get(p.partition, -1) < p.end - 1:
            out.append(
                f"{t.kind} {t.table}[{p.partition}] {t.landed.get(p.partition, -1)}/{p.end - 1}"
            )
    return out


def _gold_lines(snap: Snapshot) -> list[str]:
    g = snap.gold
    if g.problem:
        return [f"gold: {g.problem}"]
    if g.last is None:
        return ["gold: no build yet"]
    builds = [("last build", g.last)]
    if g.last_succeeded is not None and g.last_succeeded.build_id != g.last.build_id:
        builds.append(("last good build", g.last_succeeded))
    return [
        f"gold {label}: #{b.build_id} {b.status}, as of {b.as_of}, finished "
        f"{_ts(b.finished_at)} UTC, covers source commits up to {_ts(b.max_commit_ts)} UTC"
        + (f" (LSN {b.max_source_lsn})" if b.max_source_lsn else "")
        for label, b in builds
    ]


def _dlq_lines(snap: Snapshot) -> list[str]:
    d = snap.dlq
    if not d.exists:
        return [f"dead letters ({d.topic}): topic not created yet"]
    lines = [f"dead letters ({d.topic}): {d.total:,}" + (" (partial count)" if d.partial else "")]
    if d.by_reason:
        rows = [(stage, reason, n) for (stage, reason), n in sorted(d.by_reason.items())]
        lines += table(["STAGE", "REASON", "COUNT"], rows)
    return lines


def _registry_lines(snap: Snapshot) -> list[str]:
    reg = snap.registry
    if not reg.up:
        return [f"schema registry {reg.url}: DOWN ({reg.problem})"]

    def dash(value: object) -> str:
        return "-" if value is None else str(value)

    return [
        f"schema registry {reg.url}: up ({reg.version})",
        *table(
            ["SUBJECT", "LATEST VERSION", "SCHEMA ID", "COMPATIBILITY"],
            [(s.subject, dash(s.version), dash(s.schema_id), dash(s.compatibility))
             for s in reg.subjects],
        ),  # fmt: skip
    ]


def _worker_lines(snap: Snapshot) -> list[str]:
    if not snap.workers:
        return ["stream workers: none started from here (`ecom stream start`)"]
    return table(
        ["STREAM WORKER", "STATE", "PID", "METRICS"],
        [(str(w.index), "up" if w.up else "DOWN", str(w.pid or "-"), w.web) for w in snap.workers],
    )
