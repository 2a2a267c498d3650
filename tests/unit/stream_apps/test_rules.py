from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas.columns import COLUMNS
from stream_apps.envelope import REASONS, ChangeEvent, Coordinates, DecodeError, decode
from stream_apps.rules import (
    ENVELOPE_FIELDS,
    Quarantined,
    SilverRecord,
    dlq_record,
    to_silver,
)
from tests.unit.stream_apps.messages import (
    ORDER,
    ORDER_ITEM,
    PREFIX,
    TS_US,
    envelope,
    key,
    topic,
    value,
)

PK_VALUES = {"customers": 1, "products": 2, "marketing_campaigns": 3, "orders": 42}

CUSTOMER = {
    "customer_id": 1,
    "email": "  Ann.Lee@Example.COM ",
    "first_name": " Ann ",
    "last_name": "Lee  ",
    "customer_segment": "Premium",
    "loyalty_tier": "Gold",
    "registration_date": -1,
    "updated_at": 0,
}
PRODUCT = {
    "product_id": 2,
    "product_name": " Lamp ",
    "sku": " hom-0000002 ",
    "category": " Home & Garden ",
    "price": "99999999.99",
    "stock_quantity": 10,
    "updated_at": 1700000000000001,
}
CAMPAIGN = {
    "campaign_id": 3,
    "campaign_name": "Spring",
    "channel": " EMAIL ",
    "budget": "0.00",
    "roi": "-0.05",
    "start_date": 19723,
    "end_date": -1,
}
INVENTORY = {
    "transaction_id": 5,
    "product_id": 2,
    "transaction_type": " IN ",
    "quantity": 4,
    "transaction_date": 1700000000000000,
}


def event(table: str, op: str, row: dict[str, Any] | None, **kw: Any) -> ChangeEvent:
    from schemas import PRIMARY_KEYS

    pk = PRIMARY_KEYS[table]
    k = None if op == "t" else key(table, (row or {})[pk])
    doc = envelope(
        table,
        op,
        before=row if op == "d" else None,
        after=row if op in ("c", "r", "u") else None,
        **kw,
    )
    ev = decode(topic(table), 1, 77, 1700000000000, k, value(doc), prefix=PREFIX)
    assert ev is not None
    return ev


def silver(table: str, row: dict[str, Any], op: str = "c") -> SilverRecord:
    out = to_silver(event(table, op, row))
    assert isinstance(out, SilverRecord), out
    return out


def quarantined(table: str, row: dict[str, Any]) -> Quarantined:
    out = to_silver(event(table, "u", row))
    assert isinstance(out, Quarantined), out
    return out


def test_envelope_fields_and_typed_order() -> None:
    out = silver("orders", ORDER)
    assert out.table == "orders" and out.key == 42 and out.extra_columns == {}
    rec = out.record
    assert list(rec) == list(ENVELOPE_FIELDS) + [c.name for c in COLUMNS["orders"]]
    assert rec["op"] == "c" and rec["is_delete"] is False and rec["snapshot"] is False
    assert (rec["source_lsn"], rec["commit_lsn"], rec["tx_id"], rec["tx_order"]) == (
        30922040,
        30921384,
        731,
        2,
    )
    # 1795843872254467 us = `date -u -d @1795843872` + .254467
    assert rec["commit_ts"] == datetime(2026, 11, 28, 5, 31, 12, 254467, tzinfo=UTC)
    assert rec["commit_ts"].timestamp() * 10**6 == pytest.approx(TS_US, abs=1)
    assert (rec["bronze_topic"], rec["bronze_partition"], rec["bronze_offset"]) == (
        "ecom.public.orders",
        1,
        77,
    )
    assert rec["order_date"] == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert rec["updated_at"] == datetime(2023, 11, 14, 22, 13, 21, 1, tzinfo=UTC)
    assert rec["total_amount"] == Decimal("12.30")
    assert str(rec["total_amount"]) == "12.30"
    assert rec["campaign_id"] is None and rec["customer_id"] == 7


