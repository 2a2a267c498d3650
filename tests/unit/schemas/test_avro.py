from __future__ import annotations

import copy
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import fastavro
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

from common.errors import TerminalError
from common.schema_registry import SchemaIncompatible
from schemas import SOURCE_TABLES
from schemas.avro import AvroError, AvroRegistry, UnknownSchema, build_schema
from schemas.columns import COLUMNS
from tests.unit.schema_ids import Ids

ENVELOPE = [
    ("op", "string"),
    ("is_delete", "boolean"),
    ("source_lsn", ["null", "long"]),
    ("commit_lsn", ["null", "long"]),
    ("tx_id", ["null", "long"]),
    ("tx_order", ["null", "long"]),
    ("commit_ts", ["null", {"type": "long", "logicalType": "timestamp-micros"}]),
    ("snapshot", "boolean"),
    ("bronze_topic", "string"),
    ("bronze_partition", "int"),
    ("bronze_offset", "long"),
]


def order(**over: Any) -> dict[str, Any]:
    rec = {
        "op": "u",
        "is_delete": False,
        "source_lsn": 30922040,
        "commit_lsn": 30921384,
        "tx_id": 731,
        "tx_order": 2,
        "commit_ts": datetime(2026, 11, 28, 5, 31, 12, 254467, tzinfo=UTC),
        "snapshot": False,
        "bronze_topic": "ecom.public.orders",
        "bronze_partition": 1,
        "bronze_offset": 77,
        "order_id": 42,
        "customer_id": 7,
        "order_date": datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "order_status": "Shipped",
        "total_amount": Decimal("9999999999.99"),
        "campaign_id": None,
        "updated_at": datetime(2023, 11, 14, 22, 13, 20, 1, tzinfo=UTC),
    }
    rec.update(over)
    return rec


@pytest.fixture
def ids() -> Ids:
    return Ids()


@pytest.fixture
def reg(ids: Ids) -> AvroRegistry:
    return AvroRegistry.from_package(ids)


def test_package_files_match_columns() -> None:
    folder = resources.files("schemas").joinpath("avro")
    names = sorted(e.name for e in folder.iterdir() if e.name.endswith(".avsc"))
    assert names == sorted(f"{t}.v1.avsc" for t in SOURCE_TABLES)
    for table in SOURCE_TABLES:
        schema = json.loads(folder.joinpath(f"{table}.v1.avsc").read_text())
        assert schema == build_schema(table)
        assert schema["name"] == f"ecom.silver.{table}" and schema["version"] == 1
        fields = schema["fields"]
        assert [(f["name"], f["type"]) for f in fields[: len(ENVELOPE)]] == ENVELOPE
        cols = fields[len(ENVELOPE) :]
        assert [f["name"] for f in cols] == [c.name for c in COLUMNS[table]]
        assert all(f["type"][0] == "null" and f["default"] is None for f in cols)


def test_column_types() -> None:
    types = {f["name"]: f["type"][1] for f in build_schema("marketing_campaigns")["fields"][11:]}
    assert types == {
        "campaign_id": "long",
        "campaign_name": "string",
        "channel": "string",
        "budget": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
        "roi": {"type": "bytes", "logicalType": "decimal", "precision": 8, "scale": 2},
        "start_date": {"type": "int", "logicalType": "date"},
        "end_date": {"type": "int", "logicalType": "date"},
    }
    ts = {f["name"]: f["type"][1] for f in build_schema("customers")["fields"][11:]}["updated_at"]
    assert ts == {"type": "long", "logicalType": "timestamp-micros"}


def test_fingerprint_and_confluent_framing(reg: AvroRegistry, ids: Ids) -> None:
    fp, schema = reg.latest("orders")
    canonical = to_parsing_canonical_form(fastavro.parse_schema(build_schema("orders")))
    expected = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    assert fp == expected and len(fp) == 8
    reg.encode("customers", {**order(), "customer_id": 1})  # the registry's id 1
    data = reg.encode("orders", order())
    assert data[:1] == b"\x00" and data[1:5] == (2).to_bytes(4, "big")
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), order())
    assert data[5:] == body.getvalue()
    assert reg.register(build_schema("orders")) == fp  # idempotent
    # the registry is asked once per schema, without our version numbering
    for _ in range(3):
        assert reg.encode("orders", order()) == data
    assert reg.schema_id("orders") == 2
    assert [table for table, _text in ids.calls] == ["customers", "orders"]
    given = json.loads(ids.calls[1][1])
    assert given == {k: v for k, v in build_schema("orders").items() if k != "version"}


