"""The column-wise processor's pieces: which input it takes, which it hands to the
record-by-record path and why, its silver rules on Arrow columns, and that a clean
batch really goes column-wise."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from schemas.avro import AvroRegistry
from schemas.columns import COLUMNS
from stream_apps import columnar_decode, columnar_rules, configuration, rules
from stream_apps.columnar import ColumnarProcessor
from stream_apps.columnar_decode import Unsupported
from stream_apps.envelope import DecodeError
from stream_apps.pipeline import Msg, Processed
from tests.unit.schema_ids import Ids, evolved, registry
from tests.unit.stream_apps import messages as m
from tests.unit.stream_apps.dirty_batches import MAX_DAYS, MAX_US, MIN_DAYS, MIN_US
from tests.unit.stream_apps.test_bad_input import DEAD_LETTERED
from tests.unit.stream_apps.test_columnar_equivalence import AT, assert_same, both

S = configuration.load()

CUSTOMER = {
    "customer_id": 5,
    "email": "  Ann.Lee@Example.COM ",
    "first_name": " Ann",
    "last_name": "Lee ",
    "customer_segment": "Premium",
    "loyalty_tier": "Gold",
    "registration_date": 1_600_000_000_000_001,
    "updated_at": None,
}
PRODUCT = {
    "product_id": 3,
    "product_name": "Lamp",
    "sku": " ab-12 ",
    "category": " Home ",
    "price": "19.90",
    "stock_quantity": 4,
    "updated_at": 1_700_000_000_000_000,
}
CAMPAIGN = {
    "campaign_id": 8,
    "campaign_name": "Spring",
    "channel": " EMAIL",
    "budget": "-1.00",
    "roi": "0.50",
    "start_date": 19_000,
    "end_date": 19_030,
}
TRANSACTION = {
    "transaction_id": 11,
    "product_id": 3,
    "transaction_type": "IN ",
    "quantity": 7,
    "transaction_date": 1_700_000_000_000_000,
}
ROWS: dict[str, dict[str, Any]] = {
    "customers": CUSTOMER,
    "products": PRODUCT,
    "marketing_campaigns": CAMPAIGN,
    "orders": m.ORDER,
    "order_items": m.ORDER_ITEM,
    "inventory_transactions": TRANSACTION,
}
PKS = {t: next(iter(r)) for t, r in ROWS.items()}


def _value(msg: Msg) -> bytes:
    assert msg.value is not None
    return msg.value


def _msg(table: str, offset: int, op: str = "c", **changes: Any) -> Msg:
    row = {**ROWS[table], **changes}
    before, after = (row, None) if op == "d" else (None, row)
    doc = m.envelope(table, op, before=before, after=after)
    return Msg(m.topic(table), offset % 3, offset, 1_700_000_000_000, m.key(table, row[PKS[table]]),
               m.value(doc))  # fmt: skip


def clean_batch() -> list[Msg]:
    """Every table, every op, tombstones, and the contract's quarantine cases."""
    msgs = []
    for i, table in enumerate(ROWS):
        msgs.append(_msg(table, 10 * i, "r"))
        msgs.append(_msg(table, 10 * i + 1, "c"))
        msgs.append(_msg(table, 10 * i + 2, "u"))
        msgs.append(_msg(table, 10 * i + 3, "d"))
        tombstone = msgs[-1]._replace(offset=10 * i + 4, value=None)
        msgs.append(tombstone)
    msgs.append(_msg("orders", 100, "u", order_status="Lost"))
    msgs.append(_msg("order_items", 101, "c", quantity=0))
    msgs.append(_msg("order_items", 102, "c", unit_price="-0.01"))
    msgs.append(_msg("inventory_transactions", 103, "c", transaction_type=None))
    return msgs


def _results(msgs: list[Msg]) -> tuple[Processed, Processed]:
    results = both(msgs)
    assert results is not None
    expected, got, ids_a, ids_b = results
    assert_same(expected, got)
    assert set(ids_b.calls) == set(ids_a.calls)
    return expected, got


