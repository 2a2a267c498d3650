"""The gold database side of a rebuild: staging schema, COPY loads, gold SQL, atomic swap,
and the build log.

Everything runs in ``ecommerce_gold``. A rebuild builds in its own staging schema
``gold_build_<build id>``: the current state of each source table (``cur_<table>``,
with the source's column types, so NUMERIC semantics match the contract), then every
gold table computed by the SQL files ``compaction/sql/gold_*.sql``. The swap moves the
gold tables into ``public`` in one transaction, replacing the old ones, and drops the
staging schema: readers see the previous gold or the new one, never a mix.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import psycopg2
import psycopg2.extensions

from common import pg
from common.progress import SILENT, Reporter
from common.settings import Settings
from compaction import sqlfiles
from compaction.configuration import LOCK_KEY, STAGING_PREFIX
from compaction.exceptions import GoldError
from compaction.state import Position
from schemas.columns import COLUMNS, Column

Connection = psycopg2.extensions.connection

#: Gold tables in build order (gold_build_log is separate: appended, never swapped).
GOLD_TABLES: tuple[str, ...] = (
    "dim_customers",
    "dim_products",
    "fact_daily_sales",
    "fact_customer_orders",
    "agg_campaign_performance",
    "agg_inventory_status",
    "dim_customers_history",
)
HISTORY_COLUMNS = (
    "customer_id", "email", "customer_segment", "loyalty_tier", "valid_from", "valid_to",
    "is_current",
)  # fmt: skip
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


def pg_type(col: Column) -> str:
    if col.kind == "decimal":
        return f"NUMERIC({col.precision}, {col.scale})"
    return {"int": "INTEGER", "str": "TEXT", "timestamp": "TIMESTAMP", "date": "DATE"}[col.kind]


def lsn_text(lsn: int | None) -> str | None:
    """PostgreSQL's text form of an LSN (``X/Y``)."""
    if lsn is None:
        return None
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


# ---------------------------------------------------------------- build log
def ensure_log(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute(sqlfiles.read("gold_build_log.sql"))


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
def create_staging(conn: Connection, schema: str) -> None:
    """The staging schema with an empty ``cur_<table>`` per source table (UNLOGGED: they
    are scratch, dropped with the schema) and the
    ``dim_customers_history`` table the DuckDB history is copied into."""
    schema = _check_schema(schema)
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cur.execute(f"CREATE SCHEMA {schema}")
        for table, cols in COLUMNS.items():
            ddl = ", ".join(f"{c.name} {pg_type(c)}" for c in cols)
            cur.execute(f"CREATE UNLOGGED TABLE {schema}.cur_{table} ({ddl})")
        cur.execute(sqlfiles.read("gold_dim_customers_history.sql").format(s=schema))


def copy_csv(conn: Connection, target: str, columns: tuple[str, ...], path: Path) -> None:
    """``COPY target (columns) FROM`` the headerless CSV file ``path``."""
    with conn.cursor() as cur, path.open("rb") as fh:
        cur.copy_expert(
            f"COPY {target} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", fh, size=1 << 20
        )


def load_current(conn: Connection, schema: str, table: str, path: Path) -> None:
    schema = _check_schema(schema)
    copy_csv(conn, f"{schema}.cur_{table}", tuple(c.name for c in COLUMNS[table]), path)
    with conn.cursor() as cur:
        cur.execute(f"ANALYZE {schema}.cur_{table}")


def load_history(conn: Connection, schema: str, path: Path) -> None:
    schema = _check_schema(schema)
    copy_csv(conn, f"{schema}.dim_customers_history", HISTORY_COLUMNS, path)
    with conn.cursor() as cur:
        cur.execute(f"CREATE INDEX ON {schema}.dim_customers_history (customer_id, valid_from)")


def build_gold(
    conn: Connection, schema: str, as_of: date, progress: Reporter = SILENT
) -> dict[str, int]:
    """Compute every gold table in ``schema``; returns the row count of each."""
    schema = _check_schema(schema)
    counts: dict[str, int] = {}
    with conn.cursor() as cur:
        for table in GOLD_TABLES:
            if table != "dim_customers_history":
                cur.execute(sqlfiles.read(f"gold_{table}.sql").format(s=schema), {"as_of": as_of})
            cur.execute(f"SELECT count(*) FROM {schema}.{table}")
            row = cur.fetchone()
            counts[table] = int(row[0]) if row else 0
            progress(f"  {table}: {counts[table]:,} rows")
    return counts


def swap(
    conn: Connection,
    schema: str,
    build_id: int,
    counts: dict[str, int],
    position: Position,
    lock_timeout: float,
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
            cur.execute(
                "UPDATE public.gold_build_log SET status = 'succeeded', step = 'done', "
                "finished_at = clock_timestamp(), row_counts = %s, max_commit_ts = %s, "
                "max_source_lsn = %s WHERE build_id = %s",
                (
                    json.dumps(counts, sort_keys=True),
                    position.max_commit_ts,
                    lsn_text(position.max_source_lsn),
                    build_id,
                ),
            )
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
