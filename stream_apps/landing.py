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

The silver change-log is committed less often than bronze: a flush writes the table's
bronze rows and keeps its silver rows waiting until they are ``silver_seconds`` old (or
the table's rows stopped coming for ``seconds``, or they reach the size limits). Nothing
waits on the silver change-log but the gold refresh, every few minutes, and every commit
is a file the refresh reads: one commit per table every second made an incremental gold
build after ten minutes of traffic read ~2,400 small files (most of its time).

All buffers together (silver rows waiting included) are bounded by ``memory`` bytes: past
it every buffer is flushed, which bounds a worker's memory while it reads a snapshot or
a backlog.

The caller acknowledges a table's Kafka events only after a flush that wrote its silver
rows returned (:meth:`Landing.write` names those tables), so an offset is committed only
once both layers hold its rows. Everything here blocks; the
agent runs it in a thread, one call at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
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
    def stage(self, stage: str, seconds: float) -> None: ...


@dataclass(frozen=True)
class FlushPolicy:
    rows: int = 200_000
    bytes: int = 128 * 1024 * 1024
    seconds: float = 1.0
    backlog_seconds: float = 15.0
    memory: int = 64 * 1024 * 1024
    silver_seconds: float = 10.0


@dataclass
class _Held:
    """Rows of one table held for a commit, with the offsets they stand for."""

    topic: str
    spans: dict[int, Span] = field(default_factory=dict)
    rows: int = 0
    nbytes: int = 0
    since: float = 0.0  # monotonic time of the oldest row
    last: float = 0.0  # monotonic time of the newest row


@dataclass
class SilverWait(_Held):
    """A table's silver rows whose bronze rows are committed, waiting for their own commit."""

    pieces: list[pa.Table] = field(default_factory=list)

    def add(self, buf: TableBuffer) -> None:
        if not self.spans:
            self.since = buf.since
        self.last = max(self.last, buf.last)
        self.pieces.extend(buf.silver)
        self.spans = _merge_spans(self.spans, buf.spans)
        self.rows += sum(t.num_rows for t in buf.silver)
        self.nbytes += sum(t.nbytes for t in buf.silver)

    def due(self, policy: FlushPolicy, now: float, newest: float) -> bool:
        """``newest``: when the table's newest row came (this one's or a buffer's since)."""
        if not self.spans:
            return False
        if self.rows >= policy.rows or self.nbytes >= policy.bytes:
            return True
        return now - self.since >= policy.silver_seconds or now - newest >= policy.seconds


@dataclass
class TableBuffer(_Held):
    """Lake rows of one table waiting for their flush."""

    bronze: list[pa.Table] = field(default_factory=list)
    silver: list[pa.Table] = field(default_factory=list)
    #: source commit times of the rows (microseconds), for the commit -> bronze latency
    commit_us: list[int] = field(default_factory=list)
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
        self.spans = _merge_spans(self.spans, spans)
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
        #: silver rows whose bronze rows are committed (under the lock, like the buffers)
        self.waiting: dict[str, SilverWait] = {}
        self._lock = threading.Lock()  # buffers: filled in a thread, taken from the loop
        # delta-rs releases the GIL while it encodes and uploads: tables and layers are
        # written side by side.
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="lake-write")
        # loads tables after a start or a rebalance, apart from the writes (which wait for
        # their own table only)
        self._preparing = ThreadPoolExecutor(threads, thread_name_prefix="lake-prepare")

    # ------------------------------------------------------------ batches
    def process(self, msgs: list[Msg]) -> Processed:
        """Process a batch and produce its silver and dead-letter records; returns once the
        broker acknowledged them all. Its lake rows are buffered by :meth:`buffer`."""
        started = time.monotonic()
        processed = self.processor.process(msgs)
        produced = time.monotonic()
        self.metrics.stage("process", produced - started)
        if processed.outputs:
            self.producer.send_all(_records(processed.outputs))
            self.metrics.stage("produce", time.monotonic() - produced)
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
        """Tables whose buffer, or silver rows waiting, should be flushed now."""
        now = self.clock()
        with self._lock:
            if self._buffered() >= self.policy.memory:
                return [t for t, buf in self.buffers.items() if buf.rows] + [
                    t for t, w in self.waiting.items() if w.spans and t not in self.buffers
                ]
            due = [t for t, buf in self.buffers.items() if buf.due(self.policy, now)]
            for t, w in self.waiting.items():
                if t not in due and w.due(self.policy, now, self._newest(t)):
                    due.append(t)
            return due

    def _newest(self, table: str) -> float:
        buf, waiting = self.buffers.get(table), self.waiting.get(table)
        return max(buf.last if buf is not None and buf.rows else 0.0,
                   waiting.last if waiting is not None else 0.0)  # fmt: skip

    def _buffered(self) -> int:
        held = (*self.buffers.values(), *self.waiting.values())
        return sum(h.nbytes for h in held)

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
        new buffers); a table with only silver rows waiting gets an empty buffer."""
        with self._lock:
            out = []
            for t in tables:
                if t in self.buffers:
                    out.append((t, self.buffers.pop(t)))
                elif t in self.waiting:
                    out.append((t, TableBuffer(self.waiting[t].topic)))
            return out

    def write(self, taken: list[tuple[str, TableBuffer]]) -> set[str]:
        """Write the taken buffers' bronze rows, and the silver rows of the tables whose
        silver is due (:meth:`SilverWait.due`, or all of them over the memory bound);
        returns once all are committed. Returns the tables whose silver rows were written:
        every event taken of them so far is in both layers. Raises ``LakeWriteFailed``
        when a layer cannot be written (the caller then ends the process without
        acknowledging anything)."""
        started = time.monotonic()
        jobs = [
            (lake.BRONZE, table, buf.commit_us, self._submit(lake.BRONZE, table, buf.topic,
                                                             buf.bronze, buf.spans))
            for table, buf in taken
            if buf.bronze
        ]  # fmt: skip
        ready = self._silver_ready(taken)
        jobs += [
            (lake.SILVER, table, [], self._submit(lake.SILVER, table, w.topic,
                                                           w.pieces, w.spans))
            for table, w in ready.items()
            if w.pieces
        ]  # fmt: skip
        for layer, table, commit_us, future in jobs:
            self.metrics.flushed(layer, table, future.result(), commit_us)
        for _table, buf in taken:
            if buf.spans:
                self.metrics.landed(lake.BRONZE, buf.topic, buf.spans)
        # every offset they cover is done in silver too, also those without a silver row
        # (a tombstone)
        for w in ready.values():
            self.metrics.landed(lake.SILVER, w.topic, w.spans)
        self.metrics.stage("flush", time.monotonic() - started)
        return set(ready)

    def _submit(self, layer: str, table: str, topic: str, pieces: list[pa.Table],
                spans: dict[int, Span]) -> Future[WriteResult]:  # fmt: skip
        batch = TableBatch(table, topic, _concat(pieces), dict(spans))
        return self._pool.submit(self._write, layer, batch)

    def _silver_ready(self, taken: list[tuple[str, TableBuffer]]) -> dict[str, SilverWait]:
        """Move the taken buffers' silver rows to the waiting ones; take out those due."""
        now = self.clock()
        with self._lock:
            # as due() saw it: the taken rows still count
            pressed = self._buffered() + sum(b.nbytes for _, b in taken) >= self.policy.memory
            for table, buf in taken:
                if buf.spans:
                    self.waiting.setdefault(table, SilverWait(buf.topic)).add(buf)
            ready = {
                t: self.waiting.pop(t)
                for t, _buf in taken
                if t in self.waiting
                and (pressed or self.waiting[t].due(self.policy, now, self._newest(t)))
            }
        return ready

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
        for table, w in list(self.waiting.items()):
            gone = {p for p in w.spans if (w.topic, p) in lost}
            if gone == set(w.spans):
                del self.waiting[table]
            elif gone:
                self.waiting[table] = _waiting_without(w, gone)
        for table, buf in list(self.buffers.items()):
            gone = {p for p in buf.spans if (buf.topic, p) in lost}
            if not gone:
                continue
            if gone == set(buf.spans):
                del self.buffers[table]
                continue
            self.buffers[table] = _without(buf, gone)

    def forget(self, tables: Iterable[str] = ()) -> None:
        """Partitions were assigned: another worker may have landed more of them. The
        lake tables of ``tables`` (those of the assigned partitions) are loaded in the
        background meanwhile, so the first writes find them ready."""
        for destination in self.destinations.values():
            destination.forget()
        jobs = [(layer, t) for t in sorted(set(tables)) for layer in self.destinations]
        if not jobs:
            return
        started = self.clock()
        left = [len(jobs)]
        lock = threading.Lock()
        futures: list[Future[bool]] = []

        def done(_f: Future[bool]) -> None:
            with lock:
                left[0] -= 1
                if left[0]:
                    return
            failed = [f"{layer} {t}" for (layer, t), f in zip(jobs, futures, strict=True)
                      if f.cancelled() or f.exception() is not None]  # fmt: skip
            loaded = sum(1 for f in futures if not f.cancelled() and not f.exception()
                         and f.result())  # fmt: skip
            absent = len(jobs) - len(failed) - loaded
            log.info("loaded %d lake table(s) for the assigned partitions in %.1fs%s%s",
                     loaded, self.clock() - started,
                     f"; {absent} not created yet" if absent else "",
                     f"; not loaded (their first write will): {', '.join(failed)}"
                     if failed else "")  # fmt: skip

        futures += [
            self._preparing.submit(self.destinations[layer].prepare, t) for layer, t in jobs
        ]
        for f in futures:
            f.add_done_callback(done)

    def close(self) -> None:
        self._preparing.shutdown(wait=False, cancel_futures=True)
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


def _waiting_without(w: SilverWait, gone: set[int]) -> SilverWait:
    kept = SilverWait(w.topic, since=w.since, last=w.last)
    kept.pieces = _drop_partitions(w.pieces, lake.SILVER, gone)
    kept.spans = {p: s for p, s in w.spans.items() if p not in gone}
    kept.rows = sum(t.num_rows for t in kept.pieces)
    kept.nbytes = sum(t.nbytes for t in kept.pieces)
    return kept


def _merge_spans(held: dict[int, Span], spans: dict[int, Span]) -> dict[int, Span]:
    out = dict(held)
    for p, span in spans.items():
        had = out.get(p)
        out[p] = span if had is None else Span(min(had.first, span.first), max(had.last, span.last))
    return out


def _drop_partitions(pieces: list[pa.Table], layer: str, gone: set[int]) -> list[pa.Table]:
    column = lake.COORDINATES[layer].partition
    out = []
    for piece in pieces:
        col = piece[column]
        rest = piece.filter(pc.invert(pc.is_in(col, pa.array(sorted(gone), col.type))))
        if rest.num_rows:
            out.append(rest)
    return out
