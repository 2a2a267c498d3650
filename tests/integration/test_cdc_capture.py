"""Debezium captures every insert, update and delete of the six source tables.

Each test inserts its own rows (distinctive values), changes them, and finds the
resulting events on ``<prefix>.public.<table>`` by primary key (other tests may
write to the same tables at the same time). Values are checked exactly: decimals
as strings, TIMESTAMP as microseconds since epoch, DATE as days since epoch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg2
import psycopg2.extras
import pytest
from psycopg2 import sql

from common.settings import Settings
from schemas import PRIMARY_KEYS, SOURCE_TABLES
from tests.integration.cdc_tap import (
    CdcEvent,
    CdcTap,
    days_to_date,
    micros_to_datetime,
    ops_of,
    row_to_debezium,
)

LEAP_TS = "2024-02-29 23:59:59.123456"
LEAP_DT = datetime(2024, 2, 29, 23, 59, 59, 123456)
PRE_EPOCH_TS = "1969-12-31 23:59:59.999999"
PRE_EPOCH_DT = datetime(1969, 12, 31, 23, 59, 59, 999999)


# --------------------------------------------------------------------------- helpers
def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _xid(cur: Any) -> int:
    """The 32-bit transaction id of the current transaction (Debezium's ``source.txId``)."""
    cur.execute("SELECT txid_current() % 4294967296 AS xid")
    row = cur.fetchone()
    return int(row["xid"] if isinstance(row, dict) else row[0])


def _insert(conn: Any, table: str, values: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """INSERT one row in its own transaction; return the row as stored and the xid."""
    with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        xid = _xid(cur)
        cur.execute(
            sql.SQL("INSERT INTO public.{} ({}) VALUES ({}) RETURNING *").format(
                sql.Identifier(table),
                sql.SQL(", ").join(sql.Identifier(c) for c in values),
                sql.SQL(", ").join(sql.Placeholder() for _ in values),
            ),
            list(values.values()),
        )
        row = dict(cur.fetchone())
    return row, xid


def _update(conn: Any, table: str, pk: int, values: dict[str, Any]) -> tuple[dict[str, Any], int]:
    col = PRIMARY_KEYS[table]
    with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        xid = _xid(cur)
        cur.execute(
            sql.SQL("UPDATE public.{} SET {} WHERE {} = %s RETURNING *").format(
                sql.Identifier(table),
                sql.SQL(", ").join(
                    sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder())
                    for c in values
                ),
                sql.Identifier(col),
            ),
            [*values.values(), pk],
        )
        got = cur.fetchone()
        assert got is not None, f"{table} {col}={pk} vanished before the update"
        row = dict(got)
    return row, xid


def _delete(conn: Any, table: str, pk: int) -> int:
    col = PRIMARY_KEYS[table]
    with conn, conn.cursor() as cur:
        xid = _xid(cur)
        cur.execute(
            sql.SQL("DELETE FROM public.{} WHERE {} = %s").format(
                sql.Identifier(table), sql.Identifier(col)
            ),
            (pk,),
        )
        assert cur.rowcount == 1, f"{table} {col}={pk} vanished before the delete"
    return xid


def _assert_envelope(ev: CdcEvent, table: str, pk: int, op: str, xid: int) -> None:
    col = PRIMARY_KEYS[table]
    assert ev.key == {col: pk}
    assert ev.op == op
    src = ev.source
    assert src["schema"] == "public"
    assert src["table"] == table
    assert src["snapshot"] in ("false", False), src["snapshot"]
    assert src["txId"] == xid, (src["txId"], xid)
    assert isinstance(src["lsn"], int) and src["lsn"] > 0
    assert isinstance(src["ts_us"], int) and src["ts_us"] > 0
    tx = ev.transaction
    assert tx is not None, "provide.transaction.metadata=true must fill `transaction`"
    assert str(tx["id"]).startswith(f"{xid}:"), tx
    assert tx["total_order"] >= 1 and tx["data_collection_order"] >= 1


def _assert_exact_types(image: dict[str, Any], row: dict[str, Any]) -> None:
    """Column by column: decimals are exact strings, TIMESTAMP/DATE round-trip exactly."""
    assert set(image) == set(row)
    for col, pg_value in row.items():
        got = image[col]
        if pg_value is None:
            assert got is None, col
        elif isinstance(pg_value, Decimal):
            assert isinstance(got, str), f"{col}: decimal must arrive as a string, got {got!r}"
            assert got == str(pg_value), (col, got, pg_value)
            assert Decimal(got) == pg_value
        elif isinstance(pg_value, datetime):
            assert isinstance(got, int), f"{col}: TIMESTAMP must be int micros, got {got!r}"
            assert micros_to_datetime(got) == pg_value, (col, got, pg_value)
        elif isinstance(pg_value, date):
            assert isinstance(got, int), f"{col}: DATE must be int days, got {got!r}"
            assert days_to_date(got) == pg_value, (col, got, pg_value)
        else:
            assert got == pg_value, (col, got, pg_value)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def conn(capture: Settings) -> Iterator[Any]:
    c = psycopg2.connect(capture.source_dsn)
    try:
        yield c
    finally:
        c.close()


@dataclass
class Parents:
    """Parent rows this module owns (the FK targets of the child tables)."""

    customer_id: int
    product_id: int
    campaign_id: int
    order_id: int
    tag: str
    cleanup: list[tuple[str, int]] = field(default_factory=list)


@pytest.fixture(scope="module")
def parents(conn: Any) -> Iterator[Parents]:
    tag = _tag()
    cust, _ = _insert(conn, "customers", {"email": f"cdc-parent-{tag}@example.test"})
    prod, _ = _insert(conn, "products", {"product_name": f"cdc parent {tag}",
                                         "sku": f"CDC-PARENT-{tag}", "price": "1.00"})
    camp, _ = _insert(conn, "marketing_campaigns", {"campaign_name": f"cdc parent {tag}",
                                                    "channel": "EMAIL"})
    order, _ = _insert(conn, "orders", {"customer_id": cust["customer_id"],
                                        "order_status": "Pending"})
    p = Parents(cust["customer_id"], prod["product_id"], camp["campaign_id"],
                order["order_id"], tag)
    try:
        yield p
    finally:
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM public.inventory_transactions WHERE product_id = %s",
                        (p.product_id,))
            cur.execute("DELETE FROM public.orders WHERE customer_id = %s OR campaign_id = %s",
                        (p.customer_id, p.campaign_id))
            cur.execute("DELETE FROM public.order_items WHERE product_id = %s", (p.product_id,))
            cur.execute("DELETE FROM public.customers WHERE customer_id = %s", (p.customer_id,))
            cur.execute("DELETE FROM public.products WHERE product_id = %s", (p.product_id,))
            cur.execute("DELETE FROM public.marketing_campaigns WHERE campaign_id = %s",
                        (p.campaign_id,))


