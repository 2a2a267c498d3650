"""One decode per message shared by the bronze and silver agents, never a stale one."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.avro import AvroRegistry
from stream_apps import configuration, envelope, formats
from stream_apps.pipeline import Msg, SharedDecoder, SilverProcessor
from tests.unit.stream_apps import messages as m

ORDER_KEY = m.key("orders", m.ORDER["order_id"])


def _order(offset: int, **after: Any) -> Msg:
    doc = m.envelope("orders", "c", after={**m.ORDER, **after})
    return Msg(m.topic("orders"), 1, offset, 1_700_000_000_000, ORDER_KEY, m.value(doc))


def _call(dec: SharedDecoder, msg: Msg) -> Any:
    return dec(*msg, prefix=m.PREFIX)


def test_the_second_agent_takes_the_first_ones_result_once() -> None:
    dec = SharedDecoder(m.PREFIX)
    msg = _order(5)
    first = _call(dec, msg)
    assert first == envelope.decode(*msg, prefix=m.PREFIX)
    assert len(dec) == 1
    assert _call(dec, msg) is first and dec.hits == 1
    assert len(dec) == 0  # taken: a third reader decodes again
    assert _call(dec, msg) == first and dec.hits == 1


def test_other_bytes_at_the_same_coordinates_are_decoded_afresh() -> None:
    dec = SharedDecoder(m.PREFIX)
    old = _order(5, order_status="Pending")
    new = _order(5, order_status="Delivered")  # e.g. a topic recreated, offsets reused
    _call(dec, old)
    event = _call(dec, new)
    assert dec.hits == 0
    assert event.after["order_status"] == "Delivered"


def test_decode_errors_are_shared_with_their_reason() -> None:
    dec = SharedDecoder(m.PREFIX)
    bad = Msg(m.topic("orders"), 0, 9, None, ORDER_KEY, b'{"op": "c", "after": {"id": 1')
    reasons = []
    for _ in range(2):
        with pytest.raises(envelope.DecodeError) as err:
            _call(dec, bad)
        reasons.append((err.value.reason, err.value.detail))
    assert dec.hits == 1
    assert reasons[0] == reasons[1] and reasons[0][0] == "truncated_json"


def test_tombstones_are_shared_too() -> None:
    dec = SharedDecoder(m.PREFIX)
    tomb = Msg(m.topic("orders"), 0, 3, None, ORDER_KEY, None)
    assert _call(dec, tomb) is None and _call(dec, tomb) is None
    assert dec.hits == 1


def test_waiting_results_are_bounded() -> None:
    dec = SharedDecoder(m.PREFIX, capacity=10)
    msgs = [_order(i) for i in range(25)]
    for msg in msgs:
        _call(dec, msg)
    assert len(dec) == 10
    _call(dec, msgs[0])  # dropped: decoded again, still right
    assert dec.hits == 0
    _call(dec, msgs[-1])
    assert dec.hits == 1


def test_two_threads_get_what_envelope_decode_gives() -> None:
    dec = SharedDecoder(m.PREFIX, capacity=5000)
    msgs = [_order(i, customer_id=i + 1) if i % 7 else Msg(*_order(i)[:5], b"garbage") for i in range(2000)]  # fmt: skip
    expected = []
    for msg in msgs:
        try:
            expected.append(envelope.decode(*msg, prefix=m.PREFIX))
        except envelope.DecodeError as exc:
            expected.append(exc.reason)
    got: dict[str, list[Any]] = {}

    def agent(name: str) -> None:
        out = []
        for msg in msgs:
            try:
                out.append(_call(dec, msg))
            except envelope.DecodeError as exc:
                out.append(exc.reason)
        got[name] = out

    threads = [threading.Thread(target=agent, args=(n,)) for n in ("bronze", "silver")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got["bronze"] == expected and got["silver"] == expected
    assert dec.hits > 0


def test_bronze_and_silver_give_the_same_output_with_a_shared_decoder() -> None:
    msgs = [_order(i, customer_id=i + 1) for i in range(50)]
    msgs.append(Msg(m.topic("orders"), 1, 50, None, ORDER_KEY, b"not json"))
    now = datetime(2026, 11, 28, tzinfo=UTC)
    s3: Any = None
    settings = configuration.load()
    plain = SilverProcessor(settings, AvroRegistry.from_package(), s3)
    dec = SharedDecoder(m.PREFIX)
    shared = SilverProcessor(settings, AvroRegistry.from_package(), s3, dec)

    def rows(decoder: Any) -> list[dict[str, Any]]:
        return [formats.bronze_row(*x, prefix=m.PREFIX, ingest_ts=now, decoder=decoder) for x in msgs]  # fmt: skip

    assert rows(dec) == rows(envelope.decode)
    with_shared, without = shared.process(msgs), plain.process(msgs)
    assert dec.hits == len(msgs)
    assert [(o.topic, o.key) for o in with_shared.outputs] == [(o.topic, o.key) for o in without.outputs]  # fmt: skip
    assert [_comparable(o.value) for o in with_shared.outputs] == [
        _comparable(o.value) for o in without.outputs
    ]


def _comparable(value: bytes) -> Any:
    """Silver records as bytes; dead letters without their wall-clock time."""
    if value.startswith(b"{"):
        return {k: v for k, v in json.loads(value).items() if k != "dead_lettered_at"}
    return value
