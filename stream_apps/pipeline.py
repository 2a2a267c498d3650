"""The work of one micro-batch, as plain blocking functions (agents run them in a thread).

Kept free of Faust so it can be tested and benchmarked directly.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from minio import Minio

from schemas.avro import AvroRegistry, UnknownSchema
from stream_apps import envelope, formats, rules
from stream_apps.configuration import StreamSettings
from stream_apps.metrics import METRICS
from stream_apps.sink import LakeWriter, PendingRow

log = logging.getLogger(__name__)

SCHEMA_PREFIX = "schemas/"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
class SilverBatch:
    outputs: list[Out] = field(default_factory=list)
    silver: int = 0
    dead_lettered: int = 0
    tombstones: int = 0
    commit_us: list[int] = field(default_factory=list)


# ---------------------------------------------------------------- shared decoding
class SharedDecoder:
    """One envelope decode per message for the bronze and silver agents of a worker.

    Both agents read every CDC message and both need it decoded (bronze for its envelope
    columns, silver for the row). Faust hands the two agents the same message object,
    so whichever lands it first decodes it and leaves the result here, and the other
    takes it (a result is taken once, then dropped). A result is only reused for the
    very same value object, so a message fetched again (replay, rebalance) is decoded
    again, and a stale entry can never stand in for other bytes.

    Memory is bounded: at most ``capacity`` results wait (the agents of one worker are
    at most a stream buffer plus a batch apart); beyond that the oldest are dropped and
    simply decoded again. Called from the agents' landing threads, hence the lock.
    """

    def __init__(self, prefix: str, capacity: int = 50_000) -> None:
        self.prefix = prefix
        self.capacity = capacity
        self._results: dict[tuple[str, int, int], tuple[Any, Any]] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def __call__(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int | None,
        key: bytes | None,
        value: bytes | None,
        *,
        prefix: str,
    ) -> envelope.ChangeEvent | None:
        """Same contract as :func:`envelope.decode` (raises its ``DecodeError``)."""
        coords = (topic, partition, offset)
        with self._lock:
            found = self._results.pop(coords, None)
            hit = found is not None and found[0] is value and prefix == self.prefix
            if hit:
                self.hits += 1
        if hit:
            METRICS.shared_decodes.inc()
        if hit and found is not None:
            result = found[1]
            if isinstance(result, _Failed):
                raise envelope.DecodeError(result.reason, result.detail)
            return result  # type: ignore[no-any-return]
        try:
            event = envelope.decode(
                topic, partition, offset, timestamp_ms, key, value, prefix=prefix
            )
        except envelope.DecodeError as exc:
            self._keep(coords, value, _Failed(exc.reason, exc.detail))
            raise
        self._keep(coords, value, event)
        return event

    def _keep(self, coords: tuple[str, int, int], value: Any, result: Any) -> None:
        with self._lock:
            results = self._results
            results[coords] = (value, result)
            while len(results) > self.capacity:
                del results[next(iter(results))]

    def __len__(self) -> int:
        return len(self._results)


class _Failed(NamedTuple):
    reason: str
    detail: str


# ---------------------------------------------------------------- bronze
def land_bronze(
    msgs: list[Msg], writer: LakeWriter, prefix: str, decoder: Any = envelope.decode
) -> int:
    """Write raw messages as bronze Parquet, one object per table, partition and day."""
    now = (datetime.now(UTC) - EPOCH) // timedelta(microseconds=1)
    groups: dict[tuple[str, int], list[PendingRow]] = defaultdict(list)
    commit_times: list[int] = []
    for m in msgs:
        row = formats.bronze_row(
            m.topic,
            m.partition,
            m.offset,
            m.timestamp_ms,
            m.key,
            m.value,
            prefix=prefix,
            ingest_ts=now,
            decoder=decoder,
        )
        table = envelope.table_of_topic(m.topic, prefix) or _safe_topic(m.topic)
        commit_us = row["commit_ts"]  # exact microseconds (an int) or None
        day = formats.commit_date(commit_us, m.timestamp_ms)
        groups[(table, m.partition)].append(PendingRow(m.offset, day, row))
        if commit_us is not None:
            commit_times.append(commit_us)
    written = 0
    for (table, partition), rows in groups.items():
        result = writer.write(table, partition, rows, formats.bronze_table, formats.to_parquet)
        written += result.rows
        METRICS.add("bronze", "objects", len(result.objects))
        METRICS.add("bronze", "bytes", result.bytes)
        METRICS.add("bronze", "replayed_rows_skipped", result.skipped_rows)
        topic = rows[0].row.get("topic") or table
        METRICS.offset("bronze", str(topic), partition, max(r.offset for r in rows))
    METRICS.add("bronze", "events", len(msgs))
    METRICS.add("bronze", "batches")
    METRICS.event_latencies("source_to_bronze", commit_times)
    return written


def _safe_topic(topic: str) -> str:
    """Object-key-safe name for a topic that is not a known table (kept losslessly too)."""
    return "_unknown/" + "".join(
        c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in topic
    ).lstrip(".-")


# ---------------------------------------------------------------- silver
class SilverProcessor:
    """Decode, clean and encode CDC events; route bad ones to the dead-letter topic."""

    def __init__(
        self,
        settings: StreamSettings,
        registry: AvroRegistry,
        s3: Minio,
        decoder: Any = envelope.decode,
    ) -> None:
        self.s = settings
        self.registry = registry
        self.s3 = s3
        self.prefix = settings.base.topic_prefix
        self.decoder = decoder

    def process(self, msgs: list[Msg]) -> SilverBatch:
        batch = SilverBatch()
        for m in msgs:
            self._one(m, batch)
        METRICS.add("silver", "events", len(msgs))
        METRICS.add("silver", "batches")
        return batch

    def _one(self, m: Msg, batch: SilverBatch) -> None:
        coords = envelope.Coordinates(m.topic, m.partition, m.offset, m.timestamp_ms)
        try:
            event = self.decoder(
                m.topic, m.partition, m.offset, m.timestamp_ms, m.key, m.value, prefix=self.prefix
            )
            if event is None:
                batch.tombstones += 1
                METRICS.add("silver", "tombstones")
                return
            outcome = rules.to_silver(event)
        except envelope.DecodeError as exc:
            table = envelope.table_of_topic(m.topic, self.prefix)
            self._dead_letter(batch, "decode", exc.reason, coords, m, table, exc.detail)
            return
        if isinstance(outcome, rules.Quarantined):
            self._dead_letter(batch, "silver", outcome.reason, coords, m, outcome.table, "")
            marker = rules.quarantine_marker(outcome)
            key = _silver_key(outcome.key)
            value = self.registry.encode(outcome.table, marker)
            batch.outputs.append(Out(self.s.silver_topic(outcome.table), key, value))
            return
        record = dict(outcome.record)
        fingerprint = None
        if outcome.extra_columns:
            # Columns added at the source travel as optional string fields (their JSON
            # text), so a column first seen NULL and later holding a number still fits.
            extra = {k: _as_text(v) for k, v in outcome.extra_columns.items()}
            fingerprint = self._evolve(outcome.table, extra)
            record.update(extra)
        value = self.registry.encode(outcome.table, record, fingerprint)
        key = _silver_key(outcome.key)
        batch.outputs.append(Out(self.s.silver_topic(outcome.table), key, value))
        batch.silver += 1
        if event.commit_ts_us is not None:
            batch.commit_us.append(event.commit_ts_us)

    def _dead_letter(
        self,
        batch: SilverBatch,
        stage: str,
        reason: str,
        coords: envelope.Coordinates,
        m: Msg,
        table: str | None,
        detail: str,
    ) -> None:
        body = rules.dlq_record(stage, reason, coords, m.key, m.value, table, detail)
        batch.outputs.append(Out(self.s.dlq_topic, m.topic.encode(), body))
        batch.dead_lettered += 1
        METRICS.dead_letter(stage, reason)

    def _evolve(self, table: str, extra: dict[str, Any]) -> bytes:
        """A new optional field per added column; the new schema is stored in the lake so
        every reader can resolve its fingerprint."""
        types = dict.fromkeys(extra, "string")
        before = self.registry.latest(table)[0]
        fingerprint = self.registry.evolve(table, types)
        if fingerprint != before:
            schema = self.registry.schema(fingerprint)
            body = json.dumps(schema, sort_keys=True).encode()
            import io

            self.s3.put_object(
                self.s.base.lake_bucket,
                f"{SCHEMA_PREFIX}{fingerprint.hex()}.avsc",
                io.BytesIO(body),
                len(body),
                content_type="application/json",
            )
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
    every replayed copy of a truncate would land somewhere else and escape the per-partition
    deduplication of the change-log; the empty key always hashes to the same partition."""
    return b"" if key is None else str(key).encode()


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def load_lake_schemas(registry: AvroRegistry, s3: Minio, bucket: str) -> int:
    """Register every evolved schema stored in the lake (readers call this on a miss)."""
    n = 0
    for obj in s3.list_objects(bucket, prefix=SCHEMA_PREFIX, recursive=True):
        resp = s3.get_object(bucket, obj.object_name or "")
        try:
            registry.register(json.loads(resp.read()))
            n += 1
        finally:
            resp.close()
            resp.release_conn()
    return n


