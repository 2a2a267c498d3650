"""Source database access shared by the seed loader and the live generator."""

from __future__ import annotations

import logging
import re

import psycopg2
import psycopg2.extensions

from common import pg
from generator.exceptions import SchemaMissingError, SourceUnavailableError
from schemas import PRIMARY_KEYS, SOURCE_TABLES

log = logging.getLogger(__name__)


def redact(dsn: str) -> str:
    """The DSN without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:****@", dsn)


def connect(
    dsn: str, *, application_name: str = "ecom-generator"
) -> psycopg2.extensions.connection:
    """Open a connection or raise :class:`SourceUnavailableError` with a hint."""
    return pg.connect(
        dsn, f"the source database {redact(dsn)}", error=SourceUnavailableError,
        hint="start the stack with `ecom stack up`, or check ECOM_PG_* settings",
        connect_timeout=10, application_name=application_name,
    )  # fmt: skip


def check_schema(conn: psycopg2.extensions.connection) -> None:
    """Raise :class:`SchemaMissingError` unless the six source tables exist."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT t, to_regclass('public.' || t) IS NOT NULL FROM unnest(%s::text[]) AS t",
            (list(SOURCE_TABLES),),
        )
        missing = [name for name, present in cur.fetchall() if not present]
    conn.rollback()
    if missing:
        raise SchemaMissingError(missing)


def reset_sequences(cur: psycopg2.extensions.cursor) -> None:
    """Set every SERIAL sequence after the highest id now in its table."""
    for table in SOURCE_TABLES:
        pk = PRIMARY_KEYS[table]
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('public.{table}', '{pk}'), "
            f"COALESCE(MAX({pk}), 1), MAX({pk}) IS NOT NULL) FROM public.{table}"
        )
