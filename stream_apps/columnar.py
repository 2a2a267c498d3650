"""Column-wise processing of a batch of change events (pure, no I/O of its own).

:class:`ColumnarProcessor` gives exactly what :class:`~stream_apps.pipeline.BatchProcessor`
gives for the same batch (bronze and silver tables, records to produce in the same
order and bytes, the same counts), at a fraction of the cost: each table's messages
are decoded in one ``pyarrow.json`` pass (:mod:`stream_apps.columnar_decode`), the
silver rules run on whole columns (:mod:`stream_apps.columnar_rules`), and the bronze
and silver tables are assembled from those columns.

Fallback: when a table's messages hold anything the column-wise steps cannot
guarantee to treat identically (bad JSON, a wrong type, a value out of range, an
added column, a truncate, ...; see ``columnar_decode.Unsupported``), that table's
messages of the batch go through the record-by-record path, which stays the
reference. So do a table's messages when the schema registry refuses the schema their
silver records would be written with: the reference path dead-letters each record the
same way. Tables are independent, so the other tables of the batch stay
column-wise; the records to produce are put back in the batch's order.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.schema_registry import SchemaIncompatible
from schemas import PRIMARY_KEYS
from schemas.avro import AvroError, AvroRegistry
from schemas.columns import COLUMNS
from stream_apps import envelope, formats, rules
from stream_apps.columnar_decode import Envelopes, Unsupported, decode
from stream_apps.columnar_rules import normalise, quarantine, typed
from stream_apps.configuration import StreamSettings
from stream_apps.destinations import Span
from stream_apps.formats import _MAX_US, _MIN_US
from stream_apps.pipeline import (
    SCHEMA_INCOMPATIBLE,
    BatchProcessor,
    Msg,
    Out,
    Processed,
    TablePart,
    micros,
    utc_now,
)

log = logging.getLogger(__name__)

#: Encodes a table's silver rows (``formats.silver_schema`` columns, plus ``commit_date``)
#: as Avro records of the table's latest schema in the Confluent wire format, one per row,
#: in order.
SilverEncoder = Callable[[AvroRegistry, str, pa.Table], list[bytes]]

_TS = pa.timestamp("us", tz="UTC")
# Kafka timestamps (ms) whose microseconds a datetime can hold (formats.commit_date)
_MIN_MS = -(-_MIN_US // 1000)
_MAX_MS = _MAX_US // 1000


def encode_rows(registry: AvroRegistry, table: str, rows: pa.Table) -> list[bytes]:
    """Row by row with ``AvroRegistry.encode`` (fastavro). Timestamps and dates go as
    their Avro base values (microseconds, days), which fastavro writes as they are: the
    same bytes as from datetimes, without building one per value."""
    columns = {}
    for f, values in zip(rows.schema, rows.columns, strict=True):
        if pa.types.is_timestamp(f.type):
            columns[f.name] = values.cast(pa.int64())
        elif pa.types.is_date32(f.type):
            columns[f.name] = values.cast(pa.int32())
        elif f.name != formats.PARTITION_COLUMN:
            columns[f.name] = values
    encode = registry.encode
    return [encode(table, row) for row in pa.table(columns).to_pylist()]


#: Below this many rows a table is encoded row by row: the column-wise encoder has a fixed
#: cost per call (about half a millisecond) that a few rows do not repay.
COLUMNWISE_MIN_ROWS = 32


def encode_columns(registry: AvroRegistry, table: str, rows: pa.Table) -> list[bytes]:
    """Column-wise with ``AvroRegistry.encode_table`` (byte-identical to fastavro); row by
    row for a few rows, or when the column-wise encoder refuses the table (then the
    per-record encoder names the offending record)."""
    if rows.num_rows < COLUMNWISE_MIN_ROWS:
        return encode_rows(registry, table, rows)
    try:
        return registry.encode_table(table, rows)
    except AvroError:
        return encode_rows(registry, table, rows)


@dataclass
class _Part:
    """One table's share of a batch; ``*_msgs`` give, for each output and each silver
    commit time, the index of its message among the table's messages."""

    table: str
    part: TablePart
    outputs: list[Out]
    output_msgs: np.ndarray
    silver: int
    dead_letters: Counter[tuple[str, str]]
    tombstones: int
    silver_commit_us: list[int]
    commit_msgs: np.ndarray
    fallback: str | None  # why the table went record by record, or None


def _is_not_none(value: Any) -> bool:
    return value is not None


def _repeat(value: Any, type_: pa.DataType, n: int) -> pa.Array:
    return pa.array([value], type_).take(pa.array(np.zeros(n, dtype=np.int64)))


