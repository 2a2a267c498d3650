"""The gold database side of a rebuild: staging schema, COPY loads, atomic swap or
in-place update, and the build log.

Everything runs in ``ecommerce_gold``. The gold tables are computed elsewhere (DuckDB,
:mod:`compaction.duckgold`); a full build COPYs them into its own staging schema
``gold_build_<build id>`` with the column types of :mod:`compaction.gold_sql`, and the
swap moves them into ``public`` in one transaction, replacing the old ones, and drops
the staging schema. An incremental build COPYs only the changed rows into its staging
schema and replaces the rows of the changed keys in ``public`` in one transaction.
Either way readers see the previous gold or the new one, never a mix.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions

from common import pg
from common.settings import Settings
from compaction import gold_sql, sqlfiles
from compaction.configuration import LOCK_KEY, STAGING_PREFIX
from compaction.exceptions import GoldError
from compaction.state import Position

Connection = psycopg2.extensions.connection

#: Gold tables in build order (gold_build_log is separate: appended, never swapped).
GOLD_TABLES: tuple[str, ...] = tuple(t.name for t in gold_sql.GOLD_TABLES)
#: Columns of gold_build_log added after its first version, with their types.
_LOG_COLUMNS = {"kind": "TEXT", "why": "TEXT", "lake_versions": "JSONB", "state": "JSONB"}
_SCHEMA_RE = re.compile(rf"{STAGING_PREFIX}\d+")


def connect(settings: Settings, *, application: str = "ecom gold") -> Connection:
    """A connection to the gold database as the gold loader role (ECOM_GOLD_USER, which
    cannot reach the source database), working in UTC (autocommit)."""
    conn = pg.connect(
        settings.gold_loader_dsn,
        f"the gold database {settings.gold_db} as {settings.gold_user}",
        error=GoldError,
        hint="is Postgres up, and have the gold database and role been created? "
        "(`ecom stack up`, `ecom db init`; ECOM_GOLD_USER/ECOM_GOLD_PASSWORD)",
        application_name=application,
        options="-c timezone=UTC",
        connect_timeout=10,
    )
    conn.autocommit = True
    return conn


def staging_schema(build_id: int) -> str:
    return f"{STAGING_PREFIX}{int(build_id)}"


def _check_schema(schema: str) -> str:
    if not _SCHEMA_RE.fullmatch(schema):
        raise ValueError(f"not a staging schema name: {schema!r}")
    return schema


def lsn_text(lsn: int | None) -> str | None:
    """PostgreSQL's text form of an LSN (``X/Y``)."""
    if lsn is None:
        return None
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


# ---------------------------------------------------------------- build log
def ensure_log(conn: Connection) -> None:
    """Create gold_build_log, or add the columns an older one lacks (checked first: ALTER
    TABLE would wait for every reader of the log)."""
    with conn.cursor() as cur:
        cur.execute(sqlfiles.read("gold_build_log.sql"))
        cur.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'gold_build_log'"
        )
        have = {r[0] for r in cur.fetchall()}
        for name, sql_type in _LOG_COLUMNS.items():
            if name not in have:
                cur.execute(f"ALTER TABLE public.gold_build_log ADD COLUMN {name} {sql_type}")


#: The error recorded for (and reported of) a build whose process died while running.
ABANDONED_ERROR = "abandoned: the rebuild process died (no process holds the rebuild lock)"


def lock_held(conn: Connection) -> bool:
    """Whether some session holds the rebuild lock (:data:`LOCK_KEY`) in this database.

    Read from ``pg_locks`` (visible to every role): the lock is not taken, so a reader
    never delays a rebuild. ``pg_try_advisory_lock(bigint)`` shows as classid = high
    32 bits, objid = low 32 bits, objsubid = 1.
    """
    with conn.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1)",
            (LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF),
        )
        row = cur.fetchone()
    return bool(row and row[0])


def _running_ids(conn: Connection, among: list[int] | None = None) -> list[int]:
    with conn.cursor() as cur:
        if among is None:
            cur.execute("SELECT build_id FROM public.gold_build_log WHERE status = 'running'")
        else:
            cur.execute(
                "SELECT build_id FROM public.gold_build_log "
                "WHERE status = 'running' AND build_id = ANY(%s)",
                (among,),
            )
        return sorted(int(r[0]) for r in cur.fetchall())


