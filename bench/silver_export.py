"""BENCH-ONLY: write the silver change-log of a seeded source straight into the lake.

Not part of the pipeline, never used by it. It exists because a large silver change-log
cannot be produced through the stream in a benchmark's time (scale 10 = 23.6M rows
would need hours of Debezium + Faust on a 2-core machine), while the gold rebuild
benchmark needs one. What it writes is what the stream's silver sink would have
written after an initial snapshot of the source (``snapshot.mode=initial``), object
for object in the same layout and schema:

* objects ``<table>/dt=<commit date>/p=<partition>/<first>-<last>.parquet``
  (``schemas.lake.object_key``), Parquet with zstd and row groups of 100k rows, the
  columns and types of ``stream_apps.formats.silver_schema(table)`` (envelope, the
  table's columns, ``extra_json``);
* one record per source row, all with op ``r`` and ``snapshot`` true, like a
  Debezium snapshot read: ``source_lsn`` is the snapshot's consistent point (the WAL
  position when the export's REPEATABLE READ transaction started, the same for every
  row, as Debezium reports it), ``commit_lsn`` and ``tx_order`` are null (snapshot
  reads have no commit LSN or transaction order; readers order them before every
  streamed change), ``tx_id`` is the snapshot transaction's xmin, ``commit_ts`` the
  snapshot time; bronze coordinates are unique: ``bronze_partition`` is a hash of the
  primary key (like a keyed topic with ``ECOM`` partitions, default 6) and
  ``bronze_offset`` increases from 0 within each table and partition in read order.
  The object keys use the same partition and offsets (one silver record per CDC
  record, as the stream produces);
* the contract's silver rules (section 2), applied in SQL exactly as
  ``stream_apps/rules.py`` applies them: trimmed names, lower-case email (then the
  ``ECOM_PII_EMAIL`` policy), upper-case SKU, trimmed status/type/channel; a row
  that breaks a quarantine rule becomes the stream's quarantine marker (op ``q``,
  ``is_delete`` true, every column but the key null);
* objects of ``rows_per_object`` rows (default 1,000, about what one micro-batch of the
  stream lands per table and partition), so the rebuild's first compaction merges
  as many small objects as after a real snapshot.

Only the silver bucket is written: bronze stays empty, so a rebuild's compaction step
has no bronze objects to merge (the stream's snapshot would also leave bronze objects;
their compaction is not part of what a rebuild on this export measures).

Usage (the bench stack's environment, see bench/__main__.py):
    python -m bench.silver_export --yes [--rows-per-object N] [--bucket B]
It empties the target silver bucket (and the bronze bucket unless --keep-bronze) first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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
import pyarrow.parquet as pq  # noqa: E402

from common.pii import EmailPolicy  # noqa: E402
from common.settings import Settings  # noqa: E402
from schemas import PRIMARY_KEYS, SOURCE_TABLES, lake  # noqa: E402
from schemas.columns import COLUMNS  # noqa: E402
from stream_apps.formats import silver_schema  # noqa: E402

PARTITIONS = 6  # the CDC and silver topics' partition count (README: 6 partitions)
ROW_GROUP_SIZE = 100_000  # as the stream's silver sink writes
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
        "extra_json": pa.nulls(n, pa.string()),
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


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", row_group_size=ROW_GROUP_SIZE)
    return bytes(sink.getvalue().to_pybytes())


@dataclass
class TableExport:
    rows: int = 0
    quarantined: int = 0
    objects: int = 0
    bytes: int = 0


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
            "objects": sum(t.objects for t in self.tables.values()),
            "bytes": sum(t.bytes for t in self.tables.values()),
            "tables": {k: vars(v) for k, v in self.tables.items()},
        }


class _Uploader:
    """Puts objects with a few threads; at most ``2 * workers`` bodies in flight."""

    def __init__(self, s3: Any, bucket: str, workers: int) -> None:
        self.s3, self.bucket = s3, bucket
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.limit = 2 * workers
        self.pending: list[Future[None]] = []

    def put(self, key: str, body: bytes) -> None:
        import io

        def one() -> None:
            self.s3.put_object(
                self.bucket, key, io.BytesIO(body), len(body),
                content_type="application/vnd.apache.parquet",
            )  # fmt: skip

        self.pending.append(self.pool.submit(one))
        while len(self.pending) >= self.limit:
            self.pending.pop(0).result()  # raises the first failed put

    def close(self) -> None:
        try:
            for f in self.pending:
                f.result()
        finally:
            self.pool.shutdown(wait=True)


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
    rows_per_object: int = 1000,
    partitions: int = PARTITIONS,
    workers: int = 8,
    scratch: Path | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> ExportResult:
    """Write the silver change-log of the source database into ``bucket`` (default: the
    settings' silver bucket), which should be empty. See the module docstring."""
    from common.s3 import minio_client

    bucket = bucket or settings.silver_bucket
    s3 = minio_client(settings)
    email = EmailPolicy(settings.pii_email, settings.pii_salt.get_secret_value())
    t0 = time.monotonic()
    conn = psycopg2.connect(settings.source_dsn, options="-c timezone=UTC -c DateStyle=ISO")
    uploader = _Uploader(s3, bucket, workers)
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
        day = snap.ts.date()
        with tempfile.TemporaryDirectory(prefix="ecom-silver-export-", dir=scratch) as tmp:
            for table in SOURCE_TABLES:
                path = Path(tmp) / f"{table}.csv"
                t1 = time.monotonic()
                with conn.cursor() as cur, path.open("wb") as fh:
                    cur.copy_expert(f"COPY ({select_sql(table)}) TO STDOUT WITH (FORMAT csv)", fh)
                stats = _export_table(
                    table, path, snap, settings.cdc_topic(table), day, rows_per_object,
                    partitions, email, uploader,
                )  # fmt: skip
                path.unlink()
                result.tables[table] = stats
                log(
                    f"export {table}: {stats.rows:,} rows ({stats.quarantined:,} quarantine "
                    f"markers) in {stats.objects:,} objects, {stats.bytes / 1e6:,.1f} MB, "
                    f"{time.monotonic() - t1:.1f}s"
                )
        conn.commit()
    finally:
        try:
            uploader.close()
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
    day: Any,
    rows_per_object: int,
    partitions: int,
    email: EmailPolicy,
    uploader: _Uploader,
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
    buffers: list[list[pa.Table]] = [[] for _ in range(partitions)]
    buffered = np.zeros(partitions, dtype=np.int64)

    def flush(p: int, final: bool) -> None:
        if not buffers[p]:
            return
        data = pa.concat_tables(buffers[p])
        start = 0
        while data.num_rows - start >= rows_per_object or (final and start < data.num_rows):
            chunk = data.slice(start, rows_per_object)
            offs = chunk.column("bronze_offset")
            first, last = int(offs[0].as_py()), int(offs[-1].as_py())
            body = parquet_bytes(chunk)
            uploader.put(lake.object_key(table, day, p, first, last), body)
            stats.objects += 1
            stats.bytes += len(body)
            start += chunk.num_rows
        rest = data.slice(start)
        buffers[p] = [rest] if rest.num_rows else []
        buffered[p] = rest.num_rows

    for batch in reader:
        if batch.num_rows == 0:
            continue
        keys = batch.column(pk).to_numpy(zero_copy_only=False)
        part = partition_of(keys, partitions)
        order, counts, offsets = _number_rows(part, next_offset)
        rows = silver_batch(table, batch, snap, topic, part, offsets, email)
        rows = rows.take(pa.array(order))
        start = 0
        for p in range(partitions):
            n = int(counts[p])
            if n:
                buffers[p].append(rows.slice(start, n))
                buffered[p] += n
                if buffered[p] >= rows_per_object:
                    flush(p, final=False)
            start += n
        stats.rows += batch.num_rows
        stats.quarantined += int(pc.sum(pc.equal(batch.column("op"), "q")).as_py()
                                 or 0)  # fmt: skip
    for p in range(partitions):
        flush(p, final=True)
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--yes", action="store_true", help="empty the target buckets first")
    ap.add_argument("--bucket", default=None, help="silver bucket (default ECOM_SILVER_BUCKET)")
    ap.add_argument("--keep-bronze", action="store_true", help="do not empty the bronze bucket")
    ap.add_argument("--rows-per-object", type=int, default=1000)
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
        settings, bucket=bucket, rows_per_object=args.rows_per_object,
        log=lambda m: print(m, flush=True),
    )  # fmt: skip
    s = res.summary()
    print(f"silver change-log of {s['rows']:,} rows in {s['objects']:,} objects "
          f"({s['bytes'] / 1e6:,.1f} MB) written to s3://{bucket} in {s['seconds']}s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
