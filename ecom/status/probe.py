"""Read the real components into a :class:`ecom.status.model.Snapshot` for `ecom status`.

Every read is bounded: of the lake, only each Delta table's log is read (its newest
checkpoint and the commits since; file statistics give the newest commit time); the
dead-letter topic is read once from its beginning to the end offsets seen at
the start, by a consumer that joins no group and commits nothing. When a component
cannot be reached at all, :func:`collect` raises one :class:`StatusUnavailable` naming
every unreachable component; the schema registry is the exception: when it does not
answer, the snapshot says so (a finding of its own) and everything else is still read.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import psycopg2

from common.connect import ConnectClient
from common.errors import EcomError, TransientError
from common.kafka import client_config
from common.s3 import minio_client
from common.schema_registry import RegistryClient, subject_of_topic
from common.settings import Settings
from compaction.gold import ABANDONED_ERROR, abandoned_builds
from compaction.lake import Lake
from connectors import manage
from ecom.status import model
from ecom.status.model import (
    LAKE_KINDS,
    DlqCounts,
    GoldBuild,
    GoldInfo,
    GroupLag,
    HealthSettings,
    LakeTable,
    PartitionLag,
    RegistryInfo,
    SlotSample,
    Snapshot,
    SubjectState,
)
from schemas import SOURCE_TABLES
from stream_apps import workers
from stream_apps.configuration import StreamSettings

log = logging.getLogger(__name__)

DLQ_SECONDS = 20.0  # most time spent reading the dead-letter topic


class StatusUnavailable(TransientError):
    """A component `ecom status` must read is unreachable."""


# ---------------------------------------------------------------- reachability
def unreachable(settings: Settings) -> list[str]:
    """'<component> (<endpoint>)' for every component that does not answer, checked in
    parallel with short time-outs."""

    def pg() -> None:
        psycopg2.connect(settings.source_dsn, connect_timeout=3).close()

    def kafka() -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(client_config(settings, {"socket.connection.setup.timeout.ms": 3000}))
        try:
            admin.list_topics(timeout=5)
        finally:
            admin.poll(0)  # hands librdkafka's own account of a failure to logging (--debug)

    def connect() -> None:
        ConnectClient(settings.connect_url, timeout=3).root()

    def minio() -> None:
        minio_client(settings, read_timeout=3).bucket_exists(settings.bronze_bucket)

    checks = {
        f"postgres ({settings.pg_host}:{settings.pg_port})": pg,
        f"kafka ({settings.kafka_bootstrap})": kafka,
        f"connect ({settings.connect_url})": connect,
        f"minio ({settings.s3_endpoint})": minio,
    }
    down = []
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = {name: pool.submit(fn) for name, fn in checks.items()}
        for name, fut in futures.items():
            try:
                fut.result()
            except Exception as exc:
                log.debug("%s unreachable: %s", name, exc)
                down.append(name)
    return down


def require_reachable(settings: Settings) -> None:
    """Raise one :class:`StatusUnavailable` naming every component that does not answer."""
    down = unreachable(settings)
    if down:
        raise StatusUnavailable(
            f"cannot check the pipeline: {', '.join(down)} unreachable",
            hint="start the stack with `ecom stack up`; `ecom stack status` shows what is down",
        )


# ---------------------------------------------------------------- Postgres
def current_wal(settings: Settings) -> int:
    with psycopg2.connect(settings.source_dsn, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        row = cur.fetchone()
    return int(row[0]) if row else 0


def slot_sample(settings: Settings) -> SlotSample:
    conn = psycopg2.connect(settings.source_dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT active, wal_status, pg_current_wal_lsn() - confirmed_flush_lsn, "
                "pg_current_wal_lsn() - restart_lsn, safe_wal_size, "
                "confirmed_flush_lsn - '0/0'::pg_lsn "
                "FROM pg_replication_slots WHERE slot_name = %s",
                (settings.slot_name,),
            )
            row = cur.fetchone()
    finally:
        conn.close()
    if row is None:
        return SlotSample(exists=False)

    def num(v: Any) -> int | None:
        return None if v is None else int(v)

    return SlotSample(True, row[0], row[1], num(row[2]), num(row[3]), num(row[4]), num(row[5]))


def gold_info(settings: Settings) -> GoldInfo:
    try:
        conn = psycopg2.connect(settings.gold_dsn, connect_timeout=5, options="-c timezone=UTC")
    except psycopg2.OperationalError as exc:
        first = " ".join(str(exc).split())[:200]
        return GoldInfo(problem=f"gold database {settings.gold_db} cannot be read: {first}")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('public.gold_build_log') IS NOT NULL")
            row = cur.fetchone()
            if not (row and row[0]):
                return GoldInfo()
            base = (
                "SELECT build_id, status, as_of, started_at, finished_at, max_commit_ts, "
                "max_source_lsn::text, step, error FROM public.gold_build_log "
            )
            cur.execute(base + "ORDER BY build_id DESC LIMIT 1")
            last = cur.fetchone()
            cur.execute(base + "WHERE status = 'succeeded' ORDER BY build_id DESC LIMIT 1")
            good = cur.fetchone()
            if last is not None and last[1] == "running" and int(last[0]) in abandoned_builds(conn):
                # its process died: failed, whatever the row still says (until next rebuild)
                last = (*last[:1], "failed", *last[2:8], ABANDONED_ERROR)
    finally:
        conn.close()

    def build(r: Any) -> GoldBuild | None:
        if r is None:
            return None
        as_of = r[2].isoformat() if isinstance(r[2], date) else str(r[2])
        return GoldBuild(int(r[0]), r[1], as_of, r[3], r[4], r[5], r[6], r[7], r[8])

    return GoldInfo(last=build(last), last_succeeded=build(good))


# ---------------------------------------------------------------- Kafka
def group_lag(s: StreamSettings, topics: list[str], first: GroupLag | None = None) -> GroupLag:
    """Committed offsets of the stream group against the end of every partition of
    ``topics``; ``first`` (an earlier sample) fills the prev_* fields."""
    from confluent_kafka.admin import AdminClient

    from ecom.catchup import consumer_lags

    lags = consumer_lags(s, topics)
    present = {x.topic for x in lags}
    state, members = "UNKNOWN", 0
    admin = AdminClient(client_config(s.base))
    try:
        desc = admin.describe_consumer_groups([s.app_id])[s.app_id].result(timeout=10)
        state = str(getattr(desc.state, "name", desc.state)).upper()
        members = len(desc.members or [])
    except Exception as exc:  # a group that never existed describes as DEAD on most brokers
        log.debug("describe group %s: %s", s.app_id, exc)
    prev = {(p.topic, p.partition): p for p in (first.partitions if first else ())}
    parts = []
    for lag in lags:
        old = prev.get((lag.topic, lag.partition))
        parts.append(
            PartitionLag(
                lag.topic,
                lag.partition,
                lag.end,
                lag.committed,
                old.end if old else None,
                old.committed if old else None,
            )
        )
    return GroupLag(
        group=s.app_id,
        state=state,
        members=members,
        partitions=tuple(parts),
        missing_topics=tuple(t for t in topics if t not in present),
    )


def unknown_topic_counts(s: StreamSettings) -> dict[str, int]:
    """Messages held by topics of tables outside the contract (see
    :func:`ecom.status.model.unknown_table_topics`): end minus start offset, summed."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        client_config(
            s.base,
            {
                "group.id": f"ecom-status-{uuid.uuid4().hex}",  # watermarks only: never joins
                "enable.auto.commit": False,
            },
        )
    )
    try:
        md = consumer.list_topics(timeout=10)
        counts: dict[str, int] = {}
        for topic in model.unknown_table_topics(list(md.topics), s.base.topic_prefix):
            total = 0
            for p in md.topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                total += max(0, high - low)
            counts[topic] = total
        return counts
    finally:
        consumer.close()


