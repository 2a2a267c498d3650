"""Benchmark of the stream apps (issue 4), on the bench stack (see bench/__main__.py).

Measures, in one run:
1. initial snapshot at --scale (default 1.0 = 2.36M rows): from the moment the
   connector is registered until every row is in bronze, and in the silver change-log,
   with two stream workers and the whole stack running on this machine;
2. the Python ceiling: a bare confluent-kafka loop that only reads the same CDC topics
   (fresh group, from the beginning) - bronze throughput is reported as a ratio of it;
3. steady state under `ecom generate live --rate 1000` for --live-seconds: p50/p99 of
   source commit -> bronze object and -> silver record (acknowledged), estimated from
   the workers' latency histograms summed bucket by bucket (linear within a bucket, as
   Prometheus's histogram_quantile), and the largest consumer lag seen;
4. worker resident memory, sampled throughout (max), and each worker's sampled peak
   after the restart for the steady state.

Usage: python -m bench.bench_stream [--scale 1.0] [--live-seconds 60] [--workers 2]
Results: bench/results/stream.json and a summary on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.settings import Settings

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "stream.json"


def ecom(*args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "ecom.cli", *args],
        cwd=REPO,
        text=True,
        capture_output=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"ecom {' '.join(args)} failed: {proc.stderr.strip()[-2000:]}")
    return proc


def code_version() -> str | None:
    """The commit of the code measured (``+dirty`` with uncommitted changes), if in git."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def scrape(port: int, host: str) -> str:
    """A worker's /metrics text; empty when it does not answer."""
    from stream_apps import workers

    return workers.scrape(f"http://{host}:{port}/metrics", timeout=5) or ""


def rss_mb(pid: int) -> float:
    """A worker's resident memory now (MB; 0 when it is gone)."""
    from common import process

    return process.rss(pid) / 2**20


class Sampler(threading.Thread):
    """Samples worker RSS (and optionally consumer lag) every `every` seconds."""

    def __init__(self, pids: list[int], lag_fn: Any = None, every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.pids, self.lag_fn, self.every = pids, lag_fn, every
        self.max_rss = 0.0
        self.peak_by_pid: dict[int, float] = {}
        self.lags: list[int] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for pid in self.pids:
                mb = rss_mb(pid)
                self.peak_by_pid[pid] = max(mb, self.peak_by_pid.get(pid, 0.0))
                self.max_rss = max(self.max_rss, mb)
            if self.lag_fn is not None:
                with contextlib.suppress(Exception):  # a failed sample is skipped
                    self.lags.append(self.lag_fn())
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--live-seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="snapshot time limit in seconds (default 1800 per unit of scale, at least 1800)",
    )
    args = ap.parse_args()
    if args.timeout is None:
        args.timeout = 1800.0 * max(1.0, args.scale)
    return args


def complete(texts: list[str], agent: str, ends: dict[tuple[str, int], int]) -> bool:
    """Every partition's last offset landed (by any worker) reached its end."""
    from stream_apps import metrics_read

    seen = metrics_read.landed_offsets(texts, agent)
    return all(seen.get((t, p), -1) >= end - 1 for (t, p), end in ends.items() if end > 0)


class Offsets:
    """End offsets of topics, read with one consumer that never joins a group."""

    def __init__(self, settings: Settings) -> None:
        from confluent_kafka import Consumer

        from common.kafka import client_config

        self.consumer = Consumer(client_config(settings, {"group.id": "bench-probe"}))

    def ends(self, topics: list[str]) -> dict[tuple[str, int], int]:
        from confluent_kafka import TopicPartition

        md = self.consumer.list_topics(timeout=10)
        ends = {}
        for t in topics:
            for p in md.topics[t].partitions if t in md.topics else {}:
                tp = TopicPartition(t, p)
                ends[(t, p)] = self.consumer.get_watermark_offsets(tp, timeout=10)[1]
        return ends

    def total(self, topics: list[str]) -> int:
        return sum(self.ends(topics).values())

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Snapshot:
    """Seconds from registering the connector until every row was in Kafka, bronze, silver."""

    kafka: float | None = None
    bronze: float | None = None
    silver: float | None = None


