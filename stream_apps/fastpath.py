"""Two cheaper steps of Faust's per-message path, through its own extension points.

* :class:`RawSchema`: Faust's compiled topic decoder runs every key and value through
  its serializer registry and codec lookup, only for the ``raw`` codec to hand the bytes
  back unchanged. Our topics' messages are chunks of records
  (:mod:`stream_apps.chunks`), which no codec takes, so the event is built directly.
* :class:`LeanMonitor`: Faust's default monitor keeps per-event statistics (a weak-key
  lookup, timings and counters per stream and task) that nothing here reads: the
  workers export their own metrics on ``/metrics``. It keeps the one per-event figure
  Faust itself uses, the time a partition last delivered an event, which its
  stalled-stream warnings read.

Since the consumer hands over chunks, each is paid once per chunk, not once per change
event. They were measured when Faust's messages were single records: with both, one
worker draining the same 118,000-event backlog spent about 16 us per event less
(``python -m bench.bench_drain --scale 0.05 --workers 1 --reuse``).
"""

from __future__ import annotations

from time import monotonic
from typing import Any

import faust
from faust.sensors.monitor import Monitor
from faust.types import TP, AppT, EventT, Message, StreamT


class RawSchema(faust.Schema):
    """Key and value as the consumer delivered them, without Faust's codec machinery
    (which could not decode a chunk's list of records anyway)."""

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
