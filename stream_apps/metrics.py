"""A stream worker's own metrics, kept in one prometheus-client registry per process and
served as Prometheus text at /metrics (see :func:`Metrics.render`).

Latencies are histograms, so the buckets of several workers add up to the whole
pipeline's distribution (:mod:`stream_apps.metrics_read` reads them back).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

NAMESPACE = "ecom_stream"

#: Upper bounds (seconds) of the latency buckets: fine around the one-to-five-second
#: targets, coarse beyond them.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0,
                   15.0, 30.0, 60.0, 120.0)  # fmt: skip

#: Upper bounds (seconds) of the stage-duration buckets: a batch's processing takes
#: milliseconds, a Delta commit tens to hundreds of them, a slow one seconds.
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: The stages whose wall time :meth:`Metrics.stage` observes.
STAGES = {
    "process": "decode, silver rules and Avro encoding of one batch",
    "produce": "producing one batch's silver and dead-letter records until the broker "
    "acknowledged them",
    "load_state": "loading one Delta table's state and where each partition stands in it, "
    "before a write (next to nothing unless the table is new to the worker, or another "
    "worker wrote its partitions)",
    "bronze_write": "one bronze Delta write and commit of one table",
    "silver_write": "one silver Delta write and commit of one table",
    "flush": "one flush: every due table's writes, side by side",
}

#: Most events of one batch whose latency is observed (evenly spread in commit order,
#: always with the oldest and newest), so a large batch costs the event loop little.
LATENCY_SAMPLE = 200

#: The counters, labelled by ``agent``: a stage of the one agent (``changes``: the batches;
#: ``bronze``, ``silver``: the lake layers and the silver topics). Name
#: (``ecom_stream_<name>_total``) and HELP text.
AGENT_COUNTERS = {
    "events": "Kafka messages the agent took from the CDC topics (each once per batch).",
    "batches": "Micro-batches the agent finished (records produced, rows buffered).",
    "rows": "Rows committed to a lake layer's Delta tables.",
    "files": "Data files a lake layer's commits added (one per table and commit date).",
    "commits": "Delta commits to a lake layer's tables.",
    "commit_conflicts": "Commits refused because another writer committed the same "
    "partition first; filtered again and retried.",
    "replayed_rows_skipped": "Rows of a redelivered batch already in the lake, so not written.",
    "records": "Silver records the broker acknowledged.",
    "tombstones": "Kafka tombstones (null values), which have no silver record.",
    "columnar_events": "Events the agent processed column-wise.",
    "record_by_record_events": "Events the agent processed record by record (a table of a "
    "batch a column-wise step could not take, or ECOM_STREAM_COLUMNAR=false).",
}

#: CONTENT_TYPE of :meth:`Metrics.render`'s text.
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Every family a worker exports, registered in its own :class:`CollectorRegistry`."""

    def __init__(self) -> None:
        # No ``*_created`` series: a second family per counter and histogram, holding only
        # the worker's start time, which uptime_seconds already tells.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        r = self.registry
        self.counters = {
            name: Counter(name, text, ["agent"], namespace=NAMESPACE, registry=r)
            for name, text in AGENT_COUNTERS.items()
        }
        self.dlq = Counter(
            "dlq",
            "Records sent to the dead-letter topic, by stage (decode, silver) and reason.",
            ["stage", "reason"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.last_offset = Gauge(
            "last_offset",
            "Highest Kafka offset an agent landed, per topic partition.",
            ["agent", "topic", "partition"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.latency = Histogram(
            "latency_seconds",
            "Source commit to landing, per path (source_to_bronze: committed to the bronze "
            "Delta table; source_to_silver: the broker acknowledged the silver record); "
            f"sampled, at most {LATENCY_SAMPLE} events per batch.",
            ["path"],
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stages = Histogram(
            "stage_seconds",
            "Wall time of one step of the agent, by stage: "
            + "; ".join(f"{k}: {v}" for k, v in STAGES.items())
            + ".",
            ["stage"],
            namespace=NAMESPACE,
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        started = time.time()
        uptime = Gauge(
            "uptime_seconds", "Seconds since the worker started.", namespace=NAMESPACE, registry=r
        )
        uptime.set_function(lambda: time.time() - started)
        self._highest: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()

    def add(self, agent: str, name: str, value: float = 1) -> None:
        """Add ``value`` to the counter ``name`` (one of :data:`AGENT_COUNTERS`) of ``agent``."""
        self.counters[name].labels(agent).inc(value)

    def stage(self, stage: str, seconds: float) -> None:
        """Observe the wall time of one step (one of :data:`STAGES`)."""
        self.stages.labels(stage).observe(seconds)

    def dead_letter(self, stage: str, reason: str) -> None:
        self.dlq.labels(stage, reason).inc()

    def offset(self, agent: str, topic: str, partition: int, offset: int) -> None:
        """Record a landed offset; the gauge only moves up (a redelivered batch lands
        lower offsets again)."""
        key = (agent, topic, partition)
        with self._lock:
            if offset <= self._highest.get(key, -1):
                return
            self._highest[key] = offset
            self.last_offset.labels(agent, topic, str(partition)).set(offset)

    def event_latencies(self, path: str, commit_us: list[int], now: float | None = None) -> None:
        """Observe source-commit-to-now latencies for a sample of a batch's events."""
        if not commit_us:
            return
        now = time.time() if now is None else now
        ordered = sorted(commit_us)
        step = max(1, len(ordered) // LATENCY_SAMPLE)
        sample = ordered[::step]
        if (len(ordered) - 1) % step:
            sample.append(ordered[-1])  # the newest, when the stride missed it
        child = self.latency.labels(path)
        for us in sample:
            child.observe(now - us / 1e6)

    def processed(self, batch: Any, events: int) -> None:
        """A batch went through the pipeline (``pipeline.Processed``), its records acked."""
        self.add("changes", "events", events)
        self.add("changes", "batches")
        self.add("silver", "records", batch.silver)
        self.add("silver", "tombstones", batch.tombstones)
        # events processed column-wise, and those handed to the record-by-record path
        self.add("changes", "columnar_events", batch.columnar)
        self.add("changes", "record_by_record_events", events - batch.columnar)
        for (stage, reason), n in batch.dead_letters.items():
            self.dlq.labels(stage, reason).inc(n)
        self.event_latencies("source_to_silver", batch.silver_commit_us)

    def flushed(self, layer: str, table: str, result: Any, commit_us: list[int]) -> None:
        """A table's buffer was committed to one lake layer (``destinations.WriteResult``)."""
        self.add(layer, "rows", result.rows)
        self.add(layer, "files", result.files)
        self.add(layer, "commits", 1 if result.version is not None else 0)
        self.add(layer, "replayed_rows_skipped", result.skipped_rows)
        self.add(layer, "commit_conflicts", result.conflicts)
        self.stage(f"{layer}_write", result.seconds)
        self.stage("load_state", result.load_seconds)
        if layer == "bronze":
            self.event_latencies("source_to_bronze", commit_us)

    def landed(self, layer: str, topic: str, spans: dict[int, Any]) -> None:
        for partition, span in spans.items():
            self.offset(layer, topic, partition, span.last)

    def render(self) -> bytes:
        """The Prometheus text of every family (served with :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)


METRICS = Metrics()
