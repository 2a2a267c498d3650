"""Parquet layouts of the bronze and silver objects (pure: no I/O).

Bronze keeps every message byte for byte plus best-effort envelope columns; silver
keeps typed columns (exact decimals, microsecond UTC timestamps, dates). Timestamps
are ``timestamp[us, tz=UTC]``; pyarrow reads them back as aware UTC datetimes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.columns import COLUMNS, Column
from stream_apps.envelope import DecodeError, decode, table_of_topic

ROW_GROUP_SIZE = 100_000
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
)
EXTRA_JSON = "extra_json"


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
    prefix: str,
    ingest_ts: datetime | int,
    decoder: Callable[..., Any] = decode,
) -> dict[str, Any]:
    """One bronze row; undecodable messages get null envelope columns and decode_error.

    ``commit_ts`` is exact microseconds since the epoch (an int: Arrow stores it without
    a datetime being built); ``ingest_ts`` is kept as given (such an int or a datetime).

    ``table`` comes from the topic name, so it is set even when the value cannot be
    decoded (None only for a topic that is not a source table). Never raises.
    ``decoder`` is :func:`envelope.decode` or a stand-in with its contract (the worker
    shares one decode per message between its agents: ``pipeline.SharedDecoder``).
    """
    row: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "kafka_timestamp_ms": timestamp_ms,
        "key": key,
        "value": value,
        "table": None,
        "op": None,
        "source_lsn": None,
        "commit_lsn": None,
        "tx_id": None,
        "tx_order": None,
        "commit_ts": None,
        "snapshot": None,
        "is_tombstone": value is None,
        "decode_error": None,
        "ingest_ts": ingest_ts,
    }
    try:
        row["table"] = table_of_topic(topic, prefix)
        event = decoder(topic, partition, offset, timestamp_ms, key, value, prefix=prefix)
    except DecodeError as exc:
        row["decode_error"] = exc.reason
        return row
    except Exception as exc:  # never raise: bronze must keep the message whatever it is
        row["decode_error"] = f"internal:{type(exc).__name__}"
        return row
    if event is not None:
        row.update(
            op=event.op,
            source_lsn=event.lsn,
            commit_lsn=event.commit_lsn,
            tx_id=event.tx_id,
            tx_order=event.tx_order,
            commit_ts=micros_in_range(event.commit_ts_us),
            snapshot=event.snapshot,
        )
    return row


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
    """Envelope columns, the table's columns in DDL order, then ``extra_json``."""
    fields = list(SILVER_ENVELOPE)
    fields += [pa.field(c.name, _arrow_type(c)) for c in COLUMNS[table]]
    fields.append(pa.field(EXTRA_JSON, pa.string()))
    return pa.schema(fields)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def silver_table(table: str, records: Sequence[dict[str, Any]]) -> pa.Table:
    """Typed table of silver records (``SilverRecord.record``).

    Keys of a record outside the schema (extra columns merged in by the caller, or the
    fields an evolved Avro schema added) are kept as one JSON object in ``extra_json``;
    a record may also carry ``extra_json`` itself (a JSON string).
    """
    schema = silver_schema(table)
    return pa.Table.from_pydict(_silver_columns(schema, records), schema=schema)


def silver_table_raw(table: str, records: Sequence[dict[str, Any]]) -> pa.Table:
    """The same table as :func:`silver_table`, from records as
    ``AvroRegistry.decode_raw`` gives them (timestamps as microseconds, dates as days,
    decimals as unscaled two's-complement bytes): each column is converted in bulk."""
    schema = silver_schema(table)
    columns = _silver_columns(schema, records)
    arrays = [
        _decimal_array(columns[f.name], f.type)
        if pa.types.is_decimal(f.type)
        else pa.array(columns[f.name], f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _silver_columns(schema: pa.Schema, records: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    names = schema.names
    known = frozenset(names)
    columns: dict[str, list[Any]] = {name: [] for name in names}
    appenders = [(name, columns[name].append) for name in names]
    extra_json = columns[EXTRA_JSON]
    for record in records:
        get = record.get
        for name, append in appenders:
            append(get(name))
        if not known.issuperset(record):  # fields outside the schema: into extra_json
            extra = {k: v for k, v in record.items() if k not in known}
            carried = extra_json[-1]
            if isinstance(carried, str) and carried:
                extra = {**json.loads(carried), **extra}
            extra_json[-1] = json.dumps(extra, sort_keys=True, default=_json_default)
    return columns


def _decimal_array(values: list[bytes | None], typ: pa.DataType) -> pa.Array:
    """A decimal128 array from Avro decimal bytes (big-endian two's complement of the
    unscaled value, at the type's scale): Arrow holds the same unscaled value as 16
    little-endian bytes. A value with more digits than the type's precision raises
    ValueError (Arrow would not check)."""
    n = len(values)
    data = bytearray(16 * n)
    nulls = 0
    bound = 10**typ.precision
    for i, raw in enumerate(values):
        if raw is None:
            nulls += 1
        else:
            unscaled = int.from_bytes(raw, "big", signed=True)
            if not -bound < unscaled < bound:
                raise ValueError(
                    f"decimal {unscaled}e-{typ.scale} exceeds precision {typ.precision}"
                )
            data[16 * i : 16 * i + 16] = unscaled.to_bytes(16, "little", signed=True)
    validity = None
    if nulls:
        validity = pa.array([v is not None for v in values], pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(typ, n, [validity, pa.py_buffer(bytes(data))], null_count=nulls)


def to_parquet(table: pa.Table) -> bytes:
    """Parquet bytes: zstd compression, row groups of at most 100k rows."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=ROW_GROUP_SIZE)
    return buf.getvalue()


def commit_date(commit_ts_us: int | None, fallback_ms: int | None) -> date:
    """UTC date of the commit time, else of the Kafka timestamp, else 1970-01-01.

    The last resort is deterministic so a replay computes the same object key.
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
