"""`ecom status --wait-caught-up`: has the pipeline caught up with the source?

(The health report itself is the package :mod:`ecom.status`.)

Caught up means no change is in flight:
1. Debezium has confirmed (on its replication slot) every WAL position the source had
   when we started looking, so every change up to then is in Kafka;
2. the stream group's committed offsets equal the end of every CDC topic partition
   (the group commits an offset only once both lake layers hold it and its silver
   record was acknowledged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg2

from common import retry
from common.errors import TransientError
from common.kafka import client_config
from common.settings import Settings
from connectors import manage
from schemas import SOURCE_TABLES
from stream_apps.configuration import StreamSettings


@dataclass
class Lag:
    topic: str
    partition: int
    end: int
    committed: int

    @property
    def lag(self) -> int:
        return max(0, self.end - max(self.committed, 0))


@dataclass
class PipelineStatus:
    connector: str = "?"
    wal_target_confirmed: bool = False
    lags: list[Lag] = field(default_factory=list)

    @property
    def total_lag(self) -> int:
        return sum(x.lag for x in self.lags)

    @property
    def caught_up(self) -> bool:
        return self.connector == "RUNNING" and self.wal_target_confirmed and self.total_lag == 0


def _current_wal(settings: Settings) -> int:
    with psycopg2.connect(settings.source_dsn, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        row = cur.fetchone()
    return int(row[0]) if row else 0


def _slot(settings: Settings) -> tuple[bool | None, str | None, int | None, int | None]:
    with psycopg2.connect(settings.source_dsn, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT active, wal_status, confirmed_flush_lsn - '0/0'::pg_lsn, "
            "pg_current_wal_lsn() - restart_lsn FROM pg_replication_slots WHERE slot_name = %s",
            (settings.slot_name,),
        )
        row = cur.fetchone()
    if row is None:
        return None, None, None, None
    return (
        row[0],
        row[1],
        int(row[2]) if row[2] is not None else None,
        (int(row[3]) if row[3] is not None else None),
    )


def consumer_lags(s: StreamSettings, topics: list[str]) -> list[Lag]:
    """Committed offset of the stream group against the end of every partition of
    ``topics`` (topics missing from the cluster are left out)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(client_config(s.base, {"group.id": s.app_id, "enable.auto.commit": False}))
    try:
        md = consumer.list_topics(timeout=10)
        tps = [
            TopicPartition(t, p)
            for t in topics
            if t in md.topics and md.topics[t].error is None
            for p in sorted(md.topics[t].partitions)
        ]
        committed = (
            {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=10)}
            if tps
            else {}
        )
        lags = []
        for tp in tps:
            _low, high = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            lags.append(
                Lag(tp.topic, tp.partition, high, committed.get((tp.topic, tp.partition), -1))
            )
        return lags
    finally:
        consumer.close()


def pipeline_status(s: StreamSettings, wal_target: int | None = None) -> PipelineStatus:
    st = PipelineStatus()
    try:
        st.connector = manage.state(s.base, manage.definition_names()[0]).state
    except TransientError:
        st.connector = "UNREACHABLE"
    _active, _wal_status, confirmed, _lag_bytes = _slot(s.base)
    st.wal_target_confirmed = (
        confirmed is not None and wal_target is not None and confirmed >= wal_target
    )
    # the group commits a CDC offset only once both lake layers hold it
    st.lags = consumer_lags(s, [s.base.cdc_topic(t) for t in SOURCE_TABLES])
    return st


def wait_caught_up(s: StreamSettings, timeout: float, poll: float = 1.0) -> PipelineStatus:
    """Return once nothing is in flight; raise TransientError on timeout."""
    target = _current_wal(s.base)

    def behind(st: PipelineStatus) -> TransientError:
        late = [f"{x.topic}[{x.partition}]={x.lag}" for x in st.lags if x.lag]
        return TransientError(
            f"not caught up after {timeout:.0f}s: connector {st.connector}, WAL confirmed "
            f"{'yes' if st.wal_target_confirmed else 'no'}, lag {st.total_lag} "
            f"({', '.join(late[:6]) or 'none'})",
            hint="check `ecom stream status` and `ecom connectors status`",
        )

    return retry.poll(
        lambda: pipeline_status(s, target),
        lambda st: st.caught_up,
        timeout=timeout,
        interval=poll,
        on_timeout=behind,
    )
