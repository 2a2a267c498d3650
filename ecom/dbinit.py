"""`ecom db init`: the source schema, CDC plumbing, replication role, gold database,
gold loader role, and the schema registry's role and database.

Idempotent: every statement is CREATE ... IF NOT EXISTS or re-asserts state
(grants, ownership, publication membership), so it is safe to run on every deploy.

Who may do what (least privilege):

* the admin role (ECOM_PG_USER) owns both databases and runs this;
* the replication role (ECOM_REPLICATION_USER) may stream the WAL and read the six
  source tables, upsert the heartbeat and write signals; it cannot reach gold;
* the gold loader role (ECOM_GOLD_USER) may connect to the gold database only: it
  creates the staging schemas and owns the gold tables and ``gold_build_log``; it
  cannot connect to the source database (CONNECT is revoked from PUBLIC there);
* the schema registry's role (ECOM_REGISTRY_USER) owns its own database
  (ECOM_REGISTRY_DB) and may connect to nothing else (:func:`stack.registry.ensure_store`).
"""

from __future__ import annotations

import logging

from psycopg2 import sql

from common import pg
from common.progress import SILENT, Reporter
from common.settings import Settings
from compaction.configuration import STAGING_PREFIX
from compaction.gold import GOLD_TABLES
from schemas import CDC_SCHEMA, HEARTBEAT_TABLE, SIGNAL_TABLE, SOURCE_TABLES, read_sql
from stack.registry import ensure_store

log = logging.getLogger(__name__)


def _connect(settings: Settings, database: str):  # type: ignore[no-untyped-def]
    return pg.connect(
        settings.dsn(database), f"PostgreSQL at {settings.host}:{settings.pg_port}/{database}",
        hint="start the stack with `ecom stack up` (or check ECOM_PG_* settings)",
        connect_timeout=5,
    )  # fmt: skip


def _ensure_database(settings: Settings, name: str) -> bool:
    conn = _connect(settings, "postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def _ensure_replication_role(cur, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """A login with REPLICATION and read access only: what Debezium needs, nothing more.

    Besides SELECT on the six source tables it may upsert the heartbeat row and
    read/insert the signal table (Debezium writes incremental-snapshot watermarks).
    """
    role = sql.Identifier(settings.replication_user)
    _ensure_role(
        cur, settings.replication_user, settings.replication_password.get_secret_value(),
        "LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE",
    )  # fmt: skip
    db = sql.Identifier(settings.source_db)
    cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
    # Gold is for the loader and readers that are granted it, never the replicator.
    cur.execute(
        sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(settings.gold_db))
    )
    cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, role))
    cur.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    cur.execute(
        sql.SQL("GRANT USAGE ON SCHEMA public, {} TO {}").format(sql.Identifier(CDC_SCHEMA), role)
    )
    tables = sql.SQL(", ").join(sql.Identifier("public", t) for t in SOURCE_TABLES)
    cur.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(tables, role))
    cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(tables, role))
    hb = sql.Identifier(*HEARTBEAT_TABLE.split("."))
    sig = sql.Identifier(*SIGNAL_TABLE.split("."))
    cur.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(hb, role))
    cur.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(sig, role))


def _ensure_role(cur, name: str, password: str, options: str) -> None:  # type: ignore[no-untyped-def]
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    verb = "ALTER" if cur.fetchone() else "CREATE"
    cur.execute(
        sql.SQL("{} ROLE {} WITH " + options + " PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(name), sql.Literal(password)
        )
    )


def _ensure_gold_role(cur, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """The gold loader's login (run on the source database: roles are cluster-wide).

    It gets nothing on the source database; CONNECT there is revoked from PUBLIC by
    :func:`_ensure_replication_role`, and anything granted to it directly is revoked here.
    """
    _ensure_role(
        cur, settings.gold_user, settings.gold_password.get_secret_value(),
        "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
    )  # fmt: skip
    role = sql.Identifier(settings.gold_user)
    cur.execute(
        sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
            sql.Identifier(settings.source_db), role
        )
    )


def _grant_gold(settings: Settings) -> None:
    """In the gold database: CONNECT and CREATE (its staging schemas), USAGE and CREATE
    on ``public`` (the swap moves the new tables there), and ownership of the gold
    tables, ``gold_build_log`` and any staging schema left by an older version that
    built as the admin role."""
    role = sql.Identifier(settings.gold_user)
    conn = _connect(settings, settings.gold_db)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SET lock_timeout = '10s'")
            db = sql.Identifier(settings.gold_db)
            cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
            cur.execute(sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(db, role))
            cur.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
            cur.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(role))
            cur.execute(
                "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n "
                "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' "
                "AND c.relname = ANY(%s) AND pg_get_userbyid(c.relowner) <> %s",
                ([*GOLD_TABLES, "gold_build_log"], settings.gold_user),
            )
            for (table,) in cur.fetchall():
                cur.execute(
                    sql.SQL("ALTER TABLE {} OWNER TO {}").format(
                        sql.Identifier("public", table), role
                    )
                )
            cur.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s "
                "AND pg_get_userbyid(nspowner) <> %s",
                (STAGING_PREFIX.replace("_", r"\_") + "%", settings.gold_user),
            )
            for (schema,) in cur.fetchall():
                cur.execute(
                    sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), role)
                )
    finally:
        conn.close()


def _ensure_publication(cur, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """The publication holds the six tables plus heartbeat and signal tables.

    Created by us (the connector runs with publication.autocreate.mode=disabled)
    because creating one needs table ownership, which the replication role lacks.
    """
    wanted = [("public", t) for t in SOURCE_TABLES] + [
        tuple(HEARTBEAT_TABLE.split(".")),
        tuple(SIGNAL_TABLE.split(".")),
    ]
    ident_list = sql.SQL(", ").join(sql.Identifier(*t) for t in wanted)
    pub = sql.Identifier(settings.publication)
    cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (settings.publication,))
    if cur.fetchone() is None:
        cur.execute(
            sql.SQL(
                "CREATE PUBLICATION {} FOR TABLE {} WITH (publish = "
                "'insert, update, delete, truncate')"
            ).format(pub, ident_list)
        )
    else:
        cur.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(pub, ident_list))


def init(settings: Settings, progress: Reporter = SILENT) -> None:
    """Create or re-assert everything the source and gold databases need."""
    for db in (settings.source_db, settings.gold_db):
        if _ensure_database(settings, db):
            progress(f"created database {db}")
    conn = _connect(settings, settings.source_db)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SET lock_timeout = '10s'")
            progress(f"applying source schema to {settings.source_db}")
            cur.execute(read_sql("source.sql"))
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (id, beat_at) VALUES (1, now()) ON CONFLICT (id) DO NOTHING"
                ).format(sql.Identifier(*HEARTBEAT_TABLE.split(".")))
            )
            progress(f"replication role {settings.replication_user} (REPLICATION + SELECT)")
            _ensure_replication_role(cur, settings)
            progress(f"publication {settings.publication}")
            _ensure_publication(cur, settings)
            progress(f"gold loader role {settings.gold_user} (gold database only)")
            _ensure_gold_role(cur, settings)
    finally:
        conn.close()
    _grant_gold(settings)
    progress(f"schema registry role {settings.registry_user} (database {settings.registry_db} only)")
    if ensure_store(settings):
        progress(f"created database {settings.registry_db}")
    progress("database ready")
