"""The raw schema and the lean monitor behave as Faust's own, minus the codec and the
per-event statistics."""

from __future__ import annotations

import asyncio
from typing import Any

from stream_apps import fastpath


def _message(key: bytes | None, value: bytes | None) -> Any:
    from faust.types import Message

    return Message("ecom.public.orders", 3, 42, 1.5, 0, headers=[("h", b"v")], key=key, value=value, checksum=None)  # fmt: skip


def test_raw_schema_builds_the_event_from_the_bytes_received() -> None:
    import faust

    app = faust.App("fastpath-test", monitor=fastpath.LeanMonitor())
    schema = fastpath.RawSchema()
    for key, value in ((b'{"id": 1}', b"\x00not json\xff"), (None, None)):
        msg = _message(key, value)
        event = asyncio.run(schema.decode(app, msg))
        assert event.key == key and event.value == value
        assert event.message is msg
        assert event.headers == {"h": b"v"}
    # the same as Faust's own raw decoding
    faust_event = asyncio.run(faust.Schema(key_serializer="raw", value_serializer="raw").decode(app, _message(b"k", b"v")))  # fmt: skip
    assert (faust_event.key, faust_event.value) == (b"k", b"v")


def test_lean_monitor_keeps_only_the_stream_inbound_time() -> None:
    from faust.types import TP

    monitor = fastpath.LeanMonitor()
    tp = TP("ecom.public.orders", 3)
    msg = _message(b"k", b"v")
    monitor.on_message_in(tp, 42, msg)
    assert monitor.on_stream_event_in(tp, 42, object(), object()) is None  # type: ignore[arg-type]
    monitor.on_stream_event_out(tp, 42, object(), object(), None)  # type: ignore[arg-type]
    monitor.on_message_out(tp, 42, msg)
    assert tp in monitor.stream_inbound_time
    assert monitor.messages_received_total == 0 and monitor.events_total == 0


def test_a_topic_with_the_raw_schema_decodes_through_it() -> None:
    import faust

    app = faust.App("fastpath-topic-test", monitor=fastpath.LeanMonitor())
    topic = app.topic("ecom.public.orders", schema=fastpath.RawSchema(), allow_empty=True)
    assert "RawSchema" in topic.decode.__qualname__  # not Faust's codec-based decoder
    for key, value in ((b"k", b"\xff raw"), (None, None)):
        msg = _message(key, value)
        event = asyncio.run(topic.decode(msg, propagate=True))
        assert (event.key, event.value, event.message) == (key, value, msg)
