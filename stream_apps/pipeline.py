"""The pure work of one batch of change events: decode each once, build its bronze row,
clean it to silver, and route bad input to the dead-letter topic.

No I/O of its own: the silver records' schema ids come from the ``AvroRegistry``, which
asks the schema registry once per schema (see :mod:`stream_apps.schema_ids`). Kept free
of Faust so it can be tested and benchmarked directly. Agents run it in a thread.

A silver record whose schema the registry refuses (the subject's compatibility rule)
cannot go to its topic: its message goes to the dead-letter topic instead (reason
``schema_incompatible``, the detail naming the subject and the rule), and its silver
row still goes to the lake, which is built from the batch, not from the topic. After
the subject is fixed, replaying the message's offset publishes the record.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pyarrow as pa

from common.schema_registry import SchemaIncompatible
from schemas.avro import AvroRegistry
from schemas.lake import PARTITION_COLUMN
from stream_apps import envelope, formats, rules
from stream_apps.configuration import StreamSettings
from stream_apps.destinations import Span

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Dead-letter reason of a record whose schema the registry refuses.
SCHEMA_INCOMPATIBLE = "schema_incompatible"


class Msg(NamedTuple):
    """The parts of a Kafka message the pipeline needs (copied off the event loop)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None


class Out(NamedTuple):
    """A record to produce."""

    topic: str
    key: bytes | None
    value: bytes


@dataclass
class TablePart:
    """What one batch holds of one source table (one CDC topic): its bronze and silver
    rows (schemas of :mod:`stream_apps.formats`) and the offsets they stand for."""

    topic: str
    bronze: pa.Table
    silver: pa.Table
    spans: dict[int, Span]
    commit_us: list[int]


@dataclass
class Processed:
    """One batch, processed: lake rows per table, and the records to produce."""

    tables: dict[str, TablePart] = field(default_factory=dict)
    outputs: list[Out] = field(default_factory=list)
    silver: int = 0
    dead_letters: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stage, reason)
    tombstones: int = 0
    silver_commit_us: list[int] = field(default_factory=list)
    #: How the batch was processed (not part of its result, so not compared): messages
    #: that went column-wise, and messages that went record by record per reason.
    columnar: int = field(default=0, compare=False)
    fallbacks: Counter[str] = field(default_factory=Counter, compare=False)


@dataclass
class _Rows:
    """A table's rows while a batch is processed record by record."""

    topic: str
    bronze: list[dict[str, Any]] = field(default_factory=list)
    silver: list[dict[str, Any]] = field(default_factory=list)
    spans: dict[int, Span] = field(default_factory=dict)
    commit_us: list[int] = field(default_factory=list)

    def cover(self, partition: int, offset: int) -> None:
        span = self.spans.get(partition)
        if span is None:
            self.spans[partition] = Span(offset, offset)
        elif offset > span.last:
            self.spans[partition] = Span(span.first, offset)

    def part(self, table: str) -> TablePart:
        return TablePart(
            self.topic,
            formats.bronze_table(self.bronze),
            formats.silver_table(table, self.silver),
            self.spans,
            self.commit_us,
        )


def utc_now() -> datetime:
    return datetime.now(UTC)


def micros(at: datetime) -> int:
    """Exact microseconds since the epoch of an aware datetime."""
    return (at - EPOCH) // timedelta(microseconds=1)