def prepare_stack(args: argparse.Namespace, total_rows: int) -> None:
    """A fresh bench stack with the source seeded at --scale (the connector not yet)."""
    log("bench stack: reset and start")
    ecom("stack", "reset", "--yes")
    ecom("stack", "up")
    ecom("db", "init")
    log(f"seeding scale {args.scale}: {total_rows:,} rows")
    ecom(
        "generate", "seed", "--scale", str(args.scale), "--truncate",
        "--seed", "11", "--anchor-date", "2026-11-01",
    )  # fmt: skip


def measure_snapshot(
    args: argparse.Namespace, offsets: Offsets, topics: tuple[list[str], list[str]],
    hosts: tuple[str, list[int]], total_rows: int,
) -> Snapshot:  # fmt: skip
    """Register the connector and poll the workers' metrics until bronze and silver hold
    every row (or --timeout passes)."""
    from stream_apps import metrics_read

    cdc_topics, _silver_topics = topics
    host, ports = hosts
    log("registering the connector: the snapshot starts now")
    t0 = time.monotonic()
    ecom("connectors", "apply")
    snap = Snapshot()
    last_note = 0.0
    while time.monotonic() - t0 < args.timeout and (snap.bronze is None or snap.silver is None):
        texts = [scrape(p, host) for p in ports]
        now = time.monotonic() - t0
        if snap.kafka is None and offsets.total(cdc_topics) >= total_rows:
            snap.kafka = now
        # done = the highest offset landed per partition reached the partition's end
        if snap.kafka is not None:
            if snap.bronze is None and complete(texts, "bronze", offsets.ends(cdc_topics)):
                snap.bronze = now
            # both layers are landed from the CDC topics (silver rows carry the bronze
            # offsets): silver is complete when its landed offsets reach the CDC ends too
            if snap.silver is None and complete(texts, "silver", offsets.ends(cdc_topics)):
                snap.silver = now
        if now - last_note > 30:
            bronze = metrics_read.counter_total(texts, "rows", agent="bronze")
            silver = metrics_read.counter_total(texts, "rows", agent="silver")
            log(f"  {now:5.0f}s bronze rows {bronze:,.0f} silver rows {silver:,.0f} / {total_rows:,}")
            last_note = now
        time.sleep(1.0)
    if snap.bronze is None or snap.silver is None:
        log("snapshot did not finish within the time limit")
    return snap