# ---------------------------------------------------------------- silver sink
def land_silver(
    msgs: list[Msg],
    writer: LakeWriter,
    registry: AvroRegistry,
    s3: Minio,
    lake_bucket: str,
    silver_prefix: str,
) -> int:
    """Write silver records as the silver change-log (Parquet), keyed like bronze."""
    groups: dict[tuple[str, int], list[PendingRow]] = defaultdict(list)
    for m in msgs:
        if m.value is None:
            continue
        try:
            table, _version, record = registry.decode_raw(m.value)
        except UnknownSchema:
            load_lake_schemas(registry, s3, lake_bucket)
            table, _version, record = registry.decode_raw(m.value)
        day = formats.commit_date(record.get("commit_ts"), m.timestamp_ms)  # micros
        groups[(table, m.partition)].append(PendingRow(m.offset, day, record))
    written = 0
    for (table, partition), rows in groups.items():
        result = writer.write(
            table, partition, rows, partial(formats.silver_table_raw, table), formats.to_parquet
        )
        written += result.rows
        METRICS.add("silver_sink", "objects", len(result.objects))
        METRICS.add("silver_sink", "bytes", result.bytes)
        METRICS.offset(
            "silver_sink", f"{silver_prefix}.{table}", partition, max(r.offset for r in rows)
        )
    METRICS.add("silver_sink", "events", len(msgs))
    METRICS.add("silver_sink", "batches")
    return written