# --------------------------------------------------------------------------- table cases
@dataclass(frozen=True)
class Case:
    table: str
    insert: Callable[[Parents], dict[str, Any]]
    update: Callable[[Parents], dict[str, Any]]
    # literal Debezium values expected in `after` of the create / update event
    expect_insert: dict[str, Any]
    expect_update: dict[str, Any]


CASES: dict[str, Case] = {
    "customers": Case(
        "customers",
        insert=lambda p: {
            "email": f"CDC-Cust-{_tag()}@Example.Test ", "first_name": "  Zoë ",
            "last_name": None, "customer_segment": "Premium", "loyalty_tier": "Gold",
            "registration_date": LEAP_TS, "updated_at": "2000-01-01 00:00:00",
        },
        update=lambda p: {
            "loyalty_tier": "Silver", "customer_segment": " regular",
            "last_name": "O'Brien", "registration_date": PRE_EPOCH_TS,
            "updated_at": "2024-03-01 00:00:00.000001",
        },
        expect_insert={"first_name": "  Zoë ", "last_name": None, "loyalty_tier": "Gold",
                       "registration_date": 1709251199123456, "updated_at": 946684800000000},
        expect_update={"loyalty_tier": "Silver", "customer_segment": " regular",
                       "last_name": "O'Brien", "registration_date": -1,
                       "updated_at": 1709251200000001},
    ),
    "products": Case(
        "products",
        insert=lambda p: {
            "product_name": "CDC widget", "sku": f"cdc-{_tag()}", "category": " Electronics",
            "price": "12.30", "stock_quantity": 7, "updated_at": LEAP_TS,
        },
        update=lambda p: {"price": "99999999.99", "stock_quantity": -3, "category": None},
        expect_insert={"price": "12.30", "stock_quantity": 7, "category": " Electronics",
                       "updated_at": 1709251199123456},
        expect_update={"price": "99999999.99", "stock_quantity": -3, "category": None},
    ),
    "marketing_campaigns": Case(
        "marketing_campaigns",
        insert=lambda p: {
            "campaign_name": f"CDC campaign {_tag()}", "channel": "EMAIL",
            "budget": "0.01", "roi": "-12.50", "start_date": "2024-02-29",
            "end_date": "2024-12-31",
        },
        update=lambda p: {"budget": "9999999999.99", "roi": "999999.99", "channel": "sms ",
                          "start_date": "1969-12-31", "end_date": None},
        expect_insert={"budget": "0.01", "roi": "-12.50", "start_date": 19782,
                       "end_date": 20088},
        expect_update={"budget": "9999999999.99", "roi": "999999.99", "channel": "sms ",
                       "start_date": -1, "end_date": None},
    ),
    "orders": Case(
        "orders",
        insert=lambda p: {
            "customer_id": p.customer_id, "order_date": LEAP_TS, "order_status": "Pending",
            "total_amount": "9999999999.99", "campaign_id": p.campaign_id,
            "updated_at": LEAP_TS,
        },
        update=lambda p: {"order_status": "Shipped", "total_amount": "0.00",
                          "campaign_id": None, "updated_at": "2024-03-01 00:00:00"},
        expect_insert={"total_amount": "9999999999.99", "order_status": "Pending",
                       "order_date": 1709251199123456},
        expect_update={"total_amount": "0.00", "order_status": "Shipped", "campaign_id": None,
                       "updated_at": 1709251200000000},
    ),
    "order_items": Case(
        "order_items",
        insert=lambda p: {"order_id": p.order_id, "product_id": p.product_id,
                          "quantity": 3, "unit_price": "12.30"},
        update=lambda p: {"quantity": 0, "unit_price": "-0.05"},
        expect_insert={"quantity": 3, "unit_price": "12.30"},
        expect_update={"quantity": 0, "unit_price": "-0.05"},
    ),
    "inventory_transactions": Case(
        "inventory_transactions",
        insert=lambda p: {"product_id": p.product_id, "transaction_type": "IN",
                          "quantity": 5, "transaction_date": LEAP_TS},
        update=lambda p: {"transaction_type": "ADJUSTMENT", "quantity": -2,
                          "transaction_date": "2024-03-01 00:00:00.5"},
        expect_insert={"transaction_type": "IN", "quantity": 5,
                       "transaction_date": 1709251199123456},
        expect_update={"transaction_type": "ADJUSTMENT", "quantity": -2,
                       "transaction_date": 1709251200500000},
    ),
}