def dlq_counts(s: StreamSettings, limit: int, seconds: float = DLQ_SECONDS) -> DlqCounts:
    """Count dead letters by (stage, reason), from the beginning to the current end."""
    from confluent_kafka import Consumer, TopicPartition

    topic = s.dlq_topic
    consumer = Consumer(
        client_config(
            s.base,
            {
                "group.id": f"ecom-status-{uuid.uuid4().hex}",  # assign() only: never joins, never commits
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "auto.offset.reset": "earliest",
            },
        )
    )
    try:
        md = consumer.list_topics(topic, timeout=10)
        meta = md.topics.get(topic)
        if meta is None or meta.error is not None:
            return DlqCounts(topic, exists=False)
        todo: dict[int, int] = {}
        starts = []
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=10, cached=False
            )
            if high > low:
                todo[p] = high
                starts.append(TopicPartition(topic, p, low))
        if not todo:
            return DlqCounts(topic)
        consumer.assign(starts)
        counts = _count_reasons(consumer, topic, todo, limit, time.monotonic() + seconds)
        return DlqCounts(topic, True, counts.total(), dict(counts), partial=bool(todo))
    finally:
        consumer.close()


def _count_reasons(
    consumer: Any, topic: str, todo: dict[int, int], limit: int, deadline: float
) -> Counter[tuple[str, str]]:
    """Read the assigned partitions until each reached its end offset in ``todo`` (done
    partitions leave ``todo``), ``limit`` letters were read or the deadline passed."""
    from confluent_kafka import KafkaError

    counts: Counter[tuple[str, str]] = Counter()
    total = 0
    while todo and total < limit and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=1000, timeout=0.5):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise TransientError(f"reading {topic} failed: {err}")
            p, off = msg.partition(), msg.offset()
            if p is None or off is None or p not in todo or off >= todo[p]:
                continue
            counts[dlq_reason(msg.value())] += 1
            total += 1
            if off >= todo[p] - 1:
                del todo[p]
    return counts