def test_an_id_is_asked_for_until_one_is_given() -> None:
    with pytest.raises(AvroError, match="no schema registry"):
        AvroRegistry.from_package().encode("orders", order())
    refusing = Ids(refuse=lambda table, schema: True)
    reg = AvroRegistry.from_package(refusing)
    for _ in range(2):
        with pytest.raises(SchemaIncompatible, match="silver.orders-value"):
            reg.encode("orders", order())
    assert len(refusing.calls) == 2  # a refusal is not kept here
    refusing.refuse = lambda table, schema: False
    assert reg.decode(reg.encode("orders", order()))[2] == order()


def test_round_trip_exact(reg: AvroRegistry) -> None:
    rec = order(total_amount=Decimal("-0.05"))
    table, version, back = reg.decode(reg.encode("orders", rec))
    assert (table, version) == ("orders", 1)
    assert back == rec
    assert str(back["total_amount"]) == "-0.05"
    assert (
        back["order_date"].tzinfo is not None
        and back["order_date"].utcoffset().total_seconds() == 0
    )
    assert back["updated_at"].microsecond == 1


def test_decimal_exact_and_scale(reg: AvroRegistry) -> None:
    rec = {
        **order(),
        "bronze_topic": "ecom.public.products",
        "product_id": 1,
        "price": Decimal("99999999.99"),
    }
    _, _, back = reg.decode(reg.encode("products", rec))
    assert back["price"] == Decimal("99999999.99") and str(back["price"]) == "99999999.99"
    _, _, back = reg.decode(reg.encode("products", {**rec, "price": Decimal("12.3")}))
    assert str(back["price"]) == "12.30"
    with pytest.raises(AvroError):
        reg.encode("products", {**rec, "price": Decimal("1.234")})
    with pytest.raises(AvroError):
        reg.encode("products", {**rec, "price": 1.5})


def test_naive_datetimes_are_utc(reg: AvroRegistry) -> None:
    naive = order(order_date=datetime(2024, 2, 29, 23, 59, 59, 999999))
    _, _, back = reg.decode(reg.encode("orders", naive))
    assert back["order_date"] == datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)


def test_extreme_datetimes_and_dates(reg: AvroRegistry) -> None:
    rec = order(
        order_date=datetime(1, 1, 1, tzinfo=UTC),
        updated_at=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    )
    _, _, back = reg.decode(reg.encode("orders", rec))
    assert back == rec
    camp = {
        **order(),
        "campaign_id": 3,
        "budget": Decimal("0.00"),
        "start_date": date(1969, 12, 31),
        "end_date": date(9999, 12, 31),
    }
    _, _, back = reg.decode(reg.encode("marketing_campaigns", camp))
    assert back["start_date"] == date(1969, 12, 31) and back["end_date"] == date(9999, 12, 31)
    assert str(back["budget"]) == "0.00"


def test_decode_errors(reg: AvroRegistry) -> None:
    data = reg.encode("orders", order())
    with pytest.raises(AvroError, match="first byte c3"):
        reg.decode(b"\xc3\x01" + data[1:])
    with pytest.raises(AvroError):
        reg.decode(b"\x00\x00\x01")
    with pytest.raises(UnknownSchema) as info:
        reg.decode(b"\x00" + (77).to_bytes(4, "big") + data[5:])
    assert "schema id 77" in str(info.value)
    with pytest.raises(AvroError):
        reg.decode(data[:-3])
    with pytest.raises(AvroError):
        reg.decode(data + b"\x00")
    assert issubclass(UnknownSchema, AvroError) and issubclass(AvroError, TerminalError)


def test_schema_lookup(reg: AvroRegistry) -> None:
    fp, latest = reg.latest("customers")
    assert reg.schema(fp) == latest == build_schema("customers")
    with pytest.raises(UnknownSchema):
        reg.schema(b"12345678")
    with pytest.raises(UnknownSchema):
        reg.latest("nope")
    with pytest.raises(UnknownSchema):
        reg.encode("orders", order(), reg.latest("customers")[0])


