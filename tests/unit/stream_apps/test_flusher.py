"""The agent's handling of stale events: after a rebalance, a batch can mix events fetched
before it with the first events read again from the committed offsets. Only the stale
ones may be dropped; dropping the fresh ones with them loses changes, since Faust then
commits over the single missing offset at the head of each partition."""

from __future__ import annotations

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
