"""The Faust app: one agent reads the CDC topics and lands every change event once.

Run with ``ecom stream run`` (``python -m stream_apps.worker worker -l info``).
Importing this module does nothing: :func:`create_app` builds the app, its clients and
its agent from the settings.

Delivery guarantees (nothing lost, nothing landed twice):
* a batch's silver and dead-letter records are produced and acknowledged by Kafka
  before the agent goes on; its lake rows wait in a buffer per table
  (:mod:`stream_apps.landing`);
* a table's events are acknowledged only after its rows were committed to both Delta
  layers (silver less often than bronze, see :mod:`stream_apps.landing`), so Faust
  commits an offset only once bronze and silver hold it;
* a replayed offset adds nothing to the lake (Delta application transactions,
  :mod:`stream_apps.destinations`); silver topics are at least once;
* transient failures are retried in place; anything else ends the process at once
  (``os._exit``), so Faust never commits offsets of events that did not land (an
  exception leaving the agent's body would be acknowledged).
The agent runs with concurrency 1; scale with partitions and workers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import faust

from common.s3 import delta_storage_options
from common.schema_registry import RegistryClient, subject_of_topic
from schemas import SOURCE_TABLES
from schemas import lake as lake_layout
from schemas.avro import AvroRegistry
from stream_apps import chunks, envelope, fastpath
from stream_apps.columnar import ColumnarProcessor
from stream_apps.configuration import StreamSettings
from stream_apps.destinations import DeltaConfig, DeltaDestination
from stream_apps.landing import FlushPolicy, Landing, Processor
from stream_apps.metrics import CONTENT_TYPE, METRICS
from stream_apps.pipeline import BatchProcessor, Msg
from stream_apps.produce import BatchProducer
from stream_apps.schema_ids import RegistryIds

log = logging.getLogger(__name__)
T = TypeVar("T")
FATAL_EXIT = 70
#: Most chunks per micro-batch; a chunk holds at most ``batch_size / CHUNKS_PER_BATCH``
#: records, so a batch holds at most ``batch_size``. At live rates chunks hold a few
#: events and a batch ends at its time bound instead.
CHUNKS_PER_BATCH = 64


def _fatal(what: str, exc: BaseException) -> None:
    log.critical("%s: unrecoverable error, exiting without committing: %s", what, exc, exc_info=exc)
    logging.shutdown()
    os._exit(FATAL_EXIT)


async def _blocking(what: str, fn: Callable[[], T]) -> T:
    """Run blocking work in a thread; survive cancellation until it has finished."""
    task: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await task  # let the in-flight work finish before Faust acks anything
        except Exception as exc:  # noqa: BLE001
            _fatal(what, exc)
        raise
    except Exception as exc:  # noqa: BLE001
        _fatal(what, exc)
        raise  # unreachable


def _msgs(events: list[Any]) -> list[Msg]:
    """The records of a batch of chunks (:mod:`stream_apps.chunks`), each (topic,
    partition, offset) once: after a rebalance Faust can hand a batch the same records
    twice."""
    out = []
    seen: set[tuple[str, int, int]] = set()
    for e in events:
        m = e.message
        topic, partition = m.topic, m.partition
        for r in m.value:
            coords = (topic, partition, r.offset)
            if coords in seen:
                continue
            seen.add(coords)
            out.append(Msg(topic, partition, r.offset, r.timestamp, r.key, r.value))
    return out


def _backlog(events: list[Any], batch_size: int) -> bool:
    """Whether the consumer is behind: the batch is full (every chunk full), or one of its
    partitions held ``batch_size`` more records when it was fetched."""
    full = min(batch_size, CHUNKS_PER_BATCH * max(1, batch_size // CHUNKS_PER_BATCH))
    records = sum(len(e.message.value) for e in events)
    return records >= full or any(e.message.behind >= batch_size for e in events)


def build_processor(s: StreamSettings) -> Processor:
    """The batch processor: column-wise unless ECOM_STREAM_COLUMNAR=false. Silver records
    carry their schema's id in the schema registry, under their topic's subject."""
    ids = RegistryIds(
        RegistryClient(s.base.schema_registry_url),
        lambda table: subject_of_topic(s.silver_topic(table)),
        deadline=s.retry_seconds,
    )
    registry = AvroRegistry.from_package(ids)
    if s.columnar:
        return ColumnarProcessor(s, registry)
    return BatchProcessor(s, registry)


def build_landing(s: StreamSettings) -> Landing:
    """The worker's clients and its landing, from the settings."""
    options = delta_storage_options(s.base, stream=True)

    def destination(layer: str, bucket: str) -> DeltaDestination:
        return DeltaDestination(
            DeltaConfig(
                layer,
                bucket,
                options,
                retry_seconds=s.retry_seconds,
                properties=s.lake_table_properties(layer),
                gapless=layer == lake_layout.BRONZE,
            )
        )

    producer = BatchProducer(
        s.base.kafka_bootstrap, timeout_seconds=s.retry_seconds, max_request_bytes=10 * 1024 * 1024
    )
    return Landing(
        build_processor(s),
        producer,
        destination(lake_layout.BRONZE, s.base.bronze_bucket),
        destination(lake_layout.SILVER, s.base.silver_bucket),
        FlushPolicy(
            s.flush_rows,
            s.flush_bytes,
            s.flush_seconds,
            s.backlog_flush_seconds,
            s.buffer_bytes,
            silver_seconds=s.silver_lake_seconds,
        ),
        METRICS,
    )