def _spans(partitions: np.ndarray, offsets: np.ndarray) -> dict[int, Span]:
    """Per partition (in order of first appearance) its first offset and the highest
    (``pipeline._Rows.cover``)."""
    if len(partitions) and (partitions == partitions[0]).all():
        return {int(partitions[0]): Span(int(offsets[0]), int(offsets.max()))}
    seen, first = np.unique(partitions, return_index=True)
    spans = {}
    for i in np.argsort(first, kind="stable"):
        these = offsets[partitions == seen[i]]
        spans[int(seen[i])] = Span(int(these[0]), int(these.max()))
    return spans


def _commit_dates(commit_ts: pa.Array, kafka_ms: pa.Array) -> pa.Array:
    """``formats.commit_date`` of every row: the commit's UTC date, else the Kafka
    timestamp's, else 1970-01-01."""
    dates = commit_ts.cast(pa.date32())
    if dates.null_count:
        usable = pc.and_(pc.greater_equal(kafka_ms, _MIN_MS), pc.less_equal(kafka_ms, _MAX_MS))
        by_kafka = pc.if_else(usable, kafka_ms, pa.scalar(None, pa.int64()))
        fallback = by_kafka.cast(pa.timestamp("ms", tz="UTC")).cast(pa.date32())
        dates = pc.coalesce(dates, fallback, pa.scalar(0, pa.date32()))
    return dates


@dataclass
class _Messages:
    """A table's messages as columns."""

    topic: str
    msgs: list[Msg]
    keys: tuple[bytes | None, ...]
    values: tuple[bytes | None, ...]
    partition: pa.Array
    offset: pa.Array
    kafka_ms: pa.Array
    key: pa.Array
    value: pa.Array
    present: np.ndarray  # indices of the messages that are not tombstones

    @classmethod
    def of(cls, msgs: list[Msg]) -> _Messages:
        # field by field: zip(*msgs) would allocate an iterator per message
        partitions, offsets, stamps, keys, values = (
            tuple(map(itemgetter(i), msgs)) for i in range(1, 6)
        )
        present = np.flatnonzero(np.fromiter(map(_is_not_none, values), bool, len(msgs)))
        try:
            columns = (
                pa.array(partitions, pa.int32()),
                pa.array(offsets, pa.int64()),
                pa.array(stamps, pa.int64()),
                pa.array(keys, pa.binary()),
                pa.array(values, pa.binary()),
            )
        except (pa.ArrowInvalid, OverflowError, TypeError):
            raise Unsupported("kafka_fields") from None
        return cls(msgs[0].topic, msgs, keys, values, *columns, present)

    @property
    def n(self) -> int:
        return len(self.msgs)

    def scatter(self, values: pa.Array) -> pa.Array:
        """Values of the non-tombstone messages spread over all messages (null at the
        tombstones)."""
        if len(self.present) == self.n:
            return values
        where = np.full(self.n, -1, dtype=np.int64)
        where[self.present] = np.arange(len(self.present))
        return values.take(pa.array(where, mask=where < 0))

    def present_items(self, items: tuple[Any, ...]) -> list[Any]:
        if len(self.present) == self.n:
            return list(items)
        return [items[i] for i in self.present]

    def gather(self, values: pa.Array) -> pa.Array:
        """The values of the non-tombstone messages."""
        if len(self.present) == self.n:
            return values
        return values.take(pa.array(self.present))


@dataclass
class _Silver:
    """A table's silver rows (one per non-tombstone message) and which of them are
    quarantine markers, with the rule each broke."""

    table: pa.Table
    quarantined: np.ndarray  # bool per row
    reasons: list[str | None] | None


