"""A cheaper per-message hand-off inside the Faust consumer.

faust-streaming hands every fetched message to the streams with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: four tasks are
created, raced with ``asyncio.wait`` and three of them cancelled, for every message.
During a snapshot, when messages arrive as fast as the broker sends them, that
per-message machinery costs a large share of the worker's CPU, more than our own
decoding.

:class:`FastDrainConsumer` recognises exactly that call and, while the consumer's flow
is active, awaits the callback directly in the draining task. Everything else (flow
suspended by a rebalance, other callers, timeouts) still goes through Faust's
``wait_first``. Why the direct await is safe:

* the callback only blocks when a stream's buffer is full; a rebalance clears those
  buffers (``flow_control.clear()``), which unblocks it, and we run with
  ``stream_wait_empty=False``, so nothing waits for the drain loop to go idle;
* on shutdown the draining task is cancelled, which interrupts the await;
* acknowledgement and commit are untouched: only acked offsets are committed.

Install it with :func:`install` before the app creates its consumer.

Two more per-message costs are cut the same way, keeping Faust's behaviour:

* :class:`RawSchema`: Faust's compiled topic decoder runs every key and value through
  its serializer registry and codec lookup, only for the ``raw`` codec to hand the bytes
  back unchanged. Our topics are raw bytes, so the event is built directly.
* :class:`LeanMonitor`: Faust's default monitor keeps per-event statistics (a weak-key
  lookup, timings and counters per stream and task) that nothing here reads: the
  workers export their own metrics on ``/metrics``. It keeps the one per-event figure
  Faust itself uses, the time a partition last delivered an event, which its
  stalled-stream warnings read.

What each saves, measured as process CPU over events of one worker draining the same
118,000-event backlog (``python -m bench.bench_drain --scale 0.05 --workers 1
--reuse``, fresh consumer group and buckets per run): 122-127 us per event with all
three; 224 us without :class:`FastDrainConsumer` (its full-queue wait alone: 14 us);
134-144 us with only :class:`FastDrainConsumer` (:class:`RawSchema` and
:class:`LeanMonitor` together: about 16 us, neither clearly above the noise alone).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from time import monotonic
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from faust.sensors.monitor import Monitor
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, AppT, EventT, Message, StreamT
from mode.services import WaitResults

log = logging.getLogger(__name__)


def _awaits_event(coro: Any, event: object) -> bool:
    """True if ``coro`` is an un-started ``event.wait()`` coroutine."""
    frame = getattr(coro, "cr_frame", None)
    if frame is None or getattr(coro, "cr_running", True):
        return False
    return bool(frame.f_code.co_name == "wait" and frame.f_locals.get("self") is event)


#: A full stream queue is waited on until it is below this share of its size.
ROOM_FRACTION = 0.9
#: How often a full queue is looked at again.
POLL_SECONDS = 0.005


def _message_of(coro: Any) -> Any:
    """The ``message`` argument of an un-started coroutine (the conductor's callback)."""
    frame = getattr(coro, "cr_frame", None)
    return None if frame is None else frame.f_locals.get("message")


def _any_full(channels: Any) -> bool:
    return any(chan.queue.full() for chan in channels)


def _all_have_room(channels: Any) -> bool:
    for chan in channels:
        queue = chan.queue
        if queue.maxsize and queue.qsize() >= queue.maxsize * ROOM_FRACTION:
            return False
    return True


class FastDrainConsumer(aiokafka_driver.Consumer):
    """The aiokafka driver's consumer with a direct per-message hand-off."""

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        if (
            timeout is None
            and len(coros) == 2
            and self.flow_active
            and isinstance(coros[0], Coroutine)
            and _awaits_event(coros[1], self.suspend_flow)
        ):
            coros[1].close()  # never started: closing it avoids a "never awaited" warning
            try:
                if not await self._room_for(_message_of(coros[0])):
                    coros[0].close()  # flow suspended (rebalance): as if Faust's wait lost
                    return WaitResults([], [], True)
            except BaseException:
                coros[0].close()  # cancelled (shutdown) before the hand-off started
                raise
            result = await coros[0]
            return WaitResults([coros[0]], [result], False)
        return await super().wait_first(*coros, timeout=timeout)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek every assigned partition to its committed offset, and to the earliest
        offset when it has none: see :func:`seek_committed_or_earliest`."""
        thread: Any = self._thread  # Faust's AIOKafkaConsumerThread owns the client
        return await thread.call_thread(seek_committed_or_earliest, thread._ensure_consumer())

    async def _room_for(self, message: Any) -> bool:
        """Wait while a stream queue of the message's partition is full; False if the
        flow was suspended meanwhile.

        When a queue is full, Faust's conductor puts the event with a task per channel
        and ``asyncio.wait`` for every message, which while the agents are the
        bottleneck (a snapshot) is most messages. Waiting here until the queues are
        below :data:`ROOM_FRACTION` lets the following burst of messages take the
        conductor's direct ``put_nowait`` instead. Order and delivery are unchanged.
        """
        if message is None:
            return True
        conductor: Any = self.app.topics  # Faust's conductor
        channels = conductor._tp_index.get(message.tp)
        if not channels or not _any_full(channels):
            return True
        while not _all_have_room(channels):
            if not self.flow_active:
                return False
            await asyncio.sleep(POLL_SECONDS)
        return self.flow_active


async def seek_committed_or_earliest(consumer: AIOKafkaConsumer) -> dict[Any, int | None]:
    """Rewind every assigned partition to where its group left off.

    After a rebalance the worker drops the events it fetched before it and relies on
    the partitions being read again from their committed offsets. aiokafka's
    ``seek_to_committed`` leaves a partition without a committed offset (a new group's)
    at its current position, past the dropped events, which were then never delivered
    again: such partitions go back to their earliest offset, as
    ``auto_offset_reset=earliest`` would have placed them.
    """
    committed: dict[Any, int | None] = await consumer.seek_to_committed()
    fresh = [tp for tp, offset in committed.items() if not offset]
    if fresh:
        await consumer.seek_to_beginning(*fresh)
    return committed


def install() -> None:
    """Make Faust's Kafka transport build :class:`FastDrainConsumer` consumers."""
    aiokafka_driver.Transport.Consumer = FastDrainConsumer
    log.debug("faust consumer fast path installed")


class RawSchema(faust.Schema):
    """Key and value as the raw bytes received, without Faust's codec machinery."""

    def __init__(self) -> None:
        super().__init__(key_serializer="raw", value_serializer="raw")

    def compile(self, app: AppT, **kwargs: Any) -> Any:
        """The decoder a topic uses for every message (Faust compiles it once)."""
        create_event = app.create_event

        async def decode(message: Message, *, propagate: bool = False) -> EventT:
            return create_event(message.key, message.value, message.headers, message)

        return decode

    async def decode(self, app: AppT, message: Message, *, propagate: bool = False) -> EventT:
        return app.create_event(message.key, message.value, message.headers, message)


class LeanMonitor(Monitor):
    """Faust's monitor without its per-event bookkeeping (see the module docstring)."""

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        return None

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: StreamT, event: EventT
    ) -> dict[str, Any] | None:
        self.stream_inbound_time[tp] = monotonic()
        return None

    def on_stream_event_out(
        self,
        tp: TP,
        offset: int,
        stream: StreamT,
        event: EventT,
        state: dict[str, Any] | None = None,
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        return None
