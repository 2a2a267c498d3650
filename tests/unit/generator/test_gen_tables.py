"""Invariants of the generated seed tables (no database: built in memory)."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from generator.configuration import SeedConfig
from generator.pools import BAD_STATUSES, BAD_TRANSACTION_TYPES, CHANNELS, ORDER_STATUSES
from generator.seed import table_csv
from generator.tables import LEGACY_MISMATCH_RATE, SeedData, build
from schemas import PRIMARY_KEYS, SOURCE_TABLES

ANCHOR = dt.datetime(2025, 6, 1)


@pytest.fixture(scope="module")
def data() -> SeedData:
    return build(SeedConfig(scale=0.01, seed=11, dirty_rate=0.002, anchor=ANCHOR))


def col(data: SeedData, table: str, name: str) -> np.ndarray:
    return data.tables[table].column(name).to_numpy(zero_copy_only=False)


def strings(data: SeedData, table: str, name: str) -> list[str]:
    return data.tables[table].column(name).to_pylist()


def test_counts_match_scale(data: SeedData) -> None:
    expected = SeedConfig(scale=0.01, anchor=ANCHOR).counts
    assert {t: data.tables[t].num_rows for t in SOURCE_TABLES} == expected
    assert expected["order_items"] == 15_000


def test_primary_keys_dense_and_unique(data: SeedData) -> None:
    for table in SOURCE_TABLES:
        ids = col(data, table, PRIMARY_KEYS[table])
        assert np.array_equal(ids, np.arange(1, len(ids) + 1)), table


def test_foreign_keys_resolve(data: SeedData) -> None:
    n = {t: data.tables[t].num_rows for t in SOURCE_TABLES}
    cust = col(data, "orders", "customer_id")
    assert cust.min() >= 1 and cust.max() <= n["customers"]
    camp = data.tables["orders"].column("campaign_id")
    valid = pc.drop_null(camp).to_numpy()
    assert valid.min() >= 1 and valid.max() <= n["marketing_campaigns"]
    for table, fk, parent in [
        ("order_items", "order_id", "orders"),
        ("order_items", "product_id", "products"),
        ("inventory_transactions", "product_id", "products"),
    ]:
        v = col(data, table, fk)
        assert v.min() >= 1 and v.max() <= n[parent], (table, fk)
    # every order has at least one item
    assert len(np.unique(col(data, "order_items", "order_id"))) == n["orders"]


def test_unique_emails_and_skus_even_after_normalisation(data: SeedData) -> None:
    emails = strings(data, "customers", "email")
    assert len(set(emails)) == len(emails)
    assert len({e.strip().lower() for e in emails}) == len(emails)
    skus = strings(data, "products", "sku")
    assert len({s.strip().upper() for s in skus}) == len(skus)


def test_totals_equal_items_except_legacy_mismatches(data: SeedData) -> None:
    order = col(data, "order_items", "order_id")
    amount = np.rint(
        col(data, "order_items", "quantity") * col(data, "order_items", "unit_price") * 100
    )
    sums = np.bincount(order - 1, weights=amount)
    totals = np.rint(col(data, "orders", "total_amount") * 100)
    mismatched = int(np.sum(sums != totals))
    assert mismatched == data.legacy_mismatch_orders
    n = data.tables["orders"].num_rows
    assert 0 < mismatched < 3 * LEGACY_MISMATCH_RATE * n


def test_orders_after_registration_and_in_window(data: SeedData) -> None:
    reg = col(data, "customers", "registration_date")
    od = col(data, "orders", "order_date")
    cust = col(data, "orders", "customer_id")
    assert np.all(od >= reg[cust - 1])
    anchor = np.datetime64(ANCHOR)
    assert od.max() < anchor
    assert od.min() >= anchor - np.timedelta64(730, "D")
    upd = col(data, "orders", "updated_at")
    assert np.all(upd >= od) and np.all(upd < anchor)


def test_status_depends_on_age(data: SeedData) -> None:
    status = np.array([s.strip() for s in strings(data, "orders", "order_status")])
    age = np.datetime64(ANCHOR) - col(data, "orders", "order_date")
    old = age > np.timedelta64(60, "D")
    assert np.isin(status[old], ["Delivered", "Cancelled"] + list(BAD_STATUSES)).all()
    recent = age < np.timedelta64(2, "D")
    assert recent.sum() > 5
    assert not np.isin(status[recent], ["Delivered"]).any()
    assert np.isin(status[recent], ["Pending", "Processing", "Shipped"]).mean() > 0.5


def test_campaign_attribution_share_and_window(data: SeedData) -> None:
    camp = data.tables["orders"].column("campaign_id")
    share = 1 - camp.null_count / len(camp)
    assert 0.25 < share < 0.40
    mask = pc.is_valid(camp).to_numpy(zero_copy_only=False)
    ids = pc.drop_null(camp).to_numpy()
    day = col(data, "orders", "order_date")[mask].astype("datetime64[D]")
    start = col(data, "marketing_campaigns", "start_date")[ids - 1]
    end = col(data, "marketing_campaigns", "end_date")[ids - 1]
    assert np.all((start <= day) & (day <= end))
    all_start = col(data, "marketing_campaigns", "start_date")
    assert np.all(col(data, "marketing_campaigns", "end_date") >= all_start)


def test_stock_equals_valid_inventory_transactions(data: SeedData) -> None:
    types = np.array(
        [t.strip() for t in strings(data, "inventory_transactions", "transaction_type")]
    )
    qty = col(data, "inventory_transactions", "quantity")
    prod = col(data, "inventory_transactions", "product_id")
    delta = np.select([types == "IN", types == "OUT", types == "ADJUSTMENT"], [qty, -qty, qty], 0)
    n_p = data.tables["products"].num_rows
    expected = np.bincount(prod - 1, weights=delta, minlength=n_p).astype(np.int64)
    stock = col(data, "products", "stock_quantity")
    assert np.array_equal(stock, expected)
    assert stock.min() >= 0
    # the running stock of each product never dips below zero
    order = np.lexsort((col(data, "inventory_transactions", "transaction_date"), prod))
    p_sorted, d_sorted = prod[order], delta[order]
    for p in np.unique(p_sorted)[:200]:
        assert np.cumsum(d_sorted[p_sorted == p]).min() >= 0


def test_popularity_is_skewed(data: SeedData) -> None:
    units = np.bincount(col(data, "order_items", "product_id"))
    top = np.sort(units)[::-1]
    top_share = top[: max(1, len(top) // 100)].sum() / top.sum()
    assert top_share > 0.08  # top 1% of products sell well over 1% of units


def test_every_dirty_case_is_present(data: SeedData) -> None:
    status = strings(data, "orders", "order_status")
    assert any(s.strip() not in ORDER_STATUSES for s in status)
    assert any(s != s.strip() and s.strip() in ORDER_STATUSES for s in status)
    assert (col(data, "order_items", "quantity") <= 0).any()
    assert (col(data, "order_items", "unit_price") < 0).any()
    types = strings(data, "inventory_transactions", "transaction_type")
    assert any(t.strip() not in ("IN", "OUT", "ADJUSTMENT") for t in types)
    assert any(t != t.strip() and t.strip() in ("IN", "OUT", "ADJUSTMENT") for t in types)
    assert set(BAD_TRANSACTION_TYPES) & set(types)
    assert (col(data, "marketing_campaigns", "budget") < 0).any()
    channels = strings(data, "marketing_campaigns", "channel")
    assert any(c != c.strip() and c.strip() in CHANNELS for c in channels)
    emails = strings(data, "customers", "email")
    assert any(e != e.strip() for e in emails)
    assert any(e.strip() != e.strip().lower() for e in emails)
    for name in ("first_name", "last_name"):
        assert any(v != v.strip() for v in strings(data, "customers", name)), name
    skus = strings(data, "products", "sku")
    assert any(s != s.strip() for s in skus)
    assert any(s.strip() != s.strip().upper() for s in skus)
    assert any(c != c.strip() for c in strings(data, "products", "category"))


def test_each_dirty_case_forced_at_tiny_scale() -> None:
    tiny = build(SeedConfig(scale=0.0002, seed=3, dirty_rate=0.0001, anchor=ANCHOR))
    assert (col(tiny, "order_items", "quantity") <= 0).any()
    assert (col(tiny, "order_items", "unit_price") < 0).any()
    assert (col(tiny, "marketing_campaigns", "budget") < 0).any()
    assert any(s.strip() not in ORDER_STATUSES for s in strings(tiny, "orders", "order_status"))


def test_no_dirt_at_rate_zero() -> None:
    clean = build(SeedConfig(scale=0.002, seed=3, dirty_rate=0.0, anchor=ANCHOR))
    assert (col(clean, "order_items", "quantity") > 0).all()
    assert (col(clean, "order_items", "unit_price") > 0).all()
    assert all(s in ORDER_STATUSES for s in strings(clean, "orders", "order_status"))
    assert all(e == e.strip().lower() for e in strings(clean, "customers", "email"))


def _digest(data: SeedData) -> str:
    h = hashlib.sha256()
    for t in SOURCE_TABLES:
        h.update(table_csv(data.tables[t]))
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_differs() -> None:
    config = SeedConfig(scale=0.002, seed=5, anchor=ANCHOR)
    a, b = build(config), build(config)
    assert _digest(a) == _digest(b)
    assert _digest(build(SeedConfig(scale=0.002, seed=6, anchor=ANCHOR))) != _digest(a)
    shifted = build(SeedConfig(scale=0.002, seed=5, anchor=ANCHOR + dt.timedelta(days=1)))
    assert _digest(shifted) != _digest(a)


def test_csv_is_copy_ready() -> None:
    t = pa.table({"a": pa.array([1.5, 0.05, 12.0]), "s": pa.array(["x", None, 'q"'])})
    assert table_csv(t) == b'1.5,"x"\n0.05,\n12,"q"""\n'