class ColumnarProcessor:
    """Processes each table's messages of a batch column-wise, and falls back to the
    record-by-record :class:`BatchProcessor` (``reference``) for a table whose messages
    it cannot guarantee to treat identically.

    ``encoder`` turns a table's silver rows into Avro records (:data:`SilverEncoder`).
    """

    def __init__(
        self,
        settings: StreamSettings,
        registry: AvroRegistry,
        *,
        clock: Callable[[], datetime] = utc_now,
        encoder: SilverEncoder = encode_columns,
    ) -> None:
        self.reference = BatchProcessor(settings, registry, clock=clock)
        self.s = settings
        self.registry = registry
        self.prefix = settings.base.topic_prefix
        self.clock = clock
        self.encoder = encoder

    def process(self, msgs: list[Msg]) -> Processed:
        at = self.clock()
        if not msgs:
            return Processed()
        groups = self._groups(msgs)
        parts = [self._table(table, idx, msgs, at) for table, idx in groups.items()]
        return _merge(parts, list(groups.values()) if len(parts) > 1 else None)

    def _groups(self, msgs: list[Msg]) -> dict[str, np.ndarray]:
        """Indices of each table's messages, tables in order of first appearance."""
        topics = list(map(itemgetter(0), msgs))
        tables = {}
        for topic in dict.fromkeys(topics):
            table = envelope.table_of_topic(topic, self.prefix)
            if table is None:  # the workers subscribe to the source tables' topics only
                raise ValueError(f"message of topic {topic!r}, which is no source table's")
            tables[topic] = table
        if len(tables) == 1:
            return {tables[topics[0]]: np.arange(len(msgs))}
        code = {topic: i for i, topic in enumerate(tables)}
        codes = np.fromiter(map(code.__getitem__, topics), np.int64, len(topics))
        return {table: np.flatnonzero(codes == code[t]) for t, table in tables.items()}

    def _table(self, table: str, idx: np.ndarray, msgs: list[Msg], at: datetime) -> _Part:
        sub = msgs if len(idx) == len(msgs) else list(map(msgs.__getitem__, idx.tolist()))
        try:
            return self._columnar(table, _Messages.of(sub), at)
        except Unsupported as exc:
            log.debug("%s: %d messages record by record (%s)", table, len(sub), exc.reason)
            return self._by_record(table, sub, at, exc.reason)

    def _by_record(self, table: str, msgs: list[Msg], at: datetime, reason: str) -> _Part:
        marks: list[tuple[int, int]] = []
        done = self.reference.run(msgs, at, marks)
        counts: np.ndarray = np.diff(np.array([(0, 0), *marks], dtype=np.int64), axis=0)
        every = np.arange(len(msgs), dtype=np.int64)
        return _Part(
            table,
            done.tables[table],
            done.outputs,
            np.repeat(every, counts[:, 0]),
            done.silver,
            done.dead_letters,
            done.tombstones,
            done.silver_commit_us,
            np.repeat(every, counts[:, 1]),
            reason,
        )

    def _columnar(self, table: str, ms: _Messages, at: datetime) -> _Part:
        env = None
        if len(ms.present):
            values = ms.present_items(ms.values)
            env = decode(table, ms.present_items(ms.keys), values, ms.gather(ms.value))
        bronze = self._bronze(table, ms, env, at)
        commit_us = bronze.column("commit_ts").cast(pa.int64()).drop_null().to_pylist()
        spans = _spans(ms.partition.to_numpy(), ms.offset.to_numpy())
        if env is None:  # tombstones only
            part = TablePart(ms.topic, bronze, formats.silver_table(table, []), spans, commit_us)
            none = np.zeros(0, np.int64)
            return _Part(table, part, [], none, 0, Counter(), ms.n, [], none, None)
        silver = self._silver(table, ms, env, bronze.column(formats.PARTITION_COLUMN))
        part = TablePart(ms.topic, bronze, silver.table, spans, commit_us)
        return self._outputs(table, ms, env, silver, part, at)

    def _bronze(self, table: str, ms: _Messages, env: Envelopes | None, at: datetime) -> pa.Table:
        n = ms.n
        if env is None:
            op = lsn = commit_lsn = tx_id = tx_order = commit_ts = snapshot = None
        else:
            op, lsn, commit_lsn = (
                ms.scatter(env.op),
                ms.scatter(env.source_lsn),
                ms.scatter(env.commit_lsn),
            )
            tx_id, tx_order = ms.scatter(env.tx_id), ms.scatter(env.tx_order)
            commit_ts = ms.scatter(env.commit_us).cast(_TS)
            snapshot = ms.scatter(env.snapshot)
        tombstone = np.ones(n, dtype=bool)
        tombstone[ms.present] = False

        def or_nulls(values: pa.Array | None, type_: pa.DataType) -> pa.Array:
            return pa.nulls(n, type_) if values is None else values

        commit_ts = or_nulls(commit_ts, _TS)
        columns = [
            _repeat(ms.topic, pa.string(), n),
            ms.partition,
            ms.offset,
            ms.kafka_ms,
            ms.key,
            ms.value,
            _repeat(table, pa.string(), n),
            or_nulls(op, pa.string()),
            or_nulls(lsn, pa.int64()),
            or_nulls(commit_lsn, pa.int64()),
            or_nulls(tx_id, pa.int64()),
            or_nulls(tx_order, pa.int64()),
            commit_ts,
            or_nulls(snapshot, pa.bool_()),
            pa.array(tombstone),
            pa.nulls(n, pa.string()),
            _repeat(micros(at), _TS, n),
            _commit_dates(commit_ts, ms.kafka_ms),
        ]
        return pa.Table.from_arrays(columns, schema=formats.BRONZE_SCHEMA)

    def _silver(self, table: str, ms: _Messages, env: Envelopes, days: pa.ChunkedArray) -> _Silver:
        cols = typed(table, env.row)
        normalise(table, cols, rules.email_policy())
        reasons = quarantine(table, env.op, cols)
        k = len(env.op)
        op, is_delete = env.op, pc.equal(env.op, "d")
        quarantined = np.zeros(k, dtype=bool)
        if reasons is not None:
            mask = reasons.is_valid()
            quarantined = mask.to_numpy(zero_copy_only=False)
            op = pc.if_else(mask, pa.scalar(rules.QUARANTINED_OP), op)
            is_delete = pc.or_(is_delete, mask)
            pk = PRIMARY_KEYS[table]
            for c in COLUMNS[table]:
                if c.name != pk:
                    cols[c.name] = pc.if_else(
                        mask, pa.scalar(None, cols[c.name].type), cols[c.name]
                    )
        columns = [
            op,
            is_delete,
            env.source_lsn,
            env.commit_lsn,
            env.tx_id,
            env.tx_order,
            env.commit_us.cast(_TS),
            env.snapshot,
            _repeat(ms.topic, pa.string(), k),
            ms.gather(ms.partition),
            ms.gather(ms.offset),
            ms.gather(days.combine_chunks()),
            *(cols[c.name] for c in COLUMNS[table]),
        ]
        silver = pa.Table.from_arrays(columns, schema=formats.silver_schema(table))
        return _Silver(silver, quarantined, None if reasons is None else reasons.to_pylist())

    def _outputs(
        self,
        table: str,
        ms: _Messages,
        env: Envelopes,
        silver: _Silver,
        part: TablePart,
        at: datetime,
    ) -> _Part:
        try:
            encoded = self.encoder(self.registry, table, silver.table)
        except SchemaIncompatible:
            raise Unsupported(SCHEMA_INCOMPATIBLE) from None
        pk = silver.table.column(PRIMARY_KEYS[table]).cast(pa.string()).cast(pa.binary())
        records = list(map(Out, repeat(self.s.silver_topic(table)), pk.to_pylist(), encoded))
        q = silver.quarantined
        rows_msgs = ms.present
        dead: Counter[tuple[str, str]] = Counter()
        if silver.reasons is None:
            outputs, output_msgs = records, rows_msgs
        else:
            outputs = []
            prev = 0
            for r in np.flatnonzero(q):
                reason = silver.reasons[r]
                assert reason is not None
                m = ms.msgs[int(rows_msgs[r])]
                outputs.extend(records[prev:r])
                outputs.append(self._dlq(m, table, reason, at))
                dead[("silver", reason)] += 1
                prev = int(r)
            outputs.extend(records[prev:])
            output_msgs = np.repeat(rows_msgs, 1 + q.astype(np.int64))
        commit = pc.and_(pa.array(~q), env.commit_us.is_valid())
        return _Part(
            table,
            part,
            outputs,
            output_msgs,
            len(q) - int(q.sum()),
            dead,
            ms.n - len(rows_msgs),
            pc.filter(env.commit_us, commit).to_pylist(),
            rows_msgs[commit.to_numpy(zero_copy_only=False)],
            None,
        )

    def _dlq(self, m: Msg, table: str, reason: str, at: datetime) -> Out:
        coords = envelope.Coordinates(m.topic, m.partition, m.offset, m.timestamp_ms)
        body = rules.dlq_record("silver", reason, coords, m.key, m.value, table, "", at=at)
        return Out(self.s.dlq_topic, m.topic.encode(), body)


