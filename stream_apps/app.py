"""The Faust app: bronze, silver and silver-sink agents.

Run with ``ecom stream run`` or ``faust -A stream_apps.app worker -l info``. Importing
this module builds nothing: the worker's app (settings, Faust's fast path, clients, its
data folder) is made on first access to ``stream_apps.app.app`` (what ``faust -A``
reads), by :func:`worker_app`; :func:`create_app` builds an app for given settings.

Delivery guarantees (at least once, nothing lost):
* an agent's micro-batch is acknowledged only when its body returns, and the body
  returns only after MinIO acknowledged every object / Kafka every silver record;
* transient failures are retried in place (the thread blocks, the batch waits);
* anything else ends the process at once (``os._exit``), so Faust never commits the
  offsets of a batch that did not land (an exception leaving the body would be acked);
* a shutdown that cancels a body mid-batch first lets the landing finish.
Agents run with concurrency 1; scale with partitions and workers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import faust
from minio import Minio

from schemas import SOURCE_TABLES
from schemas.avro import AvroRegistry
from stream_apps import configuration, fastpath, pipeline
from stream_apps.metrics import CONTENT_TYPE, METRICS
from stream_apps.produce import BatchProducer
from stream_apps.sink import LakeWriter, client

log = logging.getLogger(__name__)
T = TypeVar("T")
FATAL_EXIT = 70


def _fatal(agent: str, exc: BaseException) -> None:
    log.critical(
        "%s: unrecoverable error, exiting without committing the batch: %s",
        agent,
        exc,
        exc_info=exc,
    )
    logging.shutdown()
    os._exit(FATAL_EXIT)


async def _land(agent: str, fn: Callable[[], T]) -> T:
    """Run blocking work in a thread; survive cancellation until it has finished."""
    task: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await task  # let the in-flight landing finish before Faust acks the batch
        except Exception as exc:  # noqa: BLE001
            _fatal(agent, exc)
        raise
    except Exception as exc:  # noqa: BLE001
        _fatal(agent, exc)
        raise  # unreachable


def _msgs(events: list[Any]) -> list[pipeline.Msg]:
    """The batch's messages, each (topic, partition, offset) once: after a rebalance Faust
    can hand a batch the same message twice."""
    out = []
    seen: set[tuple[str, int, int]] = set()
    for e in events:
        m = e.message
        coords = (m.topic, m.partition, m.offset)
        if coords in seen:
            continue
        seen.add(coords)
        ts = m.timestamp
        out.append(
            pipeline.Msg(
                m.topic,
                m.partition,
                m.offset,
                int(ts * 1000) if ts is not None else None,
                m.key,
                m.value,
            )
        )
    return out


@dataclass
class Landing:
    """The clients the agents land their batches with."""

    s3: Minio
    registry: AvroRegistry
    bronze_writer: LakeWriter
    silver_writer: LakeWriter
    decoder: pipeline.SharedDecoder
    silver_processor: pipeline.SilverProcessor
    silver_producer: BatchProducer

    @classmethod
    def connect(cls, s: configuration.StreamSettings) -> Landing:
        s3 = client(s.base)
        registry = AvroRegistry.from_package()
        decoder = pipeline.SharedDecoder(s.base.topic_prefix)
        return cls(
            s3=s3,
            registry=registry,
            bronze_writer=LakeWriter(s3, s.base.bronze_bucket, retry_seconds=s.retry_seconds),
            silver_writer=LakeWriter(s3, s.base.silver_bucket, retry_seconds=s.retry_seconds),
            decoder=decoder,
            silver_processor=pipeline.SilverProcessor(s, registry, s3, decoder),
            silver_producer=BatchProducer(
                s.base.kafka_bootstrap,
                timeout_seconds=s.retry_seconds,
                max_request_bytes=10 * 1024 * 1024,
            ),
        )

    def silver_step(self, msgs: list[pipeline.Msg]) -> pipeline.SilverBatch:
        """Clean and encode a batch, then produce it; returns once Kafka acked every record."""
        batch = self.silver_processor.process(msgs)
        self.silver_producer.send_all(batch.outputs)
        return batch


def create_app(s: configuration.StreamSettings, datadir: Path) -> faust.App:
    """The Faust app for ``s``, with its agents, its rebalance hook and ``/metrics``."""
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
        # held in a take_events() buffer would never be, and the member would hang there
        # (its partitions then go to the others only after the rebalance timeout). Only
        # acknowledged offsets are committed anyway; the rest is delivered again.
        stream_wait_empty=False,
        # Refresh metadata often: a CDC topic that Connect creates after the worker started
        # (fresh stack) is subscribed within seconds, not after the 5-minute default.
        consumer_metadata_max_age_ms=5_000,
        producer_max_request_size=10 * 1024 * 1024,
        consumer_max_fetch_size=8 * 1024 * 1024,
        stream_buffer_maxsize=20_000,
        datadir=str(datadir),
        monitor=fastpath.LeanMonitor(),
    )
    _add_agents(app, s, Landing.connect(s))
    return app


def _add_agents(app: faust.App, s: configuration.StreamSettings, land: Landing) -> None:
    def topic(*names: str) -> Any:
        return app.topic(
            *names,
            schema=fastpath.RawSchema(),
            key_serializer="raw",
            value_serializer="raw",
            allow_empty=True,
        )

    cdc_topic = topic(*(s.base.cdc_topic(t) for t in SOURCE_TABLES))
    silver_topic = topic(*(s.silver_topic(t) for t in SOURCE_TABLES))

    @app.agent(cdc_topic, name=f"{__name__}.bronze", concurrency=1)
    async def bronze(stream: Any) -> None:
        """CDC topics -> bronze Parquet in MinIO (raw key and value kept as received)."""
        prefix = s.base.topic_prefix
        async for events in stream.take_events(s.batch_size, within=s.batch_seconds):
            msgs = _msgs(events)
            await _land(
                "bronze",
                partial(pipeline.land_bronze, msgs, land.bronze_writer, prefix, land.decoder),
            )

    @app.agent(cdc_topic, name=f"{__name__}.silver", concurrency=1)
    async def silver(stream: Any) -> None:
        """CDC topics -> cleaned Avro records on silver.<table>; bad input -> dead-letter topic."""
        async for events in stream.take_events(s.batch_size, within=s.silver_batch_seconds):
            msgs = _msgs(events)
            batch = await _land("silver", partial(land.silver_step, msgs))
            METRICS.add("silver", "records", batch.silver)
            METRICS.event_latencies("source_to_silver", batch.commit_us)  # after the broker's ack

    @app.agent(silver_topic, name=f"{__name__}.silver_sink", concurrency=1)
    async def silver_sink(stream: Any) -> None:
        """silver.<table> topics -> the silver change-log in MinIO, compacted nightly."""
        lake_bucket = s.base.lake_bucket
        prefix = s.silver_prefix
        async for events in stream.take_events(s.batch_size, within=s.batch_seconds):
            msgs = _msgs(events)
            await _land(
                "silver_sink",
                partial(
                    pipeline.land_silver, msgs, land.silver_writer, land.registry, land.s3,
                    lake_bucket, prefix,
                ),
            )  # fmt: skip

    @app.on_partitions_assigned.connect
    async def _partitions_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Partitions that moved here may have been landed further by another worker: re-read
        the lake's offset index before the next write."""
        land.bronze_writer.forget()
        land.silver_writer.forget()

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(METRICS.render(), headers={"Content-Type": CONTENT_TYPE})


@functools.cache
def worker_app() -> faust.App:
    """This worker process's app: settings from the environment, Faust's consumer fast
    path installed, data in ``<home>/faust/<ECOM_STREAM_WORKER>``."""
    s = configuration.load()
    fastpath.install()
    datadir = s.base.home / "faust" / str(s.worker)
    datadir.mkdir(parents=True, exist_ok=True)
    return create_app(s, datadir)


def __getattr__(name: str) -> Any:
    """``stream_apps.app.app`` is :func:`worker_app` (``faust -A stream_apps.app`` reads it)."""
    if name == "app":
        return worker_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point for `python -m stream_apps.app worker ...`."""
    worker_app().main()


if __name__ == "__main__":
    main()