def dlq_reason(value: bytes | None) -> tuple[str, str]:
    """(stage, reason) of one dead letter (see stream_apps.rules.dlq_record)."""
    try:
        doc = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError):
        return ("?", "unreadable")
    if not isinstance(doc, dict):
        return ("?", "unreadable")
    return (str(doc.get("stage") or "?"), str(doc.get("reason") or "?"))


# ---------------------------------------------------------------- schema registry
def registry_info(s: StreamSettings) -> RegistryInfo:
    """The registry's version, and each silver topic's subject: its latest version and
    its compatibility rule."""
    url = s.base.schema_registry_url
    client = RegistryClient(url, timeout=5)
    try:
        version = client.version()
        subjects = []
        for table in SOURCE_TABLES:
            topic = s.silver_topic(table)
            subject = subject_of_topic(topic)
            latest = client.latest(subject)
            rule = client.compatibility(subject) if latest is not None else None
            subjects.append(
                SubjectState(
                    subject,
                    topic,
                    latest.version if latest else None,
                    latest.schema_id if latest else None,
                    rule,
                )
            )
    except EcomError as exc:
        return RegistryInfo(url, False, problem=exc.message)
    return RegistryInfo(url, True, version, subjects=tuple(subjects))


# ---------------------------------------------------------------- lake
def lake_table(lake: Lake, kind: str, table: str, topic: str, partitions: int) -> LakeTable:
    ref = lake.ref(kind, table)
    try:
        info = lake.info(ref, {topic: partitions})
    except EcomError as exc:
        return LakeTable(kind, table, ref.uri, error=str(exc))
    return LakeTable(
        kind,
        table,
        ref.uri,
        exists=info.exists,
        version=info.version,
        last_commit=info.last_commit,
        files=info.files,
        bytes=info.bytes,
        rows=info.rows,
        max_commit_ts=info.max_commit_ts,
        landed_topic=topic,
        landed=info.offsets.get(topic, {}),
    )


def lake_tables(s: StreamSettings, pool: ThreadPoolExecutor) -> list[Future[LakeTable]]:
    lake = Lake(s.base)
    return [
        pool.submit(lake_table, lake, kind, table, s.base.cdc_topic(table), s.partitions)
        for kind in LAKE_KINDS
        for table in SOURCE_TABLES
    ]


# ---------------------------------------------------------------- all of it
def collect(s: StreamSettings, cfg: HealthSettings, *, waited: bool = False) -> Snapshot:
    """Read every component (two lag and slot samples ``cfg.sample_seconds`` apart)."""
    base = s.base
    require_reachable(base)
    topics = [base.cdc_topic(t) for t in SOURCE_TABLES]
    with ThreadPoolExecutor(max_workers=8) as pool:
        lake_futs = lake_tables(s, pool)
        dlq_fut = pool.submit(dlq_counts, s, cfg.dlq_max_messages)
        unknown_fut = pool.submit(unknown_topic_counts, s)
        gold_fut = pool.submit(gold_info, base)
        workers_fut = pool.submit(workers.status, s)
        registry_fut = pool.submit(registry_info, s)
        wal_at_start = current_wal(base)
        slot_first = slot_sample(base)
        lag = group_lag(s, topics)
        slot: SlotSample | None = None
        if cfg.sample_seconds > 0:
            time.sleep(cfg.sample_seconds)
            lag = group_lag(s, topics, first=lag)
            slot = slot_sample(base)
        try:
            connectors = manage.status_all(base)
        except EcomError as exc:
            raise StatusUnavailable(
                f"cannot read the connector status: {exc.message}", hint=exc.hint
            ) from exc
        checked_at = datetime.now(UTC)
        return Snapshot(
            checked_at=checked_at,
            connect_url=base.connect_url,
            slot_name=base.slot_name,
            connectors=connectors,
            slot=slot or slot_first,
            slot_first=slot_first if slot else None,
            wal_at_start=wal_at_start,
            lag=GroupLag(
                lag.group,
                lag.state,
                lag.members,
                lag.partitions,
                cfg.sample_seconds if slot else 0.0,
                lag.missing_topics,
            ),
            lake=[f.result() for f in lake_futs],
            gold=gold_fut.result(),
            dlq=dlq_fut.result(),
            workers=workers_fut.result(),
            registry=registry_fut.result(),
            waited_caught_up=waited,
            unknown_table_topics=unknown_fut.result(),
        )
