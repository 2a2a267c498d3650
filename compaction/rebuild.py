"""``ecom gold rebuild``: compute silver's current state from the lake's Delta tables (as
of a time, by Delta time travel), build gold in a staging schema and swap it in
atomically, under an advisory lock. Lake maintenance (compaction, vacuum) is not part of
it: it runs after the swap (``ecom lake optimize`` / ``vacuum``), never before gold.

A failed rebuild leaves the previous gold in place, records the failure (step and
error) in ``gold_build_log`` and raises :class:`RebuildFailed` with one line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType

import psycopg2.errors

from common.errors import EcomError, first_line
from common.progress import SILENT, Reporter
from compaction import gold, state
from compaction.configuration import LOCK_KEY, GoldSettings
from compaction.exceptions import GoldError, RebuildFailed, RebuildLocked
from compaction.lake import Lake
from compaction.state import Position
from schemas import SOURCE_TABLES
from schemas import lake as layout


@dataclass
class BuildResult:
    build_id: int
    as_of: date
    row_counts: dict[str, int]
    position: Position
    seconds: float
    #: Delta version of each silver table the build read (None: the table did not exist).
    versions: dict[str, int | None] = field(default_factory=dict)


def cutoff_of(
    as_of: date | datetime | None, now: datetime | None = None
) -> tuple[date, datetime | None]:
    """The as-of date D of the contract and the lake time a build reads as of.

    A date D reads the table versions committed by the end of D (UTC); today (or no date)
    reads the newest versions. A datetime reads the versions committed by then, and D is
    its date.
    """
    now = now or datetime.now(UTC)
    if isinstance(as_of, datetime):
        when = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
        return when.astimezone(UTC).date(), when
    day = as_of or now.date()
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    return day, (end if end <= now else None)


@contextlib.contextmanager
def gold_lock(gs: GoldSettings) -> Iterator[gold.Connection]:
    """Hold the rebuild lock (pg_try_advisory_lock in the gold database) for the block."""
    conn = gold.connect(gs.base, application="ecom gold rebuild")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
            row = cur.fetchone()
            if not (row and row[0]):
                raise RebuildLocked(f"another gold rebuild is running ({_holder(cur)})")
        try:
            yield conn
        finally:
            with contextlib.suppress(Exception), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    finally:
        conn.close()


def _holder(cur: object) -> str:
    """'since <time>, pid N' of the session holding the lock, as far as it can be seen."""
    try:
        cur.execute(  # type: ignore[attr-defined]
            "SELECT a.pid, a.backend_start, a.application_name FROM pg_locks AS l "
            "JOIN pg_stat_activity AS a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 "
            "AND l.objid = %s AND l.objsubid = 1",
            (LOCK_KEY,),
        )
        row = cur.fetchone()  # type: ignore[attr-defined]
    except Exception:
        row = None
    if not row:
        return "since an unknown time"
    pid, since, app = row
    when = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if since else "unknown"
    who = f", {app}" if app else ""
    return f"since {when}, pid {pid}{who}"


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so a stopped rebuild still logs its failure."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def rebuild(
    gs: GoldSettings,
    as_of: date | datetime | None = None,
    *,
    progress: Reporter = SILENT,
) -> BuildResult:
    """Rebuild gold as of ``as_of`` (default: now; see :func:`cutoff_of`)."""
    as_of, cutoff = cutoff_of(as_of)
    t0 = time.monotonic()
    with gold_lock(gs) as conn, _sigterm_interrupts():
        with _privileges(gs):
            gold.ensure_log(conn)
            for dead in gold.close_abandoned(conn):
                progress(f"gold build #{dead} marked failed: its process died while running")
            for schema in gold.cleanup_abandoned(conn):
                progress(f"dropped staging schema {schema} left by a rebuild that died")
            build_id = gold.log_start(conn, as_of, socket.gethostname(), os.getpid())
        schema = gold.staging_schema(build_id)
        when = f"lake as of {cutoff:%Y-%m-%d %H:%M:%S} UTC" if cutoff else "newest lake"
        progress(f"gold rebuild #{build_id} as of {as_of}, {when} (staging schema {schema})")
        result = BuildResult(build_id, as_of, {}, Position(None, None), 0.0)
        step = "start"
        try:
            scratch = Path(tempfile.mkdtemp(prefix="ecom-gold-", dir=gs.work_dir))
            try:
                step = "current state"
                gold.log_step(conn, build_id, step)
                gold.create_staging(conn, schema)
                current_state_step(gs, conn, schema, scratch, cutoff, result, progress)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            step = "gold"
            gold.log_step(conn, build_id, step)
            progress("gold: computing the gold tables in the staging schema")
            result.row_counts = gold.build_gold(conn, schema, as_of, progress)
            step = "swap"
            gold.log_step(conn, build_id, step)
            gold.swap(conn, schema, build_id, result.row_counts, result.position,
                      gs.swap_lock_timeout)  # fmt: skip
            progress("swap: new gold is live in public")
        except BaseException as exc:
            message = _one_line(exc)
            with contextlib.suppress(Exception):
                gold.drop_staging(conn, schema)
            with contextlib.suppress(Exception):
                gold.log_failure(gs.base, build_id, step, message)
            if isinstance(exc, Exception):
                raise RebuildFailed(
                    f"gold rebuild #{build_id} failed during {step}: {message}",
                    hint="the previous gold is unchanged; the failure is in gold_build_log",
                ) from exc
            raise
    result.seconds = time.monotonic() - t0
    return result


@contextlib.contextmanager
def _privileges(gs: GoldSettings) -> Iterator[None]:
    """A missing privilege of the gold loader role is a setup problem: say how to fix it."""
    try:
        yield
    except psycopg2.errors.InsufficientPrivilege as exc:
        first = first_line(exc)
        raise GoldError(
            f"the gold loader role {gs.base.gold_user} lacks a privilege in "
            f"{gs.base.gold_db}: {first}",
            hint="run `ecom db init` (it grants the role what the rebuild needs and hands "
            "it gold tables built by the admin role)",
        ) from exc


def _one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, EcomError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def current_state_step(
    gs: GoldSettings,
    conn: gold.Connection,
    schema: str,
    scratch: Path,
    cutoff: datetime | None,
    result: BuildResult,
    progress: Reporter,
) -> None:
    """Per table: read its silver Delta table (as of ``cutoff``), compute the current state
    (and the customers' history) with DuckDB, COPY it into the staging schema."""
    lake = Lake(gs.base)
    duck_dir = scratch / "duckdb"
    duck_dir.mkdir()
    con = state.connect(
        duck_dir / "state.duckdb",
        memory_limit=gs.duckdb_memory,
        threads=gs.duckdb_threads,
        temp_directory=duck_dir / "spill",
    )
    try:
        for table in SOURCE_TABLES:
            dt = lake.open(lake.ref(layout.SILVER, table), cutoff)
            result.versions[table] = None if dt is None else dt.version()
            source = dt.to_pyarrow_dataset() if dt is not None else None
            versions = state.load_changes(con, table, source)
            result.position = result.position.merge(state.position(con))
            csv_path = scratch / f"{table}.csv"
            rows = state.export_csv(con, state.current_state_query(table, for_csv=True), csv_path)
            gold.load_current(conn, schema, table, csv_path)
            csv_path.unlink()
            at = f"version {dt.version()}" if dt is not None else "no table yet"
            progress(f"current state {table}: {rows:,} rows from {versions:,} changes ({at})")
            if table == "customers":
                hist_path = scratch / "customers_history.csv"
                n = state.export_csv(con, state.history_query(for_csv=True), hist_path)
                gold.load_history(conn, schema, hist_path)
                hist_path.unlink()
                progress(f"customer history: {n:,} versions")
            state.drop_changes(con)
    finally:
        con.close()
