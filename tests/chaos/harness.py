"""The chaos drill: live load, one fault at a seeded random moment, recovery, catch-up.

A drill (``Drill.run``):

1. brings the stack, the connector and exactly ``workers`` stream workers up, waits until
   nothing is in flight, and notes where every CDC, silver and dead-letter partition ends;
2. opens a :class:`~tests.chaos.waltap.WalTap` (the source's own record of its changes);
3. starts ``ecom generate live --rate R --duration D --dirty-rate 0`` in a subprocess;
4. at a random moment (``random.Random(seed)``, printed) runs the fault, which returns
   once the broken component is back (or at once, when nothing is restarted);
5. measures the recovery: the time from the fault until every change the source had
   committed at that moment has been landed by the stream (see :func:`recovery_seconds`);
6. waits for the load to end and for ``ecom status --wait-caught-up``.

Workers that die on their own during a drill are restarted by the :class:`Supervisor`
(what systemd's ``Restart=on-failure`` would do) and reported: the README promises that
a worker exits (code 70) rather than acknowledge a batch it could not land.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from confluent_kafka import Consumer, TopicPartition

from common import process
from common.kafka import client_config
from common.progress import SILENT
from connectors import manage
from ecom import catchup
from stack import services
from stream_apps import metrics_read, workers
from stream_apps.configuration import StreamSettings
from tests.chaos.waltap import WalTap
from tests.integration import stream_helpers as h

log = logging.getLogger(__name__)

Offsets = dict[tuple[str, int], int]
RECOVERY_TIMEOUT = 300.0


# ---------------------------------------------------------------- knobs (environment)
def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass(frozen=True)
class ChaosConfig:
    """Test-only knobs. CI runs the defaults (small); ``ECOM_CHAOS_SECONDS=60`` is a
    longer drill."""

    #: ECOM_CHAOS_SEED: seed of every random choice (default: random, printed).
    seed: int
    #: ECOM_CHAOS_SECONDS: how long the live load runs per drill (default 25).
    seconds: float
    #: ECOM_CHAOS_RATE: row changes per second of the load (default 500).
    rate: float
    #: ECOM_CHAOS_MINIO_OUTAGE: seconds MinIO stays down (default 30).
    minio_outage: float

    @classmethod
    def from_env(cls) -> ChaosConfig:
        raw = os.environ.get("ECOM_CHAOS_SEED", "").strip()
        seed = int(raw) if raw else random.SystemRandom().randrange(1, 10**6)
        return cls(
            seed=seed,
            seconds=_env_float("ECOM_CHAOS_SECONDS", 25.0),
            rate=_env_float("ECOM_CHAOS_RATE", 500.0),
            minio_outage=_env_float("ECOM_CHAOS_MINIO_OUTAGE", 30.0),
        )


# ---------------------------------------------------------------- load
class Load:
    """``ecom generate live`` in a subprocess; relaunched (with the time left) if it dies
    because the source went away. Keeps the JSON summary of every run that finished."""

    def __init__(self, rate: float, seconds: float, seed: int) -> None:
        self.rate, self.seconds, self.seed = rate, seconds, seed
        self.proc: subprocess.Popen[str] | None = None
        self.started = 0.0
        self.runs = 0
        self.summaries: list[dict[str, Any]] = []
        self.failures: list[str] = []

    def start(self) -> None:
        self.started = time.monotonic()
        self._launch(self.seconds)

    def _launch(self, seconds: float) -> None:
        self.runs += 1
        cmd = [sys.executable, "-m", "ecom.cli", "generate", "live", "--rate", f"{self.rate:g}",
               "--duration", f"{seconds:.1f}", "--seed", str(self.seed + self.runs),
               "--dirty-rate", "0", "--json"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def remaining(self) -> float:
        return max(0.0, self.seconds - (time.monotonic() - self.started))

    def relaunch_if_dead(self, wait: float = 15.0) -> bool:
        """If the generator exited with an error (e.g. lost the source), collect it and
        start it again for the time left. True when relaunched."""
        assert self.proc is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=wait)
        if self.proc.poll() is None or self.proc.returncode == 0:
            return False
        _out, err = self.proc.communicate()
        lines = [x for x in err.splitlines() if x.startswith("error:")] or err.splitlines()
        self.failures.append(lines[-1].strip() if lines else "no output")
        if self.remaining() > 1.0:
            self._launch(self.remaining())
            return True
        return False

    def wait(self, timeout: float) -> None:
        assert self.proc is not None
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, f"generator failed: {err[-2000:]}"
        self.summaries.append(json.loads(out))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def changes_per_table(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for summary in self.summaries:
            for key, n in summary["changes"].items():
                table = key.split(".")[0]
                out[table] = out.get(table, 0) + int(n)
        return out


# ---------------------------------------------------------------- workers
class Supervisor(threading.Thread):
    """Restarts stream workers that die on their own; records each death."""

    def __init__(self, s: StreamSettings, expected: int) -> None:
        super().__init__(daemon=True, name="chaos-supervisor")
        self.s = s
        self.expected = expected
        self.held: set[int] = set()  # killed on purpose: not restarted by us
        self.deaths: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._seen: set[int] = set()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(1.0):
            with self.lock:
                dead = [w for w in workers.status(self.s, self.expected)
                        if w.pid is None and w.index < self.expected and w.index not in self.held
                        and w.index not in self._seen]  # fmt: skip
                for w in dead:
                    tail = process.tail(self.s.base.home / "logs" / f"stream-{w.index}.log", 8)
                    self.deaths.append({"worker": w.index, "at": time.monotonic(),
                                        "log": [x for x in tail if x.strip()][-4:]})  # fmt: skip
                    log.warning("worker %s died on its own: %s", w.index, tail[-3:])
                    self._seen.add(w.index)
                if not self._seen or self.held:
                    continue  # workers.start would also start the ones held down on purpose
                with contextlib.suppress(Exception):
                    workers.start(self.s, self.expected, wait_seconds=120)
                    self._seen.clear()

    def release(self) -> None:
        """Start the workers held down on purpose (and any dead one) again."""
        with self.lock:
            self.held.clear()
            workers.start(self.s, self.expected, wait_seconds=120)
            self._seen.clear()

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=130)


def ensure_workers(s: StreamSettings, n: int) -> None:
    """Exactly workers 0..n-1 run."""
    for w in workers.status(s):
        if w.index >= n:
            workers.stop_one(s, w.index)
    workers.start(s, n, wait_seconds=120)


def metric_total(s: StreamSettings, name: str) -> dict[int, float]:
    """pid -> sum of ``ecom_stream_<name>_total`` over agents, for every live worker."""
    out: dict[int, float] = {}
    for w in workers.status(s):
        if not w.up or w.pid is None:
            continue
        text = workers.scrape(w.web)
        if text is None:
            continue
        out[w.pid] = metrics_read.counter_total([text], name)
    return out


# ---------------------------------------------------------------- recovery
def current_wal(dsn: str) -> int:
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def _retrying(fn: Callable[[], Any], deadline: float, what: str) -> Any:
    """Call ``fn`` until it stops raising (components may still be coming back)."""
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - Kafka/Postgres down for a moment
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing at the deadline: {exc}") from exc
            time.sleep(0.5)


def _seen_change_after(s: StreamSettings, start: Offsets, wal: int, deadline: float) -> None:
    """Block until a CDC message carries a change the source made at or after ``wal``:
    Debezium has then published everything committed before it (it publishes in commit
    order), whatever it re-published first."""
    consumer = Consumer(client_config(s.base, {"group.id": "chaos-probe", "enable.auto.commit": False,
                                               "enable.partition.eof": False}))  # fmt: skip
    try:
        consumer.assign([TopicPartition(t, p, off) for (t, p), off in start.items()])
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                value = msg.value()
                if msg.error() is not None or not value:
                    continue
                with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
                    lsn = json.loads(value)["source"]["lsn"]
                    if lsn is not None and int(lsn) >= wal:
                        return
            with contextlib.suppress(Exception):  # quiet source: the slot tells as well
                _active, _status, confirmed, _lag = catchup._slot(s.base)
                if confirmed is not None and confirmed >= wal:
                    return
        raise AssertionError(f"no change past WAL {wal} reached Kafka in time")
    finally:
        consumer.close()


def _committed_reach(s: StreamSettings, target: Offsets, deadline: float) -> None:
    topics = sorted({t for t, _p in target})
    while True:
        lags = _retrying(lambda: catchup.consumer_lags(s, topics), deadline, "lags")
        got = {(x.topic, x.partition): x.committed for x in lags}
        if all(got.get(tp, -1) >= off for tp, off in target.items() if off > 0):
            return
        assert time.monotonic() < deadline, "stream group did not commit in time"
        time.sleep(0.3)


def recovery_seconds(s: StreamSettings, t_fault: float, wal: int, cdc_start: Offsets) -> float:
    """Seconds from the fault until everything the source had committed at the fault
    (WAL position ``wal``) is landed: published by Debezium and committed by the stream
    group on every CDC partition, which it does only once both lake layers hold the
    offset (and its silver record was acknowledged). Includes the pipeline's normal
    latency (a few s)."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    _seen_change_after(s, cdc_start, wal, deadline)
    cdc_end = _retrying(lambda: h.end_offsets(s.base.kafka_bootstrap, h.cdc_topics(s)),
                        deadline, "CDC end offsets")  # fmt: skip
    _committed_reach(s, cdc_end, deadline)
    return time.monotonic() - t_fault