def test_evolve_and_resolution(reg: AvroRegistry) -> None:
    v1, s1 = reg.latest("orders")
    v2 = reg.evolve("orders", {"discount": "double", "coupon_code": "string"})
    assert v2 != v1
    fp, s2 = reg.latest("orders")
    assert fp == v2 and s2["version"] == 2
    assert [f["name"] for f in s2["fields"]] == [f["name"] for f in s1["fields"]] + [
        "coupon_code",
        "discount",
    ]
    assert s2["fields"][-1] == {"name": "discount", "type": ["null", "double"], "default": None}
    assert reg.evolve("orders", {"discount": "double"}) == v2  # no-op
    assert reg.latest("customers")[1]["version"] == 1  # other tables untouched

    old = reg.encode("orders", order(), v1)
    new = reg.encode("orders", order(discount=2.5, coupon_code="X"))
    assert old[1:5] != new[1:5] and int.from_bytes(new[1:5], "big") == reg.schema_id("orders", v2)
    assert reg.decode(old) == ("orders", 1, order())
    assert reg.decode(new) == ("orders", 2, order(discount=2.5, coupon_code="X"))

    p1, p2 = fastavro.parse_schema(copy.deepcopy(s1)), fastavro.parse_schema(copy.deepcopy(s2))
    # v1 data read as v2: the new fields take their default
    back = fastavro.schemaless_reader(io.BytesIO(old[5:]), p1, p2)
    assert back == order(discount=None, coupon_code=None)
    # v2 data read as v1: the new fields are skipped
    back = fastavro.schemaless_reader(io.BytesIO(new[5:]), p2, p1)
    assert back == order()

    v3 = reg.evolve("orders", {"gift": "boolean"})
    assert reg.latest("orders") == (v3, reg.schema(v3)) and reg.schema(v3)["version"] == 3


def test_evolve_is_deterministic_so_workers_share_the_registry_ids() -> None:
    registry: dict[tuple[str, str], int] = {}
    one, other = AvroRegistry.from_package(Ids(registry)), AvroRegistry.from_package(Ids(registry))
    fp_a = one.evolve("orders", {"b": "long", "a": "string"})
    assert other.evolve("orders", {"a": "string", "b": "long"}) == fp_a
    data = one.encode("orders", order(a="x", b=1))
    assert other.encode("orders", order(a="x", b=1)) == data
    assert other.decode(data) == ("orders", 2, order(a="x", b=1))
    assert len(registry) == 1


def test_evolve_rejects(reg: AvroRegistry) -> None:
    with pytest.raises(AvroError):
        reg.evolve("orders", {"x": "decimal"})
    with pytest.raises(AvroError):
        reg.evolve("orders", {"bad-name": "long"})
    with pytest.raises(UnknownSchema):
        reg.evolve("nope", {"x": "long"})


def test_register_rejects(reg: AvroRegistry) -> None:
    s = build_schema("orders")
    with pytest.raises(AvroError):
        reg.register({k: v for k, v in s.items() if k != "version"})
    with pytest.raises(AvroError):
        reg.register({**s, "name": "other.orders"})
    with pytest.raises(AvroError):
        reg.register({**s, "fields": [{"name": "x", "type": "nonsense"}]})
    conflicting = {
        **s,
        "fields": s["fields"] + [{"name": "y", "type": ["null", "long"], "default": None}],
    }
    with pytest.raises(AvroError):
        reg.register(conflicting)  # a different schema claiming version 1
    with pytest.raises(AvroError):
        reg.register({**s, "version": 2})  # same fingerprint as v1


def test_a_refused_schema_is_no_default_writer_nor_base_until_accepted() -> None:
    refused: set[str] = {"gift"}
    ids = Ids(refuse=lambda table, schema: bool(refused & {f["name"] for f in schema["fields"]}))
    reg = AvroRegistry.from_package(ids)
    v1 = reg.latest("orders")[0]
    gift = reg.evolve("orders", {"gift": "string"})
    with pytest.raises(SchemaIncompatible):
        reg.encode("orders", order(gift="yes"), gift)
    assert reg.latest("orders")[0] == v1  # clean records keep going out as version 1
    assert reg.decode(reg.encode("orders", order()))[:2] == ("orders", 1)
    assert reg.evolve("orders", {"gift": "string"}) == gift  # the same schema again
    note = reg.evolve("orders", {"note": "string"})  # built on version 1, numbered after gift
    assert [f["name"] for f in reg.schema(note)["fields"]][-1:] == ["note"]
    assert reg.schema(note)["version"] == 3
    assert reg.decode(reg.encode("orders", order(note="n")))[:2] == ("orders", 3)
    refused.clear()  # the subject was fixed: the schema is asked for again and accepted
    assert reg.decode(reg.encode("orders", order(gift="yes"), gift))[:2] == ("orders", 2)
    assert reg.latest("orders")[0] == note