def test_cases_cover_every_source_table() -> None:
    assert set(CASES) == set(SOURCE_TABLES)


@pytest.mark.parametrize("table", list(SOURCE_TABLES))
def test_insert_update_delete_are_captured(table: str, capture: Settings, conn: Any,
                                           parents: Parents) -> None:
    case = CASES[table]
    col = PRIMARY_KEYS[table]
    with CdcTap(capture, [table]) as tap:
        row_c, xid_c = _insert(conn, table, case.insert(parents))
        pk = row_c[col]
        row_u, xid_u = _update(conn, table, pk, case.update(parents))
        xid_d = _delete(conn, table, pk)
        tap.wait_for(table, pk, lambda evs: len(evs) >= 4)
        tap.settle(1.0)  # nothing else may follow for this key
        evs = tap.events(table, pk)

    assert ops_of(evs) == ["c", "u", "d", None], [(e.op, e.offset) for e in evs]
    create, update, delete, tomb = evs
    # one key -> one partition, in commit order
    assert len({e.partition for e in evs}) == 1
    assert [e.offset for e in evs] == sorted(e.offset for e in evs)

    # create
    _assert_envelope(create, table, pk, "c", xid_c)
    assert create.before is None
    assert create.after == row_to_debezium(row_c)
    _assert_exact_types(create.after, row_c)
    for k, v in case.expect_insert.items():
        assert create.after[k] == v, (k, create.after[k], v)

    # update: full before-image thanks to REPLICA IDENTITY FULL
    _assert_envelope(update, table, pk, "u", xid_u)
    assert update.before == row_to_debezium(row_c)
    assert update.after == row_to_debezium(row_u)
    _assert_exact_types(update.after, row_u)
    for k, v in case.expect_update.items():
        assert update.after[k] == v, (k, update.after[k], v)

    # delete: after is null, before is the full last row
    _assert_envelope(delete, table, pk, "d", xid_d)
    assert delete.after is None
    assert delete.before == row_to_debezium(row_u)
    _assert_exact_types(delete.before, row_u)

    # tombstone: same key, null value, right after the delete
    assert tomb.is_tombstone
    assert tomb.key == {col: pk}
    assert tomb.offset > delete.offset

    assert create.source["lsn"] < update.source["lsn"] < delete.source["lsn"]


