"""The silver sink's bulk path (raw Avro values -> Arrow) gives exactly the typed path's table."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from schemas import SOURCE_TABLES
from schemas.avro import AvroRegistry
from schemas.columns import COLUMNS, Column
from stream_apps.formats import _decimal_array, silver_table, silver_table_raw

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _value(col: Column, rng: random.Random, i: int) -> Any:
    if i % 5 == 0:
        return None
    if col.kind == "int":
        return rng.randint(-(2**63), 2**63 - 1)
    if col.kind == "str":
        return rng.choice(["", "a", "Ünïcode ✓", "x" * 300])
    if col.kind == "decimal":
        precision, scale = col.precision or 38, col.scale or 0
        edge = [0, 1, -1, 10**precision - 1, -(10**precision - 1), 127, 128, -128, -129, 255, 256]
        unscaled = (
            edge[i % len(edge)] if i % 2 else rng.randint(-(10**precision - 1), 10**precision - 1)
        )
        return Decimal(unscaled).scaleb(-scale)
    if col.kind == "timestamp":
        return EPOCH + timedelta(microseconds=rng.randint(-(10**16), 10**17))
    if col.kind == "date":
        return date(1970, 1, 1) + timedelta(days=rng.randint(-700_000, 2_900_000))
    raise AssertionError(col.kind)


def _records(table: str, n: int = 300) -> list[dict[str, Any]]:
    rng = random.Random(table)
    out = []
    for i in range(n):
        record: dict[str, Any] = {
            "op": "u",
            "is_delete": False,
            "source_lsn": rng.randint(0, 2**40),
            "commit_lsn": None if i % 3 else rng.randint(0, 2**40),
            "tx_id": i,
            "tx_order": None,
            "commit_ts": None
            if i % 7 == 0
            else EPOCH + timedelta(microseconds=rng.randint(0, 2**52)),  # fmt: skip
            "snapshot": bool(i % 2),
            "bronze_topic": f"ecom.public.{table}",
            "bronze_partition": i % 6,
            "bronze_offset": i,
        }
        record.update({c.name: _value(c, rng, i) for c in COLUMNS[table]})
        out.append(record)
    return out


@pytest.mark.parametrize("table", SOURCE_TABLES)
def test_raw_path_equals_typed_path_for_every_table(table: str) -> None:
    registry = AvroRegistry.from_package()
    encoded = [registry.encode(table, r) for r in _records(table)]
    typed = silver_table(table, [registry.decode(e)[2] for e in encoded])
    raw = silver_table_raw(table, [registry.decode_raw(e)[2] for e in encoded])
    assert raw.schema.equals(typed.schema)
    assert raw.equals(typed)
    assert raw.to_pylist() == typed.to_pylist()


def test_raw_path_with_an_evolved_schema_keeps_new_fields_as_json() -> None:
    registry = AvroRegistry.from_package()
    fp = registry.evolve("orders", {"gift_note": "string"})
    records = _records("orders", 20)
    for i, r in enumerate(records):
        r["gift_note"] = None if i % 2 else f"note {i}"
    encoded = [registry.encode("orders", r, fp) for r in records]
    typed = silver_table("orders", [registry.decode(e)[2] for e in encoded])
    raw = silver_table_raw("orders", [registry.decode_raw(e)[2] for e in encoded])
    assert raw.equals(typed)
    assert raw.column("extra_json").to_pylist()[0] == '{"gift_note": "note 0"}'


def test_decimal_bytes_beyond_the_precision_are_refused() -> None:
    typ = pa.decimal128(4, 2)
    assert _decimal_array([(9999).to_bytes(2, "big", signed=True), None], typ).to_pylist() == [
        Decimal("99.99"),
        None,
    ]
    with pytest.raises(ValueError, match="precision"):
        _decimal_array([(10000).to_bytes(3, "big", signed=True)], typ)
