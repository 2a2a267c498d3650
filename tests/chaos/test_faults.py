"""Chaos drills: one fault per test while ``ecom generate live --rate 500`` runs.

Each fault strikes at a random moment (seeded: ``ECOM_CHAOS_SEED``, printed). After the
pipeline has recovered and caught up, nothing may be lost or doubled where it counts:
every source change is in bronze; silver's deduplicated change-log has each (key, LSN)
exactly once; gold, rebuilt, equals the contract computed on the source; the
dead-letter topic got nothing. See tests/chaos/harness.py for the drill and the
recovery-time definition, and tests/chaos/checks.py for the checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from minio import Minio

from common import process
from common.progress import SILENT
from stack import services
from stream_apps import workers
from stream_apps.configuration import StreamSettings
from tests.chaos import checks, harness
from tests.chaos.harness import ChaosConfig, FaultContext

SUPERVISOR_DELAY = 3.0  # seconds before a crashed component is started again


# ---------------------------------------------------------------- the faults
def kill_one_worker(ctx: FaultContext) -> None:
    """kill -9 one of two workers; the other takes its partitions. The victim is started
    again only after the recovery was measured (pure fail-over)."""
    victim = ctx.rnd.randrange(2)
    with ctx.supervisor.lock:
        ctx.supervisor.held.add(victim)
        ctx.notes["killed_pid"] = workers.kill(ctx.s, victim)
    ctx.notes["victim"] = victim
    ctx.after_recovery.append(ctx.supervisor.release)


def kill_both_workers(ctx: FaultContext) -> None:
    """kill -9 both workers; a supervisor starts them again a few seconds later."""
    with ctx.supervisor.lock:
        ctx.supervisor.held.update({0, 1})
        ctx.notes["killed_pids"] = [workers.kill(ctx.s, i) for i in (0, 1)]
    time.sleep(SUPERVISOR_DELAY)
    ctx.supervisor.release()


def kill_connect(ctx: FaultContext) -> None:
    """kill -9 Kafka Connect (Debezium's task dies mid-stream), then start it again."""
    services.kill(ctx.s.base, ["connect"])
    time.sleep(SUPERVISOR_DELAY)
    services.up(ctx.s.base, ["connect"], progress=SILENT)


def stop_minio(ctx: FaultContext) -> None:
    """MinIO stopped for ECOM_CHAOS_MINIO_OUTAGE seconds (default 30)."""
    services.down(ctx.s.base, ["minio"], progress=SILENT)
    time.sleep(ctx.config.minio_outage)
    services.up(ctx.s.base, ["minio"], progress=SILENT)


def restart_kafka(ctx: FaultContext) -> None:
    """The Kafka broker stopped cleanly and started again."""
    services.restart(ctx.s.base, ["kafka"], progress=SILENT)


def restart_postgres(ctx: FaultContext) -> None:
    """PostgreSQL restarted (fast shutdown). The generator loses its connection and
    exits; it is started again for the rest of its time."""
    services.restart(ctx.s.base, ["postgres"], progress=SILENT)
    ctx.notes["generator_relaunched"] = ctx.load.relaunch_if_dead()


def restart_registry(ctx: FaultContext) -> None:
    """The schema registry stopped and started again (about half a minute down). Meanwhile
    the worker is killed and started afresh, so it must ask the registry again for every
    silver schema id: it waits for the registry before publishing anything."""
    services.down(ctx.s.base, ["registry"], progress=SILENT)
    with ctx.supervisor.lock:
        ctx.supervisor.held.add(0)
        ctx.notes["killed_pid"] = workers.kill(ctx.s, 0)
    ctx.supervisor.release()
    services.up(ctx.s.base, ["registry"], progress=SILENT)
    log = ctx.s.base.home / "logs" / "stream-0.log"
    waits = [x for x in process.tail(log, 400) if "schema under" in x and "retrying" in x]
    ctx.notes["worker_retries_while_registry_down"] = len(waits)


def second_worker(ctx: FaultContext) -> None:
    """A second worker joins mid-batch: the group rebalances under load."""
    with ctx.supervisor.lock:
        ctx.supervisor.expected = 2
        workers.start(ctx.s, 2, wait_seconds=120)


FAULTS: dict[str, tuple[Callable[[FaultContext], None], int]] = {
    # name: (fault, workers running before it)
    "kill_one_worker": (kill_one_worker, 2),
    "kill_both_workers": (kill_both_workers, 2),
    "connect_killed": (kill_connect, 1),
    "minio_stopped": (stop_minio, 1),
    "kafka_restarted": (restart_kafka, 1),
    "postgres_restarted": (restart_postgres, 1),
    "registry_restarted": (restart_registry, 1),
    "rebalance_new_worker": (second_worker, 1),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_loses_nothing(
    name: str,
    chaos_stream: StreamSettings,
    chaos_config: ChaosConfig,
    s3: Minio,
    chaos_report: Callable[[dict[str, Any]], None],
) -> None:
    s = chaos_stream
    fault, n_workers = FAULTS[name]
    result = harness.run(name, s, chaos_config, fault, workers_n=n_workers)
    record: dict[str, Any] = {
        "fault": name,
        "seed": result.seed,
        "fault_at_s": result.fault_at_s,
        "outage_s": round(result.outage_s, 1),
        "recovery_s": round(result.recovery_s, 1),
        "rate": chaos_config.rate,
        "load_seconds": chaos_config.seconds,
        "workers": n_workers,
        "worker_deaths": result.deaths,
        "generator_runs": result.load.runs,
        "generator_failures": result.load.failures,
        "notes": result.notes,
        "passed": False,
    }
    chaos_report(record)
    record.update(checks.bronze(s, s3, result))
    record.update(checks.silver(s, s3, result))
    record["bronze_reprocessed"] = record["bronze_replay_skipped"] + record["bronze_duplicate_rows"]
    checks.dead_letters(s, result)
    record["gold_rebuild_s"] = round(checks.gold(s), 1)
    record["passed"] = True
    print(f"[chaos] {name}: {record}")