def test_a_clean_batch_goes_column_wise_and_equals_record_by_record() -> None:
    msgs = clean_batch()
    expected, got = _results(msgs)
    assert got.columnar == len(msgs) and not got.fallbacks
    assert got.tombstones == 6 and sum(got.dead_letters.values()) == 7
    assert got.dead_letters[("silver", "order_items.quantity<=0")] == 1
    assert got.dead_letters[("silver", "marketing_campaigns.budget<0")] == 3  # not the delete
    # the quarantined versions end their keys in silver: 'q' markers
    ops = got.tables["orders"].silver.column("op").to_pylist()
    assert ops.count(rules.QUARANTINED_OP) == 1


def test_an_empty_batch() -> None:
    _, got = _results([])
    assert got == Processed() and got.columnar == 0


def test_a_batch_of_tombstones_only() -> None:
    msgs = [_msg("orders", i)._replace(value=None) for i in range(3)]
    _, got = _results(msgs)
    assert got.tombstones == 3 and got.columnar == 3


#: README "Bad input" kind -> why the column-wise path leaves it to the per-record one
FALLBACK_REASONS = {
    "not JSON": "not_utf8",
    "truncated JSON": "not_one_object",
    "JSON but not an object": "not_one_object",
    "unknown op": "op",
    "missing after on a create": "missing_after",
    "missing before on a delete": "missing_before",
    "no source block": "missing_source",
    "no message key": "missing_key",
    "wrong type (string quantity)": "json",
    "wrong type (float price)": "json",
    "decimal out of range": "decimal_out_of_range",
    "decimal with too many decimals": "decimal_out_of_range",
    "timestamp out of range": "timestamp_out_of_range",
    "oversized message": "oversized",
}


@pytest.mark.parametrize("kind", list(FALLBACK_REASONS))
def test_bad_input_sends_only_its_table_record_by_record(kind: str) -> None:
    table, k, v, stage, reason, _ = DEAD_LETTERED[kind]
    msgs = clean_batch()
    bad = Msg(m.topic(table), 1, 55, 1_700_000_000_000, k, v)
    msgs.insert(7, bad)  # among the other tables' messages: the output order must hold
    _, got = _results(msgs)
    assert dict(got.fallbacks) == {
        FALLBACK_REASONS[kind]: len([x for x in msgs if x.topic == bad.topic])
    }
    assert got.columnar == len(msgs) - sum(got.fallbacks.values())
    assert got.dead_letters[(stage, reason)] == 1


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (Msg(m.topic("orders"), 0, 1, None, None, m.value(m.envelope("orders", "t"))), "op"),
        (_msg("orders", 1, gift_wrap=True), "added_column"),
        (_msg("orders", 1, order_id=None)._replace(key=m.key("orders", 1)), "missing_primary_key"),
        (_msg("orders", 1, order_date=MAX_US + 1), "timestamp_out_of_range"),
        (_msg("marketing_campaigns", 1, start_date=MAX_DAYS + 1), "timestamp_out_of_range"),
        (_msg("orders", 1, total_amount="1e3"), "decimal_form"),
        (_msg("orders", 1)._replace(value=b" " + _value(_msg("orders", 1))), "not_one_object"),
        (_msg("orders", 1)._replace(key=b'{"order_id": 42}'), "key"),
                (_msg("orders", 1)._replace(value=_value(_msg("orders", 1)) + b"\n" + _value(_msg("orders", 1))), "json"),
        (_msg("orders", 1)._replace(value=_value(_msg("orders", 1)) + b"\n{}"), "json"),
        (_msg("orders", 1)._replace(value=_value(_msg("orders", 1)) + b" "), "not_one_object"),
    ],
)  # fmt: skip
def test_what_goes_record_by_record(msg: Msg, reason: str) -> None:
    _, got = _results([msg, _msg("customers", 2)])
    assert dict(got.fallbacks) == {reason: 1} and got.columnar == 1


def test_values_are_read_as_one_document_each() -> None:
    value = _value(_msg("orders", 1))
    # newlines inside a value are whitespace to both parsers
    indented = json.dumps(json.loads(value), indent=1).encode()
    _, got = _results([_msg("orders", 1)._replace(value=indented)])
    assert got.columnar == 1
    # documents that would span values, or values of two documents, are not taken
    for values in (
        [b'{"a":', b"{}}", b"{}{}"],
        [b'{"a":{}', b"{}}", value],
        [value + b"\n", value],
        [value + value[:-1], b"{}}"],
    ):
        msgs = [_msg("orders", i)._replace(value=v) for i, v in enumerate(values)]
        _, got = _results(msgs)
        assert got.columnar == 0, values


