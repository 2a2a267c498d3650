"""Micro-benchmark: CPU time per change event of one batch's pure processing, record by
record (``pipeline.BatchProcessor``) against column-wise (``columnar.ColumnarProcessor``).

No services: batches of Debezium messages shaped like our connector's (decimals as
strings, timestamps as microseconds, dates as days, Debezium 3.6 source blocks) are
generated in memory, then each processor runs on the same batches. Two mixes:

* ``snapshot``: op ``r`` rows in the seed's proportions (order_items heavy);
* ``live``: creates, updates and deletes with their tombstones, transaction metadata,
  a few quarantined rows.

The column-wise figure is given with its silver Avro step as it is (fastavro row by
row) and without it (the records' bytes replaced by nothing), which is the share a
vectorised Avro encoder would leave. Figures are process CPU time (best of
``--repeat``), so other load on the machine inflates them less than wall time.

Usage: python -m bench.bench_columnar [--batch 10000] [--batches 3] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402

from bench.bench_avro import local_ids  # noqa: E402
from generator.configuration import BASE_COUNTS  # noqa: E402
from schemas import PRIMARY_KEYS  # noqa: E402
from schemas.avro import AvroRegistry  # noqa: E402
from stream_apps import configuration  # noqa: E402
from stream_apps.columnar import ColumnarProcessor  # noqa: E402
from stream_apps.pipeline import BatchProcessor, Msg, Processed  # noqa: E402

PREFIX = "ecom"
NOW_US = 1_795_843_872_254_467
#: Rows per table of the seed at scale 1 (the data contract).
SEED = BASE_COUNTS
#: (table, op) weights of live traffic.
LIVE = {
    ("orders", "c"): 20,
    ("orders", "u"): 25,
    ("orders", "d"): 2,
    ("order_items", "c"): 40,
    ("order_items", "d"): 5,
    ("inventory_transactions", "c"): 15,
    ("customers", "u"): 5,
    ("customers", "c"): 2,
    ("products", "u"): 5,
    ("marketing_campaigns", "u"): 1,
}
STATUSES = ("Pending", "Processing", "Shipped", "Delivered", "Cancelled")
NAMES = ("Anna", "Björn", "Chloé", "Dmitri", "Eve", "Fatima", "Gao", "Hugo", "Inès", "José")


def _money(rng: random.Random, high: int) -> str:
    cents = rng.randrange(0, high * 100)
    return f"{cents // 100}.{cents % 100:02d}"


def _row(rng: random.Random, table: str, pk: int) -> dict[str, Any]:
    ts = NOW_US - rng.randrange(0, 400 * 86_400_000_000)
    if table == "customers":
        first, last = rng.choice(NAMES), rng.choice(NAMES)
        return {"customer_id": pk, "email": f" {first}.{last}{pk}@Example.com ",
                "first_name": first, "last_name": f"{last} ",
                "customer_segment": rng.choice(("Premium", "Regular", "New")),
                "loyalty_tier": rng.choice(("Gold", "Silver", "Bronze", "None")),
                "registration_date": ts, "updated_at": ts}  # fmt: skip
    if table == "products":
        return {"product_id": pk, "product_name": f"Product {pk}", "sku": f" sku-{pk:08d}",
                "category": rng.choice(("Books", "Toys ", "Garden")), "price": _money(rng, 500),
                "stock_quantity": rng.randrange(-5, 1000), "updated_at": ts}  # fmt: skip
    if table == "marketing_campaigns":
        return {"campaign_id": pk, "campaign_name": f"Campaign {pk}",
                "channel": rng.choice(("EMAIL", "SMS", "SOCIAL", "DISPLAY", "SEARCH")),
                "budget": _money(rng, 100_000), "roi": f"{rng.randrange(-100, 900) / 100:.2f}",
                "start_date": 19_000 + pk % 900, "end_date": 19_100 + pk % 900}  # fmt: skip
    if table == "orders":
        return {"order_id": pk, "customer_id": rng.randrange(1, 100_000), "order_date": ts,
                "order_status": rng.choice(STATUSES), "total_amount": _money(rng, 2_000),
                "campaign_id": rng.choice((None, None, rng.randrange(1, 10_000))),
                "updated_at": ts}  # fmt: skip
    if table == "order_items":
        return {"order_item_id": pk, "order_id": pk // 3 + 1, "product_id": rng.randrange(1, 50_000),
                "quantity": rng.randrange(1, 6), "unit_price": _money(rng, 300)}  # fmt: skip
    return {"transaction_id": pk, "product_id": rng.randrange(1, 50_000),
            "transaction_type": rng.choice(("IN", "OUT", "ADJUSTMENT")),
            "quantity": rng.randrange(1, 100), "transaction_date": ts}  # fmt: skip


def _envelope(table: str, op: str, row: dict[str, Any], lsn: int, snapshot: bool) -> bytes:
    source = {
        "version": "3.6.1.Final", "connector": "postgresql", "name": PREFIX,
        "ts_ms": NOW_US // 1000, "snapshot": ("true" if snapshot else "false"),
        "db": "ecommerce_source", "sequence": json.dumps([str(lsn - 100), str(lsn)]).replace(" ", ""),
        "ts_us": NOW_US, "ts_ns": NOW_US * 1000, "schema": "public", "table": table,
        "txId": lsn // 1000, "lsn": lsn, "xmin": None, "origin": None, "origin_lsn": None,
    }  # fmt: skip
    doc = {
        "before": row if op in ("u", "d") else None,
        "after": row if op != "d" else None,
        "source": source,
        "transaction": None
        if snapshot
        else {"id": f"{lsn // 1000}:{lsn}", "total_order": lsn % 7 + 1, "data_collection_order": 1},
        "op": op,
        "ts_ms": NOW_US // 1000 + 5,
        "ts_us": NOW_US + 5000,
        "ts_ns": NOW_US * 1000 + 5_000_000,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _msg(table: str, offset: int, pk: int, value: bytes | None) -> Msg:
    key = json.dumps({PRIMARY_KEYS[table]: pk}, separators=(",", ":")).encode()
    return Msg(f"{PREFIX}.public.{table}", offset % 6, offset, NOW_US // 1000, key, value)


def snapshot_batch(rng: random.Random, size: int) -> list[Msg]:
    tables, weights = list(SEED), list(SEED.values())
    msgs = []
    for i in range(size):
        table = rng.choices(tables, weights)[0]
        pk = rng.randrange(1, SEED[table])
        msgs.append(_msg(table, i, pk, _envelope(table, "r", _row(rng, table, pk), 30_000_000 + i, True)))
    return msgs


def live_batch(rng: random.Random, size: int) -> list[Msg]:
    kinds, weights = list(LIVE), list(LIVE.values())
    msgs: list[Msg] = []
    while len(msgs) < size:
        table, op = rng.choices(kinds, weights)[0]
        pk = rng.randrange(1, SEED[table])
        row = _row(rng, table, pk)
        if table == "orders" and rng.random() < 0.01:
            row["order_status"] = "Lost"  # quarantined
        if table == "order_items" and rng.random() < 0.01:
            row["quantity"] = 0
        lsn = 40_000_000 + len(msgs) * 100
        msgs.append(_msg(table, len(msgs), pk, _envelope(table, op, row, lsn, False)))
        if op == "d":
            msgs.append(_msg(table, len(msgs), pk, None))  # its tombstone
    return msgs[:size]


def _cpu_us(fn: Callable[[], Processed], events: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best / events * 1e6


def _no_avro(registry: AvroRegistry, table: str, rows: pa.Table) -> list[bytes]:
    return [b""] * rows.num_rows


def measure(batches: list[list[Msg]], repeat: int) -> dict[str, float]:
    settings = configuration.load()
    at = datetime(2026, 11, 29, tzinfo=UTC)
    per_record = BatchProcessor(settings, AvroRegistry.from_package(local_ids), clock=lambda: at)
    columnar = ColumnarProcessor(settings, AvroRegistry.from_package(local_ids), clock=lambda: at)
    bare = ColumnarProcessor(
        settings, AvroRegistry.from_package(local_ids), clock=lambda: at, encoder=_no_avro
    )
    events = sum(len(b) for b in batches)
    for b in batches:  # same results, and every batch column-wise
        got = columnar.process(b)
        if got != per_record.process(b) or got.fallbacks:
            raise SystemExit(f"column-wise result differs or fell back: {dict(got.fallbacks)}")

    def each(p: Any) -> Callable[[], Processed]:
        return lambda: [p.process(b) for b in batches][-1]

    return {
        "record_by_record": _cpu_us(each(per_record), events, repeat),
        "columnar": _cpu_us(each(columnar), events, repeat),
        "columnar_without_avro": _cpu_us(each(bare), events, repeat),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=10_000, help="events per batch")
    parser.add_argument("--batches", type=int, default=3, help="batches per mix")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (best kept)")
    args = parser.parse_args(argv)
    rng = random.Random(14)
    print(f"CPU us per event, {args.batches} batches of {args.batch}, best of {args.repeat}")
    print(f"{'mix':<10} {'record by record':>17} {'column-wise':>12} {'w/o Avro':>9} {'speed-up':>9}")
    for mix, make in (("snapshot", snapshot_batch), ("live", live_batch)):
        batches = [make(rng, args.batch) for _ in range(args.batches)]
        r = measure(batches, args.repeat)
        print(
            f"{mix:<10} {r['record_by_record']:>17.1f} {r['columnar']:>12.1f} "
            f"{r['columnar_without_avro']:>9.1f} {r['record_by_record'] / r['columnar']:>8.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
