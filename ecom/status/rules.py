"""`ecom status` rules: which states are problems, and the command that fixes each.

Pure functions over a :class:`ecom.status.model.Snapshot` (no service is contacted); the exit
status they lead to is described in :mod:`ecom.status.model`.
"""

from __future__ import annotations

from connectors.manage import ConnectorState
from ecom.status.model import (
    CRITICAL,
    EXIT_CONNECTOR,
    EXIT_CONSUMER_LAG,
    EXIT_REGISTRY,
    EXIT_SLOT,
    EXIT_WORKER,
    WARNING,
    Finding,
    HealthSettings,
    Snapshot,
    human_bytes,
)


# ---------------------------------------------------------------- fixes
def restart_cmd(url: str, name: str) -> str:
    return f"curl -s -X POST '{url}/connectors/{name}/restart?includeTasks=true&onlyFailed=true'"


def resume_cmd(url: str, name: str) -> str:
    return f"curl -s -X PUT '{url}/connectors/{name}/resume'"


def resnapshot_fix(url: str, name: str, slot: str) -> tuple[str, ...]:
    """The lost-slot runbook (README, "Runbook: lost replication slot"), step by step."""
    return (
        "ecom stream stop",
        f"curl -s -X PUT '{url}/connectors/{name}/stop'",
        f"curl -s -X DELETE '{url}/connectors/{name}/offsets'",
        f"SELECT pg_drop_replication_slot('{slot}');   -- in the source database, if still listed",
        "empty the silver bucket (command in README 'Runbook: lost replication slot')",
        f"curl -s -X PUT '{url}/connectors/{name}/resume'   # a new initial snapshot",
        "ecom stream start && ecom status --wait-caught-up 1800 && ecom gold rebuild",
    )


def slot_gone(snap: Snapshot) -> bool:
    """The slot cannot serve the connector's stored position any more."""
    return not snap.slot.exists or snap.slot.wal_status == "lost"


def _connector_fix(snap: Snapshot, c: ConnectorState) -> tuple[str, ...]:
    url = snap.connect_url
    if c.state == "NOT_REGISTERED":
        return ("ecom connectors apply",)
    if slot_gone(snap) or "no longer available on the server" in c.trace:
        # restarting or resuming fails again (Debezium refuses the gap): re-snapshot
        return resnapshot_fix(url, c.name, snap.slot_name)
    if c.state in ("PAUSED", "STOPPED"):
        return (resume_cmd(url, c.name),)
    return (restart_cmd(url, c.name), "ecom connectors status   # the error trace")


# ---------------------------------------------------------------- rules
def evaluate(snap: Snapshot, cfg: HealthSettings) -> list[Finding]:
    """Every problem in ``snap``, most serious first."""
    out = [
        *_connector_findings(snap),
        *_slot_findings(snap, cfg),
        *_lag_findings(snap, cfg),
        *_worker_findings(snap),
        *_registry_findings(snap),
        *_gold_findings(snap, cfg),
        *_lake_findings(snap),
        *_unknown_topic_findings(snap),
    ]
    return sorted(out, key=lambda f: (f.severity != CRITICAL, f.code == 0, f.code))


def _connector_findings(snap: Snapshot) -> list[Finding]:
    out = []
    for c in snap.connectors:
        if c.healthy:
            continue
        tasks = ", ".join(f"task {t['id']} {t['state']}" for t in c.tasks) or "no tasks"
        first = c.trace.strip().splitlines()[0] if c.trace.strip() else ""
        what = (
            f"connector {c.name} is not registered"
            if c.state == "NOT_REGISTERED"
            else f"connector {c.name} is {c.state} ({tasks})"
            + (f": {first[:200]}" if first else "")
        )
        out.append(Finding("connector", CRITICAL, EXIT_CONNECTOR, what, _connector_fix(snap, c)))
    return out


