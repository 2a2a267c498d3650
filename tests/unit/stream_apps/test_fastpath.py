"""The consumer fast path recognises exactly Faust's per-message hand-off."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.drivers import aiokafka as aiokafka_driver
from mode.utils.locks import Event

from stream_apps import fastpath


def test_recognises_an_unstarted_wait_of_that_event() -> None:
    event, other = Event(), Event()
    coro = event.wait()
    try:
        assert fastpath._awaits_event(coro, event)
        assert not fastpath._awaits_event(coro, other)
    finally:
        coro.close()


def test_other_coroutines_are_not_mistaken_for_the_flow_wait() -> None:
    event = Event()

    async def wait() -> None:  # same name, different owner
        await asyncio.sleep(0)

    coro = wait()
    try:
        assert not fastpath._awaits_event(coro, event)
        assert not fastpath._awaits_event(object(), event)
    finally:
        coro.close()


def test_install_switches_the_transport_consumer() -> None:
    before = aiokafka_driver.Transport.Consumer
    try:
        fastpath.install()
        assert aiokafka_driver.Transport.Consumer is fastpath.FastDrainConsumer
        assert issubclass(fastpath.FastDrainConsumer, aiokafka_driver.Consumer)
    finally:
        aiokafka_driver.Transport.Consumer = before


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


def _consumer_with(queues: list[asyncio.Queue[int]], tp: Any, flow: list[bool]) -> Any:
    """What ``_room_for`` reads of a consumer: its app's conductor (``app.topics``) index
    and its flow."""
    from types import SimpleNamespace

    class Consumer:
        app = SimpleNamespace(
            topics=SimpleNamespace(_tp_index={tp: [SimpleNamespace(queue=q) for q in queues]})
        )

        @property
        def flow_active(self) -> bool:
            return flow[0]

    return Consumer()


def test_room_for_passes_at_once_unless_a_queue_is_full() -> None:
    from faust.types import TP

    tp = TP("ecom.public.orders", 0)

    async def scenario() -> None:
        q = asyncio.Queue[int](maxsize=10)
        for i in range(9):
            q.put_nowait(i)
        consumer = _consumer_with([q], tp, [True])
        msg = _message(b"k", b"v")
        assert await fastpath.FastDrainConsumer._room_for(consumer, msg)  # 9 of 10: no wait
        assert await fastpath.FastDrainConsumer._room_for(consumer, None)

    asyncio.run(scenario())


def test_room_for_waits_for_a_full_queue_to_drain_below_the_mark() -> None:
    from faust.types import TP

    tp = TP("ecom.public.orders", 3)

    async def scenario() -> None:
        full, other = asyncio.Queue[int](maxsize=10), asyncio.Queue[int](maxsize=10)
        for i in range(10):
            full.put_nowait(i)
        consumer = _consumer_with([full, other], tp, [True])
        waiting = asyncio.ensure_future(fastpath.FastDrainConsumer._room_for(consumer, _message(b"k", b"v")))  # fmt: skip
        await asyncio.sleep(0.05)
        assert not waiting.done()
        full.get_nowait()  # 9 of 10: not below 90 % yet
        await asyncio.sleep(0.05)
        assert not waiting.done()
        full.get_nowait()  # 8 of 10
        assert await asyncio.wait_for(waiting, 1.0) is True

    asyncio.run(scenario())


def test_room_for_gives_up_when_the_flow_is_suspended() -> None:
    from faust.types import TP

    tp = TP("ecom.public.orders", 3)

    async def scenario() -> None:
        q = asyncio.Queue[int](maxsize=2)
        q.put_nowait(1)
        q.put_nowait(2)
        flow = [True]
        consumer = _consumer_with([q], tp, flow)
        waiting = asyncio.ensure_future(fastpath.FastDrainConsumer._room_for(consumer, _message(b"k", b"v")))  # fmt: skip
        await asyncio.sleep(0.03)
        flow[0] = False  # a rebalance suspends the flow
        assert await asyncio.wait_for(waiting, 1.0) is False

    asyncio.run(scenario())


def test_the_callback_message_is_read_from_the_unstarted_coroutine() -> None:
    async def on_message(message: Any) -> None:
        return None

    msg = _message(b"k", b"v")
    coro = on_message(msg)
    try:
        assert fastpath._message_of(coro) is msg
    finally:
        coro.close()
    assert fastpath._message_of(object()) is None


def test_room_for_reads_the_channels_of_a_real_faust_app() -> None:
    import faust
    from faust.types import TP

    tp = TP("ecom.public.orders", 3)  # the partition of _message()
    app = faust.App("fastpath-index-test", monitor=fastpath.LeanMonitor(), stream_buffer_maxsize=10)
    app.topics.add(app.topic("ecom.public.orders", schema=fastpath.RawSchema()))
    app.topics._update_tp_index({tp})

    class Consumer:  # what _room_for uses of the consumer: its app and its flow
        flow_active = True

    consumer: Any = Consumer()
    consumer.app = app

    async def scenario() -> None:
        (queue,) = [chan.queue for chan in app.topics._tp_index[tp]]
        msg = _message(b"k", b"v")
        assert await fastpath.FastDrainConsumer._room_for(consumer, msg)
        while not queue.full():
            queue.put_nowait(object())
        waiting = asyncio.ensure_future(fastpath.FastDrainConsumer._room_for(consumer, msg))
        await asyncio.sleep(0.03)
        assert not waiting.done()
        while queue.qsize() >= queue.maxsize * fastpath.ROOM_FRACTION:
            queue.get_nowait()
        assert await asyncio.wait_for(waiting, 1.0) is True

    asyncio.run(scenario())