def test_customers_normalised_and_negative_micros() -> None:
    rec = silver("customers", CUSTOMER).record
    assert rec["email"] == "ann.lee@example.com"
    assert (rec["first_name"], rec["last_name"]) == ("Ann", "Lee")
    assert rec["registration_date"] == datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert rec["updated_at"] == datetime(1970, 1, 1, tzinfo=UTC)


def test_trim_is_postgres_trim_spaces_only() -> None:
    rec = silver("customers", {**CUSTOMER, "first_name": "\tAnn\n "}).record
    assert rec["first_name"] == "\tAnn\n"


def test_products_normalised_exact_decimal() -> None:
    rec = silver("products", PRODUCT).record
    assert (rec["sku"], rec["category"], rec["product_name"]) == (
        "HOM-0000002",
        "Home & Garden",
        " Lamp ",
    )
    assert rec["price"] == Decimal("99999999.99") and str(rec["price"]) == "99999999.99"
    assert rec["updated_at"] == datetime(2023, 11, 14, 22, 13, 20, 1, tzinfo=UTC)


def test_campaign_channel_trimmed_case_kept_dates() -> None:
    rec = silver("marketing_campaigns", {**CAMPAIGN, "channel": " Email "}).record
    assert rec["channel"] == "Email"
    assert rec["budget"] == Decimal("0.00") and str(rec["roi"]) == "-0.05"
    assert rec["start_date"] == date(2024, 1, 1) and rec["end_date"] == date(1969, 12, 31)


def test_status_and_type_trimmed() -> None:
    assert (
        silver("orders", {**ORDER, "order_status": "  Pending "}).record["order_status"]
        == "Pending"
    )
    rec = silver("inventory_transactions", INVENTORY).record
    assert rec["transaction_type"] == "IN"


@pytest.mark.parametrize(
    ("table", "row", "reason"),
    [
        ("order_items", {**ORDER_ITEM, "quantity": 0}, "order_items.quantity<=0"),
        ("order_items", {**ORDER_ITEM, "quantity": -1}, "order_items.quantity<=0"),
        ("order_items", {**ORDER_ITEM, "unit_price": "-0.01"}, "order_items.unit_price<0"),
        ("orders", {**ORDER, "order_status": "shipped"}, "orders.order_status invalid"),
        ("orders", {**ORDER, "order_status": "Lost"}, "orders.order_status invalid"),
        ("orders", {**ORDER, "order_status": None}, "orders.order_status invalid"),
        (
            "inventory_transactions",
            {**INVENTORY, "transaction_type": "in"},
            "inventory_transactions.transaction_type invalid",
        ),
        (
            "inventory_transactions",
            {**INVENTORY, "transaction_type": "RETURN"},
            "inventory_transactions.transaction_type invalid",
        ),
        ("marketing_campaigns", {**CAMPAIGN, "budget": "-0.01"}, "marketing_campaigns.budget<0"),
    ],
)
def test_quarantine_rules(table: str, row: dict[str, Any], reason: str) -> None:
    q = quarantined(table, row)
    assert q.reason == reason and q.table == table
    assert q.key == row[next(iter(row))]
    assert q.record["op"] == "u" and q.record["bronze_offset"] == 77


def test_quarantined_record_is_normalised() -> None:
    q = quarantined("orders", {**ORDER, "order_status": "  Lost "})
    assert q.record["order_status"] == "Lost" and q.record["total_amount"] == Decimal("12.30")


@pytest.mark.parametrize(
    ("table", "row"),
    [
        ("order_items", {**ORDER_ITEM, "quantity": 1, "unit_price": "0.00"}),
        ("order_items", {**ORDER_ITEM, "quantity": None, "unit_price": None}),
        ("marketing_campaigns", {**CAMPAIGN, "budget": "0.00"}),
        ("marketing_campaigns", {**CAMPAIGN, "budget": None}),
        ("orders", {**ORDER, "order_status": " Cancelled "}),
        ("inventory_transactions", {**INVENTORY, "transaction_type": "ADJUSTMENT"}),
        ("inventory_transactions", {**INVENTORY, "transaction_type": "OUT "}),
    ],
)
def test_valid_boundaries(table: str, row: dict[str, Any]) -> None:
    silver(table, row)


