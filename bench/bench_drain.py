"""``stream_drain@S``: how fast the stream workers land a backlog, against a bare pipeline.

1. Debezium fills the CDC topics with the initial snapshot of a scale-S seed while no
   stream worker runs (bench stack reset first; ``--reuse`` keeps the topics as they are);
2. baseline: the bare pipeline of :mod:`bench.drain_baseline` (confluent-kafka, orjson,
   pyarrow, one Parquet file per 100k rows to MinIO, no cleaning) lands the same topics;
3. ``--workers`` stream workers start with a fresh consumer group and lake buckets of
   their own; the clock runs from their start until the landed-offset gauges of both
   layers (``ecom_stream_last_offset{agent="bronze"|"silver"}``) reach every
   partition's end offset.

Reported: both rates and their ratio (goal >= 0.5), the workers' CPU seconds per event
(process CPU time over events, goal <= 40 us) and their peak RSS (goal <= 1 GB).

Usage: python -m bench.bench_drain [--scale 0.1] [--workers 2] [--reuse] [--no-baseline]
       [--env KEY=VALUE ...] [--out PATH]
Results: bench/results/stream_drain.json (or --out) and a summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import cpu_budget  # noqa: E402
from bench.measure import RESULT_MARK, ecom, log  # noqa: E402

RESULTS = REPO / "bench" / "results" / "stream_drain.json"
#: Goals of the issue: drain rate against the bare pipeline, worker CPU per event, RSS.
GOALS = {"ratio_min": 0.5, "cpu_us_per_event_max": 40.0, "rss_mb_max": 1024}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reuse", action="store_true",
                    help="keep the stack and the CDC topics as they are (no reset, no seed)")  # fmt: skip
    ap.add_argument("--no-baseline", action="store_true", help="skip the bare pipeline")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment of the workers (repeatable)")  # fmt: skip
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds allowed for each drain (default 900 per unit of scale, at least 600)")  # fmt: skip
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.timeout is None:
        args.timeout = max(600.0, 900.0 * args.scale)
    return args


def worker_env(pairs: list[str], run_id: str) -> dict[str, str]:
    """The workers' environment: a consumer group and lake buckets of their own."""
    env = {
        "ECOM_STREAM_APP_ID": f"bench-drain-{run_id}",
        "ECOM_BRONZE_BUCKET": f"bronze-{run_id}",
        "ECOM_SILVER_BUCKET": f"silver-{run_id}",
    }
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env {pair!r}: KEY=VALUE expected")
        env[key] = value
    return env


def cdc_ends(settings: Any) -> dict[tuple[str, int], int]:
    """End offset of every partition of the six CDC topics."""
    from bench.bench_stream import Offsets
    from schemas import SOURCE_TABLES

    offsets = Offsets(settings)
    try:
        return offsets.ends([settings.cdc_topic(t) for t in SOURCE_TABLES])
    finally:
        offsets.close()


def fill(args: argparse.Namespace, settings: Any) -> float:
    """Reset the bench stack, seed, register the connector with no worker running, and
    wait until Kafka holds every row; the seconds Debezium took."""
    from bench.bench_stream import prepare_stack
    from generator.configuration import scaled_counts

    total = sum(scaled_counts(args.scale).values())
    prepare_stack(args, total)
    log("registering the connector (no worker runs): Debezium fills the CDC topics")
    t0 = time.monotonic()
    ecom("connectors", "apply")
    while _in_kafka(settings) < total:
        if time.monotonic() - t0 > args.timeout:
            raise SystemExit(f"Debezium did not put {total:,} rows into Kafka in time")
        time.sleep(1.0)
    took = time.monotonic() - t0
    log(f"{total:,} rows in Kafka after {took:.1f}s")
    return took


def _in_kafka(settings: Any) -> int:
    """Messages in the CDC topics now; 0 while they are still being created (their
    partitions have no leader yet)."""
    from confluent_kafka import KafkaException

    try:
        return sum(cdc_ends(settings).values())
    except KafkaException:
        return 0


@dataclass
class Drain:
    """What one drain by the stream workers took."""

    events: int
    seconds: float | None = None
    seconds_from_up: float | None = None
    cpu_s: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    bronze_rows: float = 0.0
    silver_rows: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        cpu = sum(self.cpu_s)
        # per event landed: a backlog still growing (--reuse) gives the workers more
        landed = max(self.events, int(self.bronze_rows))
        return {
            "events": self.events,
            "seconds": _round(self.seconds),
            "seconds_from_workers_up": _round(self.seconds_from_up),
            "events_per_s": round(self.events / self.seconds) if self.seconds else None,
            "worker_cpu_s": [round(c, 2) for c in self.cpu_s],
            "worker_cpu_us_per_event": round(cpu / landed * 1e6, 1)
            if landed and self.seconds
            else None,
            "worker_peak_rss_mb": [round(m) for m in self.peak_rss_mb],
            "bronze_rows": int(self.bronze_rows),
            "silver_rows": int(self.silver_rows),
        }


