from __future__ import annotations

import json

import pytest

from stream_apps.envelope import (
    MAX_MESSAGE_BYTES,
    REASONS,
    Coordinates,
    DecodeError,
    decode,
    table_of_topic,
)
from tests.unit.stream_apps.messages import (
    ORDER,
    PREFIX,
    TS_US,
    envelope,
    key,
    topic,
    value,
)


def run(table: str, k: bytes | None, v: bytes | None, *, tp: str | None = None):
    return decode(tp or topic(table), 3, 1234, 1700000000000, k, v, prefix=PREFIX)


def reason_of(table: str, k: bytes | None, v: bytes | None, *, tp: str | None = None) -> str:
    with pytest.raises(DecodeError) as info:
        run(table, k, v, tp=tp)
    assert info.value.reason in REASONS
    return info.value.reason


def test_table_of_topic() -> None:
    assert table_of_topic("ecom.public.orders", "ecom") == "orders"
    assert table_of_topic("ecom.public.order_items", "ecom") == "order_items"
    assert table_of_topic("other.public.orders", "ecom") is None
    assert table_of_topic("ecom.public.debezium_heartbeat", "ecom") is None
    assert table_of_topic("ecom.cdc.orders", "ecom") is None
    assert table_of_topic("__debezium-heartbeat.ecom", "ecom") is None
    assert table_of_topic("x.public.customers", "x") == "customers"


def test_decode_insert_extracts_every_field() -> None:
    ev = run("orders", key("orders", 42), value(envelope("orders", "c", after=ORDER)))
    assert ev is not None
    assert ev.table == "orders"
    assert ev.op == "c"
    assert ev.key == {"order_id": 42}
    assert ev.after == ORDER
    assert ev.before is None
    assert ev.row == ORDER
    assert ev.lsn == 30922040
    assert ev.commit_lsn == 30921384
    assert ev.tx_id == 731
    assert ev.tx_order == 2
    assert ev.commit_ts_us == TS_US
    assert ev.snapshot is False
    assert ev.coords == Coordinates("ecom.public.orders", 3, 1234, 1700000000000)


def test_update_and_delete_rows() -> None:
    changed = {**ORDER, "order_status": "Delivered"}
    upd = run(
        "orders", key("orders", 42), value(envelope("orders", "u", before=ORDER, after=changed))
    )
    assert upd is not None and upd.row == changed and upd.before == ORDER
    dele = run("orders", key("orders", 42), value(envelope("orders", "d", before=ORDER)))
    assert dele is not None and dele.op == "d" and dele.row == ORDER and dele.after is None


def test_tombstone_is_none() -> None:
    assert run("orders", key("orders", 42), None) is None


def test_truncate_has_no_key_and_no_row() -> None:
    ev = run("order_items", None, value(envelope("order_items", "t")))
    assert ev is not None
    assert ev.op == "t" and ev.key is None and ev.row is None


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("true", True),
        ("first", True),
        ("last", True),
        ("first_in_data_collection", True),
        ("last_in_data_collection", True),
        ("false", False),
        ("incremental", False),
    ],
)
def test_snapshot_flags(flag: str, expected: bool) -> None:
    op = "r" if expected else "c"
    ev = run("orders", key("orders", 42), value(envelope("orders", op, after=ORDER, snapshot=flag)))
    assert ev is not None and ev.snapshot is expected


def test_sequence_nulls_and_absent_fields_tolerated() -> None:
    doc = envelope("orders", "c", after=ORDER, sequence='[null,"30922040"]', total_order=None)
    ev = run("orders", key("orders", 42), value(doc))
    assert ev is not None and ev.commit_lsn is None and ev.tx_order is None
    doc = envelope("orders", "c", after=ORDER, sequence=None, tx_id=None, lsn=None)
    ev = run("orders", key("orders", 42), value(doc))
    assert ev is not None and (ev.commit_lsn, ev.tx_id, ev.lsn) == (None, None, None)
    doc = envelope("orders", "c", after=ORDER)
    del doc["source"]["sequence"]
    ev = run("orders", key("orders", 42), value(doc))
    assert ev is not None and ev.commit_lsn is None


def test_commit_ts_falls_back_to_ts_ms() -> None:
    doc = envelope("orders", "c", after=ORDER, ts_us=None, ts_ms=1795843872254)
    ev = run("orders", key("orders", 42), value(doc))
    assert ev is not None and ev.commit_ts_us == 1795843872254000


def test_unknown_topic() -> None:
    v = value(envelope("orders", "c", after=ORDER))
    assert reason_of("orders", key("orders", 42), v, tp="ecom.public.nope") == "unknown_topic"
    assert reason_of("orders", key("orders", 42), v, tp="other.public.orders") == "unknown_topic"


def test_oversized() -> None:
    doc = envelope("orders", "c", after={**ORDER, "pad": "x" * MAX_MESSAGE_BYTES})
    assert reason_of("orders", key("orders", 42), value(doc)) == "oversized"
    # exactly at the limit is not oversized (it fails later as not JSON)
    assert reason_of("orders", key("orders", 42), b" " * MAX_MESSAGE_BYTES) == "not_json"