def test_every_valid_status() -> None:
    for status in ("Pending", "Processing", "Shipped", "Delivered", "Cancelled"):
        assert silver("orders", {**ORDER, "order_status": status}).record["order_status"] == status


def test_delete_is_never_quarantined() -> None:
    out = silver("order_items", {**ORDER_ITEM, "quantity": -5}, op="d")
    assert out.record["is_delete"] is True and out.record["op"] == "d"
    assert out.record["quantity"] == -5 and out.key == 9
    out = silver("orders", {**ORDER, "order_status": " Lost "}, op="d")
    assert out.record["order_status"] == "Lost"


def test_snapshot_read() -> None:
    out = to_silver(event("orders", "r", ORDER, snapshot="last"))
    assert (
        isinstance(out, SilverRecord) and out.record["snapshot"] is True and out.record["op"] == "r"
    )


def test_truncate() -> None:
    out = to_silver(event("orders", "t", None))
    assert isinstance(out, SilverRecord)
    assert out.key is None and out.extra_columns == {}
    assert out.record["is_delete"] is True and out.record["op"] == "t"
    assert all(out.record[c.name] is None for c in COLUMNS["orders"])


def test_extra_and_missing_columns() -> None:
    row = {k: v for k, v in ORDER.items() if k != "campaign_id"}
    row["coupon_code"] = "XMAS"
    row["discount"] = 1.5
    out = silver("orders", row)
    assert out.extra_columns == {"coupon_code": "XMAS", "discount": 1.5}
    assert out.record["campaign_id"] is None
    assert "coupon_code" not in out.record