def _round(x: float | None) -> float | None:
    return round(x, 2) if x is not None else None


def _landed(texts: list[str], ends: dict[tuple[str, int], int]) -> bool:
    from bench.bench_stream import complete

    return complete(texts, "bronze", ends) and complete(texts, "silver", ends)


def drain(args: argparse.Namespace, env: dict[str, str], ends: dict[tuple[str, int], int]) -> Drain:
    """Start the workers on the backlog and wait until both layers hold all of it."""
    from bench.bench_stream import Sampler, scrape
    from stream_apps import configuration, metrics_read, workers

    os.environ.update(env)
    subprocess.run([sys.executable, "-m", "stack.minio_setup"], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip
    stream = configuration.load()
    ports = [stream.web_port + i for i in range(args.workers)]
    result = Drain(events=sum(ends.values()))
    t0 = time.monotonic()
    states = workers.start(stream, args.workers)
    t_up = time.monotonic()
    pids = [w.pid for w in states if w.pid]
    cpu0 = [cpu_budget.process_tree_cpu(p) for p in pids]
    sampler = Sampler(pids, every=1.0)
    sampler.start()
    texts: list[str] = []
    while time.monotonic() - t0 < args.timeout:
        texts = [scrape(p, stream.base.host) for p in ports]
        if _landed(texts, ends):
            now = time.monotonic()
            result.seconds, result.seconds_from_up = now - t0, now - t_up
            break
        time.sleep(0.25)
    result.cpu_s = [cpu_budget.process_tree_cpu(p) - c for p, c in zip(pids, cpu0, strict=True)]
    sampler.stop()
    result.peak_rss_mb = [sampler.peak_by_pid.get(p, 0.0) for p in pids]
    result.bronze_rows = metrics_read.counter_total(texts, "rows", agent="bronze")
    result.silver_rows = metrics_read.counter_total(texts, "rows", agent="silver")
    workers.stop(stream)
    if result.seconds is None:
        log(f"the workers did not land the backlog within {args.timeout:.0f}s")
    return result


def restore_policy() -> None:
    """Give the stream user its usual buckets back (the drain used buckets of its own)."""
    for key in ("ECOM_BRONZE_BUCKET", "ECOM_SILVER_BUCKET", "ECOM_STREAM_APP_ID"):
        os.environ.pop(key, None)
    subprocess.run([sys.executable, "-m", "stack.minio_setup"], cwd=REPO, capture_output=True)


def figures(fill_s: float | None, base: dict[str, Any] | None, run: Drain) -> dict[str, Any]:
    """The result document's figures: both rates, their ratio, CPU and RSS per event."""
    d = run.as_dict()
    ratio = None
    if base and base.get("messages_per_s") and d["events_per_s"]:
        ratio = round(d["events_per_s"] / base["messages_per_s"], 3)
    return {
        "debezium_fill_s": _round(fill_s),
        "baseline": base,
        "workers": d,
        "drain_to_baseline_ratio": ratio,
        "goals": GOALS,
        "met": {
            "ratio": ratio is not None and ratio >= GOALS["ratio_min"],
            "cpu": d["worker_cpu_us_per_event"] is not None
            and d["worker_cpu_us_per_event"] <= GOALS["cpu_us_per_event_max"],
            "rss": bool(run.peak_rss_mb) and max(run.peak_rss_mb) <= GOALS["rss_mb_max"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from bench import drain_baseline
    from bench.bench_stream import code_version
    from common.settings import load
    from stream_apps import configuration, workers

    settings = load()
    workers.stop(configuration.load())
    fill_s = None if args.reuse else fill(args, settings)
    ends = cdc_ends(settings)
    log(f"backlog: {sum(ends.values()):,} events in {len(ends)} partitions")
    base = None
    if not args.no_baseline:
        log("baseline: the bare pipeline lands the same topics")
        base = drain_baseline.run(settings, ends, timeout=args.timeout).as_dict()
        log(f"baseline: {base['messages']:,} messages in {base['seconds']}s")
    run_id = uuid.uuid4().hex[:8]
    env = worker_env(args.env, run_id)
    log(f"{args.workers} workers drain the backlog (run {run_id}, env {env})")
    try:
        run = drain(args, env, ends)
    finally:
        restore_policy()
    result = {
        "measured_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code": code_version(),
        "scale": args.scale,
        "worker_count": args.workers,
        "worker_env": env,
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        **figures(fill_s, base, run),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0 if run.seconds is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
