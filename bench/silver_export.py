"""BENCH-ONLY: write the silver change-log of a seeded source straight into the lake.

Not part of the pipeline, never used by it. It exists because a large silver change-log
cannot be produced through the stream in a benchmark's time (scale 10 = 23.6M rows
would need hours of Debezium + Faust on a 2-core machine), while the gold rebuild
benchmark needs one. What it writes is what the stream writes into the silver Delta
tables after an initial snapshot of the source (``snapshot.mode=initial``):

* one Delta table per source table, ``s3://<bucket>/<table>`` (``schemas.lake``),
  partitioned by ``commit_date``, with the columns and types of
  ``stream_apps.formats.silver_schema(table)``; each commit carries the stream's
  application transactions (app id per layer, CDC topic and partition; version = the
  last offset the commit holds), so a stream started afterwards on the same topics
  would skip these offsets;
* one record per source row, all with op ``r`` and ``snapshot`` true, like a
  Debezium snapshot read: ``source_lsn`` is the snapshot's consistent point (the WAL
  position when the export's REPEATABLE READ transaction started, the same for every
  row, as Debezium reports it), ``commit_lsn`` and ``tx_order`` are null (snapshot
  reads have no commit LSN or transaction order; readers order them before every
  streamed change), ``tx_id`` is the snapshot transaction's xmin, ``commit_ts`` the
  snapshot time; bronze coordinates are unique: ``bronze_partition`` is a hash of the
  primary key (like a keyed topic with ``ECOM`` partitions, default 6) and
  ``bronze_offset`` increases from 0 within each table and partition in read order;
* the contract's silver rules (section 2), applied in SQL exactly as
  ``stream_apps/rules.py`` applies them: trimmed names, lower-case email (then the
  ``ECOM_PII_EMAIL`` policy), upper-case SKU, trimmed status/type/channel; a row
  that breaks a quarantine rule becomes the stream's quarantine marker (op ``q``,
  ``is_delete`` true, every column but the key null);
* commits of ``rows_per_file`` rows (default 200,000, what the stream's flush of a
  snapshot backlog holds at most), one data file each.

Only the silver bucket is written: bronze stays empty.

Usage (the bench stack's environment, see bench/__main__.py):
    python -m bench.silver_export --yes [--rows-per-file N] [--bucket B]
It empties the target silver bucket (and the bronze bucket unless --keep-bronze) first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import psycopg2  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
from deltalake import CommitProperties, Transaction, WriterProperties, write_deltalake  # noqa: E402

from common.pii import EmailPolicy  # noqa: E402
from common.s3 import delta_storage_options  # noqa: E402
from common.settings import Settings  # noqa: E402
from schemas import PRIMARY_KEYS, SOURCE_TABLES, lake  # noqa: E402
from schemas.columns import COLUMNS  # noqa: E402
from stream_apps.formats import silver_schema  # noqa: E402

PARTITIONS = 6  # the CDC and silver topics' partition count (README: 6 partitions)
ORDER_STATUSES = ("Pending", "Processing", "Shipped", "Delivered", "Cancelled")
TRANSACTION_TYPES = ("IN", "OUT", "ADJUSTMENT")
_TS = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Normalised value of each column that the contract normalises (PostgreSQL trim():
#: spaces only, as stream_apps.rules.trim).
NORMALISE: dict[tuple[str, str], str] = {
    ("customers", "email"): "lower(trim(email))",
    ("customers", "first_name"): "trim(first_name)",
    ("customers", "last_name"): "trim(last_name)",
    ("products", "sku"): "upper(trim(sku))",
    ("products", "category"): "trim(category)",
    ("orders", "order_status"): "trim(order_status)",
    ("inventory_transactions", "transaction_type"): "trim(transaction_type)",
    ("marketing_campaigns", "channel"): "trim(channel)",
}


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


#: The quarantine rules (stream_apps.rules.quarantine_reason) on normalised values: a
#: NULL numeric never matches, a NULL status/type is not one of the allowed values.
QUARANTINE: dict[str, str] = {
    "order_items": "(quantity IS NOT NULL AND quantity <= 0) "
    "OR (unit_price IS NOT NULL AND unit_price < 0)",
    "orders": f"coalesce(trim(order_status) NOT IN ({_in_list(ORDER_STATUSES)}), true)",
    "inventory_transactions": "coalesce(trim(transaction_type) NOT IN "
    f"({_in_list(TRANSACTION_TYPES)}), true)",
    "marketing_campaigns": "budget IS NOT NULL AND budget < 0",
}


def select_sql(table: str) -> str:
    """The snapshot read of ``table``: op (``r``, or ``q`` for a quarantined row), then
    its columns, normalised, and null except the key in a quarantine marker."""
    pk = PRIMARY_KEYS[table]
    rule = QUARANTINE.get(table, "false")
    cols = [f"CASE WHEN {rule} THEN 'q' ELSE 'r' END AS op"]
    for c in COLUMNS[table]:
        expr = NORMALISE.get((table, c.name), c.name)
        cols.append(c.name if c.name == pk else f"CASE WHEN {rule} THEN NULL ELSE {expr} END")
    return f"SELECT {', '.join(cols)} FROM public.{table}"


def csv_types(table: str) -> dict[str, pa.DataType]:
    """CSV column types: the silver types, timestamps read naive (UTC wall clock)."""
    schema = silver_schema(table)
    out: dict[str, pa.DataType] = {"op": pa.string()}
    for c in COLUMNS[table]:
        t = schema.field(c.name).type
        out[c.name] = pa.timestamp("us") if pa.types.is_timestamp(t) else t
    return out


def partition_of(keys: np.ndarray, partitions: int = PARTITIONS) -> np.ndarray:
    """A stable hash partition of integer primary keys (Fibonacci hashing)."""
    h = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((h >> np.uint64(33)) % np.uint64(partitions)).astype(np.int32)


@dataclass(frozen=True)
class Snapshot:
    """The envelope values every row of one export shares (one Debezium snapshot)."""

    lsn: int
    tx_id: int
    ts: datetime  # aware UTC

    @property
    def ts_us(self) -> int:
        return (self.ts - _EPOCH) // timedelta(microseconds=1)


def silver_batch(
    table: str,
    data: pa.RecordBatch | pa.Table,
    snap: Snapshot,
    topic: str,
    partition: np.ndarray,
    offsets: np.ndarray,
    email: EmailPolicy | None = None,
) -> pa.Table:
    """Silver rows (``silver_schema(table)``) of the snapshot-read rows ``data`` (the
    columns of :func:`select_sql`, typed by :func:`csv_types`)."""
    schema = silver_schema(table)
    n = data.num_rows
    op = data.column("op")
    is_delete = pc.equal(op, "q")
    columns: dict[str, pa.Array] = {
        "op": op,
        "is_delete": is_delete,
        "source_lsn": pa.array(np.full(n, snap.lsn, dtype=np.int64)),
        "commit_lsn": pa.nulls(n, pa.int64()),
        "tx_id": pa.array(np.full(n, snap.tx_id, dtype=np.int64)),
        "tx_order": pa.nulls(n, pa.int64()),
        "commit_ts": pa.array(np.full(n, snap.ts_us, dtype=np.int64)).cast(_TS),
        "snapshot": pa.array(np.ones(n, dtype=bool)),
        "bronze_topic": pa.array([topic] * n, pa.string()),
        "bronze_partition": pa.array(partition.astype(np.int32)),
        "bronze_offset": pa.array(offsets.astype(np.int64)),
        lake.PARTITION_COLUMN: pa.array([snap.ts.date()] * n, pa.date32()),
    }
    for c in COLUMNS[table]:
        arr = data.column(c.name)
        want = schema.field(c.name).type
        if arr.type != want:
            arr = arr.cast(want)
        if email is not None and email.mode != "keep" and (table, c.name) == ("customers", "email"):
            arr = pa.array([email.apply(v) for v in arr.to_pylist()], pa.string())
        columns[c.name] = arr
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


@dataclass
class TableExport:
    rows: int = 0
    quarantined: int = 0
    files: int = 0


@dataclass
class ExportResult:
    snapshot: Snapshot
    bucket: str
    tables: dict[str, TableExport] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    def summary(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "seconds": round(self.seconds, 1),
            "snapshot_lsn": self.snapshot.lsn,
            "snapshot_tx_id": self.snapshot.tx_id,
            "snapshot_ts": self.snapshot.ts.isoformat(),
            "rows": self.rows,
            "files": sum(t.files for t in self.tables.values()),
            "tables": {k: vars(v) for k, v in self.tables.items()},
        }


class _DeltaWriter:
    """Appends one table's silver rows to its Delta table, a commit per ``rows_per_file``
    rows, each with the stream's app transactions of the partitions it holds."""

    def __init__(self, settings: Settings, bucket: str, table: str, topic: str) -> None:
        self.uri = lake.table_uri(bucket, table)
        self.topic = topic
        self.options = delta_storage_options(settings)
        self.pending: list[pa.Table] = []
        self.rows = 0
        self.commits = 0
        self.last: dict[int, int] = {}  # partition -> highest offset written

    def add(self, rows: pa.Table, rows_per_file: int) -> None:
        self.pending.append(rows)
        self.rows += rows.num_rows
        if self.rows >= rows_per_file:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        data = pa.concat_tables(self.pending)
        self.pending, self.rows = [], 0
        parts = data.column("bronze_partition").to_numpy()
        offs = data.column("bronze_offset").to_numpy()
        for p in np.unique(parts):
            self.last[int(p)] = max(self.last.get(int(p), -1), int(offs[parts == p].max()))
        write_deltalake(
            self.uri,
            data,
            mode="append",
            partition_by=[lake.PARTITION_COLUMN],
            storage_options=self.options,
            writer_properties=WriterProperties(compression="ZSTD"),
            commit_properties=CommitProperties(
                app_transactions=[
                    Transaction(lake.app_id(lake.SILVER, self.topic, p), v)
                    for p, v in sorted(self.last.items())
                ]
            ),
        )
        self.commits += 1


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object of ``bucket`` (creating it if missing); returns the count."""
    from minio.deleteobjects import DeleteObject

    if not s3.bucket_exists(bucket):
        s3.make_bucket(bucket)
        return 0
    names = [o.object_name for o in s3.list_objects(bucket, recursive=True)]
    errors = list(s3.remove_objects(bucket, (DeleteObject(n) for n in names)))
    if errors:
        raise RuntimeError(f"could not empty s3://{bucket}: {errors[0]}")
    return len(names)


def export(
    settings: Settings,
    *,
    bucket: str | None = None,
    rows_per_file: int = 200_000,
    partitions: int = PARTITIONS,
    scratch: Path | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> ExportResult:
    """Write the silver change-log of the source database into ``bucket`` (default: the
    settings' silver bucket), which should be empty. See the module docstring."""
    bucket = bucket or settings.silver_bucket
    email = EmailPolicy(settings.pii_email, settings.pii_salt.get_secret_value())
    t0 = time.monotonic()
    conn = psycopg2.connect(settings.source_dsn, options="-c timezone=UTC -c DateStyle=ISO")
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, "
                "pg_snapshot_xmin(pg_current_snapshot())::text::bigint, clock_timestamp()"
            )
            row = cur.fetchone()
            assert row is not None
            snap = Snapshot(int(row[0]), int(row[1]), row[2])
        result = ExportResult(snap, bucket)
        with tempfile.TemporaryDirectory(prefix="ecom-silver-export-", dir=scratch) as tmp:
            for table in SOURCE_TABLES:
                path = Path(tmp) / f"{table}.csv"
                t1 = time.monotonic()
                with conn.cursor() as cur, path.open("wb") as fh:
                    cur.copy_expert(f"COPY ({select_sql(table)}) TO STDOUT WITH (FORMAT csv)", fh)
                writer = _DeltaWriter(settings, bucket, table, settings.cdc_topic(table))
                stats = _export_table(
                    table, path, snap, settings.cdc_topic(table), rows_per_file,
                    partitions, email, writer,
                )  # fmt: skip
                path.unlink()
                result.tables[table] = stats
                log(
                    f"export {table}: {stats.rows:,} rows ({stats.quarantined:,} quarantine "
                    f"markers) in {stats.files:,} files, "
                    f"{time.monotonic() - t1:.1f}s"
                )
        conn.commit()
    finally:
        conn.close()
    result.seconds = time.monotonic() - t0
    return result


