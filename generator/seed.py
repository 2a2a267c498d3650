"""`ecom generate seed`: bulk-load the six source tables with COPY, in one transaction."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions
import pyarrow as pa
import pyarrow.csv as pacsv

from common.errors import first_line
from generator import db
from generator.configuration import SeedConfig
from generator.exceptions import LoadError, NotEmptyError
from generator.tables import SeedData, build
from schemas import SOURCE_TABLES

log = logging.getLogger(__name__)

Reporter = Callable[[str], None]

_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, batch_size=65_536)
_COPY_BUFFER = 1 << 20


@dataclass(frozen=True)
class SeedResult:
    rows: dict[str, int]
    generate_seconds: float
    load_seconds: float
    truncated: bool
    legacy_mismatch_orders: int

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _silent(_: str) -> None:
    return None


def table_csv(table: pa.Table) -> bytes:
    """The table as headerless CSV (the format COPY ... CSV reads)."""
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, _CSV_OPTIONS)
    return buf.getvalue()


def copy_table(
    cur: psycopg2.extensions.cursor,
    name: str,
    table: pa.Table,
    batch_rows: int,
    progress: Reporter,
) -> None:
    """COPY ``table`` into ``public.<name>`` in batches of ``batch_rows`` rows."""
    columns = ", ".join(table.column_names)
    sql = f"COPY public.{name} ({columns}) FROM STDIN WITH (FORMAT csv)"
    total = table.num_rows
    done = 0
    while done < total:
        chunk = table.slice(done, batch_rows)
        cur.copy_expert(sql, io.BytesIO(table_csv(chunk)), size=_COPY_BUFFER)
        done += chunk.num_rows
        progress(f"{name}: {done:,}/{total:,} rows")


def row_counts(cur: psycopg2.extensions.cursor) -> dict[str, int]:
    """Whether each source table holds rows (1) or not (0): cheap on big tables."""
    counts = {}
    for table in SOURCE_TABLES:
        cur.execute(f"SELECT EXISTS (SELECT 1 FROM public.{table})")
        row = cur.fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def prepare(cur: psycopg2.extensions.cursor, truncate: bool, progress: Reporter) -> bool:
    """Refuse a non-empty database unless ``truncate``; returns whether it truncated."""
    counts = row_counts(cur)
    if not any(counts.values()):
        return False
    if not truncate:
        raise NotEmptyError(counts)
    tables = ", ".join(f"public.{t}" for t in SOURCE_TABLES)
    cur.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    progress("truncated the six source tables")
    return True


def load(
    dsn: str, config: SeedConfig, *, progress: Reporter = _silent, data: SeedData | None = None
) -> SeedResult:
    """Generate (unless ``data`` is given) and load every table in one transaction.

    On any failure the transaction is rolled back: the database is left as it was.
    """
    conn = db.connect(dsn, application_name="ecom-generate-seed")
    try:
        db.check_schema(conn)
        with conn.cursor() as cur:
            counts = row_counts(cur)
        conn.rollback()
        if any(counts.values()) and not config.truncate:
            raise NotEmptyError(counts)  # refuse before spending time generating
        t0 = time.monotonic()
        if data is None:
            progress(
                f"generating scale {config.scale} (seed {config.seed}, anchor {config.anchor})"
            )
            data = build(config)
        gen_s = time.monotonic() - t0
        rows = {t: data.tables[t].num_rows for t in SOURCE_TABLES}
        progress(f"generated {sum(rows.values()):,} rows in {gen_s:.1f}s")
        t1 = time.monotonic()
        try:
            with conn.cursor() as cur:
                truncated = prepare(cur, config.truncate, progress)
                for table in SOURCE_TABLES:
                    copy_table(cur, table, data.tables[table], config.batch_rows, progress)
                db.reset_sequences(cur)
            conn.commit()
        except psycopg2.Error as exc:
            conn.rollback()
            first = first_line(exc)
            raise LoadError(
                f"seed load failed and was rolled back, nothing was loaded: {first}",
                hint="check the source schema matches schemas/source.sql (`ecom db init`)",
            ) from exc
        except BaseException:
            conn.rollback()
            raise
        load_s = time.monotonic() - t1
        progress(f"loaded {sum(rows.values()):,} rows in {load_s:.1f}s (committed)")
        return SeedResult(
            rows=rows,
            generate_seconds=gen_s,
            load_seconds=load_s,
            truncated=truncated,
            legacy_mismatch_orders=data.legacy_mismatch_orders,
        )
    finally:
        conn.close()