def test_an_added_column_evolves_the_schema_as_record_by_record_does() -> None:
    ids = Ids()
    processor = ColumnarProcessor(S, registry(ids))
    got = processor.process([_msg("orders", 1, gift_wrap=True), _msg("orders", 2)])
    assert got.fallbacks == {"added_column": 2}
    assert "gift_wrap" in got.tables["orders"].silver.schema.names
    (table, text), *_ = [c for c in ids.calls if "gift_wrap" in c[1]]
    assert table == "orders" and "version" not in json.loads(text)  # the registry numbers them
    assert [processor.registry.decode(o.value)[1] for o in got.outputs] == [2, 2]


def test_a_refused_schema_dead_letters_the_records_and_keeps_their_lake_rows() -> None:
    processor = ColumnarProcessor(S, registry(Ids(refuse=evolved)))
    got = processor.process([_msg("orders", 1, gift_wrap=True), _msg("orders", 2)])
    # the record with the new column cannot go out; the next one goes out as version 1
    assert got.dead_letters == {("silver", "schema_incompatible"): 1}
    assert [o.topic for o in got.outputs] == [S.dlq_topic, "silver.orders"]
    letter = json.loads(got.outputs[0].value)
    assert (letter["stage"], letter["reason"], letter["offset"]) == ("silver", "schema_incompatible", 1)
    assert "silver.orders-value" in letter["detail"] and "BACKWARD" in letter["detail"]
    assert processor.registry.decode(got.outputs[1].value)[1] == 1
    assert got.silver == 1 and len(got.silver_commit_us) == 1
    rows = got.tables["orders"].silver.to_pylist()
    assert [r["gift_wrap"] for r in rows] == ["true", None]  # the lake gets both


def test_a_table_whose_schema_is_refused_goes_record_by_record() -> None:
    def refuse_orders(table: str, schema: dict[str, Any]) -> bool:
        return table == "orders"

    msgs = [_msg("orders", 1), _msg("order_items", 2), _msg("orders", 3)]
    _, got = _results(msgs)
    processor = ColumnarProcessor(S, registry(Ids(refuse=refuse_orders)))
    refused = processor.process(msgs)
    assert refused.fallbacks == {"schema_incompatible": 2} and refused.columnar == 1
    assert [o.topic for o in refused.outputs] == [S.dlq_topic, "silver.order_items", S.dlq_topic]
    assert refused.tables["orders"].silver.equals(got.tables["orders"].silver)


def test_a_topic_of_no_source_table_is_refused() -> None:
    processor = ColumnarProcessor(S, registry())
    msg = _msg("orders", 1)._replace(topic=f"{m.PREFIX}.public.wishlists")
    with pytest.raises(ValueError, match="wishlists"):
        processor.process([_msg("orders", 0), msg])


def test_the_silver_encoder_can_be_swapped() -> None:
    seen: list[tuple[str, int]] = []

    def encoder(reg: AvroRegistry, table: str, rows: pa.Table) -> list[bytes]:
        seen.append((table, rows.num_rows))
        return [b"row %d" % i for i in range(rows.num_rows)]

    processor = ColumnarProcessor(S, registry(), encoder=encoder)
    got = processor.process([_msg("orders", 0), _msg("order_items", 1), _msg("orders", 2)])
    assert seen == [("orders", 2), ("order_items", 1)]
    assert [o.value for o in got.outputs] == [b"row 0", b"row 0", b"row 1"]


# ---------------------------------------------------------------- decode
def _decode(table: str, values: list[bytes]) -> columnar_decode.Envelopes:
    keys: list[bytes | None] = [m.key(table, 1)] * len(values)
    return columnar_decode.decode(table, keys, values)