def _slot_findings(snap: Snapshot, cfg: HealthSettings) -> list[Finding]:
    slot, name, url = snap.slot, snap.slot_name, snap.connect_url
    registered = [c for c in snap.connectors if c.state != "NOT_REGISTERED"]
    conn = registered[0] if registered else None
    cname = conn.name if conn else (snap.connectors[0].name if snap.connectors else "?")
    if not slot.exists:
        if conn is None:
            return [
                Finding(
                    "slot",
                    WARNING,
                    0,
                    f"no replication slot {name} (the connector is not registered yet)",
                    ("ecom connectors apply",),
                )
            ]
        return [
            Finding(
                "slot",
                CRITICAL,
                EXIT_SLOT,
                f"replication slot {name} is missing while connector {cname} exists: changes "
                "since its stored offset cannot be streamed any more (Debezium fails rather "
                "than skip them); re-snapshot",
                resnapshot_fix(url, cname, name),
            )
        ]
    out = []
    if slot.wal_status == "lost":
        out.append(
            Finding(
                "slot",
                CRITICAL,
                EXIT_SLOT,
                f"replication slot {name} is lost (wal_status=lost): the WAL it needed was "
                "removed, so changes are missing from the stream; re-snapshot",
                resnapshot_fix(url, cname, name),
            )
        )
        return out
    if slot.wal_status == "unreserved":
        out.append(
            Finding(
                "slot",
                CRITICAL,
                EXIT_SLOT,
                f"replication slot {name} is about to be lost (wal_status=unreserved: WAL it "
                f"needs goes at the next checkpoint); get connector {cname} streaming now",
                (
                    restart_cmd(url, cname),
                    "to buy time, as superuser: ALTER SYSTEM SET max_slot_wal_keep_size = '8GB'; "
                    "SELECT pg_reload_conf();",
                ),
            )
        )
    if slot.active is False and conn is not None:
        fix = _connector_fix(snap, conn) if not conn.healthy else (restart_cmd(url, cname),)
        out.append(
            Finding(
                "slot",
                CRITICAL,
                EXIT_SLOT,
                f"replication slot {name} is inactive (stalled: nobody streams from it) while "
                f"connector {cname} is {conn.state}; it retains "
                f"{human_bytes(slot.retained_bytes)} of WAL and growing",
                fix,
            )
        )
    retained = max(slot.retained_bytes or 0, slot.lag_bytes or 0)
    if retained > cfg.slot_lag_warn_bytes:
        out.append(
            Finding(
                "slot",
                CRITICAL,
                EXIT_SLOT,
                f"replication slot {name} retains {human_bytes(retained)} of WAL, over "
                f"ECOM_SLOT_LAG_WARN_BYTES={cfg.slot_lag_warn_bytes} "
                f"({human_bytes(cfg.slot_lag_warn_bytes)}); safe_wal_size "
                f"{human_bytes(slot.safe_wal_size)} before it is lost",
                (
                    restart_cmd(url, cname),
                    "if it keeps growing while RUNNING: look for a long open transaction "
                    "(pg_stat_activity) and at `ecom stack logs connect`",
                ),
            )
        )
    return out


def _lag_findings(snap: Snapshot, cfg: HealthSettings) -> list[Finding]:
    lag = snap.lag
    out = []
    if lag.missing_topics:
        out.append(
            Finding(
                "consumer lag",
                WARNING,
                0,
                f"topics not created yet: {', '.join(lag.missing_topics)}",
                ("ecom stream start",),
            )
        )
    total, prev = lag.total, lag.prev_total
    behind = ", ".join(
        f"{p.topic}[{p.partition}]={p.lag:,}"
        for p in sorted(lag.partitions, key=lambda p: -p.lag)[:4]
        if p.lag
    )
    restart = ("ecom stream status", "ecom stream stop && ecom stream start")
    per_topic = max(
        (sum(1 for q in lag.partitions if q.topic == p.topic) for p in lag.partitions), default=1
    )
    more = f"ecom stream start --workers {min(len(snap.workers) + 1, per_topic)}"
    if total > cfg.max_lag:
        out.append(
            Finding(
                "consumer lag",
                CRITICAL,
                EXIT_CONSUMER_LAG,
                f"group {lag.group} is {total:,} messages behind, over ECOM_STATUS_MAX_LAG="
                f"{cfg.max_lag:,} ({behind})",
                (f"{more}   # more workers (at most one per partition)",),
            )
        )
    if total > 0 and lag.members == 0:
        out.append(
            Finding(
                "consumer lag",
                CRITICAL,
                EXIT_CONSUMER_LAG,
                f"group {lag.group} is {total:,} messages behind and has no member: nobody "
                f"consumes ({behind})",
                ("ecom stream start",),
            )
        )
    elif prev is not None and total > prev and total > 0:
        if not lag.committed_moved:
            out.append(
                Finding(
                    "consumer lag",
                    CRITICAL,
                    EXIT_CONSUMER_LAG,
                    f"group {lag.group} lag grew from {prev:,} to {total:,} in "
                    f"{lag.sample_seconds:.0f}s and it committed nothing ({behind})",
                    restart,
                )
            )
        else:
            out.append(
                Finding(
                    "consumer lag",
                    WARNING,
                    0,
                    f"group {lag.group} lag grew from {prev:,} to {total:,} in "
                    f"{lag.sample_seconds:.0f}s (it is consuming, slower than changes arrive)",
                    (f"{more}   # if it keeps growing",),
                )
            )
    return out


