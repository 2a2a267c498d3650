"""Debezium messages (JSON converter, schemas off) shaped like the ones our stack emits."""

from __future__ import annotations

import json
from typing import Any

PREFIX = "ecom"
TS_US = 1795843872254467


def topic(table: str) -> str:
    return f"{PREFIX}.public.{table}"


def key(table: str, value: int) -> bytes:
    from schemas import PRIMARY_KEYS

    return json.dumps({PRIMARY_KEYS[table]: value}, separators=(",", ":")).encode()


def envelope(
    table: str,
    op: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    snapshot: str = "false",
    lsn: int | None = 30922040,
    sequence: Any = '["30921384","30922040"]',
    tx_id: int | None = 731,
    total_order: int | None = 2,
    ts_us: int | None = TS_US,
    ts_ms: int | None = TS_US // 1000,
) -> dict[str, Any]:
    source: dict[str, Any] = {
        "version": "3.6.1.Final",
        "connector": "postgresql",
        "name": PREFIX,
        "ts_ms": ts_ms,
        "snapshot": snapshot,
        "db": "ecommerce_source",
        "sequence": sequence,
        "ts_us": ts_us,
        "schema": "public",
        "table": table,
        "txId": tx_id,
        "lsn": lsn,
        "xmin": None,
    }
    if ts_us is None:
        del source["ts_us"]
    transaction = (
        None
        if total_order is None
        else {
            "id": f"{tx_id}:{lsn}",
            "total_order": total_order,
            "data_collection_order": 1,
        }
    )
    return {
        "before": before,
        "after": after,
        "source": source,
        "transaction": transaction,
        "op": op,
        "ts_ms": TS_US // 1000 + 5,
        "ts_us": TS_US + 5000,
    }


def value(doc: Any) -> bytes:
    return json.dumps(doc).encode("utf-8")


ORDER = {
    "order_id": 42,
    "customer_id": 7,
    "order_date": 1700000000123456,
    "order_status": "Shipped",
    "total_amount": "12.30",
    "campaign_id": None,
    "updated_at": 1700000001000001,
}

ORDER_ITEM = {
    "order_item_id": 9,
    "order_id": 42,
    "product_id": 3,
    "quantity": 2,
    "unit_price": "5.15",
}