def test_decode_reads_the_envelope_fields() -> None:
    doc = m.envelope("orders", "u", before=m.ORDER, after={**m.ORDER, "order_status": "Lost"},
                     snapshot="last", sequence='[null,"77"]', total_order=None)  # fmt: skip
    env = _decode("orders", [m.value(doc), m.value(m.envelope("orders", "d", before=m.ORDER))])
    assert env.op.to_pylist() == ["u", "d"]
    assert env.row["order_status"].to_pylist() == ["Lost", "Shipped"]
    assert env.commit_lsn.to_pylist() == [None, 30921384]
    assert env.tx_order.to_pylist() == [None, 2]
    assert env.snapshot.to_pylist() == [True, False]
    assert env.commit_us.to_pylist() == [m.TS_US, m.TS_US]


def test_decode_takes_milliseconds_when_microseconds_are_missing() -> None:
    env = _decode("orders", [m.value(m.envelope("orders", "c", after=m.ORDER, ts_us=None))])
    assert env.commit_us.to_pylist() == [m.TS_US // 1000 * 1000]


#: JSON texts Python's json module refuses (each must not be taken column-wise), and
#: unusual texts it takes (which may be)
REFUSED = [
    b'{"op":"c","x":NaN1}',
    b'{"op":"c","x":01}',
    b'{"op":"c","x":1.}',
    b'{"op":"c","x":.5}',
    b'{"op":"c","x":+1}',
    b'{"op":"c","x":[1,2,]}',
    b'{"op":"c",}',
    b"{'op':'c'}",
    b'{"op":"c"} // comment',
    b'{"op":"c","x":"\\x"}',
    b'{"op":"c","x":"\\u12"}',
    b'{"op":"c","x":"a\x01b"}',
    b'{"op":"c","x":"a\tb"}',
    b'{"op":"c","x":"\xff"}',
    b'{"op":"c","x":"\xed\xa0\x80"}',
    b'{"op":"c","x":"\xc0\xaf"}',
    b'{"op":"c","x":tru}',
    b'{"op":"c"}x',
    b'{"op":"c"}\x00',
    b'{"op":"c"} {"op":"c"}',
    b'{"op":"c","x":' + b"[" * 3000 + b"]" * 3000 + b"}",
]


@pytest.mark.parametrize("text", REFUSED)
def test_decode_takes_no_text_that_json_refuses(text: bytes) -> None:
    with pytest.raises((ValueError, RecursionError)):
        json.loads(text.decode("utf-8"))  # as envelope.decode reads a value
    doc = m.envelope("orders", "c", after=m.ORDER)
    good = m.value(doc)
    body = text[:-1] + b"," + good[1:] if text.endswith(b"}") else text
    with pytest.raises(Unsupported):
        _decode("orders", [good, body])


def test_decode_refuses_duplicate_names_and_non_scalar_extras() -> None:
    good = m.value(m.envelope("orders", "c", after=m.ORDER))
    for body in (good[:-1] + b', "op": "c"}', good[:-1] + b', "x": {"y": [1]}}'):
        with pytest.raises(Unsupported):
            _decode("orders", [body])
    env = _decode("orders", [good[:-1] + b', "x": "scalar", "ts_ns": 5}'])  # ignored, as json does
    assert env.op.to_pylist() == ["c"]


def test_decode_takes_escapes_as_json_does() -> None:
    after = {**m.ORDER, "order_status": 'S\u00e9\U0001f600\u2028\x7f\\"/\x00'}
    for ensure_ascii in (True, False):
        doc = m.envelope("orders", "c", after=after)
        env = _decode("orders", [json.dumps(doc, ensure_ascii=ensure_ascii).encode()])
        assert env.row["order_status"].to_pylist() == [after["order_status"]]


# ---------------------------------------------------------------- rules
TRICKY = ["İstanbul", "STRASSE ß", "ΟΔΟΣ", "ǅemal", "ﬀ", "Ǆ", " x ", "\u00a0x\u00a0", "", None]


def test_case_mapping_is_python_s() -> None:
    values = pa.array(TRICKY, pa.string())
    assert columnar_rules.lower(values).to_pylist() == [
        None if s is None else s.lower() for s in TRICKY
    ]
    assert columnar_rules.upper(values).to_pylist() == [
        None if s is None else s.upper() for s in TRICKY
    ]
    assert columnar_rules.trim(values).to_pylist() == [rules.trim(s) for s in TRICKY]


@pytest.mark.parametrize(
    ("table", "column", "values"),
    [
        ("order_items", "unit_price", ["99999999.99", "-99999999.99", "-0.00", "0", "5.150", "007.50", None]),
        ("orders", "order_date", [MIN_US, MAX_US, -1, 0, None]),
        ("marketing_campaigns", "start_date", [MIN_DAYS, MAX_DAYS, -1, 0, None]),
        ("products", "stock_quantity", [-(2**63), 2**63 - 1, None]),
    ],
)  # fmt: skip
def test_typed_values_are_those_of_rules_convert(
    table: str, column: str, values: list[Any]
) -> None:
    col = next(c for c in COLUMNS[table] if c.name == column)
    row = {
        c.name: pa.nulls(len(values), columnar_decode.JSON_TYPES[c.kind]) for c in COLUMNS[table]
    }
    row[column] = pa.array(values, columnar_decode.JSON_TYPES[col.kind])
    got = columnar_rules.typed(table, row)[column].to_pylist()
    assert got == [rules.convert(table, col, v) for v in values]


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("order_items", "unit_price", "100000000.00"),
        ("order_items", "unit_price", "5.155"),
        ("order_items", "unit_price", "+5"),
        ("orders", "order_date", MAX_US + 1),
        ("orders", "order_date", MIN_US - 1),
        ("marketing_campaigns", "end_date", MIN_DAYS - 1),
    ],
)
def test_values_record_by_record_refuses_are_not_typed(table: str, column: str, value: Any) -> None:
    col = next(c for c in COLUMNS[table] if c.name == column)
    if value != "+5":  # a form Debezium never writes, yet json takes: left to rules.convert
        with pytest.raises(DecodeError):
            rules.convert(table, col, value)
    row = {c.name: pa.nulls(1, columnar_decode.JSON_TYPES[c.kind]) for c in COLUMNS[table]}
    row[column] = pa.array([value], columnar_decode.JSON_TYPES[col.kind])
    with pytest.raises(Unsupported):
        columnar_rules.typed(table, row)


