"""The old lake beside the new one, in one run on the same CDC topics (suite part ``lake@S``).

* **old**: the code of commit 3804737 (loose Parquet objects whose keys name their
  offset range, a bronze agent, a silver agent producing ``silver.*`` and a silver-sink
  agent landing them), checked out at run time into a temporary ``git worktree`` that
  is removed at the end; its workers run from that tree (PYTHONPATH) with this venv;
* **new**: this tree's code (one agent, bronze and silver as Delta tables).

Debezium fills the CDC topics once at --scale (seed, then the connector's snapshot)
while no worker runs. Each side then gets its own consumer group, MinIO buckets and
MinIO stream user (and the old side its own silver and dead-letter topics, since its
silver sink reads back what it produced), and --workers workers:

1. snapshot, one side at a time (new, then old), each alone on the machine: seconds
   from starting the workers until bronze and silver hold every CDC offset; then the
   data files each lake holds (Parquet objects outside ``_delta_log/``), per layer,
   per table and per 100k snapshot rows, before any compaction or gold run;
2. commit latency per micro-batch, p50/p99 over the snapshot and over the steady state,
   timed in-process by bench/lake_probe.py around each code's own lake writer (what one
   commit is on each side is written there and in the result);
3. gold: ``ecom gold rebuild`` of each code on its own lake, one after the other (both
   write the same gold schema), each followed by its own ``ecom gold verify``; the old
   code twice: ``--no-compact`` first, then its default (which compacts first);
4. steady state: both sides' workers restarted (fresh metrics, same groups) and
   consuming ``ecom generate live --rate`` for --live-seconds at once; p50/p99 source
   commit -> bronze / silver from each side's own /metrics: the new workers' histograms
   summed over workers, the old workers' summaries (each worker's quantile of its own
   recent sample; the worst worker's is reported, as summaries cannot be pooled).

Usage: python -m bench.bench_lake [--scale 1] [--live-seconds 60] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OLD_COMMIT = "3804737"
PROBE = REPO / "bench" / "lake_probe.py"

COMMIT_UNITS = {
    "new": "one Delta commit of one table of one layer (DeltaDestination.write): from the "
    "writer getting the table's buffered Arrow rows to its log entry written (offset "
    "filter, Parquet encoding, data file uploads, commit, conflict retries)",
    "old": "one micro-batch of one layer's agent (land_bronze / land_silver): from the start "
    "of its first LakeWriter.write to the return of its last (offset index listing, "
    "Parquet encoding, one PUT per table, Kafka partition and day)",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class Side:
    """One lake: its code tree, environment, worker ports and processes."""

    name: str
    tree: Path
    env: dict[str, str]
    ports: list[int]
    work: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def group(self) -> str:
        return self.env["ECOM_STREAM_APP_ID"]

    def probe_records(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.work.glob("probe-*.jsonl")):
            out += [json.loads(line) for line in path.read_text().splitlines() if line]
        return out


def side_env(name: str, tree: Path, run_id: str, web_port: int) -> dict[str, str]:
    """The side's environment: own buckets, consumer group and MinIO stream user (a
    random secret of this run), its code first on the path."""
    env = dict(os.environ)
    env.update({
        "ECOM_BRONZE_BUCKET": f"lakebench-{name}-bronze",
        "ECOM_SILVER_BUCKET": f"lakebench-{name}-silver",
        "ECOM_LAKE_BUCKET": f"lakebench-{name}-meta",
        "ECOM_STREAM_APP_ID": f"lakebench-{name}-{run_id}",
        "ECOM_STREAM_S3_ACCESS_KEY": f"lakebench-{name}",
        "ECOM_STREAM_S3_SECRET_KEY": secrets.token_urlsafe(24),
        "ECOM_STREAM_WEB_PORT": str(web_port),
        "PYTHONPATH": str(tree),
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    if name == "old":  # its silver sink reads back its silver topics: keep them its own
        env["ECOM_STREAM_SILVER_PREFIX"] = "lakebench-old-silver"
        env["ECOM_STREAM_DLQ_TOPIC"] = "lakebench-old.dlq"
    return env


def run_py(side: Side, args: list[str], timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    """``python <args>`` with the side's code and environment (not checked)."""
    return subprocess.run(
        [sys.executable, *args], cwd=side.tree, env=side.env, text=True,
        capture_output=True, timeout=timeout,
    )  # fmt: skip


def checked(proc: subprocess.CompletedProcess[str], what: str) -> str:
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-1500:]
        raise SystemExit(f"{what} failed (exit {proc.returncode}): {tail}")
    return proc.stdout