def bare_consumer(settings: Settings, topics: list[str], target: int) -> tuple[int, float]:
    """Messages a bare confluent-kafka loop reads from the topics (fresh group, from the
    beginning), and the seconds from its first message to its last."""
    from confluent_kafka import Consumer

    from common.kafka import client_config

    log("baseline: bare confluent-kafka loop over the same topics")
    bare = Consumer(
        client_config(
            settings,
            {
                "group.id": f"bench-bare-{uuid.uuid4().hex[:6]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    bare.subscribe(topics)
    seen = 0
    b0 = None
    while seen < target:
        msgs = bare.consume(10_000, 5.0)
        if not msgs and b0 is not None and time.monotonic() - b0 > 120:
            break
        if msgs and b0 is None:
            b0 = time.monotonic()
        seen += sum(1 for m in msgs if not m.error())
    bare_s = time.monotonic() - (b0 or time.monotonic())
    bare.close()
    return seen, bare_s


def pooled(texts: list[str], path: str, q: float) -> float | None:
    """The quantile over every worker's latency histogram, summed bucket by bucket."""
    from stream_apps import metrics_read

    value = metrics_read.latency_quantile(texts, path, q)
    return round(value, 3) if value is not None else None


def main() -> int:
    args = parse_args()

    from common.settings import load
    from compaction import maintainer
    from ecom import catchup
    from generator.configuration import scaled_counts
    from stream_apps import configuration, workers

    settings = load()
    stream = configuration.load()
    host = settings.host
    ports = [stream.web_port + i for i in range(args.workers)]
    counts = scaled_counts(args.scale)
    total_rows = sum(counts.values())
    cdc_topics = [settings.cdc_topic(t) for t in counts]
    silver_topics = [stream.silver_topic(t) for t in counts]

    log(f"bench stack at {settings.home}")
    workers.stop(stream)
    prepare_stack(args, total_rows)
    states = workers.start(stream, args.workers)
    # as `ecom stream start` runs it: compaction of the day partitions the stream writes
    maintainer.start(settings)
    workers.wait_assigned(stream, args.workers)
    sampler = Sampler([w.pid for w in states if w.pid])
    sampler.start()
    offsets = Offsets(settings)
    snap = measure_snapshot(args, offsets, (cdc_topics, silver_topics), (host, ports), total_rows)
    snapshot_rss = sampler.max_rss
    seen, bare_s = bare_consumer(settings, cdc_topics, offsets.total(cdc_topics))

    log("steady state: restart workers (fresh metrics), then live traffic")
    catchup.wait_caught_up(stream, timeout=600)
    workers.stop(stream)
    states = workers.start(stream, args.workers)
    # steady state starts once the group has settled, not while the workers join it
    workers.wait_assigned(stream, args.workers)
    sampler.pids = [w.pid for w in states if w.pid]
    sampler.lag_fn = lambda: sum(x.lag for x in catchup.consumer_lags(stream, cdc_topics))
    ecom(
        "generate", "live", "--rate", str(args.rate), "--duration", str(args.live_seconds),
        timeout=args.live_seconds + 120,
    )  # fmt: skip
    catchup.wait_caught_up(stream, timeout=300)
    texts = [scrape(p, host) for p in ports]
    sampler.stop()
    peaks = [sampler.peak_by_pid.get(p, 0.0) for p in sampler.pids]
    offsets.close()

    result = {
        "measured_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code": code_version(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "scale": args.scale,
        "workers": args.workers,
        **snapshot_figures(snap, total_rows, seen, bare_s),
        "steady_state": {
            "rate": args.rate,
            "seconds": args.live_seconds,
            "source_to_bronze_p50_s": pooled(texts, "source_to_bronze", 0.5),
            "source_to_bronze_p99_s": pooled(texts, "source_to_bronze", 0.99),
            "source_to_silver_p50_s": pooled(texts, "source_to_silver", 0.5),
            "source_to_silver_p99_s": pooled(texts, "source_to_silver", 0.99),
            "max_consumer_lag": max(sampler.lags) if sampler.lags else None,
            "final_consumer_lag": sampler.lags[-1] if sampler.lags else None,
            "targets": {"bronze_p99_s": 2, "silver_p99_s": 1},  # issue #14
        },
        "worker_memory_mb": {
            "max_rss_sampled_during_snapshot": round(snapshot_rss),
            "max_rss_sampled": round(sampler.max_rss),
            "peak_rss_sampled_after_restart": [round(x) for x in peaks],
            "target": 1024,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    workers.stop(stream)
    maintainer.stop(settings)
    return 0


def snapshot_figures(
    snap: Snapshot, total_rows: int, seen: int, bare_s: float
) -> dict[str, dict[str, Any]]:
    """The snapshot's timings and the bare consumer's, with their ratio."""
    bronze_rate = total_rows / snap.bronze if snap.bronze else None
    bare_rate = seen / bare_s if bare_s > 0 else None
    return {
        "snapshot": {
            "rows": total_rows,
            "all_in_kafka_s": round(snap.kafka, 1) if snap.kafka else None,
            "all_in_bronze_s": round(snap.bronze, 1) if snap.bronze else None,
            "all_in_silver_s": round(snap.silver, 1) if snap.silver else None,
            "bronze_rows_per_s": round(bronze_rate) if bronze_rate else None,
            "target_bronze_s": 300,
            "target_silver_s": 360,
        },
        "baseline_bare_consumer": {
            "messages": seen,
            "seconds": round(bare_s, 1),
            "messages_per_s": round(bare_rate) if bare_rate else None,
            "bronze_to_bare_ratio": round(bronze_rate / bare_rate, 3)
            if bronze_rate and bare_rate
            else None,
        },
    }


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
