"""Least privilege and hostile input, against the real stack.

* the replication role reads the source and writes nothing but Debezium's own tables;
* the gold loader role cannot connect to the source database, and a rebuild (which
  connects as it) still works and leaves it owning the gold tables;
* the stream workers' MinIO user can put objects into the lake buckets and nothing
  more: no bucket creation or removal, no delete, no other bucket;
* names and dates from the command line or the environment that try to inject SQL are
  refused with one clear line, and nothing in either database changes.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg2
import pytest
from minio.error import S3Error
from psycopg2 import sql
from pydantic import SecretStr

from common.s3 import minio_client, stream_client
from common.settings import Settings
from compaction.gold import GOLD_TABLES
from schemas import SOURCE_TABLES

from .conftest import run_cli

AS_OF = datetime.now(UTC).date().isoformat()  # the as-of of test_gold.py: gold stays as built


def _as(settings: Settings, database: str, user: str, password: SecretStr) -> Any:
    return psycopg2.connect(settings.dsn(database, user=user, password=password), connect_timeout=5)


def _admin_query(dsn: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return list(cur.fetchall())
    finally:
        conn.close()


# ---------------------------------------------------------------- replication role
def test_replication_role_cannot_change_the_source(stack: Settings) -> None:
    conn = _as(stack, stack.source_db, stack.replication_user, stack.replication_password)
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE cdc.debezium_heartbeat SET beat_at = now() WHERE id = 1")
        conn.rollback()  # what Debezium needs works ...
        for statement in (  # ... and no change to a business table or the schema does
            "INSERT INTO public.orders (customer_id) VALUES (1)",
            "UPDATE public.customers SET email = 'x@example.com'",
            "DELETE FROM public.order_items",
            "TRUNCATE public.products",
            "ALTER TABLE public.orders ADD COLUMN sneaky int",
            "DROP TABLE public.marketing_campaigns",
            "CREATE TABLE cdc.sneaky (id int)",
            "CREATE SCHEMA sneaky",
            "DELETE FROM cdc.debezium_heartbeat",
        ):
            with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(statement)
            conn.rollback()
    finally:
        conn.close()


# ---------------------------------------------------------------- gold loader role
def test_gold_role_cannot_connect_to_the_source(stack: Settings) -> None:
    with pytest.raises(psycopg2.OperationalError, match="CONNECT privilege|permission denied"):
        _as(stack, stack.source_db, stack.gold_user, stack.gold_password).close()


def test_gold_role_has_no_privilege_on_the_source(stack: Settings) -> None:
    """Even if CONNECT were granted by mistake it could not write: no table privilege,
    no superuser, replication or role/database creation."""
    rows = _admin_query(
        stack.source_dsn,
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
        "has_database_privilege(rolname, current_database(), 'CONNECT, CREATE, TEMPORARY'), "
        "(SELECT count(*) FROM pg_auth_members WHERE member = r.oid) "
        "FROM pg_roles AS r WHERE rolname = %s",
        (stack.gold_user,),
    )
    assert rows == [(False, False, False, False, False, False, 0)]
    for table in SOURCE_TABLES:
        writable = _admin_query(
            stack.source_dsn,
            "SELECT has_table_privilege(%s, %s, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')",
            (stack.gold_user, f"public.{table}"),
        )
        assert writable == [(False,)], table


def test_gold_role_can_work_in_gold_only(stack: Settings) -> None:
    conn = _as(stack, stack.gold_db, stack.gold_user, stack.gold_password)
    conn.autocommit = True
    schema = f"gold_security_probe_{uuid.uuid4().hex[:8]}"
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            cur.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(schema)))
            for statement in ("CREATE DATABASE sneaky", "CREATE ROLE sneaky"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(statement)
    finally:
        conn.close()


def test_gold_rebuild_runs_as_the_gold_role(stack: Settings) -> None:
    res = run_cli("gold", "rebuild", "--as-of", AS_OF, timeout=600)
    assert res.returncode == 0, res.stderr
    owners = dict(
        _admin_query(
            stack.gold_dsn,
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename = ANY(%s)",
            ([*GOLD_TABLES, "gold_build_log"],),
        )
    )
    assert owners == {t: stack.gold_user for t in (*GOLD_TABLES, "gold_build_log")}
    last = _admin_query(
        stack.gold_dsn, "SELECT status FROM public.gold_build_log ORDER BY build_id DESC LIMIT 1"
    )
    assert last == [("succeeded",)]
    verify = run_cli("gold", "verify")  # gold side as the gold role, source as the admin
    out = verify.stdout + verify.stderr
    assert "reconciliation with the source" in verify.stdout, out
    assert "permission denied" not in out and "cannot connect" not in out, out


def test_db_init_hands_admin_built_gold_to_the_gold_role(stack: Settings) -> None:
    """Gold built by an older version (as the admin role) is handed over by `db init`,
    after which a rebuild can replace it and clean up the admin's staging schema."""
    with psycopg2.connect(stack.gold_dsn) as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE public.dim_customers OWNER TO CURRENT_USER")
        cur.execute("ALTER TABLE public.gold_build_log OWNER TO CURRENT_USER")
        cur.execute("CREATE SCHEMA IF NOT EXISTS gold_build_999999")
        cur.execute("CREATE TABLE IF NOT EXISTS gold_build_999999.cur_orders (id int)")
    conn.close()
    res = run_cli("gold", "rebuild", "--as-of", AS_OF, timeout=600)
    errors = [line for line in res.stderr.splitlines() if line.startswith("error")]
    assert res.returncode == 1 and len(errors) == 1, res.stderr
    assert f"gold loader role {stack.gold_user} lacks a privilege" in errors[0], res.stderr
    # the first statement that needs the admin-owned objects names them ("must be owner"
    # for DDL, "permission denied" when the build log is written first)
    assert "must be owner" in errors[0] or "permission denied" in errors[0], res.stderr
    assert "run `ecom db init`" in errors[0], res.stderr
    assert run_cli("db", "init").returncode == 0
    res = run_cli("gold", "rebuild", "--as-of", AS_OF, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "dropped staging schema gold_build_999999" in res.stderr, res.stderr
    owners = _admin_query(
        stack.gold_dsn,
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename = ANY(%s)",
        ([*GOLD_TABLES, "gold_build_log"],),
    )
    assert owners == [(stack.gold_user,)]


# ---------------------------------------------------------------- MinIO stream user
@pytest.fixture()
def other_bucket(stack: Settings) -> Iterator[str]:
    admin = minio_client(stack)
    name = f"not-the-lake-{uuid.uuid4().hex[:8]}"
    admin.make_bucket(name)
    try:
        yield name
    finally:
        for obj in admin.list_objects(name, recursive=True):
            admin.remove_object(name, obj.object_name or "")
        admin.remove_bucket(name)


def test_stream_workers_use_their_own_minio_user(stack: Settings) -> None:
    from stream_apps import configuration
    from stream_apps.app import build_landing

    landing = build_landing(configuration.load(stack))
    try:
        for destination in landing.destinations.values():
            key = destination.config.storage_options["AWS_ACCESS_KEY_ID"]  # type: ignore[attr-defined]
            assert key == stack.stream_s3_access_key != stack.s3_access_key
    finally:
        landing.close()


def test_stream_user_writes_the_lake_buckets_only(stack: Settings, other_bucket: str) -> None:
    s3 = stream_client(stack)
    admin = minio_client(stack)
    name = f"_tests/security-{uuid.uuid4().hex}.txt"
    try:
        for bucket in stack.buckets:
            s3.put_object(bucket, name, io.BytesIO(b"lake"), 4)
            resp = s3.get_object(bucket, name)
            try:
                assert resp.read() == b"lake"
            finally:
                resp.close()
                resp.release_conn()
        denied = {
            "make a bucket": lambda: s3.make_bucket(f"sneaky-{uuid.uuid4().hex[:8]}"),
            "remove a lake bucket": lambda: s3.remove_bucket(stack.bronze_bucket),
            "remove another bucket": lambda: s3.remove_bucket(other_bucket),
            "write another bucket": lambda: s3.put_object(other_bucket, name, io.BytesIO(b"x"), 1),
            "read another bucket": lambda: list(s3.list_objects(other_bucket)),
            "delete a lake object": lambda: s3.remove_object(stack.bronze_bucket, name),
            "set a bucket policy": lambda: s3.set_bucket_policy(stack.silver_bucket, "{}"),
        }
        for what, action in denied.items():
            with pytest.raises(S3Error) as err:
                action()
            assert err.value.code == "AccessDenied", f"{what}: {err.value.code}"
        assert admin.stat_object(stack.bronze_bucket, name).size == 4  # not deleted
        assert [o.object_name for o in admin.list_objects(other_bucket)] == []
    finally:
        for bucket in stack.buckets:
            admin.remove_object(bucket, name)


# ---------------------------------------------------------------- hostile input
HOSTILE = ('orders"; DROP TABLE x; --', "'; select 1; --")


@pytest.fixture()
def canaries(stack: Settings) -> Iterator[None]:
    """A table ``x`` with one row in both databases: what the injections try to drop."""
    for dsn in (stack.source_dsn, stack.gold_dsn):
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS public.x (id int)")
            cur.execute("TRUNCATE public.x")
            cur.execute("INSERT INTO public.x VALUES (1)")
        conn.close()
    try:
        yield
    finally:
        for dsn in (stack.source_dsn, stack.gold_dsn):
            with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
                cur.execute("DROP TABLE IF EXISTS public.x")
            conn.close()


def _snapshot(s: Settings) -> dict[str, Any]:
    counts = " UNION ALL ".join(
        f"SELECT '{t}', count(*) FROM public.{t}"  # noqa: S608 (fixed names)
        for t in (*SOURCE_TABLES, "x")
    )
    tables = (
        "SELECT schemaname, tablename, tableowner FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
    )
    return {
        "databases": _admin_query(s.source_dsn, "SELECT datname FROM pg_database ORDER BY 1"),
        "roles": _admin_query(s.source_dsn, "SELECT rolname FROM pg_roles ORDER BY 1"),
        "source tables": _admin_query(s.source_dsn, tables),
        "source rows": _admin_query(s.source_dsn, counts),
        "gold tables": _admin_query(s.gold_dsn, tables),
        "gold x": _admin_query(s.gold_dsn, "SELECT count(*) FROM public.x"),
        "builds": _admin_query(
            s.gold_dsn,
            "SELECT CASE WHEN to_regclass('public.gold_build_log') IS NULL THEN -1 "
            "ELSE (SELECT count(*) FROM public.gold_build_log) END",
        ),
    }


def _cases(hostile: str) -> list[tuple[list[str], dict[str, str], str]]:
    """(command, environment, fragment of the one-line error)."""
    return [
        (["gold", "rebuild", "--as-of", hostile], {}, "is not a date"),
        (["generate", "seed", "--anchor-date", hostile], {}, "is not a date"),
        (["replay", "--group", "ecom-stream", "--table", hostile, "--to-earliest", "--dry-run"], {},
         "unknown table"),
        (["replay", "--group", "ecom-stream", "--to-datetime", hostile, "--dry-run"], {},
         "bad --to-datetime"),
        (["kpi", hostile], {}, "unknown KPI"),
        (["stack", "logs", hostile], {}, "unknown component"),
        (["db", "init"], {"ECOM_SOURCE_DB": hostile}, "ECOM_SOURCE_DB="),
        (["db", "init"], {"ECOM_GOLD_DB": hostile}, "ECOM_GOLD_DB="),
        (["db", "init"], {"ECOM_REPLICATION_USER": hostile}, "ECOM_REPLICATION_USER="),
        (["db", "init"], {"ECOM_GOLD_USER": hostile}, "ECOM_GOLD_USER="),
        (["db", "init"], {"ECOM_PUBLICATION": hostile}, "ECOM_PUBLICATION="),
        (["gold", "rebuild"], {"ECOM_GOLD_DB": hostile}, "ECOM_GOLD_DB="),
        (["gold", "rebuild"], {"ECOM_SILVER_BUCKET": hostile}, "ECOM_SILVER_BUCKET="),
        (["gold", "verify"], {"ECOM_SOURCE_DB": hostile}, "ECOM_SOURCE_DB="),
    ]  # fmt: skip


@pytest.mark.parametrize("hostile", HOSTILE, ids=("double-quote", "single-quote"))
def test_hostile_names_and_dates_are_refused_and_change_nothing(
    stack: Settings, canaries: None, hostile: str
) -> None:
    before = _snapshot(stack)
    assert before["gold x"] == [(1,)]
    for args, env, fragment in _cases(hostile):
        res = run_cli(*args, env=env, timeout=120)
        where = f"ecom {' '.join(args)} with {env}"
        assert res.returncode in (1, 2), f"{where}: exit {res.returncode}\n{res.stderr}"
        errors = [line for line in res.stderr.splitlines() if line.startswith(("error", "ecom"))]
        assert any(fragment in line for line in errors), f"{where}: {res.stderr}"
        assert "Traceback" not in res.stderr, where
    assert _snapshot(stack) == before