@contextlib.contextmanager
def old_tree() -> Iterator[Path]:
    """The old commit checked out into a temporary detached worktree, removed on exit."""
    path = Path(tempfile.mkdtemp(prefix="lakebench-old-"))
    path.rmdir()
    git = ["git", "-C", str(REPO), "worktree"]
    subprocess.run([*git, "add", "--detach", str(path), OLD_COMMIT], check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run([*git, "remove", "--force", str(path)], capture_output=True, timeout=120)
        subprocess.run([*git, "prune"], capture_output=True, timeout=60)


# ------------------------------------------------------------------ stack and topics
def prepare(args: argparse.Namespace, sides: list[Side], total_rows: int) -> float:
    """Fresh stack, seed, each side's buckets, user and topics; then the connector's
    snapshot into Kafka with no worker running. Returns its seconds."""
    stack = Side("stack", REPO, dict(os.environ), [], Path())  # the stack's own settings
    log("stack: reset, start, seed")
    for cmd in (["stack", "reset", "--yes"], ["stack", "up"], ["db", "init"]):
        checked(run_py(stack, ["-m", "ecom.cli", *cmd]), f"ecom {' '.join(cmd)}")
    checked(run_py(stack, ["-m", "ecom.cli", "generate", "seed", "--scale", str(args.scale),
                         "--truncate", "--seed", "11", "--anchor-date", "2026-11-01"]),
            "ecom generate seed")  # fmt: skip
    for side in sides:
        # buckets and the side's least-privilege stream user, by this tree's stack code
        setup = dict(side.env, PYTHONPATH=str(REPO))
        proc = subprocess.run([sys.executable, "-m", "stack.minio_setup"], cwd=REPO, env=setup,
                              text=True, capture_output=True, timeout=120)  # fmt: skip
        checked(proc, f"{side.name}: buckets and stream user")
        checked(run_py(side, ["-c", "from stream_apps import configuration, workers; "
                              "workers.ensure_topics(configuration.load())"]),
                f"{side.name}: topics")  # fmt: skip
    log(f"snapshot of {total_rows:,} rows into Kafka (no worker running)")
    t0 = time.monotonic()
    checked(run_py(stack, ["-m", "ecom.cli", "connectors", "apply"]), "ecom connectors apply")
    from bench.bench_stream import Offsets
    from common.settings import load

    offsets = Offsets(load())
    try:
        while offsets.total(args.cdc_topics) < total_rows:
            if time.monotonic() - t0 > args.timeout:
                raise SystemExit("the connector's snapshot did not reach Kafka in time")
            time.sleep(1)
    finally:
        offsets.close()
    return time.monotonic() - t0


# ------------------------------------------------------------------ workers
def start_workers(side: Side) -> None:
    from stream_apps import workers

    host = side.env.get("ECOM_HOST", "127.0.0.1")
    for i, port in enumerate(side.ports):
        env = dict(side.env, ECOM_STREAM_WORKER=str(i) if side.name == "new" else f"old{i}")
        cmd = [sys.executable, str(PROBE), side.name, str(side.work / f"probe-{i}.jsonl"),
               "worker", "-l", "info", "--web-host", host, "--web-port", str(port)]  # fmt: skip
        out = (side.work / f"worker-{i}.log").open("ab")
        side.procs.append(subprocess.Popen(cmd, cwd=side.tree, env=env, stdout=out,
                                           stderr=subprocess.STDOUT))  # fmt: skip
    deadline = time.monotonic() + 120
    while not all(workers.scrape(f"http://{host}:{p}/metrics", timeout=2) for p in side.ports):
        dead = [p for p in side.procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            tail = (side.work / "worker-0.log").read_text()[-1500:]
            raise SystemExit(f"{side.name} workers did not start: {tail}")
        time.sleep(0.5)


def stop_workers(side: Side) -> None:
    for proc in side.procs:
        proc.terminate()
    for proc in side.procs:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    side.procs.clear()


def texts(side: Side) -> list[str]:
    from stream_apps import workers

    host = side.env.get("ECOM_HOST", "127.0.0.1")
    return [workers.scrape(f"http://{host}:{p}/metrics", timeout=5) or "" for p in side.ports]


def landed(side: Side, args: argparse.Namespace) -> tuple[bool, bool]:
    """Whether the side's bronze and silver hold every offset of the CDC topics now."""
    from bench.bench_stream import Offsets, complete
    from common.settings import load

    offsets = Offsets(load())
    try:
        ends = offsets.ends(args.cdc_topics)
        now = texts(side)
        if side.name == "new":  # silver rows carry the CDC offsets they come from
            return complete(now, "bronze", ends), complete(now, "silver", ends)
        bronze = complete(now, "bronze", ends)
        # old silver: its silver agent has produced everything (the group's committed
        # CDC offsets are at the end) and its sink landed its silver topics to their end
        if not bronze or old_cdc_lag(side, args.cdc_topics) > 0:
            return bronze, False
        silver_ends = offsets.ends(args.old_silver_topics)
        return bronze, complete(now, "silver_sink", silver_ends)
    finally:
        offsets.close()


def old_cdc_lag(side: Side, topics: list[str]) -> int:
    from ecom import catchup
    from stream_apps import configuration

    stream = configuration.load().model_copy(update={"app_id": side.group})
    return sum(x.lag for x in catchup.consumer_lags(stream, topics))


def wait_landed(
    sides: list[Side], args: argparse.Namespace, t0: float
) -> dict[str, dict[str, Any]]:
    """Per side, seconds from ``t0`` until its bronze, then its silver, held every CDC
    offset; the sides are polled in turn, each until done or --timeout."""
    done: dict[str, dict[str, Any]] = {s.name: {"bronze_s": None, "silver_s": None} for s in sides}
    waiting = list(sides)
    while waiting and time.monotonic() - t0 < args.timeout:
        for side in list(waiting):
            bronze, silver = landed(side, args)
            now, mine = round(time.monotonic() - t0, 1), done[side.name]
            if bronze and mine["bronze_s"] is None:
                mine["bronze_s"] = now
            if silver and mine["silver_s"] is None:
                mine["silver_s"] = now
            if bronze and silver:
                waiting.remove(side)
            if any(p.poll() is not None for p in side.procs):
                raise SystemExit(f"a {side.name} worker exited; see {side.work}")
        time.sleep(1)
    for side in waiting:
        done[side.name]["reason"] = f"not everything landed within --timeout {args.timeout:g} s"
    return done


# ------------------------------------------------------------------ phases
def snapshot(side: Side, args: argparse.Namespace) -> dict[str, Any]:
    """The side's workers land the snapshot alone; their timings and commit window."""
    log(f"{side.name}: {len(side.ports)} workers land the snapshot")
    t0, wall0 = time.monotonic(), time.time()
    start_workers(side)
    done = wait_landed([side], args, t0)[side.name]
    wall1 = time.time()
    stop_workers(side)
    log(f"{side.name}: bronze {done['bronze_s']} s, silver {done['silver_s']} s")
    return {**done, "window": [wall0, wall1]}


def data_files(side: Side, rows: int) -> dict[str, Any]:
    """The side's data files per layer, listed in its buckets (root user)."""
    from bench.lake_summary import file_counts
    from common.s3 import minio_client
    from common.settings import load

    client = minio_client(load())
    layers = {}
    for layer in ("bronze", "silver"):
        bucket = side.env[f"ECOM_{layer.upper()}_BUCKET"]
        layers[layer] = [o.object_name or "" for o in client.list_objects(bucket, recursive=True)]
    return file_counts(layers, rows)


def gold(side: Side, extra: list[str]) -> dict[str, Any]:
    """``ecom gold rebuild`` of the side's code on its lake, timed, then its verify."""
    label = " ".join(["gold rebuild", *extra])
    log(f"{side.name}: ecom {label}")
    t0 = time.monotonic()
    proc = run_py(side, ["-m", "ecom.cli", "gold", "rebuild", *extra])
    wall = time.monotonic() - t0
    verify = run_py(side, ["-m", "ecom.cli", "gold", "verify"])
    out: dict[str, Any] = {
        "command": f"ecom {label}",
        "wall_s": round(wall, 2) if proc.returncode == 0 else None,
        "exit": proc.returncode,
        "verify_exit": verify.returncode,
        "verified": proc.returncode == 0 and verify.returncode == 0,
    }
    if not out["verified"]:
        bad = proc if proc.returncode else verify
        out["error"] = (bad.stderr.strip() or bad.stdout.strip())[-600:]
    log(f"{side.name}: {out}")
    return out


def steady(sides: list[Side], args: argparse.Namespace) -> dict[str, Any]:
    """Both sides' workers consume live traffic at once; each side's own latencies."""
    for side in sides:
        start_workers(side)
    log(f"live traffic: {args.rate:g} changes/s for {args.live_seconds:g} s, both consuming")
    wall0, t0 = time.time(), time.monotonic()
    live = run_py(sides[0], ["-m", "ecom.cli", "generate", "live", "--rate", str(args.rate),
                             "--duration", str(args.live_seconds)],
                  timeout=args.live_seconds + 300)  # fmt: skip
    checked(live, "ecom generate live")
    caught = wait_landed(sides, args, t0)
    wall1 = time.time()
    out: dict[str, Any] = {"rate": args.rate, "seconds": args.live_seconds,
                           "window": [wall0, wall1]}  # fmt: skip
    for side in sides:
        out[side.name] = {"caught_up_s": caught[side.name], **latencies(side)}
        stop_workers(side)
    return out


def latencies(side: Side) -> dict[str, Any]:
    """p50/p99 source commit -> bronze / silver from the side's own /metrics."""
    from bench.lake_summary import worst_summary_quantile
    from stream_apps import metrics_read

    now = texts(side)
    out: dict[str, Any] = {}
    for path in ("source_to_bronze", "source_to_silver"):
        for q in ("0.5", "0.99"):
            key = f"{path}_p{q[2:].ljust(2, '0')}_s"
            if side.name == "new":
                value = metrics_read.latency_quantile(now, path, float(q))
            else:
                pairs = [
                    (s.labels, s.value)
                    for s in metrics_read.samples(now, "ecom_stream_latency_seconds")
                ]
                value = worst_summary_quantile(pairs, path, q)
            out[key] = round(value, 3) if value is not None else None
    out["how"] = (
        "histograms of every worker summed bucket by bucket, linear within a bucket"
        if side.name == "new"
        else "each worker's summary quantile of its most recent 5,000 sampled events; the "
        "worst worker's"
    )
    return out


def commit_figures(side: Side, phases: dict[str, list[float]]) -> dict[str, Any]:
    from bench.lake_summary import commit_latency

    records = side.probe_records()
    out: dict[str, Any] = {"unit": COMMIT_UNITS[side.name]}
    for phase, (since, until) in phases.items():
        out[phase] = commit_latency(records, since, until)
    return out


# ------------------------------------------------------------------ the run
def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--live-seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=None,
                    help="limit of each wait in seconds (default 1800 per unit of scale, "
                    "at least 1800)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "lake.json")
    args = ap.parse_args()
    if args.timeout is None:
        args.timeout = 1800.0 * max(1.0, args.scale)
    return args


def make_sides(args: argparse.Namespace, old: Path, work: Path) -> list[Side]:
    from stream_apps import configuration

    base = configuration.load().web_port
    run_id = uuid.uuid4().hex[:6]
    sides = []
    for k, (name, tree) in enumerate((("new", REPO), ("old", old))):
        first = base + k * args.workers
        (work / name).mkdir()
        ports = list(range(first, first + args.workers))
        sides.append(Side(name, tree, side_env(name, tree, run_id, first), ports, work / name))
    return sides


def measure(args: argparse.Namespace, sides: list[Side]) -> dict[str, Any]:
    from generator.configuration import scaled_counts

    total_rows = sum(scaled_counts(args.scale).values())
    kafka_s = prepare(args, sides, total_rows)
    snaps = {s.name: snapshot(s, args) for s in sides}
    files = {s.name: data_files(s, total_rows) for s in sides}
    new, old = sides
    golds = {"new": [gold(new, [])], "old": [gold(old, ["--no-compact"]), gold(old, [])]}
    st = steady(sides, args)
    lakes: dict[str, Any] = {}
    for side in sides:
        windows = {"snapshot": snaps[side.name].pop("window"), "steady_state": st["window"]}
        lakes[side.name] = {
            "code": OLD_COMMIT if side.name == "old" else code(),
            "snapshot": snaps[side.name],
            "data_files_after_snapshot": files[side.name],
            "commit_latency": commit_figures(side, windows),
            "gold_rebuild": golds[side.name],
            "steady_state": st[side.name],
        }
    return {
        "scale": args.scale,
        "workers": args.workers,
        "snapshot_rows": total_rows,
        "snapshot_into_kafka_s": round(kafka_s, 1),
        "steady_state": {"rate": args.rate, "seconds": args.live_seconds},
        "lakes": lakes,
    }


def code() -> str | None:
    from bench.bench_stream import code_version

    return code_version()


def main() -> int:
    args = parse_args()
    from common.settings import load
    from generator.configuration import scaled_counts
    from stream_apps import configuration

    settings, stream = load(), configuration.load()
    args.cdc_topics = [settings.cdc_topic(t) for t in scaled_counts(args.scale)]
    args.old_silver_topics = [f"lakebench-old-silver.{t}" for t in scaled_counts(args.scale)]
    log(f"lake benchmark at scale {args.scale:g} on {settings.home}; old code {OLD_COMMIT}")
    from stream_apps import workers

    workers.stop(stream)  # the stack's own workers would compete for the machine
    with old_tree() as old, tempfile.TemporaryDirectory(prefix="lakebench-") as tmp:
        sides = make_sides(args, old, Path(tmp))
        try:
            result = measure(args, sides)
        finally:
            for side in sides:
                stop_workers(side)
    result = {"measured_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
              **result}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
