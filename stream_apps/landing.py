"""One worker's landing: every batch of change events is processed once, its silver and
dead-letter records are produced at once, and its lake rows wait in a buffer per table
until that table is flushed to the bronze and silver Delta tables.

A table is flushed when its buffer holds ``flush_rows`` rows or ``flush_bytes`` bytes,
or when its oldest row is ``flush_seconds`` old: a live change reaches the lake within
about that long, while a bulk load (snapshot, backlog) fills large files. While batches
come full (the consumer is behind), the age limit is ``backlog_seconds`` instead, since
the backlog, not the buffer, sets the latency then. The same holds while a buffer holds
only snapshot reads: a consumer that keeps up with Debezium's snapshot never sees a full
batch, yet nobody waits on those rows; the first live change in the buffer brings the
short limit back, so it is flushed at once. A table whose rows stopped coming for
``seconds`` is flushed then, backlog or not: its snapshot or backlog has been read, and
waiting longer would only delay its end.

All buffers together are bounded by ``memory`` bytes: past it every buffer is flushed,
which bounds a worker's memory while it reads a snapshot or a backlog.

The caller acknowledges a table's Kafka events only after its flush returned, so an
offset is committed only once both layers hold its rows. Everything here blocks; the
agent runs it in a thread, one call at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from schemas import lake
from stream_apps.destinations import Destination, Span, TableBatch, WriteResult
from stream_apps.pipeline import Msg, Out, Processed

log = logging.getLogger(__name__)


class Processor(Protocol):
    def process(self, msgs: list[Msg]) -> Processed: ...


class Producer(Protocol):
    def send_all(self, records: Iterable[tuple[str, bytes | None, bytes]]) -> int: ...


class Metrics(Protocol):
    def processed(self, batch: Processed, events: int) -> None: ...
    def flushed(
        self, layer: str, table: str, result: WriteResult, commit_us: list[int]
    ) -> None: ...
    def landed(self, layer: str, topic: str, spans: dict[int, Span]) -> None: ...


@dataclass(frozen=True)
class FlushPolicy:
    rows: int = 200_000
    bytes: int = 128 * 1024 * 1024
    seconds: float = 1.0
    backlog_seconds: float = 15.0
    memory: int = 64 * 1024 * 1024


@dataclass
class TableBuffer:
    """Lake rows of one table waiting for their flush."""

    topic: str
    bronze: list[pa.Table] = field(default_factory=list)
    silver: list[pa.Table] = field(default_factory=list)
    spans: dict[int, Span] = field(default_factory=dict)
    commit_us: list[int] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0
    since: float = 0.0  # monotonic time of the oldest row
    last: float = 0.0  # monotonic time of the newest row
    backlog: bool = False  # a full batch went in since the last flush
    snapshot: bool = False  # every row since the last flush is a snapshot read

    def add(self, bronze: pa.Table, silver: pa.Table, spans: dict[int, Span], now: float) -> None:
        if not self.rows:
            self.since = now
            self.snapshot = True
        self.snapshot = self.snapshot and _snapshot_only(bronze)
        self.last = now
        self.bronze.append(bronze)
        if silver.num_rows:
            self.silver.append(silver)
        for p, span in spans.items():
            held = self.spans.get(p)
            self.spans[p] = (
                span
                if held is None
                else Span(min(held.first, span.first), max(held.last, span.last))
            )
        self.rows += bronze.num_rows
        self.nbytes += bronze.nbytes + silver.nbytes

    def due(self, policy: FlushPolicy, now: float) -> bool:
        if not self.rows:
            return False
        if self.rows >= policy.rows or self.nbytes >= policy.bytes:
            return True
        bulk = (self.backlog or self.snapshot) and now - self.last < policy.seconds
        return now - self.since >= (policy.backlog_seconds if bulk else policy.seconds)


class Landing:
    """Processes batches, produces their records and flushes lake rows table by table."""

    def __init__(
        self,
        processor: Processor,
        producer: Producer,
        bronze: Destination,
        silver: Destination,
        policy: FlushPolicy,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        threads: int = 4,
    ) -> None:
        self.processor = processor
        self.producer = producer
        self.destinations = {lake.BRONZE: bronze, lake.SILVER: silver}
        self.policy = policy
        self.metrics = metrics
        self.clock = clock
        self.buffers: dict[str, TableBuffer] = {}
        self._lock = threading.Lock()  # buffers: filled in a thread, taken from the loop
        # delta-rs releases the GIL while it encodes and uploads: tables and layers are
        # written side by side.
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="lake-write")

    # ------------------------------------------------------------ batches
    def process(self, msgs: list[Msg]) -> Processed:
        """Process a batch and produce its silver and dead-letter records; returns once the
        broker acknowledged them all. Its lake rows are buffered by :meth:`buffer`."""
        processed = self.processor.process(msgs)
        if processed.outputs:
            self.producer.send_all(_records(processed.outputs))
        self.metrics.processed(processed, len(msgs))
        return processed

    def buffer(self, processed: Processed, *, full: bool = False) -> None:
        """Add a processed batch's lake rows to the tables' buffers (cheap: no copy)."""
        now = self.clock()
        with self._lock:
            for table, part in processed.tables.items():
                buf = self.buffers.get(table)
                if buf is None:
                    buf = self.buffers[table] = TableBuffer(part.topic)
                buf.add(part.bronze, part.silver, part.spans, now)
                buf.commit_us.extend(part.commit_us)
                buf.backlog = buf.backlog or full

    def ingest(self, msgs: list[Msg], *, full: bool = False) -> Processed:
        """:meth:`process` then :meth:`buffer`."""
        processed = self.process(msgs)
        self.buffer(processed, full=full)
        return processed

    def due(self) -> list[str]:
        """Tables whose buffer should be flushed now."""
        now = self.clock()
        with self._lock:
            if self._buffered() >= self.policy.memory:
                return [t for t, buf in self.buffers.items() if buf.rows]
            return [t for t, buf in self.buffers.items() if buf.due(self.policy, now)]

    def _buffered(self) -> int:
        return sum(b.nbytes for b in self.buffers.values())

    def over(self, factor: float = 2.0) -> bool:
        """True when a buffer holds ``factor`` times the flush size, or all buffers together
        ``factor`` times their bound: the lake is not keeping up, so the caller should wait
        for the flush in progress before taking more."""
        limit_rows, limit_bytes = self.policy.rows * factor, self.policy.bytes * factor
        with self._lock:
            return self._buffered() >= self.policy.memory * factor or any(
                b.rows >= limit_rows or b.nbytes >= limit_bytes for b in self.buffers.values()
            )

    def take(self, tables: Iterable[str]) -> list[tuple[str, TableBuffer]]:
        """Remove the buffers of ``tables`` for a flush (rows that arrive meanwhile start
        new buffers)."""
        with self._lock:
            return [(t, self.buffers.pop(t)) for t in tables if t in self.buffers]

    def write(self, taken: list[tuple[str, TableBuffer]]) -> None:
        """Write taken buffers to both layers; returns once all are committed. Raises
        ``LakeWriteFailed`` when a layer cannot be written (nothing may be acknowledged)."""
        futures = []
        for table, buf in taken:
            for layer, pieces in ((lake.BRONZE, buf.bronze), (lake.SILVER, buf.silver)):
                if pieces:
                    batch = TableBatch(table, buf.topic, _concat(pieces), dict(buf.spans))
                    futures.append(
                        (layer, table, buf, self._pool.submit(self._write, layer, batch))
                    )
        for layer, table, buf, future in futures:
            self.metrics.flushed(layer, table, future.result(), buf.commit_us)
        for _table, buf in taken:
            # every offset a buffer covers is done in both layers, also those without a
            # silver row (a tombstone)
            for layer in self.destinations:
                self.metrics.landed(layer, buf.topic, buf.spans)

    def _write(self, layer: str, batch: TableBatch) -> WriteResult:
        return self.destinations[layer].write(batch)

    # ------------------------------------------------------------ rebalances
    def drop(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Forget buffered rows of partitions this worker no longer owns (their new owner
        reads them again from the committed offset)."""
        lost = set(partitions)
        with self._lock:
            self._drop(lost)

    def _drop(self, lost: set[tuple[str, int]]) -> None:
        for table, buf in list(self.buffers.items()):
            gone = {p for p in buf.spans if (buf.topic, p) in lost}
            if not gone:
                continue
            if gone == set(buf.spans):
                del self.buffers[table]
                continue
            self.buffers[table] = _without(buf, gone)

    def forget(self) -> None:
        """Partitions were assigned: another worker may have landed more of them."""
        for destination in self.destinations.values():
            destination.forget()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _records(outputs: list[Out]) -> Iterable[tuple[str, bytes | None, bytes]]:
    return ((o.topic, o.key, o.value) for o in outputs)