def abandoned_builds(conn: Connection) -> list[int]:
    """Builds whose log row says 'running' but whose process is gone (killed, crashed
    host): the truth for readers until the next rebuild closes the row.

    A live rebuild takes the lock before it inserts its 'running' row and sets its final
    status before it lets the lock go, so a row that was 'running' before the lock was
    seen free, and still is after, belongs to a dead process. (Reading the rows once,
    after the lock, could take a rebuild that started in between for a dead one.)
    ``conn`` must see each statement's latest commits (autocommit or READ COMMITTED).
    Requires ``public.gold_build_log``.
    """
    before = _running_ids(conn)
    if not before or lock_held(conn):
        return []
    return _running_ids(conn, before)


def cleanup_abandoned(conn: Connection) -> list[str]:
    """Drop the staging schemas left by a rebuild that died.

    Called only while holding the rebuild lock, so nothing found here is alive.
    """
    with conn.cursor() as cur:
        cur.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
            (STAGING_PREFIX.replace("_", r"\_") + "%",),
        )
        schemas = [r[0] for r in cur.fetchall() if _SCHEMA_RE.fullmatch(r[0])]
        for schema in schemas:
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return schemas


def close_abandoned(conn: Connection) -> list[int]:
    """Mark every 'running' build failed with :data:`ABANDONED_ERROR` (its step kept);
    returns their ids. Called only while holding the rebuild lock: none of them is alive."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE public.gold_build_log SET status = 'failed', finished_at = clock_timestamp(), "
            "error = coalesce(error, %s) WHERE status = 'running' RETURNING build_id",
            (ABANDONED_ERROR,),
        )
        return sorted(int(r[0]) for r in cur.fetchall())


def log_start(conn: Connection, as_of: date, host: str, pid: int) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO public.gold_build_log (as_of, started_at, status, step, host, pid) "
            "VALUES (%s, clock_timestamp(), 'running', 'start', %s, %s) RETURNING build_id",
            (as_of, host, pid),
        )
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


def log_step(conn: Connection, build_id: int, step: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE public.gold_build_log SET step = %s WHERE build_id = %s", (step, build_id)
        )


def log_failure(settings: Settings, build_id: int, step: str, error: str) -> None:
    """Record a failure on a fresh connection (the build's own one may be broken)."""
    conn = connect(settings, application="ecom gold rebuild (log)")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE public.gold_build_log SET status = 'failed', finished_at = clock_timestamp(), "
                "step = %s, error = %s WHERE build_id = %s",
                (step, error, build_id),
            )
    finally:
        conn.close()


# ---------------------------------------------------------------- staging
def create_staging(conn: Connection, schema: str, tables: tuple[str, ...] = GOLD_TABLES) -> None:
    """The staging schema with an empty table per gold table in ``tables``, typed as
    :data:`compaction.gold_sql.GOLD_TABLES` declares."""
    schema = _check_schema(schema)
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cur.execute(f"CREATE SCHEMA {schema}")
        for name in tables:
            table = gold_sql.GOLD[name]
            ddl = ", ".join(f"{c.name} {c.pg_type}" for c in table.columns)
            cur.execute(f"CREATE TABLE {schema}.{name} ({ddl})")


def copy_csv(conn: Connection, target: str, columns: tuple[str, ...], path: Path) -> int:
    """``COPY target (columns) FROM`` the headerless CSV file ``path``; the rows copied."""
    with conn.cursor() as cur, path.open("rb") as fh:
        cur.copy_expert(
            f"COPY {target} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", fh, size=1 << 20
        )
        return int(cur.rowcount)


def load_gold(conn: Connection, schema: str, name: str, path: Path) -> None:
    """COPY a gold table's rows (CSV) into its staging table, then add its keys."""
    schema = _check_schema(schema)
    copy_csv(conn, f"{schema}.{name}", gold_sql.GOLD[name].column_names, path)
    add_keys(conn, schema, name)


