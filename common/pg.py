"""PostgreSQL connections whose failure is one line naming the database and the fix."""

from __future__ import annotations

from typing import Any

import psycopg2
import psycopg2.extensions

from common.errors import EcomError, TransientError, first_line


def connect(
    dsn: str, what: str, *, hint: str, error: type[EcomError] = TransientError, **options: Any
) -> psycopg2.extensions.connection:
    """``psycopg2.connect(dsn, **options)``; if the server cannot be reached or refuses,
    raise ``error`` "cannot connect to <what>: <the driver's first line>" with ``hint``."""
    try:
        return psycopg2.connect(dsn, **options)
    except psycopg2.OperationalError as exc:
        raise error(f"cannot connect to {what}: {first_line(exc)}", hint=hint) from exc
