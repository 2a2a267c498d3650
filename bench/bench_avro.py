"""Micro-benchmark of silver Avro encoding: fastavro record by record against the
column-wise encoder (schemas/avro_arrow.py), on the same synthetic silver rows.

No stack needed. For each shape (order_items, customers) and batch size it checks
that both paths give identical bytes, then times, per record:

* ``fastavro``: ``AvroRegistry.encode`` on each record dict (the Confluent header with
  the schema's cached registry id + ``schemaless_writer``), the per-record path;
* ``fastavro body``: ``schemaless_writer`` alone into a reused buffer;
* ``arrow``: ``AvroRegistry.encode_table`` on the batch's Arrow table (same framing);
* ``arrow body`` and ``+ frame``: bodies without a header, then the header prefixed
  by :func:`schemas.avro_arrow.frame` (the cost of framing as a separate step).

Building the Arrow table is not timed: the column-wise processor produces it anyway.
The schema registry is not involved: a worker asks it once per schema and keeps the
id, so ids here come from :func:`local_ids` (no I/O), as they would from that cache.
Times are the best of ``--repeat`` runs, as process CPU time and as wall-clock time
(on a machine shared with other work the CPU figure is the steadier one).

Usage: python -m bench.bench_avro [--rows 100,1000,10000] [--repeat 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from schemas import SOURCE_TABLES  # noqa: E402
from schemas.avro import AvroRegistry  # noqa: E402
from schemas.avro_arrow import TableEncoder, confluent_header, frame  # noqa: E402
from schemas.lake import PARTITION_COLUMN  # noqa: E402
from stream_apps import formats  # noqa: E402

FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Zoë", "José"]
LAST = ["Smith", "Nguyen", "Müller", "Okafor", "García", "Kowalski", "Rossi", "Tanaka"]
START = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def envelope(table: str, i: int, rnd: random.Random) -> dict[str, Any]:
    commit = START + timedelta(microseconds=i * 1733 + rnd.randrange(1000))
    return {
        "op": rnd.choice("ccccuuuur"),
        "is_delete": False,
        "source_lsn": 30_922_040 + 96 * i,
        "commit_lsn": 30_921_384 + 96 * i,
        "tx_id": 731 + i // 4,
        "tx_order": i % 4 + 1,
        "commit_ts": commit,
        "snapshot": False,
        "bronze_topic": f"ecom.public.{table}",
        "bronze_partition": i % 3,
        "bronze_offset": 1_000_000 + i // 3,
        PARTITION_COLUMN: commit.date(),
    }


def order_item(i: int, rnd: random.Random) -> dict[str, Any]:
    return {
        **envelope("order_items", i, rnd),
        "order_item_id": 500_000 + i,
        "order_id": 200_000 + i // 3,
        "product_id": rnd.randrange(1, 5_000),
        "quantity": rnd.randrange(1, 6),
        "unit_price": Decimal(rnd.randrange(100, 99_999)).scaleb(-2),
    }


def customer(i: int, rnd: random.Random) -> dict[str, Any]:
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    registered = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rnd.randrange(2 * 10**8))
    return {
        **envelope("customers", i, rnd),
        "customer_id": 10_000 + i,
        "email": f"{first.lower()}.{last.lower()}{i}@example.com",
        "first_name": first,
        "last_name": last,
        "customer_segment": rnd.choice(["Premium", "Regular", "New"]),
        "loyalty_tier": rnd.choice(["Gold", "Silver", "Bronze", None]),
        "registration_date": registered,
        "updated_at": START + timedelta(seconds=i),
    }


def local_ids(table: str, schema: dict[str, Any]) -> int:
    """A schema id without a registry: one per table and field count (every schema a
    benchmark uses differs in one or the other)."""
    return 100 * (SOURCE_TABLES.index(table) + 1) + len(schema["fields"])


SHAPES: dict[str, Callable[[int, random.Random], dict[str, Any]]] = {
    "order_items": order_item,
    "customers": customer,
}


def best_us(fn: Callable[[], Any], n: int, repeat: int) -> dict[str, float]:
    """Best wall time and best process CPU time of ``repeat`` calls, in µs per record."""
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"wall": min(wall) / n * 1e6, "cpu": min(cpu) / n * 1e6}


def measure(table: str, n: int, repeat: int) -> dict[str, Any]:
    rnd = random.Random(14)
    records = [SHAPES[table](i, rnd) for i in range(n)]
    arrow = formats.silver_table(table, records)
    reg = AvroRegistry.from_package(local_ids)
    _fp, schema = reg.latest(table)
    parsed = fastavro.parse_schema(schema)
    encoder = TableEncoder(schema)
    header = confluent_header(reg.schema_id(table))

    def fastavro_framed() -> list[bytes]:
        return [reg.encode(table, r) for r in records]

    def fastavro_bodies() -> list[bytes]:
        buf, out = io.BytesIO(), []
        for r in records:
            buf.seek(0)
            buf.truncate()
            fastavro.schemaless_writer(buf, parsed, r)
            out.append(buf.getvalue())
        return out

    if reg.encode_table(table, arrow) != fastavro_framed():
        raise SystemExit(f"{table}: the column-wise encoder's bytes differ from fastavro's")
    bodies = encoder.encode(arrow)
    return {
        "table": table,
        "rows": n,
        "bytes_per_record": round(sum(map(len, bodies)) / n, 1),
        "fastavro": best_us(fastavro_framed, n, repeat),
        "fastavro_body": best_us(fastavro_bodies, n, repeat),
        "arrow": best_us(lambda: reg.encode_table(table, arrow), n, repeat),
        "arrow_body": best_us(lambda: encoder.encode(arrow), n, repeat),
        "frame": best_us(lambda: frame(header, bodies), n, repeat),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="100,1000,10000", help="comma-separated batch sizes")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, help="also write the results to this file")
    args = ap.parse_args()
    results = [
        measure(table, int(n), args.repeat) for table in SHAPES for n in args.rows.split(",")
    ]
    print(f"python {platform.python_version()}, pyarrow {pa.__version__}")
    print("µs per record, best of the runs: process CPU time (wall clock in brackets)")
    cols = ("fastavro", "fastavro_body", "arrow", "arrow_body", "frame")
    print(f"{'table':<12} {'rows':>6} {'bytes':>6} " + " ".join(f"{c:>15}" for c in cols))
    for r in results:
        cells = " ".join(f"{r[c]['cpu']:>6.2f} ({r[c]['wall']:>6.2f})" for c in cols)
        ratio = r["fastavro"]["cpu"] / r["arrow"]["cpu"]
        print(f"{r['table']:<12} {r['rows']:>6} {r['bytes_per_record']:>6} {cells}  {ratio:.1f}x")
    if args.json:
        doc = {
            "command": "python -m bench.bench_avro " + " ".join(sys.argv[1:]),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "pyarrow": pa.__version__,
            "load_average_1m": os.getloadavg()[0],  # other work running on the machine
            "results": results,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
