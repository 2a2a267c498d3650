"""The Faust consumer hands the agent chunks of a partition's records, not one per message.

Faust's consumer turns every Kafka record into a message and an event, races four
asyncio tasks to put it in the agent's queue, and acknowledges it through the stream's
reference counting: together about 70 us of the worker's CPU per change event, most of
what a drain cost, while the column-wise batch work of the same event is about 12 us.

:class:`ChunkingConsumer` keeps Faust's consumer (its fetcher, rebalances, flow control
and commits) and changes the unit it delivers: :meth:`ChunkingConsumer.getmany` yields
:class:`RecordChunk` messages, each holding up to ``max_records`` consecutive records of
one partition of a fetch. The agent's stream, its queue and its ``take`` see chunks;
the agent expands them into records. Faust's per-message costs are paid once per
chunk, about 150 records during a backlog.

Commits stay exact. A chunk stands for the offsets from its first record (or the one
after the partition's previous chunk, when offsets were skipped: transaction markers,
compaction) to its last record. :meth:`ChunkingConsumer.ack` marks that whole range
acknowledged in Faust's bookkeeping, so Faust commits past a chunk only once the agent
acknowledged it and every chunk before it. Faust's own gap filling (offsets it saw
skipped, which it treats as done once any later offset is acknowledged) is not needed
and is off: a chunk's range already covers its skipped offsets, and filling them could
commit over a chunk that was delivered but not acknowledged.

Install it with :func:`install` before the app creates its consumer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.types.tuples import ConsumerMessage, ack_lock
from mode.utils.futures import notify

log = logging.getLogger(__name__)


class RecordChunk(ConsumerMessage):
    """The records one fetch returned for one partition, as one Faust message.

    ``value`` is the list of aiokafka records; ``offset`` is the last record's offset
    and ``first_offset`` the first offset the chunk stands for (see the module
    docstring); ``behind`` is how many records the partition held past the chunk when
    it was fetched."""

    __slots__ = ("first_offset", "behind")

    def __init__(self, tp: TP, records: list[Any], first_offset: int, behind: int,
                 generation_id: int | None) -> None:  # fmt: skip
        last = records[-1]
        # Faust types a message's value as bytes; a chunk's is its records
        value: Any = records
        super().__init__(
            tp.topic,
            tp.partition,
            last.offset,
            last.timestamp / 1000.0 if last.timestamp is not None else 0.0,
            last.timestamp_type,
            None,  # headers: each record keeps its own
            None,
            value,
            None,
            None,
            sum(r.serialized_value_size for r in records),
            tp,
            generation_id=generation_id,
        )
        self.first_offset = first_offset
        self.behind = behind


def chunk_of(records: list[Any], read_offset: int | None) -> tuple[list[Any], int]:
    """The records a partition's chunk delivers and the first offset it stands for.

    ``read_offset`` is Faust's read position of the partition: the last offset delivered,
    or after a seek the committed offset (the next to read). Records below it were
    delivered already and are left out, as Faust does record by record. Offsets between
    it and the first record (skipped by the broker) belong to this chunk."""
    if read_offset is not None and records and records[0].offset < read_offset:
        records = [r for r in records if r.offset >= read_offset]
    if not records:
        return records, 0
    first = records[0].offset
    if read_offset is not None and read_offset + 1 < first:
        first = read_offset + 1
    return records, first


def pieces(records: list[Any], first: int, size: int) -> list[tuple[list[Any], int]]:
    """A partition's chunk split into pieces of at most ``size`` records, each with the
    first offset it stands for (the next piece starts right after the previous one)."""
    out = []
    for i in range(0, len(records), size):
        piece = records[i : i + size]
        out.append((piece, first if i == 0 else records[i - 1].offset + 1))
    return out


def new_acked(first: int, last: int, committed: int | None, index: set[int]) -> list[int]:
    """The offsets of a chunk to add to a partition's acknowledged offsets: those of its
    range at or past the committed offset and not acknowledged yet, in order."""
    lo = first if committed is None else max(first, committed)
    return [o for o in range(lo, last + 1) if o not in index]


class ChunkingConsumer(aiokafka_driver.Consumer):
    """The aiokafka driver's consumer, delivering :class:`RecordChunk` messages."""

    #: Most records per chunk (set by :func:`install`): a partition's records of one
    #: fetch are split into chunks of this size, so that counting chunks bounds records.
    max_records = 1_000

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        """The next fetch's records as chunks, with Faust's checks made per chunk."""
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            self.log.dev("getmany called while flow not active. Seek back to committed offsets.")
            try:
                await self.perform_seek()
            except Exception as exc:  # noqa: BLE001 - Faust logs and goes on here too
                self.log.warning(f"exception performing seek when flow not active {exc}")
            return
        for tp, tp_records in records.items():
            if not (
                active_partitions is None
                or tp in active_partitions
                or tp in self._buffered_partitions
            ):
                continue
            chunk, first = chunk_of(tp_records, self._read_offset[tp])
            if not chunk:
                continue
            highwater = self.highwater(tp)
            self.app.monitor.track_tp_end_offset(tp, highwater)
            for piece, piece_first in pieces(chunk, first, self.max_records):
                # a rebalance under way: what is left is read again from the commits
                if not self.flow_active or self.app.consumer_generation_id != generation_id:
                    return
                behind = max(0, (highwater or 0) - piece[-1].offset - 1)
                yield tp, RecordChunk(tp, piece, piece_first, behind, generation_id)

    def ack(self, message: Any) -> bool:
        """Mark a chunk's whole range acknowledged, under Faust's ack lock."""
        first = getattr(message, "first_offset", None)
        if first is None:
            return bool(super().ack(message))
        with ack_lock:
            if message.acked:
                return False
            message.acked = True
            tp = message.tp
            try:
                self._unacked_messages.discard(message)
                index = self._acked_index[tp]
                offsets = new_acked(first, message.offset, self._committed_offset[tp], index)
                if not offsets:
                    return False
                index.update(offsets)
                self._acked[tp].extend(offsets)
                self._n_acked += len(offsets)
                return True
            finally:
                notify(self._waiting_for_ack)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Off: a chunk's range covers the offsets skipped before it (module docstring)."""
        return None

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek every assigned partition to its committed offset, and to the earliest
        offset when it has none: see :func:`seek_committed_or_earliest`."""
        thread: Any = self._thread  # Faust's AIOKafkaConsumerThread owns the client
        return await thread.call_thread(seek_committed_or_earliest, thread._ensure_consumer())


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


def install(max_records: int) -> None:
    """Make Faust's Kafka transport build :class:`ChunkingConsumer` consumers whose chunks
    hold at most ``max_records`` records."""
    ChunkingConsumer.max_records = max(1, max_records)
    aiokafka_driver.Transport.Consumer = ChunkingConsumer
    log.debug("faust chunking consumer installed")
