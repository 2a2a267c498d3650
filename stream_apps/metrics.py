"""In-process metrics of a stream worker, rendered as Prometheus text at /metrics."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[idx]


@dataclass
class Metrics:
    """Counters per (agent, name), DLQ counts per reason, last offsets, latencies."""

    counters: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    dlq: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    last_offset: dict[tuple[str, str, int], int] = field(default_factory=dict)
    latencies: dict[str, deque[float]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=5000))
    )
    started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, agent: str, name: str, value: float = 1) -> None:
        with self._lock:
            self.counters[(agent, name)] += value

    def dead_letter(self, stage: str, reason: str) -> None:
        with self._lock:
            self.dlq[(stage, reason)] += 1

    def offset(self, agent: str, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            key = (agent, topic, partition)
            if offset > self.last_offset.get(key, -1):
                self.last_offset[key] = offset

    def latency(self, path: str, seconds: float) -> None:
        with self._lock:
            self.latencies[path].append(seconds)

    def event_latencies(self, path: str, commit_us: list[int], now: float | None = None) -> None:
        """Record source-commit-to-now latency for a sample of a batch's events (at most
        200, evenly spaced in commit order, always including the oldest and newest)."""
        if not commit_us:
            return
        now = time.time() if now is None else now
        ordered = sorted(commit_us)
        step = max(1, len(ordered) // 200)
        sample = ordered[::step] + [ordered[-1]]
        with self._lock:
            values = self.latencies[path]
            for us in sample:
                values.append(now - us / 1e6)

    def processed(self, batch: Any, events: int) -> None:
        """A batch went through the pipeline (``pipeline.Processed``), its records acked."""
        self.add("changes", "events", events)
        self.add("changes", "batches")
        self.add("silver", "records", batch.silver)
        self.add("silver", "tombstones", batch.tombstones)
        # events processed column-wise, and those handed to the record-by-record path
        self.add("changes", "columnar_events", batch.columnar)
        self.add("changes", "record_by_record_events", events - batch.columnar)
        with self._lock:
            for (stage, reason), n in batch.dead_letters.items():
                self.dlq[(stage, reason)] += n
        self.event_latencies("source_to_silver", batch.silver_commit_us)

    def flushed(self, layer: str, table: str, result: Any, commit_us: list[int]) -> None:
        """A table's buffer was committed to one lake layer (``destinations.WriteResult``)."""
        self.add(layer, "rows", result.rows)
        self.add(layer, "files", result.files)
        self.add(layer, "commits", 1 if result.version is not None else 0)
        self.add(layer, "replayed_rows_skipped", result.skipped_rows)
        self.add(layer, "commit_conflicts", result.conflicts)
        if layer == "bronze":
            self.event_latencies("source_to_bronze", commit_us)

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP ecom_stream_events_total Events, batches, bytes per agent.",
                "# TYPE ecom_stream_events_total counter",
            ]
            for (agent, name), value in sorted(self.counters.items()):
                # exact integers: `:g` would print 1041179 as 1.04118e+06
                text = str(int(value)) if float(value).is_integer() else repr(float(value))
                lines.append(f'ecom_stream_{name}_total{{agent="{agent}"}} {text}')
            lines += [
                "# HELP ecom_stream_dlq_total Records sent to the dead-letter topic.",
                "# TYPE ecom_stream_dlq_total counter",
            ]
            for (stage, reason), n in sorted(self.dlq.items()):
                lines.append(f'ecom_stream_dlq_total{{stage="{stage}",reason="{reason}"}} {n}')
            lines += [
                "# HELP ecom_stream_last_offset Highest offset landed per partition.",
                "# TYPE ecom_stream_last_offset gauge",
            ]
            for (agent, topic, part), off in sorted(self.last_offset.items()):
                lines.append(
                    f'ecom_stream_last_offset{{agent="{agent}",topic="{topic}",'
                    f'partition="{part}"}} {off}'
                )
            lines += [
                "# HELP ecom_stream_latency_seconds Source commit to landing, recent.",
                "# TYPE ecom_stream_latency_seconds summary",
            ]
            for path, values in sorted(self.latencies.items()):
                vals = list(values)
                for q in (0.5, 0.9, 0.99):
                    lines.append(
                        f'ecom_stream_latency_seconds{{path="{path}",quantile="{q}"}} '
                        f"{_quantile(vals, q):.3f}"
                    )
                lines.append(f'ecom_stream_latency_seconds_count{{path="{path}"}} {len(vals)}')
            lines.append(f"ecom_stream_uptime_seconds {time.time() - self.started:.0f}")
        return "\n".join(lines) + "\n"


METRICS = Metrics()