@pytest.mark.parametrize(
    ("table", "row", "reason"),
    [
        ("orders", {**ORDER, "customer_id": "7"}, "wrong_type"),
        ("orders", {**ORDER, "customer_id": True}, "wrong_type"),
        ("orders", {**ORDER, "customer_id": 7.0}, "wrong_type"),
        ("orders", {**ORDER, "customer_id": 2**63}, "wrong_type"),
        ("orders", {**ORDER, "order_status": 5}, "wrong_type"),
        ("orders", {**ORDER, "total_amount": 12.3}, "wrong_type"),
        ("orders", {**ORDER, "total_amount": "12,30"}, "wrong_type"),
        ("orders", {**ORDER, "total_amount": "NaN"}, "wrong_type"),
        ("orders", {**ORDER, "total_amount": "1_000"}, "wrong_type"),
        ("orders", {**ORDER, "order_date": "2024-01-01"}, "wrong_type"),
        ("orders", {**ORDER, "order_date": 1.5}, "wrong_type"),
        ("marketing_campaigns", {**CAMPAIGN, "start_date": "2024-01-01"}, "wrong_type"),
        ("order_items", {**ORDER_ITEM, "unit_price": "100000000.00"}, "decimal_out_of_range"),
        ("order_items", {**ORDER_ITEM, "unit_price": "1.234"}, "decimal_out_of_range"),
        ("order_items", {**ORDER_ITEM, "unit_price": "1e30"}, "decimal_out_of_range"),
        ("order_items", {**ORDER_ITEM, "unit_price": "1e-30"}, "decimal_out_of_range"),
        ("marketing_campaigns", {**CAMPAIGN, "roi": "1000000.00"}, "decimal_out_of_range"),
        ("orders", {**ORDER, "order_date": 2**62}, "timestamp_out_of_range"),
        ("orders", {**ORDER, "order_date": -(2**62)}, "timestamp_out_of_range"),
        ("marketing_campaigns", {**CAMPAIGN, "end_date": 3_000_000}, "timestamp_out_of_range"),
    ],
)
def test_untypable_values_raise(table: str, row: dict[str, Any], reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        to_silver(event(table, "c", row))
    assert info.value.reason == reason and reason in REASONS
    assert f"{table}." in info.value.detail


def test_decimal_accepts_fewer_decimals_and_exponent() -> None:
    rec = silver("order_items", {**ORDER_ITEM, "unit_price": "5.1"}).record
    assert str(rec["unit_price"]) == "5.10"
    rec = silver("order_items", {**ORDER_ITEM, "unit_price": "-0.00"}).record
    assert str(rec["unit_price"]) == "0.00"
    rec = silver("order_items", {**ORDER_ITEM, "unit_price": "12.300"}).record
    assert str(rec["unit_price"]) == "12.30"


def test_datetime_extremes() -> None:
    max_us = 253402300799999999  # 9999-12-31 23:59:59.999999
    rec = silver("orders", {**ORDER, "order_date": max_us, "updated_at": -62135596800000000}).record
    assert rec["order_date"] == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert rec["updated_at"] == datetime(1, 1, 1, tzinfo=UTC)


def test_commit_ts_out_of_range() -> None:
    ev = event("orders", "c", ORDER, ts_us=2**62)
    with pytest.raises(DecodeError) as info:
        to_silver(ev)
    assert info.value.reason == "timestamp_out_of_range"


def test_key_from_message_key_when_row_lacks_pk() -> None:
    row = {k: v for k, v in ORDER.items() if k != "order_id"}
    ev = ChangeEvent(
        table="orders",
        op="c",
        key={"order_id": 42},
        before=None,
        after=row,
        lsn=None,
        commit_lsn=None,
        tx_id=None,
        tx_order=None,
        commit_ts_us=None,
        snapshot=False,
        coords=Coordinates("ecom.public.orders", 0, 1, None),
    )
    out = to_silver(ev)
    assert isinstance(out, SilverRecord)
    assert out.key == 42 and out.record["order_id"] == 42 and out.record["commit_ts"] is None


def test_dlq_record() -> None:
    coords = Coordinates("ecom.public.orders", 2, 99, 1700000000000)
    raw = dlq_record("silver", "wrong_type", coords, b'{"order_id":1}', b"\xff", "orders", "bad")
    doc = json.loads(raw)
    assert set(doc) == {
        "stage",
        "reason",
        "detail",
        "table",
        "topic",
        "partition",
        "offset",
        "timestamp_ms",
        "key_b64",
        "value_b64",
        "dead_lettered_at",
    }
    assert (doc["stage"], doc["reason"], doc["detail"], doc["table"]) == (
        "silver",
        "wrong_type",
        "bad",
        "orders",
    )
    assert (doc["topic"], doc["partition"], doc["offset"], doc["timestamp_ms"]) == (
        "ecom.public.orders",
        2,
        99,
        1700000000000,
    )
    assert base64.b64decode(doc["key_b64"]) == b'{"order_id":1}'
    assert base64.b64decode(doc["value_b64"]) == b"\xff"
    at = datetime.fromisoformat(doc["dead_lettered_at"])
    assert at.tzinfo is not None and abs((datetime.now(UTC) - at).total_seconds()) < 60
    none = json.loads(dlq_record("bronze", "not_json", coords, None, None, None))
    assert none["key_b64"] is None and none["value_b64"] is None and none["table"] is None
    assert none["detail"] == ""


def test_quarantine_marker_ends_the_key_with_nulls() -> None:
    from stream_apps.rules import QUARANTINED_OP, Quarantined, quarantine_marker
    from tests.unit.schema_ids import registry as new_registry

    q = Quarantined(
        table="orders",
        key=42,
        reason="orders.order_status invalid",
        record={
            "op": "u", "is_delete": False, "source_lsn": 10, "commit_lsn": 9, "tx_id": 7,
            "tx_order": 1, "commit_ts": None, "snapshot": False, "bronze_topic": "ecom.public.orders",
            "bronze_partition": 1, "bronze_offset": 5, "order_id": 42, "customer_id": 3,
            "order_status": "Lost", "total_amount": None,
        },
    )  # fmt: skip
    marker = quarantine_marker(q)
    assert marker["op"] == QUARANTINED_OP == "q"
    assert marker["is_delete"] is True
    assert marker["order_id"] == 42
    assert marker["customer_id"] is None and marker["order_status"] is None
    assert (marker["source_lsn"], marker["bronze_offset"]) == (10, 5)
    registry = new_registry()
    table, _version, decoded = registry.decode(registry.encode("orders", marker))
    assert table == "orders" and decoded["op"] == "q" and decoded["order_id"] == 42