# ---------------------------------------------------------------- the drill
@dataclass
class Window:
    """Where each topic ended before the drill and after it."""

    cdc_start: Offsets = field(default_factory=dict)
    cdc_end: Offsets = field(default_factory=dict)
    silver_start: Offsets = field(default_factory=dict)
    silver_end: Offsets = field(default_factory=dict)
    dlq_start: Offsets = field(default_factory=dict)


@dataclass
class FaultContext:
    """What a fault function may use."""

    s: StreamSettings
    rnd: random.Random
    config: ChaosConfig
    load: Load
    supervisor: Supervisor
    notes: dict[str, Any] = field(default_factory=dict)
    after_recovery: list[Callable[[], None]] = field(default_factory=list)


Fault = Callable[[FaultContext], None]


@dataclass
class DrillResult:
    name: str
    seed: int
    fault_at_s: float
    outage_s: float
    recovery_s: float
    window: Window
    load: Load
    deaths: list[dict[str, Any]]
    notes: dict[str, Any]
    skipped_before: dict[int, float]
    changes: list[Any] = field(default_factory=list)


def prepare(s: StreamSettings, n_workers: int) -> None:
    """Stack and connector up, ``n_workers`` workers, nothing in flight."""
    services.up(s.base, progress=SILENT)
    manage.apply_all(s.base, progress=SILENT)
    ensure_workers(s, n_workers)
    h.wait_caught_up(s, 300)


