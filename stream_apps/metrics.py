"""A stream worker's own metrics, kept in one prometheus-client registry per process and
served as Prometheus text at /metrics (see :func:`Metrics.render`).

Latencies are histograms, so the buckets of several workers add up to the whole
pipeline's distribution (:mod:`stream_apps.metrics_read` reads them back).
"""

from __future__ import annotations

import threading
import time

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

#: Most events of one batch whose latency is observed (evenly spread in commit order,
#: always with the oldest and newest), so a large batch costs the event loop little.
LATENCY_SAMPLE = 200

#: The per-agent counters: name (``ecom_stream_<name>_total``) and HELP text.
AGENT_COUNTERS = {
    "events": "Kafka messages an agent took from its topics (each once per batch).",
    "batches": "Micro-batches an agent finished.",
    "objects": "Lake objects an agent wrote.",
    "bytes": "Bytes of the lake objects an agent wrote.",
    "replayed_rows_skipped": "Rows of a redelivered batch already in the lake, so not written.",
    "records": "Silver records the broker acknowledged.",
    "tombstones": "Kafka tombstones (null values) the silver agent skipped.",
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
            "Source commit to landing, per path (source_to_bronze: the bronze object is "
            "stored; source_to_silver: the broker acknowledged the silver record); "
            f"sampled, at most {LATENCY_SAMPLE} events per batch.",
            ["path"],
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.shared_decodes = Counter(
            "shared_decodes",
            "CDC messages whose decode one agent took from the other (pipeline.SharedDecoder).",
            namespace=NAMESPACE,
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

    def render(self) -> bytes:
        """The Prometheus text of every family (served with :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)


METRICS = Metrics()
