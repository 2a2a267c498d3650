"""The consumer's chunks: which records a chunk delivers, which offsets it stands for, and
Faust's commit bookkeeping when a chunk is acknowledged."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

from stream_apps import chunks
from stream_apps.app import _backlog, _msgs

TP0 = TP("ecom.public.orders", 0)


def _records(*offsets: int) -> list[Any]:
    return [
        SimpleNamespace(offset=o, timestamp=1_700_000_000_000 + o, timestamp_type=0,
                        key=b"k%d" % o, value=b"v%d" % o, serialized_value_size=2)
        for o in offsets
    ]  # fmt: skip


def _chunk(*offsets: int, first: int | None = None, behind: int = 0) -> chunks.RecordChunk:
    first = offsets[0] if first is None else first
    return chunks.RecordChunk(TP0, _records(*offsets), first, behind, generation_id=1)


def test_a_chunk_delivers_every_record_at_or_past_the_read_offset() -> None:
    records, first = chunks.chunk_of(_records(5, 6, 7), read_offset=None)
    assert [r.offset for r in records] == [5, 6, 7] and first == 5
    # after a seek the read offset is the next to read: 5 itself is delivered
    records, first = chunks.chunk_of(_records(5, 6, 7), read_offset=5)
    assert [r.offset for r in records] == [5, 6, 7] and first == 5
    # records fetched before a seek back or delivered already are left out, as Faust does
    records, first = chunks.chunk_of(_records(5, 6, 7), read_offset=6)
    assert [r.offset for r in records] == [6, 7] and first == 6
    assert chunks.chunk_of(_records(5, 6), read_offset=9) == ([], 0)


def test_offsets_the_broker_skipped_belong_to_the_next_chunk() -> None:
    # the last chunk ended at 4; 5-7 hold no records (transaction markers, compaction)
    records, first = chunks.chunk_of(_records(8, 9), read_offset=4)
    assert [r.offset for r in records] == [8, 9] and first == 5


def test_new_acked_takes_the_range_from_the_committed_offset_without_repeats() -> None:
    assert chunks.new_acked(10, 14, committed=None, index=set()) == [10, 11, 12, 13, 14]
    assert chunks.new_acked(10, 14, committed=12, index=set()) == [12, 13, 14]
    assert chunks.new_acked(10, 14, committed=None, index={11, 13}) == [10, 12, 14]
    assert chunks.new_acked(10, 14, committed=20, index=set()) == []


def test_a_record_chunk_is_a_faust_message_of_its_last_record() -> None:
    chunk = _chunk(3, 4, 5, first=2, behind=7)
    assert (chunk.tp, chunk.offset, chunk.first_offset, chunk.behind) == (TP0, 5, 2, 7)
    assert [r.offset for r in chunk.value] == [3, 4, 5]
    assert chunk.timestamp == (1_700_000_000_000 + 5) / 1000.0
    assert chunk.generation_id == 1 and not chunk.acked


@pytest.fixture
def consumer() -> Iterator[Any]:
    """The consumer a Faust app builds once :func:`chunks.install` ran (not started)."""
    before = aiokafka_driver.Transport.Consumer
    chunks.install(100)
    try:
        app = faust.App("chunks-test", broker="kafka://127.0.0.1:1")
        c = app.consumer
        assert isinstance(c, chunks.ChunkingConsumer)
        yield c
    finally:
        aiokafka_driver.Transport.Consumer = before


def test_faust_commits_past_a_chunk_once_it_and_those_before_it_are_acked(consumer: Any) -> None:
    a, b, c = _chunk(0, 1, 2), _chunk(3, 4), _chunk(7, 8, first=5)
    assert consumer.ack(a)
    assert not consumer.ack(a)  # once
    assert consumer._new_offset(TP0) == 3
    consumer._committed_offset[TP0] = 3
    # c acked before b: nothing past b is committed until b is
    assert consumer.ack(c)
    assert consumer._new_offset(TP0) is None
    assert consumer.ack(b)
    assert consumer._new_offset(TP0) == 9  # 5 and 6 (skipped) are covered by c
    assert consumer._n_acked == 3 + 2 + 4


def test_faust_gap_filling_is_off(consumer: Any) -> None:
    import asyncio

    asyncio.run(consumer._add_gap(TP0, 3, 6))
    assert not consumer._gap[TP0]


def test_the_agent_expands_chunks_into_records_once_each() -> None:
    events = [SimpleNamespace(message=_chunk(0, 1, 2)), SimpleNamespace(message=_chunk(1, 2, 3))]
    msgs = _msgs(events)
    assert [(m.topic, m.partition, m.offset) for m in msgs] == [(TP0.topic, 0, o) for o in range(4)]
    assert (msgs[0].timestamp_ms, msgs[0].key, msgs[0].value) == (1_700_000_000_000, b"k0", b"v0")


def test_the_consumer_is_behind_when_a_batch_or_a_partition_holds_a_fetch_worth() -> None:
    small = [SimpleNamespace(message=_chunk(0, 1)), SimpleNamespace(message=_chunk(2, 3))]
    assert not _backlog(small, batch_size=5)
    assert _backlog(small + [SimpleNamespace(message=_chunk(4))], batch_size=5)
    assert _backlog([SimpleNamespace(message=_chunk(0, behind=5))], batch_size=5)
    # 64 full chunks of 156 records: a full batch of the default size
    full = [SimpleNamespace(message=_chunk(*range(i * 156, (i + 1) * 156))) for i in range(64)]
    assert _backlog(full, batch_size=10_000)
    assert not _backlog(full[:-1], batch_size=10_000)



def test_a_partition_of_a_fetch_is_split_into_chunks_of_the_size() -> None:
    records = _records(5, 6, 7, 9, 10)  # 8: skipped by the broker
    split = chunks.pieces(records, first=3, size=2)
    assert [([r.offset for r in p], f) for p, f in split] == [([5, 6], 3), ([7, 9], 7), ([10], 10)]
    assert [([r.offset for r in p], f) for p, f in chunks.pieces(records, 5, 10)] == [([5, 6, 7, 9, 10], 5)]


def test_install_sets_the_chunk_size_and_the_transport_consumer() -> None:
    before, size = aiokafka_driver.Transport.Consumer, chunks.ChunkingConsumer.max_records
    try:
        chunks.install(0)
        assert chunks.ChunkingConsumer.max_records == 1
        chunks.install(156)
        assert aiokafka_driver.Transport.Consumer is chunks.ChunkingConsumer
        assert chunks.ChunkingConsumer.max_records == 156
    finally:
        aiokafka_driver.Transport.Consumer, chunks.ChunkingConsumer.max_records = before, size