def test_metrics_count_events_by_path() -> None:
    from stream_apps.metrics import Metrics

    msgs = [_msg("orders", 0), _msg("order_items", 1), _msg("order_items", 2, quantity="x")]
    got = ColumnarProcessor(S, registry()).process(msgs)
    metrics = Metrics()
    metrics.processed(got, len(msgs))
    text = metrics.render().decode()
    assert 'ecom_stream_columnar_events_total{agent="changes"} 1.0' in text
    assert 'ecom_stream_record_by_record_events_total{agent="changes"} 2.0' in text


def test_after_a_column_was_added_clean_batches_use_the_evolved_schema_alike() -> None:
    from stream_apps.pipeline import BatchProcessor

    first = [_msg("orders", 1, gift_wrap=True)]
    then = [_msg("orders", 2), _msg("orders", 3, order_status="Lost")]
    shared: dict[tuple[str, str], int] = {}
    reference = BatchProcessor(S, registry(Ids(shared)), clock=lambda: AT)
    columnar = ColumnarProcessor(S, registry(Ids(shared)), clock=lambda: AT)
    for p in (reference, columnar):
        p.process(first)
    expected, got = reference.process(then), columnar.process(then)
    assert got.columnar == 2
    assert_same(expected, got)
    assert columnar.registry.decode(got.outputs[0].value)[1] == 2  # schema version 2


def test_after_a_refused_column_the_tables_clean_records_still_go_out() -> None:
    processor = ColumnarProcessor(S, registry(Ids(refuse=evolved)))
    first = processor.process([_msg("orders", 1, gift_wrap=True)])
    assert first.dead_letters == {("silver", "schema_incompatible"): 1}
    then = processor.process([_msg("orders", 2), _msg("orders", 3, order_status="Lost")])
    assert then.columnar == 2 and then.silver == 1
    assert [o.topic for o in then.outputs] == ["silver.orders", S.dlq_topic, "silver.orders"]
    assert processor.registry.decode(then.outputs[0].value)[1] == 1
