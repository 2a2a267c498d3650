"""Row layouts of the bronze and silver Delta tables (pure: no I/O).

Bronze keeps every message byte for byte plus best-effort envelope columns; silver
keeps typed columns (exact decimals, microsecond UTC timestamps, dates). Timestamps
are ``timestamp[us, tz=UTC]``; pyarrow reads them back as aware UTC datetimes. Every
row carries ``commit_date``, the lake's partition column (``schemas.lake``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from schemas.columns import COLUMNS, Column
from schemas.lake import PARTITION_COLUMN
from stream_apps.envelope import ChangeEvent

_TS = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

BRONZE_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("kafka_timestamp_ms", pa.int64()),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("table", pa.string()),
        pa.field("op", pa.string()),
        pa.field("source_lsn", pa.int64()),
        pa.field("commit_lsn", pa.int64()),
        pa.field("tx_id", pa.int64()),
        pa.field("tx_order", pa.int64()),
        pa.field("commit_ts", _TS),
        pa.field("snapshot", pa.bool_()),
        pa.field("is_tombstone", pa.bool_(), nullable=False),
        pa.field("decode_error", pa.string()),
        pa.field("ingest_ts", _TS, nullable=False),
        pa.field(PARTITION_COLUMN, pa.date32(), nullable=False),
    ]
)

#: Envelope columns at the head of every silver table (same order as the Avro schema).
SILVER_ENVELOPE: tuple[pa.Field, ...] = (
    pa.field("op", pa.string(), nullable=False),
    pa.field("is_delete", pa.bool_(), nullable=False),
    pa.field("source_lsn", pa.int64()),
    pa.field("commit_lsn", pa.int64()),
    pa.field("tx_id", pa.int64()),
    pa.field("tx_order", pa.int64()),
    pa.field("commit_ts", _TS),
    pa.field("snapshot", pa.bool_(), nullable=False),
    pa.field("bronze_topic", pa.string(), nullable=False),
    pa.field("bronze_partition", pa.int32(), nullable=False),
    pa.field("bronze_offset", pa.int64(), nullable=False),
    pa.field(PARTITION_COLUMN, pa.date32(), nullable=False),
)


def _ts_or_none(micros: int | None) -> datetime | None:
    if micros is None:
        return None
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None


# Microseconds since the epoch of datetime.min and datetime.max (UTC): a bronze timestamp
# outside them is stored as null, as it could not be read back as a datetime.
_MIN_US = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_MAX_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


def micros_in_range(micros: int | None) -> int | None:
    """``micros`` if it is a datetime's microseconds since the epoch, else None."""
    if micros is None or not _MIN_US <= micros <= _MAX_US:
        return None
    return micros


def bronze_row(
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
    *,
    table: str | None,
    event: ChangeEvent | None,
    decode_error: str | None,
    ingest_ts: datetime | int,
) -> dict[str, Any]:
    """One bronze row: the message as received, plus the envelope columns of its decoded
    ``event`` (null, with ``decode_error``, when it could not be decoded).

    ``commit_ts`` is exact microseconds since the epoch (an int: Arrow stores it without
    a datetime being built); ``ingest_ts`` is kept as given (such an int or a datetime).
    ``table`` comes from the topic name, so it is set even when the value cannot be
    decoded. ``commit_date`` is the commit's UTC date (see :func:`commit_date`).
    """
    commit_us = micros_in_range(event.commit_ts_us) if event is not None else None
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "kafka_timestamp_ms": timestamp_ms,
        "key": key,
        "value": value,
        "table": table,
        "op": event.op if event is not None else None,
        "source_lsn": event.lsn if event is not None else None,
        "commit_lsn": event.commit_lsn if event is not None else None,
        "tx_id": event.tx_id if event is not None else None,
        "tx_order": event.tx_order if event is not None else None,
        "commit_ts": commit_us,
        "snapshot": event.snapshot if event is not None else None,
        "is_tombstone": value is None,
        "decode_error": decode_error,
        "ingest_ts": ingest_ts,
        PARTITION_COLUMN: commit_date(commit_us, timestamp_ms),
    }


def bronze_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=BRONZE_SCHEMA)


def _arrow_type(col: Column) -> pa.DataType:
    if col.kind == "int":
        return pa.int64()
    if col.kind == "str":
        return pa.string()
    if col.kind == "decimal":
        return pa.decimal128(col.precision or 38, col.scale or 0)
    if col.kind == "timestamp":
        return _TS
    if col.kind == "date":
        return pa.date32()
    raise ValueError(f"unknown column kind {col.kind!r}")


def silver_schema(table: str) -> pa.Schema:
    """Envelope columns (``commit_date`` last of them), then the table's columns in DDL
    order. Columns added at the source follow as nullable strings (see
    :func:`silver_table`)."""
    fields = list(SILVER_ENVELOPE)
    fields += [pa.field(c.name, _arrow_type(c)) for c in COLUMNS[table]]
    return pa.schema(fields)


def silver_table(table: str, records: Sequence[dict[str, Any]]) -> pa.Table:
    """Typed table of silver records (``SilverRecord.record`` plus ``commit_date``).

    A key outside the table's columns is a column added at the source: it becomes a
    nullable string column (the value's JSON text, as the silver Avro record carries
    it), which the Delta table takes in by schema merge.
    """
    schema = silver_schema(table)
    names = schema.names
    known = frozenset(names)
    columns: dict[str, list[Any]] = {name: [] for name in names}
    appenders = [(name, columns[name].append) for name in names]
    added: dict[str, list[Any]] = {}
    for i, record in enumerate(records):
        get = record.get
        for name, append in appenders:
            append(get(name))
        if not known.issuperset(record):
            for k, v in record.items():
                if k not in known:
                    added.setdefault(k, [None] * len(records))[i] = _as_text(v)
    arrays = [pa.array(columns[f.name], f.type) for f in schema]
    fields = list(schema)
    for name in sorted(added):
        arrays.append(pa.array(added[name], pa.string()))
        fields.append(pa.field(name, pa.string()))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def commit_date(commit_ts_us: int | None, fallback_ms: int | None) -> date:
    """UTC date of the commit time, else of the Kafka timestamp, else 1970-01-01.

    Deterministic, so a replayed event lands in the partition it landed in before.
    """
    if commit_ts_us is not None:
        ts = _ts_or_none(commit_ts_us)
        if ts is not None:
            return ts.date()
    if fallback_ms is not None:
        ts = _ts_or_none(fallback_ms * 1000)
        if ts is not None:
            return ts.date()
    return _EPOCH.date()