@pytest.mark.parametrize(
    "cut",
    [
        b'{"op": "c", "after": {"order_id": 4',
        b'{"op": "c", "after": {"order_status": "Ship',
        b'{"op": "c", "after": {"x": tr',
        b'{"op": "c", "after": {"x": nul',
        b'{"op": "c", "after": {"x": 1.',
        b'{"op": "c", "after": {"x": -',
        b'{"op": "c", "after": {"x": 1e',
        b'{"op": "c", "after": {"x": "\\u00',
        b'{"op": "c", "after": ',
        b'{"op"',
        b"{",
        b'{"op": "c", "name": "caf\xc3',  # cut inside a UTF-8 character
    ],
)
def test_truncated_json(cut: bytes) -> None:
    assert reason_of("orders", key("orders", 42), cut) == "truncated_json"


@pytest.mark.parametrize("ascii_only", [True, False])
def test_every_prefix_of_a_real_message_is_truncated(ascii_only: bool) -> None:
    doc = envelope("orders", "u", before=ORDER, after={**ORDER, "order_status": "é\U0001f600"})
    doc["after"]["total_amount"] = "-12.50"
    doc["source"]["flag"] = True
    doc["source"]["small"] = -1.25e-7
    full = json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8")
    for n in range(1, len(full)):
        try:
            run("orders", key("orders", 42), full[:n])
        except DecodeError as exc:
            assert exc.reason == "truncated_json", (n, full[:n])
        else:
            pytest.fail(f"prefix of {n} bytes decoded")


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"   ",
        b"hello",
        b'{"op": x}',
        b'{"a": 1}}',
        b"\xff\xfe{}",
        b'{"a": "\xe9"}',
        b"{'a': 1}",
    ],
)
def test_not_json(bad: bytes) -> None:
    assert reason_of("orders", key("orders", 42), bad) == "not_json"


@pytest.mark.parametrize("doc", [[1, 2], "text", 3, None, True])
def test_not_an_object(doc: object) -> None:
    assert reason_of("orders", key("orders", 42), json.dumps(doc).encode()) == "not_an_object"


@pytest.mark.parametrize("op", ["x", None, "", "C", 1])
def test_unknown_op(op: object) -> None:
    doc = envelope("orders", "c", after=ORDER)
    doc["op"] = op
    assert reason_of("orders", key("orders", 42), value(doc)) == "unknown_op"


def test_missing_source() -> None:
    doc = envelope("orders", "c", after=ORDER)
    del doc["source"]
    assert reason_of("orders", key("orders", 42), value(doc)) == "missing_source"
    doc["source"] = "ecom"
    assert reason_of("orders", key("orders", 42), value(doc)) == "missing_source"


@pytest.mark.parametrize("op", ["c", "r", "u"])
def test_missing_after(op: str) -> None:
    doc = envelope("orders", op, before=ORDER, after=None)
    assert reason_of("orders", key("orders", 42), value(doc)) == "missing_after"


def test_missing_before() -> None:
    doc = envelope("orders", "d", before=None, after=None)
    assert reason_of("orders", key("orders", 42), value(doc)) == "missing_before"


@pytest.mark.parametrize(
    "k",
    [None, b"not json", b"[42]", b'{"customer_id": 42}', b'{"order_id": null}', b"\xff"],
)
@pytest.mark.parametrize("op", ["c", "d"])
def test_missing_key(k: bytes | None, op: str) -> None:
    doc = envelope(
        "orders", op, before=ORDER if op == "d" else None, after=ORDER if op == "c" else None
    )
    assert reason_of("orders", k, value(doc)) == "missing_key"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(after="not an object"),
        lambda d: d.update(transaction=[1]),
        lambda d: d["source"].update(lsn="abc"),
        lambda d: d["source"].update(txId=True),
        lambda d: d["source"].update(ts_us=1.5),
        lambda d: d["source"].update(sequence="not json"),
        lambda d: d["source"].update(sequence='{"a": 1}'),
    ],
)
def test_wrong_type_in_envelope(mutate) -> None:
    doc = envelope("orders", "c", after=ORDER)
    mutate(doc)
    assert reason_of("orders", key("orders", 42), value(doc)) == "wrong_type"


def test_wrong_type_in_key() -> None:
    doc = envelope("orders", "c", after=ORDER)
    assert reason_of("orders", b'{"order_id": "42"}', value(doc)) == "wrong_type"
    assert reason_of("orders", b'{"order_id": 4.2}', value(doc)) == "wrong_type"


def test_reasons_are_stable() -> None:
    assert set(REASONS) >= {
        "not_json",
        "truncated_json",
        "not_an_object",
        "unknown_op",
        "missing_after",
        "missing_before",
        "missing_key",
        "unknown_topic",
        "wrong_type",
        "oversized",
        "missing_source",
        "decimal_out_of_range",
        "timestamp_out_of_range",
    }
    err = DecodeError("wrong_type", "orders.x: bad")
    assert err.reason == "wrong_type" and err.detail == "orders.x: bad"
    assert DecodeError("not_json").detail == ""