def _snapshot_only(bronze: pa.Table) -> bool:
    """Whether every row of a bronze piece is a read of Debezium's initial snapshot
    (incremental-snapshot reads count as live: their marker is not a snapshot value);
    rows that could not be read have no flag."""
    if not bronze.num_rows or "snapshot" not in bronze.column_names:
        return False
    flags = bronze["snapshot"]
    return flags.null_count == 0 and bool(pc.all(flags).as_py())


def _concat(pieces: list[pa.Table]) -> pa.Table:
    if len(pieces) == 1:
        return pieces[0]
    # pieces of a table whose source gained a column differ by that column
    return pa.concat_tables(pieces, promote_options="default")


def _without(buf: TableBuffer, gone: set[int]) -> TableBuffer:
    """A copy of ``buf`` without the rows of partitions ``gone``."""
    kept = TableBuffer(
        buf.topic, since=buf.since, last=buf.last, backlog=buf.backlog, snapshot=buf.snapshot
    )
    kept.bronze = _drop_partitions(buf.bronze, lake.BRONZE, gone)
    kept.silver = _drop_partitions(buf.silver, lake.SILVER, gone)
    kept.spans = {p: s for p, s in buf.spans.items() if p not in gone}
    kept.rows = sum(t.num_rows for t in kept.bronze)
    kept.nbytes = sum(t.nbytes for t in kept.bronze) + sum(t.nbytes for t in kept.silver)
    kept.commit_us = buf.commit_us
    return kept


def _drop_partitions(pieces: list[pa.Table], layer: str, gone: set[int]) -> list[pa.Table]:
    column = lake.COORDINATES[layer].partition
    out = []
    for piece in pieces:
        col = piece[column]
        rest = piece.filter(pc.invert(pc.is_in(col, pa.array(sorted(gone), col.type))))
        if rest.num_rows:
            out.append(rest)
    return out