class _Flusher:
    """Flushes due tables in the background while the agent goes on with the next batch,
    and acknowledges each table's events once its rows are in both layers.

    A table is in one flush at a time; flushes of different tables run side by side, so a
    slow commit of one table does not hold back the others (each CDC topic is one table:
    their offsets are acknowledged independently). Events are held per table from the
    moment their rows are buffered; a flush takes the table's buffer and the events held
    so far together, so it never acknowledges an event whose rows it does not write.

    A rebalance makes every event fetched before it stale: Faust reads the partitions
    again from their committed offsets. Stale events are never buffered nor
    acknowledged (an acknowledgement past offsets that were not landed yet could let
    Faust commit over them); what a flush in flight writes of them is harmless, as each
    Delta commit records the offsets it holds and a later write skips them.
    """

    def __init__(self, app: faust.App, landing: Landing, prefix: str) -> None:
        self.app = app
        self.landing = landing
        self.prefix = prefix
        self.stream: Any = None
        self.held: dict[str, list[Any]] = defaultdict(list)
        #: events taken by a flush, waiting until their table's silver rows are committed
        self.landing_events: dict[str, list[Any]] = defaultdict(list)
        #: table -> the flush writing it
        self.flushing: dict[str, asyncio.Future[None]] = {}
        self.ingesting = False

    def current(self, events: list[Any]) -> bool:
        """Whether every event was fetched in the consumer's current generation."""
        generation = self.app.consumer_generation_id
        return all(e.message.generation_id == generation for e in events)

    def fresh(self, events: list[Any]) -> list[Any]:
        """The events of the current generation; stale ones are read again anyway.

        The batch right after a rebalance mixes both: events fetched before it and the
        first ones read from the committed offsets. Those first ones must not be dropped
        with the stale ones: Faust (0.15) commits over a single missing offset at the
        head of a partition (its gap check compares with the committed offset off by
        one; faust-streaming/faust#606), so a later acknowledgement would commit past a
        change never landed."""
        generation = self.app.consumer_generation_id
        return [e for e in events if e.message.generation_id == generation]

    def hold(self, events: list[Any]) -> None:
        """Keep processed events until their table is flushed, without their payload: only
        their coordinates are needed to acknowledge them, and a backlog's payloads would
        otherwise stay in memory beside the rows made from them."""
        for e in events:
            m = e.message
            e.key = e.value = m.key = m.value = None
            table = envelope.table_of_topic(m.topic, self.prefix)
            self.held[table or m.topic].append(e)

    async def ingest(self, events: list[Any], batch_size: int) -> None:
        """Process a batch (producing its silver and dead-letter records) and buffer its
        lake rows, unless a rebalance made it stale meanwhile: the partitions are then
        read again from their committed offsets."""
        self.ingesting = True
        full = _backlog(events, batch_size)
        try:
            events = self.fresh(events)
            if events:
                work = partial(self.landing.process, _msgs(events))
                processed = await _blocking("process", work)
                if self.current(events):
                    self.landing.buffer(processed, full=full)
                    self.hold(events)
        finally:
            self.ingesting = False

    def start(self) -> None:
        """Start flushing the due tables not in a flush already, unless an ingest is
        under way."""
        if self.ingesting or self.stream is None:
            return
        due = [t for t in self.landing.due() if t not in self.flushing]
        taken = self.landing.take(due)
        if not taken:
            return
        for table, _ in taken:
            self.landing_events[table].extend(self.held.pop(table, ()))
        task = asyncio.ensure_future(self._flush(taken))
        tables = [table for table, _ in taken]
        for table in tables:
            self.flushing[table] = task

        def finished(_task: asyncio.Future[None]) -> None:
            for table in tables:
                if self.flushing.get(table) is task:
                    del self.flushing[table]

        task.add_done_callback(finished)

    async def _flush(self, taken: list[Any]) -> None:
        """Write the taken tables, then acknowledge the events of those done.

        An event is acknowledged with the consumer's ``ack`` of its message, not with
        ``Stream.ack``: the agent's one stream is the only reader of the CDC topics, so
        each message has a single reference, and the stream's reference counting and
        sensor calls only cost time (about a fifth of the event loop's during a drain)."""
        done = await _blocking("flush", partial(self.landing.write, taken))
        generation = self.app.consumer_generation_id
        # a table's events are done once its silver rows are committed too; the
        # taken events of the others wait for a later flush of their silver rows
        ack = self.app.consumer.ack
        for table in done:
            for event in self.landing_events.pop(table, ()):
                if event.message.generation_id == generation:
                    ack(event.message)

    async def settle(self) -> None:
        """Wait for the flushes under way, if any."""
        tasks = set(self.flushing.values())
        if tasks:
            await asyncio.shield(asyncio.gather(*tasks))

    def drop(self, tps: set[tuple[str, int]]) -> None:
        self.landing.drop(tps)
        for held in (self.held, self.landing_events):
            for table, events in held.items():
                held[table] = [
                    e for e in events if (e.message.topic, e.message.partition) not in tps
                ]


