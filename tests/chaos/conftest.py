"""Fixtures of the chaos suite (``pytest -m chaos``; also part of plain ``pytest``).

The stack fixtures are the integration suite's (real Postgres, Kafka, Connect, MinIO,
nothing mocked). Every test here is marked ``chaos`` and ``integration``. Each drill's
figures (recovery time, events processed again) are printed at the end of the session
and written to ``test-artifacts/chaos.json`` (git-ignored).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from stream_apps import workers
from stream_apps.configuration import StreamSettings
from tests.chaos.harness import ChaosConfig, prepare
from tests.integration import conftest as integration
from tests.integration import stream_helpers as h
from tests.integration.conftest import run_cli

# the integration suite's stack fixtures, shared
settings = integration.settings
stack = integration.stack
capture = integration.capture
stream_settings = integration.stream_settings
pytest_runtest_makereport = integration.pytest_runtest_makereport

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "chaos.json"
RESULTS: list[dict[str, Any]] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chaos" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.chaos)
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def chaos_config() -> ChaosConfig:
    return ChaosConfig.from_env()


@pytest.fixture(scope="session")
def chaos_stream(stream_settings: StreamSettings, chaos_config: ChaosConfig
                 ) -> Iterator[StreamSettings]:  # fmt: skip
    """A small shop seeded afresh (truncate first), a worker running, nothing in flight.
    Stops the workers at the end, whatever state a failed drill left the stack in."""
    s = stream_settings
    prepare(s, 1)
    done = run_cli("generate", "seed", "--scale", "0.002", "--truncate",
                   "--seed", str(chaos_config.seed % 100_000),
                   "--anchor-date", datetime.now(UTC).date().isoformat())  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    h.wait_caught_up(s, 300)
    try:
        yield s
    finally:
        from common.progress import SILENT
        from stack import services

        services.up(s.base, progress=SILENT)  # a component a failed drill left down
        workers.stop(s)


@pytest.fixture(scope="module")
def s3(chaos_stream: StreamSettings) -> Minio:
    return h.s3_client(chaos_stream.base)


@pytest.fixture()
def chaos_report() -> Callable[[dict[str, Any]], None]:
    """Record one drill's figures (the dict may still be filled in after the call)."""
    return RESULTS.append


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not RESULTS:
        return
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    doc = {"written_at": datetime.now(UTC).isoformat(timespec="seconds"), "drills": RESULTS}
    ARTIFACT.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("chaos drills")
    tr.write_line(f"{'fault':<22} {'seed':>7} {'at s':>6} {'outage s':>9} {'recovery s':>10} "
                  f"{'changes':>8} {'reemitted':>9} {'bronze again':>12} {'silver again':>12} "
                  f"{'deaths':>6}  ok")  # fmt: skip
    for r in RESULTS:
        tr.write_line(
            f"{r['fault']:<22} {r['seed']:>7} {r['fault_at_s']:>6.1f} {r['outage_s']:>9.1f} "
            f"{r['recovery_s']:>10.1f} {r.get('source_changes', 0):>8} "
            f"{r.get('reemitted_by_debezium', 0):>9} {r.get('bronze_reprocessed', 0):>12} "
            f"{r.get('silver_reprocessed', 0):>12} {len(r['worker_deaths']):>6}  "
            f"{'yes' if r.get('passed') else 'NO'}"
        )
    tr.write_line(f"written to {ARTIFACT}")