def _worker_findings(snap: Snapshot) -> list[Finding]:
    down = [w for w in snap.workers if not w.up]
    out = []
    if down:
        n = max(w.index for w in snap.workers) + 1
        for w in down:
            why = "not running" if w.pid is None else f"pid {w.pid} not serving {w.web}"
            out.append(
                Finding(
                    "stream worker",
                    CRITICAL,
                    EXIT_WORKER,
                    f"stream worker {w.index} was started but is down ({why}); log {w.log}",
                    (f"ecom stream start --workers {n}",),
                )
            )
    elif not snap.workers and snap.lag.members == 0:
        out.append(
            Finding(
                "stream worker",
                WARNING,
                0,
                "no stream workers are running (new changes will wait in Kafka)",
                ("ecom stream start",),
            )
        )
    return out


#: The dead-letter reason of a silver record whose schema the registry refused
#: (``stream_apps.pipeline.SCHEMA_INCOMPATIBLE``).
SCHEMA_REFUSED = ("silver", "schema_incompatible")


def backward_cmd(url: str, subject: str) -> str:
    return (
        "curl -s -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' "
        f"-d '{{\"compatibility\": \"BACKWARD\"}}' '{url}/config/{subject}'"
    )


def _registry_findings(snap: Snapshot) -> list[Finding]:
    reg = snap.registry
    if not reg.up:
        return [
            Finding(
                "schema registry",
                CRITICAL,
                EXIT_REGISTRY,
                f"schema registry at {reg.url} does not answer ({reg.problem}): consumers "
                "cannot fetch the schemas of silver records, and a worker waits for it "
                "before publishing a record whose schema is new to it",
                ("ecom stack up registry", "ecom stack logs registry   # why it is down"),
            )
        ]
    out = [
        Finding(
            "schema registry",
            WARNING,
            0,
            f"subject {sub.subject} has compatibility {sub.compatibility or 'the registry default'}"
            ", not BACKWARD: a silver schema that cannot read its previous version would be "
            "accepted",
            (backward_cmd(reg.url, sub.subject),),
        )
        for sub in reg.subjects
        if sub.version is not None and sub.compatibility != "BACKWARD"
    ]
    refused = snap.dlq.by_reason.get(SCHEMA_REFUSED, 0)
    if refused:
        out.append(
            Finding(
                "schema registry",
                WARNING,
                0,
                f"{refused:,} silver record(s) not published: the registry refused their "
                "schema (dead letters with reason schema_incompatible; their rows are in the "
                "silver lake)",
                (
                    "read the letters' detail (subject and rule), e.g. with kcat on "
                    f"{snap.dlq.topic}",
                    "make the subject accept the schema, then `ecom replay` from the letters' "
                    "offsets to publish them (README 'Runbook: schema refused')",
                ),
            )
        )
    return out


def _gold_findings(snap: Snapshot, cfg: HealthSettings) -> list[Finding]:
    gold = snap.gold
    if gold.problem:
        return [Finding("gold", WARNING, 0, gold.problem, ("ecom db init", "ecom gold rebuild"))]
    if gold.last is None:
        return [Finding("gold", WARNING, 0, "no gold build yet", ("ecom gold rebuild",))]
    out = []
    if gold.last.status == "failed":
        out.append(
            Finding(
                "gold",
                WARNING,
                0,
                f"last gold build #{gold.last.build_id} failed during "
                f"{gold.last.step}: {(gold.last.error or '')[:200]} (the previous "
                "gold is still served)",
                ("ecom gold rebuild",),
            )
        )
    good = gold.last_succeeded
    if good is not None and good.finished_at is not None:
        hours = (snap.checked_at - good.finished_at).total_seconds() / 3600
        if hours > cfg.gold_stale_hours:
            out.append(
                Finding(
                    "gold",
                    WARNING,
                    0,
                    f"last good gold build #{good.build_id} finished {hours:.0f}h ago "
                    f"(over ECOM_STATUS_GOLD_STALE_HOURS={cfg.gold_stale_hours:g})",
                    ("ecom gold schedule --print", "ecom gold rebuild"),
                )
            )
    return out


def _lake_findings(snap: Snapshot) -> list[Finding]:
    return [
        Finding("lake", WARNING, 0, f"{t.kind} {t.table}: {t.error}", ())
        for t in snap.lake
        if t.error
    ]


def _unknown_topic_findings(snap: Snapshot) -> list[Finding]:
    return [
        Finding(
            "topics",
            WARNING,
            0,
            f"{topic}: {n:,} message(s) for a table outside the data contract; the stream "
            "workers do not read it (kept in Kafka, nothing lost)",
            (
                "add the table to the contract and the pipeline, or remove it from the "
                "connector's table.include.list and delete the topic",
            ),
        )
        for topic, n in sorted(snap.unknown_table_topics.items())
    ]
