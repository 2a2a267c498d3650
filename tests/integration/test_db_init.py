"""`ecom db init` on the real Postgres: idempotent, least-privilege replication role."""

from __future__ import annotations

import psycopg2
import pytest

from common.settings import Settings
from schemas import SOURCE_TABLES

from .conftest import run_cli


def _replicator(settings: Settings) -> psycopg2.extensions.connection:
    return psycopg2.connect(
        settings.dsn(settings.source_db, user=settings.replication_user,
                     password=settings.replication_password)
    )


def test_init_is_idempotent(stack: Settings) -> None:
    for _ in range(2):
        res = run_cli("db", "init")
        assert res.returncode == 0, res.stderr
    with psycopg2.connect(stack.source_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT relname, relreplident FROM pg_class WHERE relname = ANY(%s)",
                    (list(SOURCE_TABLES),))
        ident = dict(cur.fetchall())
        cur.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = %s",
                    (stack.publication,))
        published = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (stack.gold_db,))
        gold = cur.fetchone()
    assert ident == {t: "f" for t in SOURCE_TABLES}  # REPLICA IDENTITY FULL
    assert set(SOURCE_TABLES) <= published
    assert {"debezium_heartbeat", "debezium_signal"} <= published
    assert gold == (1,)


def test_replication_role_can_read_but_not_write(stack: Settings) -> None:
    conn = _replicator(stack)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolreplication, rolsuper, rolcreatedb, rolcreaterole "
                        "FROM pg_roles WHERE rolname = current_user")
            assert cur.fetchone() == (True, False, False, False)
            for table in SOURCE_TABLES:
                cur.execute(f"SELECT count(*) FROM public.{table}")  # noqa: S608 (fixed names)
        conn.rollback()
        for statement in (
            "INSERT INTO customers (email) VALUES ('intruder@example.com')",
            "UPDATE products SET price = 0",
            "DELETE FROM orders",
            "TRUNCATE order_items",
            "CREATE TABLE public.sneaky (id int)",
        ):
            with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(statement)
            conn.rollback()
    finally:
        conn.close()


def test_replication_role_cannot_reach_gold(stack: Settings) -> None:
    with pytest.raises(psycopg2.OperationalError, match="permission denied|not permitted"):
        psycopg2.connect(stack.dsn(stack.gold_db, user=stack.replication_user,
                                   password=stack.replication_password)).close()


def test_registry_role_owns_its_database_and_reaches_no_other(stack: Settings) -> None:
    def dsn(db: str) -> str:
        return stack.dsn(db, user=stack.registry_user, password=stack.registry_password)

    with psycopg2.connect(dsn(stack.registry_db)) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication FROM pg_roles "
                    "WHERE rolname = current_user")  # fmt: skip
        assert cur.fetchone() == (False, False, False, False)
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                    (stack.registry_db,))  # fmt: skip
        assert cur.fetchone() == (stack.registry_user,)
    conn.close()
    for other in (stack.source_db, stack.gold_db):
        with pytest.raises(psycopg2.OperationalError, match="permission denied|not permitted"):
            psycopg2.connect(dsn(other)).close()
    with pytest.raises(psycopg2.OperationalError, match="permission denied|not permitted"):
        psycopg2.connect(stack.dsn(stack.registry_db, user=stack.gold_user,
                                   password=stack.gold_password)).close()  # fmt: skip
