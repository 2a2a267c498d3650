"""Test helper: read the Debezium events that a test's own source changes produce.

``CdcTap`` records where each table topic ends *before* the test changes the source,
then reads only what comes after, and lets the test wait for the events of one
primary key. Other tests may write to the same tables concurrently, so nothing
here relies on positions or counts: events are found by key.

    with CdcTap(settings, ["customers"]) as tap:
        ...insert / update / delete customer 42 in Postgres...
        events = tap.wait_for("customers", 42, lambda evs: len(evs) >= 4)

A topic that does not exist yet (Connect creates it with the table's first event)
is read from its beginning once it appears.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from common.kafka import client_config
from common.settings import Settings
from schemas import PRIMARY_KEYS

EPOCH = datetime(1970, 1, 1)
EPOCH_DATE = date(1970, 1, 1)


@dataclass(frozen=True)
class CdcEvent:
    """One record of a CDC topic. ``value`` is None for a tombstone."""

    topic: str
    partition: int
    offset: int
    key: dict[str, Any] | None
    value: dict[str, Any] | None

    @property
    def is_tombstone(self) -> bool:
        return self.value is None

    @property
    def op(self) -> str | None:
        return None if self.value is None else self.value.get("op")

    @property
    def before(self) -> dict[str, Any] | None:
        return None if self.value is None else self.value.get("before")

    @property
    def after(self) -> dict[str, Any] | None:
        return None if self.value is None else self.value.get("after")

    @property
    def source(self) -> dict[str, Any]:
        return {} if self.value is None else (self.value.get("source") or {})

    @property
    def transaction(self) -> dict[str, Any] | None:
        return None if self.value is None else self.value.get("transaction")


@dataclass
class _TopicState:
    topic: str
    assigned: bool = False
    events: list[CdcEvent] = field(default_factory=list)


def micros_to_datetime(value: int) -> datetime:
    """Debezium MicroTimestamp (int microseconds since epoch) -> naive UTC datetime."""
    return EPOCH + timedelta(microseconds=value)


def days_to_date(value: int) -> date:
    """Debezium Date (int days since epoch) -> date."""
    return EPOCH_DATE + timedelta(days=value)


def to_debezium(value: Any) -> Any:
    """A value as read from Postgres by psycopg2 -> how this connector encodes it in JSON.

    NUMERIC -> exact string (decimal.handling.mode=string), TIMESTAMP -> int
    microseconds since epoch, DATE -> int days since epoch; the rest unchanged.
    """
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise TypeError("TIMESTAMP columns are expected, not TIMESTAMPTZ")
        delta = value - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, date):
        return (value - EPOCH_DATE).days
    return value


def row_to_debezium(row: dict[str, Any]) -> dict[str, Any]:
    return {k: to_debezium(v) for k, v in row.items()}


class CdcTap:
    """Collect the CDC events of some tables from the moment the tap is opened."""

    def __init__(self, settings: Settings, tables: Iterable[str], *,
                 group_prefix: str = "test-cdc-tap") -> None:
        self.settings = settings
        self.tables = list(tables)
        self._states = {t: _TopicState(settings.cdc_topic(t)) for t in self.tables}
        self._consumer: Consumer | None = None
        self._group = f"{group_prefix}-{uuid.uuid4().hex[:12]}"

    # ---- lifecycle
    def __enter__(self) -> CdcTap:
        self._consumer = Consumer(client_config(self.settings, {
            "group.id": self._group,  # never used to commit: assign() + no auto commit
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 1000,
        }))
        self._assign_new(from_end=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    # ---- assignment
    def _assign_new(self, *, from_end: bool) -> None:
        """Assign every topic that exists and is not assigned yet.

        ``from_end``: start at the current end (high watermark) of each partition;
        otherwise (a topic created after the tap opened) at its beginning.
        """
        assert self._consumer is not None
        pending = [s for s in self._states.values() if not s.assigned]
        if not pending:
            return
        md = self._consumer.list_topics(timeout=10)
        tps: list[TopicPartition] = []
        for state in pending:
            meta = md.topics.get(state.topic)
            if meta is None or meta.error is not None or not meta.partitions:
                continue
            for p in sorted(meta.partitions):
                if from_end:
                    _low, high = self._consumer.get_watermark_offsets(
                        TopicPartition(state.topic, p), timeout=10, cached=False)
                    tps.append(TopicPartition(state.topic, p, high))
                else:
                    tps.append(TopicPartition(state.topic, p, OFFSET_BEGINNING))
            state.assigned = True
        if tps:
            self._consumer.incremental_assign(tps)

    # ---- reading
    def _poll_once(self, timeout: float) -> None:
        assert self._consumer is not None, "use CdcTap as a context manager"
        msgs = self._consumer.consume(num_messages=500, timeout=timeout)
        by_topic = {s.topic: s for s in self._states.values()}
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                    continue
                raise AssertionError(f"consumer error: {err}")
            raw_key = msg.key()
            raw_value = msg.value()
            by_topic[msg.topic()].events.append(CdcEvent(
                topic=msg.topic(),
                partition=msg.partition(),
                offset=msg.offset(),
                key=json.loads(raw_key) if raw_key else None,
                value=json.loads(raw_value) if raw_value else None,
            ))

    def events(self, table: str, pk: int | None = None) -> list[CdcEvent]:
        """Events read so far for ``table`` (optionally only those whose key is ``pk``),
        in topic order (one key lives in one partition, so its events are in commit order)."""
        col = PRIMARY_KEYS[table]
        evs = self._states[table].events
        if pk is None:
            return list(evs)
        return [e for e in evs if e.key is not None and e.key.get(col) == pk]

    def wait_for(self, table: str, pk: int,
                 done: Callable[[list[CdcEvent]], bool], *,
                 timeout: float = 60.0) -> list[CdcEvent]:
        """Poll until ``done(events of table/pk)`` is true; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events(table, pk)
            if done(evs):
                return evs
            if time.monotonic() > deadline:
                summary = [(e.op, e.offset) if e.value else ("tombstone", e.offset) for e in evs]
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for CDC events of "
                    f"{table} {PRIMARY_KEYS[table]}={pk}; got {summary}"
                )
            self._assign_new(from_end=False)
            self._poll_once(0.5)

    def settle(self, seconds: float = 2.0) -> None:
        """Keep reading for a while (to see that nothing unexpected follows)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._assign_new(from_end=False)
            self._poll_once(0.25)


def ops_of(events: list[CdcEvent]) -> list[str | None]:
    """The op of each event, None for a tombstone."""
    return [e.op for e in events]