def _number_rows(
    part: np.ndarray, next_offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give each row the next offset of its partition (``next_offset`` advances): the rows'
    stable order by partition, the rows per partition, and each row's offset."""
    partitions = len(next_offset)
    order = np.argsort(part, kind="stable")
    counts = np.bincount(part, minlength=partitions)
    offsets = np.empty(len(part), dtype=np.int64)
    start = 0
    for p in range(partitions):
        n = int(counts[p])
        offsets[order[start : start + n]] = next_offset[p] + np.arange(n, dtype=np.int64)
        next_offset[p] += n
        start += n
    return order, counts, offsets


def _export_table(
    table: str,
    path: Path,
    snap: Snapshot,
    topic: str,
    rows_per_file: int,
    partitions: int,
    email: EmailPolicy,
    writer: _DeltaWriter,
) -> TableExport:
    stats = TableExport()
    types = csv_types(table)
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=list(types), block_size=8 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),  # fmt: skip
    )
    pk = PRIMARY_KEYS[table]
    next_offset = np.zeros(partitions, dtype=np.int64)
    for batch in reader:
        if batch.num_rows == 0:
            continue
        part = partition_of(batch.column(pk).to_numpy(zero_copy_only=False), partitions)
        _order, _counts, offsets = _number_rows(part, next_offset)
        writer.add(silver_batch(table, batch, snap, topic, part, offsets, email), rows_per_file)
        stats.rows += batch.num_rows
        stats.quarantined += int(pc.sum(pc.equal(batch.column("op"), "q")).as_py() or 0)
    writer.flush()
    stats.files = writer.commits
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--yes", action="store_true", help="empty the target buckets first")
    ap.add_argument("--bucket", default=None, help="silver bucket (default ECOM_SILVER_BUCKET)")
    ap.add_argument("--keep-bronze", action="store_true", help="do not empty the bronze bucket")
    ap.add_argument("--rows-per-file", type=int, default=200_000)
    args = ap.parse_args(argv)
    if not (args.yes or os.environ.get("ECOM_BENCH_YES") == "1"):
        print("error: this empties the silver (and bronze) bucket of the stack it runs on; "
              "pass --yes (bench stacks only)", file=sys.stderr)  # fmt: skip
        return 2
    from common.s3 import minio_client
    from common.settings import load

    settings = load()
    s3 = minio_client(settings)
    bucket = args.bucket or settings.silver_bucket
    removed = empty_bucket(s3, bucket)
    if not args.keep_bronze:
        removed += empty_bucket(s3, settings.bronze_bucket)
    print(f"emptied the lake: {removed:,} objects removed", flush=True)
    res = export(
        settings, bucket=bucket, rows_per_file=args.rows_per_file,
        log=lambda m: print(m, flush=True),
    )  # fmt: skip
    s = res.summary()
    print(f"silver change-log of {s['rows']:,} rows in {s['files']:,} files "
          f"written to s3://{bucket} in {s['seconds']}s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
