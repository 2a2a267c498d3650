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
from pathlib import Path
from typing import Any

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


def main() -> int:
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

    from common.kafka import client_config
    from common.settings import load
    from ecom import catchup
    from generator.configuration import scaled_counts
    from stream_apps import configuration, metrics_read, workers

    settings = load()
    stream = configuration.load()
    host = settings.host
    ports = [stream.web_port + i for i in range(args.workers)]

    log(f"bench stack at {settings.home}: reset and start")
    workers.stop(stream)
    ecom("stack", "reset", "--yes")
    ecom("stack", "up")
    ecom("db", "init")
    counts = scaled_counts(args.scale)
    total_rows = sum(counts.values())
    log(f"seeding scale {args.scale}: {total_rows:,} rows")
    ecom(
        "generate",
        "seed",
        "--scale",
        str(args.scale),
        "--truncate",
        "--seed",
        "11",
        "--anchor-date",
        "2026-11-01",
    )
    states = workers.start(stream, args.workers)
    pids = [w.pid for w in states if w.pid]
    sampler = Sampler(pids)
    sampler.start()

    log("registering the connector: the snapshot starts now")
    t0 = time.monotonic()
    ecom("connectors", "apply")
    t_bronze = t_silver = t_kafka = None
    cdc_topics = [settings.cdc_topic(t) for t in counts]
    from confluent_kafka import Consumer, TopicPartition

    probe = Consumer(client_config(settings, {"group.id": "bench-probe"}))

    def kafka_total() -> int:
        md = probe.list_topics(timeout=10)
        n = 0
        for t in cdc_topics:
            for p in md.topics[t].partitions if t in md.topics else {}:
                n += probe.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
        return n

    def complete(
        texts: list[str], agent: str, prefix_of: Any, ends: dict[tuple[str, int], int]
    ) -> bool:
        """Every partition's last offset landed (by any worker) reached its end."""
        seen = metrics_read.landed_offsets(texts, agent)
        return all(
            seen.get((prefix_of(t), p), -1) >= end - 1 for (t, p), end in ends.items() if end > 0
        )

    def end_offsets(topics: list[str]) -> dict[tuple[str, int], int]:
        md = probe.list_topics(timeout=10)
        ends = {}
        for t in topics:
            for p in md.topics[t].partitions if t in md.topics else {}:
                ends[(t, p)] = probe.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
        return ends

    silver_topics = [stream.silver_topic(t) for t in counts]
    last_note = 0.0
    while time.monotonic() - t0 < args.timeout and (t_bronze is None or t_silver is None):
        texts = [scrape(p, host) for p in ports]
        bronze = metrics_read.counter_total(texts, "events", agent="bronze")
        silver = metrics_read.counter_total(texts, "events", agent="silver_sink")
        now = time.monotonic() - t0
        if t_kafka is None and kafka_total() >= total_rows:
            t_kafka = now
        if t_kafka is not None:
            # done = the highest offset landed per partition reached the partition's end
            if t_bronze is None and complete(texts, "bronze", lambda t: t, end_offsets(cdc_topics)):
                t_bronze = now
            if (
                t_bronze is not None
                and t_silver is None
                and complete(texts, "silver_sink", lambda t: t, end_offsets(silver_topics))
            ):
                t_silver = now
        if now - last_note > 30:
            log(f"  {now:5.0f}s bronze {bronze:,.0f} silver {silver:,.0f} / {total_rows:,}")
            last_note = now
        time.sleep(1.0)
    snapshot_rss = sampler.max_rss
    if t_bronze is None or t_silver is None:
        log("snapshot did not finish within the time limit")

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
    bare.subscribe(cdc_topics)
    target = kafka_total()
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

    log("steady state: restart workers (fresh metrics), then live traffic")
    catchup.wait_caught_up(stream, timeout=600)
    workers.stop(stream)
    states = workers.start(stream, args.workers)
    sampler.pids = [w.pid for w in states if w.pid]
    sampler.lag_fn = lambda: sum(x.lag for x in catchup.consumer_lags(stream, cdc_topics))
    ecom(
        "generate",
        "live",
        "--rate",
        str(args.rate),
        "--duration",
        str(args.live_seconds),
        timeout=args.live_seconds + 120,
    )
    catchup.wait_caught_up(stream, timeout=300)
    texts = [scrape(p, host) for p in ports]
    sampler.stop()
    peaks = [sampler.peak_by_pid.get(p, 0.0) for p in sampler.pids]
    probe.close()

    def pooled(path: str, q: float) -> float | None:
        """The quantile over every worker's latency histogram, summed bucket by bucket."""
        value = metrics_read.latency_quantile(texts, path, q)
        return round(value, 3) if value is not None else None

    bronze_rate = total_rows / t_bronze if t_bronze else None
    bare_rate = seen / bare_s if bare_s > 0 else None
    result = {
        "measured_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code": code_version(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "scale": args.scale,
        "workers": args.workers,
        "snapshot": {
            "rows": total_rows,
            "all_in_kafka_s": round(t_kafka, 1) if t_kafka else None,
            "all_in_bronze_s": round(t_bronze, 1) if t_bronze else None,
            "all_in_silver_s": round(t_silver, 1) if t_silver else None,
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
        "steady_state": {
            "rate": args.rate,
            "seconds": args.live_seconds,
            "source_to_bronze_p50_s": pooled("source_to_bronze", 0.5),
            "source_to_bronze_p99_s": pooled("source_to_bronze", 0.99),
            "source_to_silver_p50_s": pooled("source_to_silver", 0.5),
            "source_to_silver_p99_s": pooled("source_to_silver", 0.99),
            "max_consumer_lag": max(sampler.lags) if sampler.lags else None,
            "final_consumer_lag": sampler.lags[-1] if sampler.lags else None,
            "targets": {"bronze_p99_s": 5, "silver_p99_s": 2},
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
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
