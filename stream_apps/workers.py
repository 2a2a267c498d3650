"""Background stream workers: start N, stop them, report their state.

Each worker is `python -m stream_apps.worker worker` with its own web port
(``ECOM_STREAM_WEB_PORT`` + i), pid file ``run/stream-<i>.pid`` and log
``logs/stream-<i>.log`` under the state folder. Workers of one app share the
consumer group, so Kafka spreads the partitions over them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from common import http, process
from common.kafka import client_config
from common.progress import SILENT, Reporter
from common.retry import poll
from stream_apps.configuration import StreamSettings
from stream_apps.exceptions import WorkerError

WORKER_MODULE = "stream_apps.worker"


@dataclass(frozen=True)
class WorkerState:
    index: int
    pid: int | None
    up: bool
    web: str
    log: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _pid_file(s: StreamSettings, i: int) -> Path:
    return s.base.home / "run" / f"stream-{i}.pid"


def _log_file(s: StreamSettings, i: int) -> Path:
    return s.base.home / "logs" / f"stream-{i}.log"


def ensure_topics(s: StreamSettings) -> list[str]:
    """Create the CDC, silver and dead-letter topics if missing (kept forever, for replay).

    The CDC topics are normally created by Connect with the connector's first event;
    creating them up front (same partitions and retention as the connector's
    topic.creation settings) lets workers subscribe at once instead of discovering
    them on the consumer's next metadata refresh, minutes later.
    """
    from confluent_kafka.admin import AdminClient, NewTopic

    from schemas import SOURCE_TABLES

    admin = AdminClient(client_config(s.base))
    try:
        existing = set(admin.list_topics(timeout=10).topics)
    except Exception as exc:  # KafkaException
        raise WorkerError(
            f"Kafka at {s.base.kafka_bootstrap} is not reachable: {exc}",
            hint="start the stack with `ecom stack up`",
        ) from exc
    wanted = (
        [s.base.cdc_topic(t) for t in SOURCE_TABLES]
        + [s.silver_topic(t) for t in SOURCE_TABLES]
        + [s.dlq_topic]
    )
    new = [
        NewTopic(
            t, num_partitions=s.partitions, replication_factor=1, config={"retention.ms": "-1"}
        )
        for t in wanted
        if t not in existing
    ]
    if new:
        for topic, fut in admin.create_topics(new).items():
            try:
                fut.result(timeout=30)
            except Exception as exc:  # already exists is fine
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise WorkerError(f"creating topic {topic} failed: {exc}") from exc
    return [t.topic for t in new]


def worker_command(s: StreamSettings, i: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        WORKER_MODULE,
        "worker",
        "-l",
        "info",
        "--web-host",
        s.base.host,
        "--web-port",
        str(s.web_port + i),
    ]


def worker_env(i: int) -> dict[str, str]:
    return dict(os.environ, ECOM_STREAM_WORKER=str(i), PYTHONUNBUFFERED="1")


def start(
    s: StreamSettings, workers: int = 1, progress: Reporter = SILENT, wait_seconds: float = 60.0
) -> list[WorkerState]:
    if workers < 1:
        raise WorkerError(f"--workers must be at least 1 (got {workers})")
    made = ensure_topics(s)
    if made:
        progress(f"created topics {', '.join(made)}")
    for i in range(workers):
        pid = process.running_pid(_pid_file(s, i))
        if pid:
            progress(f"worker {i} already running (pid {pid})")
            continue
        port = s.web_port + i
        if process.port_open(s.base.host, port):
            raise WorkerError(
                f"web port {s.base.host}:{port} for stream worker {i} is in use",
                hint="stop that process or set ECOM_STREAM_WEB_PORT",
            )
        pid = process.start_detached(
            worker_command(s, i),
            out_file=_log_file(s, i),
            pid_file=_pid_file(s, i),
            env=worker_env(i),
        )
        progress(f"worker {i} started (pid {pid}, metrics http://{s.base.host}:{port}/metrics)")
    return poll(
        lambda: _none_exited(status(s, workers)),
        lambda states: all(w.up for w in states),
        timeout=wait_seconds,
        interval=0.5,
        on_timeout=lambda _states: WorkerError(
            f"stream workers not serving after {wait_seconds:.0f}s",
            hint="see the logs under logs/stream-*.log",
        ),
    )


def assignments(s: StreamSettings) -> list[set[tuple[str, int]]] | None:
    """The CDC partitions each member of the stream group holds, while the group is
    stable; None while it rebalances or has no members."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    from schemas import SOURCE_TABLES

    cdc = {s.base.cdc_topic(t) for t in SOURCE_TABLES}
    admin = AdminClient(client_config(s.base))
    desc = admin.describe_consumer_groups([s.app_id])[s.app_id].result(timeout=10)
    if desc.state != ConsumerGroupState.STABLE or not desc.members:
        return None
    return [
        {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions if tp.topic in cdc}
        for m in desc.members
    ]


