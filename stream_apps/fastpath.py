"""A cheaper per-message hand-off inside the Faust consumer.

faust-streaming hands every fetched message to the streams with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: four tasks are
created, raced with ``asyncio.wait`` and three of them cancelled, for every message.
On the snapshot of a 2.4-million-row database that per-message machinery cost more
CPU than our own decoding (measured with py-spy: about a fifth of the worker's time).

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
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from time import monotonic
from typing import Any

import faust
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
            result = await coros[0]
            return WaitResults([coros[0]], [result], False)
        return await super().wait_first(*coros, timeout=timeout)


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
