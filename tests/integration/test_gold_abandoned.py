"""A rebuild killed with SIGKILL: previous gold intact, its 'running' row reported as
failed/abandoned by every reader, the next rebuild closes it and succeeds.

The silver change-log comes from the bench-only exporter (tests/integration/
exported_lake.py) in buckets of this module's own, so no stream is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg2
import pytest

from common.settings import Settings
from compaction import gold
from compaction.gold import GOLD_TABLES
from ecom.status import probe
from tests.integration import gold_reference as ref
from tests.integration.conftest import run_cli
from tests.integration.exported_lake import ExportedLake, rebuilt

ANCHOR = date(2026, 11, 1)
AS_OF = datetime.now(UTC).date()  # an earlier day would read the lake before it was written


@pytest.fixture(scope="module")
def lake(stack: Settings) -> Iterator[ExportedLake]:
    with rebuilt(stack, "gold-kill-test", scale=0.05, seed=8, anchor=ANCHOR, as_of=AS_OF,
                 rows_per_file=500) as exported:  # fmt: skip
        yield exported


def _gold_conn(s: Settings) -> Any:
    conn = psycopg2.connect(s.gold_dsn, options="-c timezone=UTC")
    conn.autocommit = True
    return conn


def _log(s: Settings, build_id: int | None = None) -> dict[str, Any]:
    conn = _gold_conn(s)
    try:
        with conn.cursor() as cur:
            if build_id is None:
                cur.execute("SELECT * FROM public.gold_build_log ORDER BY build_id DESC LIMIT 1")
            else:
                cur.execute("SELECT * FROM public.gold_build_log WHERE build_id = %s", (build_id,))
            row = cur.fetchone()
            assert row is not None
            return dict(zip([d[0] for d in cur.description or ()], row, strict=True))
    finally:
        conn.close()


def _start_rebuild(lake: ExportedLake, *args: str, **env: str) -> subprocess.Popen[str]:
    """A full rebuild (an incremental one on an unchanged lake has no step to kill it in)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ecom.cli", "gold", "rebuild", "--full", "--as-of",
         AS_OF.isoformat(), *args],
        env=dict(os.environ, **lake.env, **env), text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait_for(what: str, check: Any, timeout: float = 120, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _lock_free(s: Settings) -> bool:
    conn = _gold_conn(s)
    try:
        return not gold.lock_held(conn)
    finally:
        conn.close()


def _abandoned(s: Settings) -> list[int]:
    conn = _gold_conn(s)
    try:
        return gold.abandoned_builds(conn)
    finally:
        conn.close()


def _check_reported_and_recovered(lake: ExportedLake, dead: int, before: dict[str, str]) -> None:
    s = lake.settings
    assert ref.fingerprint(s.gold_dsn, GOLD_TABLES) == before, "the previous gold must be intact"
    assert _log(s, dead)["status"] == "running", "nothing has closed the row yet"
    assert _abandoned(s) == [dead]
    info = probe.gold_info(s)
    assert info.last is not None and info.last.build_id == dead
    assert info.last.status == "failed" and (info.last.error or "").startswith("abandoned:")
    assert info.last_succeeded is not None and info.last_succeeded.build_id < dead
    res = run_cli("gold", "verify", env=lake.env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"build #{dead} " in res.stdout and "abandoned" in res.stdout, res.stdout
    assert "checks, OK" in res.stdout, res.stdout

    res = run_cli("gold", "rebuild", "--as-of", AS_OF.isoformat(), env=lake.env)
    assert res.returncode == 0, res.stderr
    assert f"gold build #{dead} marked failed: its process died" in res.stderr, res.stderr
    closed = _log(s, dead)
    assert closed["status"] == "failed" and "process died" in closed["error"]
    assert closed["finished_at"] is not None
    assert _log(s)["status"] == "succeeded" and _log(s)["build_id"] > dead
    assert _abandoned(s) == []
    assert ref.fingerprint(s.gold_dsn, GOLD_TABLES) == before, "same silver, same gold"
    conn = _gold_conn(s)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'gold\\_build\\_%%'")
            assert cur.fetchall() == [], "the dead build's staging schema must be dropped"
    finally:
        conn.close()
    info = probe.gold_info(s)
    assert info.last is not None and info.last.status == "succeeded"


def test_sigkill_during_the_build(lake: ExportedLake) -> None:
    """Killed while computing (current state or gold step): the kernel closes its
    connection at once, Postgres ends the session and frees the lock."""
    s = lake.settings
    before = ref.fingerprint(s.gold_dsn, GOLD_TABLES)
    previous = _log(s)["build_id"]
    proc = _start_rebuild(lake, ECOM_GOLD_DUCKDB_THREADS="1")
    try:
        row = _wait_for(
            "the rebuild to reach the current state or gold step",
            lambda: (
                (r := _log(s))["build_id"] > previous
                and r["step"] in ("current state", "gold")
                and r
            ),
        )
        proc.kill()  # SIGKILL: no handler runs, nothing is logged by the process itself
        assert proc.wait(30) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
    dead = row["build_id"]
    _wait_for("Postgres to end the dead session (lock free)", lambda: _lock_free(s), 60, 0.2)
    assert _log(s, dead)["step"] in ("current state", "gold")
    _check_reported_and_recovered(lake, dead, before)


def test_sigkill_while_the_swap_waits(lake: ExportedLake) -> None:
    """Killed inside the swap transaction (blocked by a reader): the backend keeps the
    lock while it waits, readers then truthfully see 'running'; once the reader lets go,
    the orphaned transaction is rolled back, the lock freed, and the old gold stays."""
    s = lake.settings
    before = ref.fingerprint(s.gold_dsn, GOLD_TABLES)
    previous = _log(s)["build_id"]
    reader = psycopg2.connect(s.gold_dsn)  # a long read: holds ACCESS SHARE on dim_customers
    with reader.cursor() as cur:
        cur.execute("SELECT count(*) FROM public.dim_customers")
    proc = _start_rebuild(lake, ECOM_GOLD_SWAP_LOCK_TIMEOUT="600")
    try:
        row = _wait_for(
            "the rebuild to block in its swap",
            lambda: (r := _log(s))["build_id"] > previous and r["step"] == "swap" and r,
            every=0.1,
        )
        _wait_for("the swap to wait for the reader's lock", lambda: _swap_waiting(s), 60, 0.1)
        proc.kill()
        assert proc.wait(30) == -9
        time.sleep(1)
        assert not _lock_free(s), "its backend is still alive, waiting for the table lock"
        assert _abandoned(s) == [], "a build whose session still holds the lock is not dead"
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.rollback()
        reader.close()
    _wait_for("Postgres to end the dead session (lock free)", lambda: _lock_free(s), 60, 0.2)
    dead = row["build_id"]
    assert _log(s, dead)["step"] == "swap"
    _check_reported_and_recovered(lake, dead, before)


def _swap_waiting(s: Settings) -> bool:
    conn = _gold_conn(s)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                "'ecom gold rebuild' AND wait_event_type = 'Lock'"
            )
            row = cur.fetchone()
            return bool(row and row[0])
    finally:
        conn.close()