class Loaders:
    """Connections of their own (at most ``size``) loading gold tables into a staging
    schema at once, each table with :func:`load_gold` on one connection. Leaving the
    block waits for every load, closes the connections and raises the first failure."""

    def __init__(self, settings: Settings, size: int) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(max(1, size))
        self._idle: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._opened: list[Connection] = []
        self._lock = threading.Lock()
        self._jobs: list[Future[None]] = []

    def __enter__(self) -> Loaders:
        return self

    def submit(self, schema: str, name: str, path: Path) -> None:
        """Load the CSV file ``path`` into ``schema.name`` (the file is deleted after)."""
        self._jobs.append(self._pool.submit(self._load, _check_schema(schema), name, path))

    def _load(self, schema: str, name: str, path: Path) -> None:
        conn = self._take()
        try:
            load_gold(conn, schema, name, path)
        finally:
            self._idle.put(conn)
        path.unlink(missing_ok=True)

    def _take(self) -> Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            conn = connect(self.settings, application="ecom gold rebuild (load)")
            with self._lock:
                self._opened.append(conn)
            with conn.cursor() as cur:
                # a staging table matters only once the swap has committed, and that
                # commit waits for all the write-ahead log before it, this COPY's too
                cur.execute("SET synchronous_commit = off")
            return conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)
            if exc_type is None:
                for job in self._jobs:
                    job.result()
        finally:
            for conn in self._opened:
                conn.close()


def add_keys(conn: Connection, schema: str, name: str) -> None:
    """The primary key and indexes of a loaded staging table (added after the rows: a
    bulk load is faster into a table without them)."""
    schema = _check_schema(schema)
    table = gold_sql.GOLD[name]
    with conn.cursor() as cur:
        if table.primary_key:
            cur.execute(f"ALTER TABLE {schema}.{name} ADD PRIMARY KEY ({', '.join(table.key)})")
        for cols in table.indexes:
            cur.execute(f"CREATE INDEX ON {schema}.{name} ({', '.join(cols)})")


@dataclass(frozen=True)
class BuildRecord:
    """What the build log says of a finished build."""

    counts: dict[str, int]
    position: Position
    kind: str = "full"
    why: str | None = None
    lake_versions: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] | None = None


def _log_success(cur: Any, build_id: int, record: BuildRecord) -> None:
    cur.execute(
        "UPDATE public.gold_build_log SET status = 'succeeded', step = 'done', "
        "finished_at = clock_timestamp(), row_counts = %s, max_commit_ts = %s, "
        "max_source_lsn = %s, kind = %s, why = %s, lake_versions = %s, state = %s "
        "WHERE build_id = %s",
        (
            json.dumps(record.counts, sort_keys=True),
            record.position.max_commit_ts,
            lsn_text(record.position.max_source_lsn),
            record.kind,
            record.why,
            json.dumps(record.lake_versions, sort_keys=True),
            None if record.state is None else json.dumps(record.state, sort_keys=True),
            build_id,
        ),
    )


def swap(
    conn: Connection, schema: str, build_id: int, record: BuildRecord, lock_timeout: float
) -> None:
    """One transaction: replace ``public``'s gold tables by the staging ones, drop the
    staging schema, mark the build succeeded. Readers see old or new, never a mix."""
    schema = _check_schema(schema)
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", (f"{int(lock_timeout * 1000)}ms",))
            for table in GOLD_TABLES:
                cur.execute(f"DROP TABLE IF EXISTS public.{table}")
                cur.execute(f"ALTER TABLE {schema}.{table} SET SCHEMA public")
            cur.execute(f"DROP SCHEMA {schema} CASCADE")
            _log_success(cur, build_id, record)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.autocommit = True