class BatchProcessor:
    """Decode, land and clean CDC events record by record; route bad ones to the
    dead-letter topic.

    ``clock`` gives the batch's processing time: every bronze row's ``ingest_ts`` and
    every dead letter's ``dead_lettered_at`` of one batch.
    """

    def __init__(
        self,
        settings: StreamSettings,
        registry: AvroRegistry,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.s = settings
        self.registry = registry
        self._announced: set[bytes] = set()  # evolved schemas logged
        self.prefix = settings.base.topic_prefix
        self.clock = clock

    def process(self, msgs: list[Msg]) -> Processed:
        return self.run(msgs, self.clock())

    def run(
        self, msgs: list[Msg], at: datetime, marks: list[tuple[int, int]] | None = None
    ) -> Processed:
        """Process ``msgs`` as of ``at``. With ``marks``, append after each message how many
        outputs and silver commit times the result holds so far (so a caller can tell
        which message each came from)."""
        out = Processed()
        rows: dict[str, _Rows] = {}
        now = micros(at)
        for m in msgs:
            self._one(m, out, rows, now, at)
            if marks is not None:
                marks.append((len(out.outputs), len(out.silver_commit_us)))
        out.tables = {table: r.part(table) for table, r in rows.items()}
        return out

    def _one(self, m: Msg, out: Processed, rows: dict[str, _Rows], now: int, at: datetime) -> None:
        table = envelope.table_of_topic(m.topic, self.prefix)
        if table is None:  # the workers subscribe to the source tables' topics only
            raise ValueError(f"message of topic {m.topic!r}, which is no source table's")
        part = rows.get(table)
        if part is None:
            part = rows[table] = _Rows(m.topic)
        part.cover(m.partition, m.offset)
        event, error = self._decode(m)
        row = formats.bronze_row(
            m.topic,
            m.partition,
            m.offset,
            m.timestamp_ms,
            m.key,
            m.value,
            table=table,
            event=event,
            decode_error=error.reason if error is not None else None,
            ingest_ts=now,
        )
        part.bronze.append(row)
        if row["commit_ts"] is not None:
            part.commit_us.append(row["commit_ts"])
        if error is not None:
            self._dead_letter(out, "decode", error.reason, m, table, error.detail, at)
        elif event is None:
            out.tombstones += 1
        else:
            self._silver(event, m, out, part, row[PARTITION_COLUMN], at)

    def _decode(self, m: Msg) -> tuple[envelope.ChangeEvent | None, envelope.DecodeError | None]:
        try:
            event = envelope.decode(
                m.topic, m.partition, m.offset, m.timestamp_ms, m.key, m.value, prefix=self.prefix
            )
        except envelope.DecodeError as exc:
            return None, exc
        return event, None

    def _silver(
        self,
        event: envelope.ChangeEvent,
        m: Msg,
        out: Processed,
        part: _Rows,
        day: Any,
        at: datetime,
    ) -> None:
        try:
            outcome = rules.to_silver(event)
        except envelope.DecodeError as exc:
            self._dead_letter(out, "decode", exc.reason, m, event.table, exc.detail, at)
            return
        if isinstance(outcome, rules.Quarantined):
            self._dead_letter(out, "silver", outcome.reason, m, outcome.table, "", at)
            marker = rules.quarantine_marker(outcome)
            self._publish(out, m, outcome.table, outcome.key, marker, None, at)
            part.silver.append({**marker, PARTITION_COLUMN: day})
            return
        record = dict(outcome.record)
        fingerprint = None
        if outcome.extra_columns:
            # Columns added at the source travel as optional string fields (their JSON
            # text), so a column first seen NULL and later holding a number still fits.
            extra = {k: _as_text(v) for k, v in outcome.extra_columns.items()}
            fingerprint = self._evolve(outcome.table, extra)
            record.update(extra)
        if self._publish(out, m, outcome.table, outcome.key, record, fingerprint, at):
            out.silver += 1
            if event.commit_ts_us is not None:
                out.silver_commit_us.append(event.commit_ts_us)
        part.silver.append({**record, PARTITION_COLUMN: day})

    def _publish(
        self,
        out: Processed,
        m: Msg,
        table: str,
        key: Any,
        record: dict[str, Any],
        fingerprint: bytes | None,
        at: datetime,
    ) -> bool:
        """Add ``record`` to the outputs for its silver topic; when the schema registry
        refuses its schema, add the message's dead letter instead (False)."""
        try:
            value = self.registry.encode(table, record, fingerprint)
        except SchemaIncompatible as exc:
            self._dead_letter(out, "silver", SCHEMA_INCOMPATIBLE, m, table, exc.message, at)
            return False
        out.outputs.append(Out(self.s.silver_topic(table), _silver_key(key), value))
        return True

    def _dead_letter(
        self,
        out: Processed,
        stage: str,
        reason: str,
        m: Msg,
        table: str | None,
        detail: str,
        at: datetime,
    ) -> None:
        coords = envelope.Coordinates(m.topic, m.partition, m.offset, m.timestamp_ms)
        body = rules.dlq_record(stage, reason, coords, m.key, m.value, table, detail, at=at)
        out.outputs.append(Out(self.s.dlq_topic, m.topic.encode(), body))
        out.dead_letters[(stage, reason)] += 1

    def _evolve(self, table: str, extra: dict[str, Any]) -> bytes:
        """A new optional field per added column: a new version of the table's schema,
        registered under its subject when its first record is encoded."""
        types = dict.fromkeys(extra, "string")
        before = self.registry.latest(table)[0]
        fingerprint = self.registry.evolve(table, types)
        if fingerprint != before and fingerprint not in self._announced:
            self._announced.add(fingerprint)
            schema = self.registry.schema(fingerprint)
            log.warning(
                "table %s gained columns %s: silver schema version %s",
                table,
                sorted(types),
                schema.get("version"),
            )
        return fingerprint


def _silver_key(key: Any) -> bytes:
    """The silver message key: the primary key as text. A record without one (a truncate)
    gets the empty key rather than none: a null key is sent to a random partition, so
    replayed copies of a truncate would scatter; the empty key always hashes alike."""
    return b"" if key is None else str(key).encode()


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)

