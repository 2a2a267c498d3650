"""The agent's handling of stale events: after a rebalance, a batch can mix events fetched
before it with the first events read again from the committed offsets. Only the stale
ones may be dropped; dropping the fresh ones with them loses changes, since Faust then
commits over the single missing offset at the head of each partition. And flushes per
table: a table slow to commit holds back neither the others' flushes nor their acks."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

from stream_apps.app import _Flusher


def _event(partition: int, offset: int, generation: int) -> Any:
    message = SimpleNamespace(
        topic="ecom.public.orders", partition=partition, offset=offset, generation_id=generation
    )
    return SimpleNamespace(message=message)


def _flusher(generation: int) -> _Flusher:
    app = SimpleNamespace(consumer_generation_id=generation)
    return _Flusher(app, landing=None, prefix="ecom")  # type: ignore[arg-type]


def test_a_mixed_batch_keeps_the_events_of_the_current_generation() -> None:
    flusher = _flusher(generation=7)
    stale = [_event(0, 40, 6), _event(1, 12, 6)]
    first_read_again = [_event(0, 38, 7), _event(2, 5, 7)]
    batch = [stale[0], first_read_again[0], stale[1], first_read_again[1]]
    assert not flusher.current(batch)
    assert flusher.fresh(batch) == first_read_again
    assert flusher.current(flusher.fresh(batch))


def test_a_batch_all_stale_leaves_nothing() -> None:
    flusher = _flusher(generation=3)
    assert flusher.fresh([_event(0, 1, 2), _event(0, 2, 2)]) == []


class _Landing:
    """Tables due on demand; writing ``slow`` blocks until released."""

    def __init__(self, slow: str) -> None:
        self.slow, self.release = slow, threading.Event()
        self.buffered: set[str] = set()
        self.written: list[str] = []

    def due(self) -> list[str]:
        return sorted(self.buffered)

    def take(self, tables: list[str]) -> list[tuple[str, None]]:
        self.buffered -= set(tables)
        return [(t, None) for t in tables]

    def write(self, taken: list[tuple[str, None]]) -> set[str]:
        tables = {t for t, _ in taken}
        if self.slow in tables:
            assert self.release.wait(10)
        self.written += sorted(tables)
        return tables


def _held(flusher: _Flusher, table: str, offset: int) -> Any:
    event = _event(0, offset, 1)
    event.message.topic = f"ecom.public.{table}"
    flusher.held[table].append(event)
    return event


def test_a_slow_table_holds_back_neither_other_tables_nor_itself_twice() -> None:
    async def scenario() -> None:
        acked: list[Any] = []
        app = SimpleNamespace(consumer_generation_id=1,
                              consumer=SimpleNamespace(ack=acked.append))  # fmt: skip
        landing = _Landing(slow="orders")
        flusher = _Flusher(app, landing=landing, prefix="ecom")  # type: ignore[arg-type]
        flusher.stream = object()
        order = _held(flusher, "orders", 1)
        landing.buffered = {"orders"}
        flusher.start()
        first = flusher.flushing["orders"]
        # more orders rows and a customers row become due while orders is being written
        later_order, customer = _held(flusher, "orders", 2), _held(flusher, "customers", 1)
        landing.buffered = {"orders", "customers"}
        flusher.start()
        assert flusher.flushing["orders"] is first  # not taken a second time
        await asyncio.wait_for(asyncio.shield(flusher.flushing["customers"]), 5)
        assert landing.written == ["customers"]
        assert acked == [customer.message]
        assert flusher.held["orders"] == [later_order]  # stays for the next flush
        landing.release.set()
        await flusher.settle()
        assert acked == [customer.message, order.message]
        assert flusher.flushing == {}
        flusher.start()
        await flusher.settle()
        assert acked == [customer.message, order.message, later_order.message]

    asyncio.run(scenario())
