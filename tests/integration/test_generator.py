"""`ecom generate seed|live` against the real source database of the local stack.

Each test seeds what it needs (always with --truncate: other tests share the
database), so they do not depend on their order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

from common.settings import Settings
from generator import SeedConfig, load_seed
from generator.tables import anchor_from_date
from schemas import PRIMARY_KEYS, SOURCE_TABLES

pytestmark = pytest.mark.integration

ANCHOR_DATE = "2025-06-01"
ANCHOR = anchor_from_date(dt.date.fromisoformat(ANCHOR_DATE))
VALID_STATUSES = ("Pending", "Processing", "Shipped", "Delivered", "Cancelled")


@pytest.fixture()
def source_db(stack: Settings) -> Iterator[str]:
    yield stack.source_dsn


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecom.cli", *args],
        capture_output=True, text=True, timeout=timeout, env=dict(os.environ, **(env or {})),
    )  # fmt: skip


def query(dsn: str, sql: str) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    conn.close()
    return rows


def scalar(dsn: str, sql: str) -> Any:
    return query(dsn, sql)[0][0]


def seed(dsn: str, scale: float, seed_value: int = 7, dirty: float = 0.002) -> None:
    load_seed(
        dsn,
        SeedConfig(scale=scale, seed=seed_value, dirty_rate=dirty, truncate=True, anchor=ANCHOR),
    )


def digest(dsn: str) -> str:
    """SHA-256 of every source table dumped in primary-key order."""
    h = hashlib.sha256()
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            for table in SOURCE_TABLES:
                buf = io.BytesIO()
                cur.copy_expert(
                    f"COPY (SELECT * FROM public.{table} ORDER BY {PRIMARY_KEYS[table]}) TO STDOUT",
                    buf,
                )
                h.update(table.encode() + buf.getvalue())
    finally:
        conn.close()
    return h.hexdigest()


def test_seed_counts_integrity_and_dirty_cases(source_db: str) -> None:
    done = cli("generate", "seed", "--scale", "0.01", "--seed", "3", "--dirty-rate", "0.002",
               "--anchor-date", ANCHOR_DATE, "--truncate")  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = SeedConfig(scale=0.01, anchor=ANCHOR).counts
    for table in SOURCE_TABLES:
        assert scalar(source_db, f"SELECT count(*) FROM public.{table}") == expected[table], table
        pk = PRIMARY_KEYS[table]
        # the SERIAL sequence continues after the explicit ids
        sequence = scalar(source_db, f"SELECT pg_get_serial_sequence('public.{table}', '{pk}')")
        seq = scalar(source_db, f"SELECT last_value FROM {sequence}")
        assert seq == expected[table], table
    orphans = scalar(source_db, """
        SELECT (SELECT count(*) FROM orders o LEFT JOIN customers c USING (customer_id) WHERE c.customer_id IS NULL)
             + (SELECT count(*) FROM order_items i LEFT JOIN orders o USING (order_id) WHERE o.order_id IS NULL)
             + (SELECT count(*) FROM order_items i LEFT JOIN products p USING (product_id) WHERE p.product_id IS NULL)
             + (SELECT count(*) FROM orders o LEFT JOIN marketing_campaigns m USING (campaign_id)
                WHERE o.campaign_id IS NOT NULL AND m.campaign_id IS NULL)
             + (SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.order_id))""")  # fmt: skip
    assert orphans == 0
    mismatched = scalar(source_db, """
        SELECT count(*) FROM orders o JOIN (SELECT order_id, sum(quantity * unit_price) AS s
                                            FROM order_items GROUP BY order_id) i USING (order_id)
        WHERE o.total_amount <> i.s""")  # fmt: skip
    assert 0 < mismatched < 0.015 * expected["orders"]  # ~0.5% legacy mismatches
    outside = scalar(source_db, """
        SELECT count(*) FROM orders o JOIN marketing_campaigns m USING (campaign_id)
        WHERE o.order_date::date NOT BETWEEN m.start_date AND m.end_date""")  # fmt: skip
    assert outside == 0
    stock_off = scalar(source_db, """
        SELECT count(*) FROM products p LEFT JOIN (
          SELECT product_id, sum(CASE btrim(transaction_type) WHEN 'IN' THEN quantity
                                 WHEN 'OUT' THEN -quantity WHEN 'ADJUSTMENT' THEN quantity ELSE 0 END) AS s
          FROM inventory_transactions GROUP BY product_id) t USING (product_id)
        WHERE p.stock_quantity <> COALESCE(t.s, 0) OR p.stock_quantity < 0""")  # fmt: skip
    assert stock_off == 0
    dirty = query(source_db, f"""
        SELECT
          (SELECT count(*) FROM orders WHERE btrim(order_status) NOT IN {VALID_STATUSES}),
          (SELECT count(*) FROM orders WHERE order_status <> btrim(order_status)
                                         AND btrim(order_status) IN {VALID_STATUSES}),
          (SELECT count(*) FROM order_items WHERE quantity <= 0),
          (SELECT count(*) FROM order_items WHERE unit_price < 0),
          (SELECT count(*) FROM inventory_transactions
           WHERE btrim(transaction_type) NOT IN ('IN', 'OUT', 'ADJUSTMENT')),
          (SELECT count(*) FROM inventory_transactions WHERE transaction_type <> btrim(transaction_type)),
          (SELECT count(*) FROM marketing_campaigns WHERE budget < 0),
          (SELECT count(*) FROM marketing_campaigns WHERE channel <> btrim(channel)),
          (SELECT count(*) FROM customers WHERE email <> lower(btrim(email))),
          (SELECT count(*) FROM customers WHERE first_name <> btrim(first_name)),
          (SELECT count(*) FROM customers WHERE last_name <> btrim(last_name)),
          (SELECT count(*) FROM products WHERE sku <> upper(btrim(sku))),
          (SELECT count(*) FROM products WHERE category <> btrim(category))""")[0]  # fmt: skip
    assert all(n > 0 for n in dirty), dirty
    assert (
        scalar(source_db, "SELECT count(DISTINCT lower(btrim(email))) FROM customers")
        == expected["customers"]
    )


def test_seed_same_seed_and_anchor_is_byte_identical(source_db: str) -> None:
    seed(source_db, 0.005, seed_value=11)
    first = digest(source_db)
    seed(source_db, 0.005, seed_value=11)
    assert digest(source_db) == first
    seed(source_db, 0.005, seed_value=12)
    assert digest(source_db) != first


def test_seed_refuses_non_empty_database_without_truncate(source_db: str) -> None:
    seed(source_db, 0.001)
    before = digest(source_db)
    done = cli("generate", "seed", "--scale", "0.001", "--anchor-date", ANCHOR_DATE)
    assert done.returncode == 1
    assert "--truncate" in done.stderr and "Traceback" not in done.stderr
    assert digest(source_db) == before


@pytest.mark.parametrize(("args", "needle"), [
    (("seed", "--scale", "0"), "--scale"),
    (("seed", "--scale", "-2"), "--scale"),
    (("live", "--rate", "0"), "--rate"),
])  # fmt: skip
def test_bad_options_one_line_error(stack: Settings, args: tuple[str, ...], needle: str) -> None:
    done = cli("generate", *args)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]


def test_unreachable_database_one_line_error(stack: Settings) -> None:
    done = cli("generate", "seed", "--scale", "0.001", env={"ECOM_PG_PORT": "1"})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot connect" in lines[0] and "ecom stack up" in lines[0]


def test_missing_schema_hints_db_init(stack: Settings) -> None:
    name = "ecom_generator_noschema_test"
    admin = psycopg2.connect(stack.dsn("postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
            cur.execute(f"CREATE DATABASE {name}")
        for args in (("seed", "--scale", "0.001"), ("live", "--duration", "1")):
            done = cli("generate", *args, env={"ECOM_SOURCE_DB": name})
            assert done.returncode == 1, done.stderr
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "run `ecom db init`" in lines[0]
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


ALL_CHANGE_KINDS = {
    "customers.insert", "customers.update",
    "products.insert", "products.update",
    "marketing_campaigns.insert", "marketing_campaigns.delete",
    "orders.insert", "orders.update", "orders.delete",
    "order_items.insert", "order_items.update", "order_items.delete",
    "inventory_transactions.insert",
}  # fmt: skip


def test_live_every_kind_of_change_and_clean_sigterm(source_db: str) -> None:
    seed(source_db, 0.005)
    max_order = scalar(source_db, "SELECT max(order_id) FROM orders")
    max_item = scalar(source_db, "SELECT max(order_item_id) FROM order_items")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecom.cli", "generate", "live", "--rate", "2000", "--seed", "5",
         "--dirty-rate", "0.05", "--report-every", "1", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(12)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["stopped_by"] == "signal"
    assert set(summary["changes"]) >= ALL_CHANGE_KINDS, summary["changes"]
    assert summary["rate_rows_per_s"] <= 2000 * 1.25
    assert summary["total_rows"] > 2000
    assert "row changes" in err  # periodic rate lines went to stderr
    # no half-applied business action: every order (dirty ones included) has items
    assert scalar(source_db, """SELECT count(*) FROM orders o
        WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.order_id)""") == 0  # fmt: skip
    new_orders = scalar(source_db, f"SELECT count(*) FROM orders WHERE order_id > {max_order}")
    assert new_orders > 0
    # live orders keep total = sum of items (they are recomputed on every edit)
    assert scalar(source_db, f"""
        SELECT count(*) FROM orders o JOIN (SELECT order_id, sum(quantity * unit_price) s
                                            FROM order_items GROUP BY order_id) i USING (order_id)
        WHERE o.order_id > {max_order} AND o.total_amount <> i.s""") == 0  # fmt: skip
    assert (
        scalar(source_db, f"SELECT count(*) FROM order_items WHERE order_item_id > {max_item}") > 0
    )
    moved = scalar(source_db, f"""SELECT count(*) FROM orders WHERE order_id > {max_order}
        AND btrim(order_status) IN ('Processing', 'Shipped', 'Delivered', 'Cancelled')""")  # fmt: skip
    assert moved > 0


def test_live_on_empty_database_creates_customers_and_products(source_db: str) -> None:
    with psycopg2.connect(source_db) as conn, conn.cursor() as cur:
        tables = ", ".join(f"public.{t}" for t in SOURCE_TABLES)
        cur.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    conn.close()
    done = cli("generate", "live", "--rate", "1000", "--duration", "3", "--seed", "2", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["stopped_by"] == "duration"
    assert summary["changes"]["products.insert"] > 0
    assert summary["changes"]["customers.insert"] > 0
    assert summary["changes"]["orders.insert"] > 0
    assert scalar(source_db, "SELECT count(*) FROM orders") > 0
    assert scalar(source_db, "SELECT count(*) FROM order_items") > 0


def test_failed_seed_load_leaves_database_unchanged(source_db: str) -> None:
    import pyarrow as pa

    from generator.exceptions import LoadError
    from generator.tables import build

    seed(source_db, 0.001)
    before = digest(source_db)
    config = SeedConfig(scale=0.002, seed=1, truncate=True, anchor=ANCHOR)
    data = build(config)
    items = data.tables["order_items"]
    # a dangling product id in the LAST item row: the FK fails late in the load
    bad_product = pa.array([*items.column("product_id").to_pylist()[:-1], 10**9])
    data.tables["order_items"] = items.set_column(2, "product_id", bad_product)
    with pytest.raises(LoadError, match="rolled back"):
        load_seed(source_db, config, data=data)
    assert digest(source_db) == before  # the TRUNCATE was rolled back too
