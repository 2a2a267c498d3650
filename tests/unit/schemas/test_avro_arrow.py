"""The column-wise Avro encoder against fastavro: byte-identical bodies for random silver
records of every table (nulls, decimal extremes, 64-bit integers, far timestamps and
dates, unicode), evolved schemas, framing, and the inputs it must refuse."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import fastavro
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import SOURCE_TABLES
from schemas.avro import AvroError, AvroRegistry, build_schema
from schemas.avro_arrow import (
    ArrowAvroError,
    TableEncoder,
    confluent_header,
    encode_bodies,
    frame,
)
from schemas.columns import COLUMNS, Column
from schemas.lake import PARTITION_COLUMN
from stream_apps import formats
from tests.unit.schema_ids import Ids

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LONG_EDGES = [0, 1, -1, 63, -64, 64, -65, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63), -(2**63) + 1]
longs = st.one_of(st.sampled_from(LONG_EDGES), st.integers(-(2**63), 2**63 - 1))
texts = st.one_of(
    st.sampled_from(["", "a", "é", "𝄞", "😀 mixed ✓ ascii", "\x00", "x" * 300]),
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF), max_size=8),
)
timestamps = st.one_of(
    st.sampled_from(
        [
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(1970, 1, 1, tzinfo=UTC),
        ]
    ),
    st.datetimes(timezones=st.just(UTC)),
)
dates = st.one_of(
    st.sampled_from([date(1, 1, 1), date(9999, 12, 31), date(1969, 12, 31), date(1970, 1, 1)]),
    st.dates(),
)


def decimals(precision: int, scale: int) -> st.SearchStrategy[Decimal]:
    top = 10**precision - 1
    edges = [top, -top, 0, -1, 1, 127, 128, -128, -129, 255, 256, -256, -257, 2**15, -(2**15)]
    unscaled = st.one_of(st.sampled_from(edges), st.integers(-top, top))
    return unscaled.map(lambda v: Decimal(v).scaleb(-scale))


def value(col: Column) -> st.SearchStrategy[Any]:
    if col.kind == "int":
        return longs
    if col.kind == "str":
        return texts
    if col.kind == "decimal":
        return decimals(col.precision or 38, col.scale or 0)
    if col.kind == "timestamp":
        return timestamps
    return dates


def records(table: str, extra: tuple[str, ...] = ()) -> st.SearchStrategy[dict[str, Any]]:
    """Silver records of ``table`` plus ``commit_date``; ``extra`` string fields are each
    present (a string or None) or absent in a record."""
    required = {
        "op": st.sampled_from(["c", "u", "d", "r", "t", "q"]),
        "is_delete": st.booleans(),
        "snapshot": st.booleans(),
        "bronze_topic": texts,
        "bronze_partition": st.integers(-(2**31), 2**31 - 1),
        "bronze_offset": longs,
        PARTITION_COLUMN: dates,
    }
    optional = {
        "source_lsn": longs,
        "commit_lsn": longs,
        "tx_id": longs,
        "tx_order": longs,
        "commit_ts": timestamps,
        **{c.name: value(c) for c in COLUMNS[table]},
    }
    return st.fixed_dictionaries(
        {**required, **{k: st.one_of(st.none(), s) for k, s in optional.items()}},
        optional={name: st.one_of(st.none(), texts) for name in extra},
    )


def fastavro_body(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return buf.getvalue()


def assert_identical(schema: dict[str, Any], rows: list[dict[str, Any]], table: pa.Table) -> None:
    got = TableEncoder(schema).encode(table)
    expected = [fastavro_body(schema, r) for r in rows]
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert a == b, f"row {i}: {a.hex()} != {b.hex()} for {rows[i]}"


@pytest.mark.parametrize("table", SOURCE_TABLES)
def test_random_silver_rows_match_fastavro(table: str) -> None:
    schema = build_schema(table)

    @PROPERTY
    @given(st.lists(records(table), min_size=1, max_size=25))
    def check(rows: list[dict[str, Any]]) -> None:
        assert_identical(schema, rows, formats.silver_table(table, rows))

    check()


@pytest.mark.parametrize("table", ["orders", "customers"])
def test_evolved_schema_with_added_string_fields(table: str) -> None:
    reg = AvroRegistry.from_package(Ids())
    added = ("coupon_code", "gift_note")
    fp = reg.evolve(table, dict.fromkeys(added, "string"))
    schema = reg.schema(fp)

    @PROPERTY
    @given(st.lists(records(table, added), min_size=1, max_size=25))
    def check(rows: list[dict[str, Any]]) -> None:
        arrow = formats.silver_table(table, rows)
        assert_identical(schema, rows, arrow)
        assert reg.encode_table(table, arrow, fp) == [reg.encode(table, r, fp) for r in rows]

    check()


@pytest.fixture(scope="module")
def items() -> tuple[list[dict[str, Any]], pa.Table]:
    rows = [
        {
            "op": "u",
            "is_delete": i % 7 == 0,
            "source_lsn": 30_000_000 + i,
            "commit_lsn": None if i % 5 == 0 else -i,
            "tx_id": 2**63 - 1 - i,
            "tx_order": -(2**63) + i,
            "commit_ts": datetime(2026, 11, 28, 5, 31, 12, i, tzinfo=UTC),
            "snapshot": i % 2 == 0,
            "bronze_topic": "ecom.public.order_items",
            "bronze_partition": i % 3,
            "bronze_offset": i,
            "order_item_id": i,
            "order_id": i // 3,
            "product_id": None if i % 4 == 0 else i * 31,
            "quantity": i % 9 - 4,
            "unit_price": Decimal(i * 1013 - 5000).scaleb(-2) if i % 6 else None,
            PARTITION_COLUMN: date(2026, 11, 28),
        }
        for i in range(40)
    ]
    return rows, formats.silver_table("order_items", rows)


def test_registry_framing_matches_encode(items: tuple[list[dict[str, Any]], pa.Table]) -> None:
    rows, arrow = items
    reg = AvroRegistry.from_package(Ids())
    assert reg.encode_table("order_items", arrow) == [reg.encode("order_items", r) for r in rows]
    bodies = encode_bodies(build_schema("order_items"), arrow)
    header = confluent_header(reg.schema_id("order_items"))
    assert frame(header, bodies) == reg.encode_table("order_items", arrow)
    assert confluent_header(258) == b"\x00\x00\x00\x01\x02"
    header = confluent_header(7)
    framed = TableEncoder(build_schema("order_items")).encode(arrow, header=header)
    assert framed == [header + b for b in bodies]


def test_chunks_slices_and_column_order(items: tuple[list[dict[str, Any]], pa.Table]) -> None:
    rows, arrow = items
    schema = build_schema("order_items")
    expected = [fastavro_body(schema, r) for r in rows]
    chunked = pa.concat_tables([arrow.slice(0, 13), arrow.slice(13, 1), arrow.slice(14)])
    assert chunked.column("unit_price").num_chunks == 3
    assert encode_bodies(schema, chunked) == expected
    assert encode_bodies(schema, arrow.slice(5, 20)) == expected[5:25]
    assert encode_bodies(schema, arrow.select(list(reversed(arrow.column_names)))) == expected
    assert encode_bodies(schema, arrow.slice(0, 0)) == []


def test_absent_optional_columns_are_null(items: tuple[list[dict[str, Any]], pa.Table]) -> None:
    rows, arrow = items
    schema = build_schema("order_items")
    dropped = ("unit_price", "commit_ts", "tx_id")
    narrow = arrow.drop_columns(list(dropped))
    stripped = [{k: v for k, v in r.items() if k not in dropped} for r in rows]
    assert encode_bodies(schema, narrow) == [fastavro_body(schema, r) for r in stripped]
    all_null = arrow.set_column(
        arrow.column_names.index("quantity"), "quantity", pa.nulls(len(rows))
    )
    nulled = [{**r, "quantity": None} for r in rows]
    assert encode_bodies(schema, all_null) == [fastavro_body(schema, r) for r in nulled]


def test_other_primitive_types_and_union_order() -> None:
    schema = {
        "type": "record",
        "name": "probe",
        "fields": [
            {"name": "d", "type": ["double", "null"]},
            {"name": "f", "type": "float"},
            {"name": "b", "type": ["null", "bytes"], "default": None},
            {"name": "i", "type": "int"},
            {"name": "n", "type": ["null", "long"], "default": None},
            {"name": "k", "type": "long", "default": -3},
            {"name": "s", "type": {"type": "string", "logicalType": "not-known"}},
        ],
    }
    floats = st.floats(allow_nan=True, allow_infinity=True)

    @PROPERTY
    @given(
        st.lists(
            st.fixed_dictionaries(
                {
                    "d": st.one_of(st.none(), floats),
                    "f": st.floats(width=32),
                    "b": st.one_of(st.none(), st.binary(max_size=20)),
                    "i": st.integers(-(2**63), 2**63 - 1),
                    "s": texts,
                }
            ),
            min_size=1,
            max_size=20,
        )
    )
    def check(rows: list[dict[str, Any]]) -> None:
        arrow = pa.Table.from_pylist(
            rows,
            schema=pa.schema(
                [("d", pa.float64()), ("f", pa.float32()), ("b", pa.binary()),
                 ("i", pa.int64()), ("s", pa.large_string())]
            ),
        )  # fmt: skip
        assert_identical(schema, rows, arrow)

    check()


def test_required_null_and_absent_are_refused(
    items: tuple[list[dict[str, Any]], pa.Table],
) -> None:
    rows, arrow = items
    reg = AvroRegistry.from_package(Ids())
    ops = pa.array(["u"] * 3 + [None] + ["u"] * (len(rows) - 4))
    bad = arrow.set_column(arrow.column_names.index("op"), "op", ops)
    with pytest.raises(ArrowAvroError) as info:
        encode_bodies(build_schema("order_items"), bad)
    assert info.value.row == 3 and "op" in str(info.value)
    with pytest.raises(AvroError, match="bronze offset 3"):
        reg.encode_table("order_items", bad)
    with pytest.raises(AvroError):  # fastavro refuses the same record
        reg.encode("order_items", {**rows[3], "op": None})
    with pytest.raises(ArrowAvroError, match="bronze_offset"):
        encode_bodies(build_schema("order_items"), arrow.drop_columns(["bronze_offset"]))


def test_decimal_beyond_precision_is_refused() -> None:
    schema = build_schema("order_items")  # unit_price is decimal(10, 2)
    row = {
        "op": "c", "is_delete": False, "snapshot": False, "bronze_topic": "t",
        "bronze_partition": 0, "bronze_offset": 9, "order_item_id": 1,
    }  # fmt: skip
    fits = Decimal("-99999999.99")
    over = Decimal("100000000.00")
    wide = pa.decimal128(38, 2)
    ok = pa.Table.from_pylist([{**row, "unit_price": fits}], schema=_with(wide))
    assert encode_bodies(schema, ok) == [fastavro_body(schema, {**row, "unit_price": fits})]
    bad = pa.Table.from_pylist(
        [{**row, "unit_price": fits}, {**row, "unit_price": -over}], schema=_with(wide)
    )
    with pytest.raises(ArrowAvroError) as info:
        encode_bodies(schema, bad)
    assert info.value.row == 1
    with pytest.raises(ValueError):
        fastavro_body(schema, {**row, "unit_price": -over})
    rescaled = pa.Table.from_pylist(
        [{**row, "unit_price": fits}], schema=_with(pa.decimal128(12, 3))
    )
    with pytest.raises(ArrowAvroError, match="unit_price"):
        encode_bodies(schema, rescaled)


def _with(price: pa.DataType) -> pa.Schema:
    fields = [f for f in formats.silver_schema("order_items") if f.name != "unit_price"]
    return pa.schema([*fields, pa.field("unit_price", price)])


@pytest.mark.parametrize(
    ("column", "data"),
    [
        ("quantity", pa.array(["1"] * 2)),
        ("quantity", pa.array([2**63, 1], pa.uint64())),
        ("commit_ts", pa.array([1.5, 2.0])),
        ("op", pa.array([1, 2])),
        ("is_delete", pa.array([0, 1])),
    ],
)
def test_mismatched_columns_are_refused(column: str, data: pa.Array) -> None:
    schema = build_schema("order_items")
    base = {
        "op": ["c", "u"], "is_delete": [False, True], "snapshot": [False, False],
        "bronze_topic": ["t", "t"], "bronze_partition": [0, 1], "bronze_offset": [1, 2],
    }  # fmt: skip
    table = pa.table({**base, column: data})
    with pytest.raises(ArrowAvroError, match=column):
        encode_bodies(schema, table)


@pytest.mark.parametrize(
    "ftype",
    [
        {"type": "record", "name": "inner", "fields": []},
        {"type": "enum", "name": "e", "symbols": ["A"]},
        ["null", "long", "string"],
        {"type": "long", "logicalType": "timestamp-millis"},
        {"type": "array", "items": "long"},
    ],
)
def test_unsupported_schemas_are_refused(ftype: Any) -> None:
    schema = {"type": "record", "name": "probe", "fields": [{"name": "x", "type": ftype}]}
    with pytest.raises(ArrowAvroError, match="x"):
        TableEncoder(schema)


def test_header_sizes_are_checked() -> None:
    with pytest.raises(ArrowAvroError):
        confluent_header(-1)
    with pytest.raises(ArrowAvroError):
        confluent_header(2**32)


@pytest.mark.parametrize(
    ("column", "arrow_type"),
    [
        ("quantity", pa.int8()),
        ("quantity", pa.int32()),
        ("order_id", pa.uint32()),
        ("order_id", pa.uint64()),
        ("bronze_partition", pa.int64()),
        ("commit_ts", pa.timestamp("ns", tz="UTC")),
        ("commit_ts", pa.timestamp("us")),
        ("commit_ts", pa.timestamp("us", tz="Europe/Paris")),
        ("commit_ts", pa.int64()),
        ("op", pa.large_string()),
        ("op", pa.string_view()),
        ("unit_price", pa.decimal128(38, 2)),
    ],
)
def test_equivalent_column_types(
    items: tuple[list[dict[str, Any]], pa.Table], column: str, arrow_type: pa.DataType
) -> None:
    """Another Arrow type holding the same values gives the same bytes."""
    rows, arrow = items
    schema = build_schema("order_items")
    expected = [fastavro_body(schema, r) for r in rows]
    i = arrow.column_names.index(column)
    source = arrow.column(i)
    if pa.types.is_timestamp(source.type) and pa.types.is_integer(arrow_type):
        source = source.cast(pa.timestamp("us"))
    other = arrow.set_column(i, column, source.cast(arrow_type))
    assert encode_bodies(schema, other) == expected


def test_coarser_units_and_date64() -> None:
    schema = build_schema("marketing_campaigns")
    instants = [datetime(1, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)]
    days = [date(1, 1, 1), date(1969, 12, 31)]
    rows = [
        {
            "op": "r", "is_delete": False, "snapshot": True, "bronze_topic": "t",
            "bronze_partition": 0, "bronze_offset": k, "commit_ts": instants[k],
            "campaign_id": k, "start_date": days[k], "end_date": None,
        }
        for k in range(2)
    ]  # fmt: skip
    arrow = pa.Table.from_pylist(rows).set_column(
        6, "commit_ts", pa.array(instants, pa.timestamp("s", tz="UTC"))
    )
    arrow = arrow.set_column(8, "start_date", pa.array(days, pa.date64()))
    assert arrow.schema.field("start_date").type == pa.date64()
    assert encode_bodies(schema, arrow) == [fastavro_body(schema, r) for r in rows]
    sub_micro = pa.array([1, 2001], pa.timestamp("ns", tz="UTC"))
    with pytest.raises(ArrowAvroError, match="commit_ts"):
        encode_bodies(schema, arrow.set_column(6, "commit_ts", sub_micro))
