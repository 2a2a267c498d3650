"""``ecom gold rebuild``: gold from the lake's silver Delta tables (as of a time, by Delta
time travel), computed by DuckDB (or Spark) and loaded into the gold database, under an advisory
lock. Lake maintenance (compaction, vacuum) is not part of it: it runs after the swap
(``ecom lake optimize`` / ``vacuum``), never before gold.

* A **full** build reads every silver change-log, computes the state and every gold
  table in DuckDB, COPYs the gold tables into a staging schema and swaps them in.
* An **incremental** build (the default when a kept state allows it, see
  :mod:`compaction.plan`) applies only the silver changes the kept state does not cover
  (:mod:`compaction.incremental`), recomputes the gold rows they affect and replaces
  those rows in one transaction; when the gold in ``public`` is not the kept state's
  (a time-travel build ran since) or a truncate arrived, it recomputes every gold table
  from the state and swaps instead.

Both keep their state for the next build (:mod:`compaction.goldstate`). With the Spark
engine (``ECOM_GOLD_ENGINE=spark``) every build is a full one computed by Spark
(:mod:`compaction.spark_build`), with the same staging schema, swap and build log, and
it keeps no state. A failed rebuild leaves the previous gold in place, records the
failure (step and error) in ``gold_build_log`` and raises :class:`RebuildFailed` with
one line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType

import psycopg2.errors

from common.errors import EcomError, first_line
from common.progress import SILENT, Reporter
from compaction import gold
from compaction.builds import Build, BuildResult, run
from compaction.configuration import LAKE_LOCK_KEY, LOCK_KEY, GoldSettings
from compaction.exceptions import GoldError, LakeMaintenanceLocked, RebuildFailed, RebuildLocked


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
def gold_lock(gs: GoldSettings, wait: float = 0.0) -> Iterator[gold.Connection]:
    """Hold the rebuild lock (pg_try_advisory_lock in the gold database) for the block;
    ``wait``: seconds to keep trying while another build holds it (a nightly build that
    meets a short refresh waits for it instead of failing)."""
    with advisory_lock(
        gs, LOCK_KEY, "ecom gold rebuild", wait,
        lambda holder: RebuildLocked(f"another gold rebuild is running ({holder})"),
    ) as conn:  # fmt: skip
        yield conn


@contextlib.contextmanager
def lake_lock(gs: GoldSettings, wait: float = 0.0) -> Iterator[gold.Connection]:
    """Hold the lake's maintenance lock (:data:`LAKE_LOCK_KEY`) for the block: one
    optimize or vacuum at a time, whoever starts it (the nightly job, a person)."""
    with advisory_lock(
        gs, LAKE_LOCK_KEY, "ecom lake maintenance", wait,
        lambda holder: LakeMaintenanceLocked(
            f"another lake optimize or vacuum is running ({holder})",
            hint="wait for it to finish, or pass --wait-lock SECONDS",
        ),
    ) as conn:  # fmt: skip
        yield conn


@contextlib.contextmanager
def advisory_lock(
    gs: GoldSettings,
    key: int,
    application: str,
    wait: float,
    locked: Callable[[str], Exception],
) -> Iterator[gold.Connection]:
    """Hold the session advisory lock ``key`` in the gold database for the block; raise
    ``locked(holder)`` when another session keeps it for ``wait`` seconds."""
    conn = gold.connect(gs.base, application=application)
    try:
        deadline = time.monotonic() + max(0.0, wait)
        with conn.cursor() as cur:
            while True:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                row = cur.fetchone()
                if row and row[0]:
                    break
                if time.monotonic() >= deadline:
                    raise locked(_holder(cur, key))
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        try:
            yield conn
        finally:
            with contextlib.suppress(Exception), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        conn.close()


def _holder(cur: object, key: int) -> str:
    """'since <time>, pid N' of the session holding the lock, as far as it can be seen."""
    try:
        cur.execute(  # type: ignore[attr-defined]
            "SELECT a.pid, a.backend_start, a.application_name FROM pg_locks AS l "
            "JOIN pg_stat_activity AS a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 "
            "AND l.objid = %s AND l.objsubid = 1",
            (key,),
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
    full: bool = False,
    lock_wait: float = 0.0,
    progress: Reporter = SILENT,
    spark_jars: Sequence[Path] = (),
) -> BuildResult:
    """Build gold as of ``as_of`` (default: now; see :func:`cutoff_of`): incremental when
    a kept state allows it, else (or with ``full``) from the whole change-log. With the
    Spark engine (``gs.engine``) always from the whole change-log, Spark running with
    ``spark_jars`` (s3a, JDBC: ``stack.install.ensure_spark_jars``) added.
    ``lock_wait``: seconds to wait for a running build to finish (default: fail at once)."""
    as_of, cutoff = cutoff_of(as_of)
    t0 = time.monotonic()
    with gold_lock(gs, lock_wait) as conn, _sigterm_interrupts():
        with _privileges(gs):
            gold.ensure_log(conn)
            for dead in gold.close_abandoned(conn):
                progress(f"gold build #{dead} marked failed: its process died while running")
            for schema in gold.cleanup_abandoned(conn):
                progress(f"dropped staging schema {schema} left by a rebuild that died")
            build_id = gold.log_start(conn, as_of, socket.gethostname(), os.getpid())
        b = Build(gs, conn, BuildResult(build_id, as_of), cutoff, progress,
                  spark_jars=tuple(spark_jars))  # fmt: skip
        when = f"lake as of {cutoff:%Y-%m-%d %H:%M:%S} UTC" if cutoff else "newest lake"
        progress(f"gold rebuild #{build_id} as of {as_of}, {when} (staging schema {b.schema}, "
                 f"engine {gs.engine})")  # fmt: skip
        try:
            run(b, full=full)
        except BaseException as exc:
            message = _one_line(exc)
            with contextlib.suppress(Exception):
                gold.drop_staging(conn, b.schema)
            with contextlib.suppress(Exception):
                gold.log_failure(gs.base, build_id, b.step, message)
            if isinstance(exc, Exception):
                raise RebuildFailed(
                    f"gold rebuild #{build_id} failed during {b.step}: {message}",
                    hint="the previous gold is unchanged; the failure is in gold_build_log",
                ) from exc
            raise
    b.result.seconds = time.monotonic() - t0
    return b.result


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