def drop_staging(conn: Connection, schema: str) -> None:
    schema = _check_schema(schema)
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# ---------------------------------------------------------------- incremental
def last_builds(conn: Connection) -> tuple[dict[str, Any] | None, int | None]:
    """The newest successful build that kept its state (its log row), and the id of the
    newest successful build of any kind."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT build_id, as_of, lake_versions, state, row_counts "
            "FROM public.gold_build_log WHERE status = 'succeeded' AND state IS NOT NULL "
            "ORDER BY build_id DESC LIMIT 1"
        )
        row = cur.fetchone()
        names = [d[0] for d in cur.description or ()]
        cur.execute("SELECT max(build_id) FROM public.gold_build_log WHERE status = 'succeeded'")
        latest = cur.fetchone()
    kept = dict(zip(names, row, strict=True)) if row else None
    return kept, (int(latest[0]) if latest and latest[0] is not None else None)


def _key_type(name: str, column: str) -> str:
    return next(c.pg_type for c in gold_sql.GOLD[name].columns if c.name == column)


#: Stands for a NULL key value among the keys to replace (a sale_date can be NULL).
NULL_DATE = "DATE '0001-01-01'"


class ChangeApply:
    """An incremental build's changed gold rows, replaced in ``public`` in one
    transaction on a connection of its own, table by table from a thread as the build
    hands them over (so the gold database works while DuckDB computes the next table);
    :meth:`commit` marks the build succeeded in the same transaction. Readers see the
    old rows until then. The rows go straight into ``public``; each table's keys to a
    table in the staging schema, which the transaction creates and drops (the gold
    loader role may not create temporary tables)."""

    def __init__(
        self, settings: Settings, schema: str, build_id: int, lock_timeout: float
    ) -> None:
        self.schema, self.build_id = _check_schema(schema), build_id
        self.conn = connect(settings, application="ecom gold rebuild (changes)")
        self.conn.autocommit = False
        self.changed: dict[str, int] = {}
        self._thread = ThreadPoolExecutor(1)
        self._jobs: list[Future[None]] = []
        with self.conn.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", (f"{int(lock_timeout * 1000)}ms",))
            # The changed keys are few of a table's rows, found through its primary key.
            # With PostgreSQL's default cost of a random page (4, for spinning disks) the
            # planner scanned all 5M orders of a scale-10 table to delete 79,000 of them:
            # 2.8 s, against 0.3 s through the key's index
            cur.execute("SET LOCAL random_page_cost = 1.1")
            cur.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            cur.execute(f"CREATE SCHEMA {self.schema}")

    def submit(self, name: str, column: str, keys: Path, rows: Path) -> None:
        """Replace the rows of gold table ``name`` whose ``column`` is among ``keys``
        (a one-column CSV file) by ``rows`` (CSV)."""
        self._jobs.append(self._thread.submit(self._replace, name, column, keys, rows))

    def _replace(self, name: str, column: str, keys: Path, rows: Path) -> None:
        key_type = _key_type(name, column)
        value = f"coalesce(g.{column}, {NULL_DATE})" if key_type == "DATE" else f"g.{column}"
        k_table = f"{self.schema}.k_{name}"
        with self.conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {k_table} (k {key_type})")
            copy_csv(self.conn, k_table, ("k",), keys)
            cur.execute(f"ANALYZE {k_table}")
            cur.execute(f"DELETE FROM public.{name} AS g USING {k_table} AS k WHERE {value} = k.k")
            deleted = cur.rowcount
        inserted = copy_csv(self.conn, f"public.{name}", gold_sql.GOLD[name].column_names, rows)
        self.changed[name] = inserted - deleted

    def commit(self, record: BuildRecord) -> dict[str, int]:
        """Wait for every table, mark the build succeeded with ``record`` (its counts
        updated by what changed) and commit; returns the counts. Raises the first
        table's failure (nothing is committed then)."""
        for job in self._jobs:
            job.result()
        counts = dict(record.counts)
        for name, change in self.changed.items():
            counts[name] = counts.get(name, 0) + change
        with self.conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA {self.schema} CASCADE")
            _log_success(cur, self.build_id, replace(record, counts=counts))
        self.conn.commit()
        return counts

    def close(self) -> None:
        """Roll back whatever was not committed and close the connection."""
        self._thread.shutdown(wait=True, cancel_futures=True)
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


def log_success(conn: Connection, build_id: int, record: BuildRecord) -> None:
    """Mark a build that changed no gold succeeded."""
    with conn.cursor() as cur:
        _log_success(cur, build_id, record)