def run(name: str, s: StreamSettings, config: ChaosConfig, fault: Fault, *, workers_n: int,
        fault_window: tuple[float, float] | None = None) -> DrillResult:  # fmt: skip
    rnd = random.Random(f"{config.seed}:{name}")
    lo, hi = fault_window or (3.0, max(4.0, config.seconds * 0.5))
    fault_at = round(rnd.uniform(lo, hi), 2)
    print(f"\n[chaos] {name}: seed {config.seed}, fault {fault_at:.2f}s into a "
          f"{config.seconds:g}s load at {config.rate:g} changes/s")  # fmt: skip
    prepare(s, workers_n)
    bootstrap = s.base.kafka_bootstrap
    win = Window(
        cdc_start=h.end_offsets(bootstrap, h.cdc_topics(s)),
        silver_start=h.end_offsets(bootstrap, h.silver_topics(s)),
        dlq_start=h.end_offsets(bootstrap, [s.dlq_topic]),
    )
    skipped_before = metric_total(s, "replayed_rows_skipped")
    tap = WalTap(s.base.source_dsn).open()
    load = Load(config.rate, config.seconds, config.seed)
    supervisor = Supervisor(s, workers_n)
    ctx = FaultContext(s, rnd, config, load, supervisor)
    try:
        supervisor.start()
        load.start()
        time.sleep(max(0.0, load.started + fault_at - time.monotonic()))
        wal = current_wal(s.base.source_dsn)
        at_fault = h.end_offsets(bootstrap, h.cdc_topics(s))
        t_fault = time.monotonic()
        fault(ctx)
        outage = time.monotonic() - t_fault
        recovery = recovery_seconds(s, t_fault, wal, at_fault)
        for step in ctx.after_recovery:
            step()
        load.wait(timeout=load.remaining() + 120)
        print(f"[chaos] {name}: outage {outage:.1f}s, recovered {recovery:.1f}s after the "
              f"fault; load: {load.runs} run(s), failures {load.failures}")  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "ecom.cli", "status", "--wait-caught-up",
                               "300"], capture_output=True, text=True, timeout=400)  # fmt: skip
        assert done.returncode == 0, f"not caught up: {done.stdout[-1500:]} {done.stderr[-800:]}"
        supervisor.stop()
        win.cdc_end = h.end_offsets(bootstrap, h.cdc_topics(s))
        win.silver_end = h.end_offsets(bootstrap, h.silver_topics(s))
        changes = tap.changes()
    finally:
        load.kill()
        supervisor.stop()
        tap.close()
    return DrillResult(name, config.seed, fault_at, outage, recovery, win, load,
                       supervisor.deaths, ctx.notes, skipped_before, changes)  # fmt: skip
