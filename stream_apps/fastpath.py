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

Measured on a one-worker drain of a 118,000-event backlog (process CPU over events,
fresh consumer group): about 122 us of CPU per event with this consumer, 224 us
without it; its full-queue wait alone is about 14 us of that. Faust's own topic
decoding and monitor stay: replacing them (raw bytes without the codec lookup, no
per-event statistics) saves under 3 us per event in the same measurement, within its
noise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from faust.transport.drivers import aiokafka as aiokafka_driver
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


def install() -> None:
    """Make Faust's Kafka transport build :class:`FastDrainConsumer` consumers."""
    aiokafka_driver.Transport.Consumer = FastDrainConsumer
    log.debug("faust consumer fast path installed")