def create_app(s: StreamSettings) -> faust.App:
    """The worker's Faust app with its agent, timer, rebalance hooks and /metrics page."""
    chunks.install(s.batch_size // CHUNKS_PER_BATCH)
    datadir = s.base.home / "faust" / str(s.worker)
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        s.app_id,
        broker=s.broker_url,
        store="memory://",
        topic_disable_leader=True,
        topic_allow_declare=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        # web_host is only the address the worker advertises; web_bind is where it listens.
        web_bind=s.base.host,
        web_host=s.base.host,
        web_port=s.web_port,
        web_in_thread=False,
        broker_commit_interval=1.0,
        # A crashed worker's partitions move within ~10 s instead of a minute.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_rebalance_timeout=30.0,
        # Do not wait for in-flight events to be acknowledged before a rebalance: events
        # held for a flush would never be, and the member would hang there. Only
        # acknowledged offsets are committed anyway; the rest is delivered again.
        stream_wait_empty=False,
        # Refresh metadata often: a CDC topic that Connect creates after the worker started
        # (fresh stack) is subscribed within seconds, not after the 5-minute default.
        consumer_metadata_max_age_ms=5_000,
        producer_max_request_size=10 * 1024 * 1024,
        consumer_max_fetch_size=s.fetch_partition_bytes,
        # a fetch unpacks at most one batch of records at a time; the rest stays as the
        # compact bytes Kafka sent
        broker_max_poll_records=s.batch_size,
        # the agent's queue holds chunks (at most two batches' worth); while it is full
        # the consumer stops fetching those partitions
        stream_buffer_maxsize=2 * CHUNKS_PER_BATCH,
        datadir=str(datadir),
        monitor=fastpath.LeanMonitor(),
    )
    cdc_topic = app.topic(
        *(s.base.cdc_topic(t) for t in SOURCE_TABLES),
        schema=fastpath.RawSchema(),
        key_serializer="raw",
        value_serializer="raw",
        allow_empty=True,
    )
    landing = build_landing(s)
    flusher = _Flusher(app, landing, s.base.topic_prefix)

    @app.agent(cdc_topic, concurrency=1, name="changes")
    async def changes(stream: Any) -> None:
        """CDC topics -> bronze and silver Delta tables, silver topics, dead letters."""
        flusher.stream = stream
        async for events in stream.noack_take(CHUNKS_PER_BATCH, within=s.batch_seconds):
            if landing.over():
                await flusher.settle()  # backpressure: the lake is behind
            await flusher.ingest(events, s.batch_size)
            flusher.start()

    @app.timer(interval=s.flush_check_seconds)
    async def age_flush() -> None:
        """Flush tables whose oldest row reached the age limit while no batch came."""
        flusher.start()

    @app.on_partitions_revoked.connect
    async def _revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked = args[0] if args else kwargs.get("revoked", ())
        flusher.drop({(tp.topic, tp.partition) for tp in revoked})

    @app.on_partitions_assigned.connect
    async def _assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        assigned = args[0] if args else kwargs.get("assigned", ())
        tables = (envelope.table_of_topic(tp.topic, s.base.topic_prefix) for tp in assigned)
        landing.forget(t for t in tables if t is not None)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(METRICS.render(), headers={"Content-Type": CONTENT_TYPE})

    return app