def wait_assigned(
    s: StreamSettings, workers: int, timeout: float = 120.0
) -> list[set[tuple[str, int]]]:
    """Return once the group is stable with ``workers`` members, each holding CDC
    partitions: a started worker serves /metrics before it has joined the group, and the
    group rebalances again as each further worker joins."""

    def settled(found: list[set[tuple[str, int]]] | None) -> bool:
        return found is not None and len(found) == workers and all(found)

    found = poll(
        lambda: assignments(s),
        settled,
        timeout=timeout,
        interval=0.5,
        on_timeout=lambda found: WorkerError(
            f"the stream group did not settle on {workers} member(s) within {timeout:.0f}s "
            f"(now: {'rebalancing' if found is None else f'{len(found)} member(s)'})",
            hint="see the logs under logs/stream-*.log",
        ),
    )
    assert found is not None
    return found


def _none_exited(states: list[WorkerState]) -> list[WorkerState]:
    """``states``, unless a worker has exited (then WorkerError with its last log lines)."""
    dead = [w for w in states if w.pid is None]
    if dead:
        tail = " | ".join(process.tail(Path(dead[0].log), 5))
        raise WorkerError(
            f"stream worker {dead[0].index} exited during startup: {tail}",
            hint=f"see {dead[0].log}",
        )
    return states


def _known_indexes(s: StreamSettings) -> list[int]:
    run = s.base.home / "run"
    out = []
    for p in run.glob("stream-*.pid") if run.exists() else []:
        try:
            out.append(int(p.stem.split("-", 1)[1]))
        except ValueError:
            continue
    return sorted(out)


def stop(s: StreamSettings, progress: Reporter = SILENT, timeout: float = 60.0) -> int:
    stopped = 0
    for i in _known_indexes(s):
        pid = process.running_pid(_pid_file(s, i))
        if pid is not None:
            progress(f"stopping worker {i} (pid {pid})")
            if not process.stop_pid(pid, timeout=timeout):
                raise WorkerError(f"worker {i} (pid {pid}) did not stop", hint=f"kill -9 {pid}")
            stopped += 1
        _pid_file(s, i).unlink(missing_ok=True)
    return stopped


def stop_one(s: StreamSettings, index: int, timeout: float = 60.0) -> int | None:
    """Stop worker ``index`` (SIGTERM, then SIGKILL after ``timeout``); its pid, if it ran."""
    pid = process.running_pid(_pid_file(s, index))
    if pid is not None and not process.stop_pid(pid, timeout=timeout):
        raise WorkerError(f"worker {index} (pid {pid}) did not stop", hint=f"kill -9 {pid}")
    _pid_file(s, index).unlink(missing_ok=True)
    return pid


def kill(s: StreamSettings, index: int) -> int | None:
    """kill -9 worker ``index`` (a crash: no clean shutdown, nothing committed on the way
    out); its pid, if it ran. The pid file stays, so ``status`` reports the worker down
    until ``start`` replaces it."""
    pid = process.running_pid(_pid_file(s, index))
    if pid is not None and not process.kill_pid(pid):
        raise WorkerError(f"worker {index} (pid {pid}) survived SIGKILL", hint=f"kill -9 {pid}")
    return pid


def status(s: StreamSettings, expected: int | None = None) -> list[WorkerState]:
    indexes = sorted(set(_known_indexes(s)) | set(range(expected or 0)))
    states = []
    for i in indexes:
        pid = process.running_pid(_pid_file(s, i))
        url = metrics_url(s, i)
        up = pid is not None and scrape(url, timeout=2) is not None
        states.append(WorkerState(i, pid, up, url, str(_log_file(s, i))))
    return states


def metrics_url(s: StreamSettings, index: int) -> str:
    return f"http://{s.base.host}:{s.web_port + index}/metrics"


def scrape(url: str, timeout: float = 3.0) -> str | None:
    """One worker's /metrics text; None when it does not serve it."""
    try:
        return http.get_text(url, timeout=timeout)
    except http.HttpUnavailable:
        return None


def metrics_text(s: StreamSettings) -> list[str]:
    """The /metrics text of every running worker."""
    return [http.get_text(w.web) for w in status(s) if w.up]