def _merge(parts: list[_Part], groups: list[np.ndarray] | None) -> Processed:
    """One result of the tables' parts, outputs and commit times in message order."""
    out = Processed()
    for p in parts:
        out.tables[p.table] = p.part
        out.silver += p.silver
        out.dead_letters.update(p.dead_letters)
        out.tombstones += p.tombstones
        n = p.part.bronze.num_rows
        if p.fallback is None:
            out.columnar += n
        else:
            out.fallbacks[p.fallback] += n
    if groups is None:
        (only,) = parts
        out.outputs, out.silver_commit_us = only.outputs, only.silver_commit_us
        return out
    out.outputs = _in_order(
        [p.outputs for p in parts], [g[p.output_msgs] for p, g in zip(parts, groups, strict=True)]
    )
    out.silver_commit_us = _in_order(
        [p.silver_commit_us for p in parts],
        [g[p.commit_msgs] for p, g in zip(parts, groups, strict=True)],
    )
    return out


def _in_order(lists: list[list[Any]], origins: list[np.ndarray]) -> list[Any]:
    """The items of ``lists`` ordered by the batch index of their message (stable)."""
    items = [x for xs in lists for x in xs]
    if not items:
        return []
    order = np.argsort(np.concatenate(origins), kind="stable")
    return [items[i] for i in order]