def test_timestamp_round_trips_to_the_microsecond(capture: Settings, conn: Any,
                                                  parents: Parents) -> None:
    with CdcTap(capture, ["inventory_transactions"]) as tap:
        row, _ = _insert(conn, "inventory_transactions", {
            "product_id": parents.product_id, "transaction_type": "OUT", "quantity": 1,
            "transaction_date": LEAP_TS,
        })
        pk = row["transaction_id"]
        try:
            (ev,) = tap.wait_for("inventory_transactions", pk, lambda evs: len(evs) >= 1)
        finally:
            _delete(conn, "inventory_transactions", pk)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT %s::timestamp", (LEAP_TS,))
        pg_value = cur.fetchone()[0]
    micros = ev.after["transaction_date"]
    assert isinstance(micros, int)
    assert micros_to_datetime(micros) == pg_value == LEAP_DT
    assert row["transaction_date"] == LEAP_DT


def test_decimals_arrive_as_exact_strings(capture: Settings, conn: Any,
                                          parents: Parents) -> None:
    """Values a float cannot hold exactly keep every digit and their scale."""
    amounts = ["9999999999.99", "0.10", "1234567890.07", "-0.01"]
    with CdcTap(capture, ["orders"]) as tap:
        pks = []
        for amount in amounts:
            row, _ = _insert(conn, "orders", {"customer_id": parents.customer_id,
                                              "order_status": "Pending",
                                              "total_amount": amount})
            pks.append(row["order_id"])
        try:
            got = [tap.wait_for("orders", pk, lambda evs: len(evs) >= 1)[0].after["total_amount"]
                   for pk in pks]
        finally:
            for pk in pks:
                _delete(conn, "orders", pk)
    assert got == amounts
    assert [Decimal(g) for g in got] == [Decimal(a) for a in amounts]


def test_cascade_delete_emits_a_delete_per_item(capture: Settings, conn: Any,
                                                parents: Parents) -> None:
    with CdcTap(capture, ["orders", "order_items"]) as tap:
        order, _ = _insert(conn, "orders", {
            "customer_id": parents.customer_id, "order_date": LEAP_TS,
            "order_status": "Pending", "total_amount": "36.90",
        })
        oid = order["order_id"]
        items = [
            _insert(conn, "order_items", {"order_id": oid, "product_id": parents.product_id,
                                          "quantity": q, "unit_price": price})[0]
            for q, price in ((1, "12.30"), (2, "12.30"), (5, "0.00"))
        ]
        xid = _delete(conn, "orders", oid)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM public.order_items WHERE order_id = %s", (oid,))
            assert cur.fetchone()[0] == 0

        order_evs = tap.wait_for("orders", oid, lambda evs: len(evs) >= 3)
        item_evs = {
            it["order_item_id"]: tap.wait_for("order_items", it["order_item_id"],
                                              lambda evs: len(evs) >= 3)
            for it in items
        }
        tap.settle(1.0)
        order_evs = tap.events("orders", oid)
        item_evs = {iid: tap.events("order_items", iid) for iid in item_evs}

    assert ops_of(order_evs) == ["c", "d", None]
    _assert_envelope(order_evs[1], "orders", oid, "d", xid)
    assert order_evs[1].before == row_to_debezium(order)
    assert order_evs[1].after is None

    for item in items:
        iid = item["order_item_id"]
        evs = item_evs[iid]
        assert ops_of(evs) == ["c", "d", None], (iid, ops_of(evs))
        delete = evs[1]
        # the cascade runs in the order's transaction
        _assert_envelope(delete, "order_items", iid, "d", xid)
        assert delete.after is None
        assert delete.before == row_to_debezium(item)
        assert delete.before["order_id"] == oid
        assert evs[2].is_tombstone and evs[2].key == {"order_item_id": iid}
