"""The Airflow DAG's tasks run by real Airflow against the test stack:
`airflow tasks test nightly_gold_rebuild gold_rebuild|gold_verify <date>`, in Airflow's
own virtualenv, with this session's ECOM_* environment and ECOM_BIN pointing at this
checkout's `ecom`.

The silver change-log comes from the bench-only exporter in buckets of this module's own
(tests/integration/exported_lake.py), so no stream is needed. `airflow tasks test` exits
0 even when the task fails, so each run is judged by the task's final state in its log
and, for the rebuild, by the row it appended to gold_build_log.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from common.settings import Settings
from tests import airflow_run
from tests.integration.exported_lake import ExportedLake, drop, seed_and_export

ANCHOR = date(2026, 11, 1)  # the seed's anchor date
DAG_ID = "nightly_gold_rebuild"
ECOM_BIN = str(Path(sys.executable).with_name("ecom"))


@pytest.fixture(scope="module")
def lake(stack: Settings) -> Iterator[ExportedLake]:
    exported = seed_and_export(stack, "airflow-test", scale=0.01, seed=6, anchor=ANCHOR)
    try:
        yield exported
    finally:
        drop(exported)


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """AIRFLOW_HOME with a migrated sqlite database, outside the repo."""
    home = tmp_path_factory.mktemp("airflow-home")
    res = airflow_run.run(home, "-m", "airflow", "db", "migrate", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (home / "airflow.db").exists()
    return home


def _task_test(home: Path, task: str, env: dict[str, str]) -> str:
    today = datetime.now(UTC).date().isoformat()
    res = airflow_run.run(
        home, "-m", "airflow", "tasks", "test", DAG_ID, task, today, env=env, timeout=900
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    return out


def _succeeded(out: str) -> bool:
    return "Command exited with return code 0" in out and "new_state=success" in out


def _last_build(s: Settings) -> dict[str, Any] | None:
    conn = psycopg2.connect(s.gold_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('public.gold_build_log') IS NOT NULL")
            row = cur.fetchone()
            if not row or not row[0]:
                return None
            cur.execute(
                "SELECT build_id, as_of, status, error FROM public.gold_build_log "
                "ORDER BY build_id DESC LIMIT 1"
            )
            last = cur.fetchone()
            if last is None:
                return None
            return dict(zip(("build_id", "as_of", "status", "error"), last, strict=True))
    finally:
        conn.close()


def test_rebuild_then_verify_run_as_airflow_tasks(
    stack: Settings, lake: ExportedLake, airflow_home: Path
) -> None:
    env = {**lake.env, "ECOM_BIN": ECOM_BIN, "ECOM_REPO_DIR": ""}
    before = _last_build(stack)

    out = _task_test(airflow_home, "gold_rebuild", env)
    assert _succeeded(out), out[-4000:]
    assert f"Running command: ['/usr/bin/bash', '-c', '{ECOM_BIN} gold rebuild --full --wait-lock 900']" in out
    after = _last_build(stack)
    assert after is not None and after["status"] == "succeeded", after
    assert before is None or after["build_id"] > before["build_id"]
    assert after["as_of"] == datetime.now(UTC).date()  # no --as-of: the DAG builds today

    out = _task_test(airflow_home, "gold_verify", env)
    assert _succeeded(out), out[-4000:]
    assert f"'{ECOM_BIN} gold verify'" in out


def test_a_failing_command_is_a_failed_task(
    stack: Settings, lake: ExportedLake, airflow_home: Path
) -> None:
    """The rebuild cannot log in: Airflow reports the task failed (up for its retry), and
    no build is recorded as succeeded."""
    before = _last_build(stack)
    env = {**lake.env, "ECOM_BIN": ECOM_BIN, "ECOM_GOLD_PASSWORD": "not-the-password"}
    out = _task_test(airflow_home, "gold_rebuild", env)
    assert not _succeeded(out)
    assert "Command exited with return code 1" in out, out[-4000:]
    assert "new_state=up_for_retry" in out, out[-4000:]
    after = _last_build(stack)
    assert (after or {}).get("build_id") == (before or {}).get("build_id")
