"""Test helpers for the stream apps: read the lake, the dead-letter and silver topics,
drive the workers, and compute silver's current state.

Everything reads the real stack (MinIO, Kafka, Postgres). Other tests share the source
tables and topics, so the helpers take *offset windows* (``end_offsets`` before and
after a test's own changes) or keys, never rely on global counts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import fastavro
import psycopg2
import pyarrow.dataset as pads
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from common import process
from common.kafka import client_config
from common.s3 import stream_client as s3_client
from common.schema_registry import subject_of_topic
from compaction.lake import Lake
from ecom import catchup
from schemas import PRIMARY_KEYS, SOURCE_TABLES, lake
from schemas.avro import NAMESPACE
from schemas.columns import COLUMNS
from stream_apps import workers
from stream_apps.configuration import StreamSettings

Offsets = dict[tuple[str, int], int]

__all__ = ["s3_client"]


# ---------------------------------------------------------------- waiting
def wait_until(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.5) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


def wait_caught_up(s: StreamSettings, timeout: float = 120.0) -> None:
    """Nothing in flight: Debezium confirmed the WAL, CDC and silver topics fully consumed."""
    catchup.wait_caught_up(s, timeout, poll=0.5)


# ---------------------------------------------------------------- workers
def worker_pids(s: StreamSettings) -> dict[int, int]:
    """Index -> pid of every live worker."""
    return {w.index: w.pid for w in workers.status(s) if w.pid is not None}


def workers_up(s: StreamSettings, n: int) -> bool:
    states = [w for w in workers.status(s) if w.pid is not None]
    return len(states) >= n and all(w.up for w in states)


def start_workers(s: StreamSettings, n: int = 1) -> None:
    workers.start(s, n, wait_seconds=90)


def stop_workers(s: StreamSettings) -> None:
    workers.stop(s, timeout=60)


def stop_worker(s: StreamSettings, index: int, timeout: float = 60.0) -> None:
    """Stop one worker (SIGTERM, then SIGKILL) and forget its pid file."""
    workers.stop_one(s, index, timeout=timeout)


def kill_hard(pid: int, timeout: float = 10.0) -> None:
    """kill -9 and wait until the process is gone (reaped if it is our child)."""
    assert process.kill_pid(pid, timeout=timeout), f"pid {pid} survived SIGKILL"


# ---------------------------------------------------------------- Kafka
def cdc_topics(s: StreamSettings) -> list[str]:
    return [s.base.cdc_topic(t) for t in SOURCE_TABLES]


def silver_topics(s: StreamSettings) -> list[str]:
    return [s.silver_topic(t) for t in SOURCE_TABLES]


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        client_config(
            bootstrap,
            {
                "group.id": "test-stream-helpers",  # never commits: assign() only
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "auto.offset.reset": "earliest",
            },
        )
    )


def end_offsets(bootstrap: str, topics: Iterable[str]) -> Offsets:
    """High watermark of every partition of the existing ``topics``."""
    consumer = _consumer(bootstrap)
    try:
        md = consumer.list_topics(timeout=10)
        out: Offsets = {}
        for topic in topics:
            meta = md.topics.get(topic)
            if meta is None or meta.error is not None:
                continue
            for p in sorted(meta.partitions):
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=10, cached=False
                )
                out[(topic, p)] = high
        return out
    finally:
        consumer.close()


def read_window(
    bootstrap: str, start: Offsets, end: Offsets, timeout: float = 60.0
) -> list[tuple[str, int, int, bytes | None, bytes | None]]:
    """Every message ``start <= offset < end`` of each partition in ``end`` (a partition
    missing from ``start`` is read from 0): (topic, partition, offset, key, value)."""
    todo = {tp: (start.get(tp, 0), high) for tp, high in end.items() if high > start.get(tp, 0)}
    out: list[tuple[str, int, int, bytes | None, bytes | None]] = []
    if not todo:
        return out
    consumer = _consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(t, p, lo) for (t, p), (lo, _hi) in todo.items()])
        remaining = dict(todo)
        deadline = time.monotonic() + timeout
        while remaining:
            assert time.monotonic() < deadline, f"could not read {sorted(remaining)} in time"
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consumer error: {err}")
                tp = (msg.topic(), msg.partition())
                if tp not in remaining or msg.offset() >= remaining[tp][1]:
                    continue
                out.append((tp[0], tp[1], msg.offset(), msg.key(), msg.value()))
                if msg.offset() >= remaining[tp][1] - 1:
                    del remaining[tp]
        return out
    finally:
        consumer.close()


def read_dlq(s: StreamSettings, start: Offsets | None = None) -> list[dict[str, Any]]:
    """Dead-letter records from ``start`` (default: the beginning) to the current end,
    JSON-decoded, each with its own ``_dlq_offset``/``_dlq_partition``."""
    end = end_offsets(s.base.kafka_bootstrap, [s.dlq_topic])
    records = []
    for _t, p, off, _key, value in read_window(s.base.kafka_bootstrap, start or {}, end):
        assert value is not None, f"tombstone on the dead-letter topic at {p}/{off}"
        doc = json.loads(value)
        doc["_dlq_partition"], doc["_dlq_offset"] = p, off
        records.append(doc)
    return records


class SilverDecoder:
    """Decodes silver topic records as any Kafka consumer does: confluent-kafka's
    ``AvroDeserializer``, given only the schema registry's URL. Also says which version
    of the topic's subject each record's writer schema is."""

    def __init__(self, s: StreamSettings) -> None:
        # a registry that stops answering fails the test in half a minute, not at its timeout
        self.client = SchemaRegistryClient({"url": s.base.schema_registry_url, "timeout": 30})
        self.deserializer = AvroDeserializer(self.client)
        self._versions: dict[tuple[str, int], tuple[str, int]] = {}

    def decode(self, topic: str, value: bytes) -> tuple[str, int, dict[str, Any]]:
        """(table, subject version of the writer schema, record) of a value of ``topic``."""
        record = self.deserializer(value, SerializationContext(topic, MessageField.VALUE))
        assert isinstance(record, dict), record
        table, version = self.version(topic, int.from_bytes(value[1:5], "big"))
        return table, version, record

    def version(self, topic: str, schema_id: int) -> tuple[str, int]:
        """(table named by the schema, its version under the topic's subject)."""
        key = (topic, schema_id)
        if key not in self._versions:
            schema = self.client.get_schema(schema_id)
            name = fastavro.parse_schema(json.loads(schema.schema_str))["name"]
            assert name.startswith(f"{NAMESPACE}."), name
            found = self.client.lookup_schema(subject_of_topic(topic), schema)
            self._versions[key] = (name[len(NAMESPACE) + 1 :], int(found.version or 0))
        return self._versions[key]


def read_silver_topic(
    s: StreamSettings, decoder: SilverDecoder, table: str, start: Offsets | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """Decoded records of ``silver.<table>`` from ``start`` to the end: (version, record)."""
    topic = s.silver_topic(table)
    end = end_offsets(s.base.kafka_bootstrap, [topic])
    out = []
    for _t, _p, _off, _key, value in read_window(s.base.kafka_bootstrap, start or {}, end):
        if value is None:
            continue
        got_table, version, record = decoder.decode(topic, value)
        assert got_table == table
        out.append((version, record))
    return out


# ---------------------------------------------------------------- lake
def lake_table(s: StreamSettings, layer: str, table: str) -> Any:
    """The table's Delta table in ``layer`` (a ``deltalake.DeltaTable``), or None."""
    lake_ = Lake(s.base)
    return lake_.open(lake_.ref(layer, table))


def read_lake(
    s: StreamSettings,
    layer: str,
    table: str,
    window: dict[int, tuple[int, int]] | None = None,
) -> list[dict[str, Any]]:
    """Rows of ``table``'s Delta table in ``layer``; with ``window`` only those whose Kafka
    offset lies in ``window[partition] = (start, end)`` (start inclusive, end exclusive)."""
    dt = lake_table(s, layer, table)
    if dt is None:
        return []
    coords = lake.COORDINATES[layer]
    where = None
    for p, (lo, hi) in (window or {}).items():
        term = (
            (pads.field(coords.partition) == p)
            & (pads.field(coords.offset) >= lo)
            & (pads.field(coords.offset) < hi)
        )
        where = term if where is None else where | term
    if window is not None and where is None:
        return []
    rows: list[dict[str, Any]] = dt.to_pyarrow_dataset().to_table(filter=where).to_pylist()
    return rows


def read_bronze(
    s: StreamSettings,
    table: str,
    start: Offsets | None = None,
    end: Offsets | None = None,
) -> list[dict[str, Any]]:
    """Bronze rows of ``table`` (optionally only those with start <= offset < end)."""
    if end is None:
        return read_lake(s, lake.BRONZE, table)
    topic = s.base.cdc_topic(table)
    window = {p: ((start or {}).get((t, p), 0), hi) for (t, p), hi in end.items() if t == topic}
    return read_lake(s, lake.BRONZE, table, window)


def read_silver(s: StreamSettings, table: str) -> list[dict[str, Any]]:
    """The whole silver change-log of ``table`` (its silver Delta table)."""
    return read_lake(s, lake.SILVER, table)


def duplicate_coordinates(s: StreamSettings, layer: str, table: str) -> int:
    """Rows of the table whose Kafka coordinates another row of it also has."""
    import duckdb

    dt = lake_table(s, layer, table)
    if dt is None:
        return 0
    c = lake.COORDINATES[layer]
    data = dt.to_pyarrow_dataset()  # noqa: F841 (read by DuckDB by name)
    ((dupes,),) = duckdb.sql(
        f'SELECT count(*) - count(DISTINCT ("{c.topic}", "{c.partition}", "{c.offset}")) '
        "FROM data"
    ).fetchall()
    return int(dupes)


def lake_files(s: StreamSettings, layer: str, table: str) -> tuple[int, int]:
    """(data files, rows) of the table's Delta table in ``layer``."""
    lake_ = Lake(s.base)
    info = lake_.info(lake_.ref(layer, table))
    return info.files, info.rows


def dedupe(rows: Iterable[dict[str, Any]], cols: tuple[str, ...]) -> list[dict[str, Any]]:
    """First row per value of ``cols``."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for r in rows:
        k = tuple(r[c] for c in cols)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


def key_of(raw_key: bytes | None, table: str) -> int | None:
    """Primary key of a Debezium message key (JSON), None if absent."""
    if raw_key is None:
        return None
    return json.loads(raw_key).get(PRIMARY_KEYS[table])


# ---------------------------------------------------------------- silver state
def silver_order(r: dict[str, Any]) -> tuple[int, int, int, int]:
    """Change order: snapshot rows (commit_lsn null) first, then commit, event, offset."""
    commit = r["commit_lsn"]
    return (
        0 if commit is None else 1,
        commit or 0,
        r["source_lsn"] or 0,
        r["bronze_offset"],
    )


def silver_changes(table: str, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The change-log rows of ``table`` since its last truncate, deduplicated by bronze
    coordinates, in change order (a truncate ends every key; ids may be reused after)."""
    unique = dedupe(rows, ("bronze_topic", "bronze_partition", "bronze_offset"))
    ordered = sorted(unique, key=silver_order)
    last_t = max((i for i, r in enumerate(ordered) if r["op"] == "t"), default=-1)
    return ordered[last_t + 1 :]


def silver_current(table: str, rows: Iterable[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Silver's current state of ``table`` from its change-log rows: the last version per
    key since the last truncate, without keys whose last version is a delete (d),
    truncate (t) or quarantine marker (q)."""
    pk = PRIMARY_KEYS[table]
    state: dict[int, dict[str, Any]] = {}
    for r in silver_changes(table, rows):
        state[r[pk]] = r
    return {k: r for k, r in state.items() if not r["is_delete"]}


def history_of(table: str, rows: Iterable[dict[str, Any]], key: int) -> list[dict[str, Any]]:
    """Every silver version of one key since the table's last truncate, in change order."""
    pk = PRIMARY_KEYS[table]
    return [r for r in silver_changes(table, rows) if r[pk] == key]


# ---------------------------------------------------------------- source
#: The contract's normalisation (section 2) as SQL, per column; other columns as-is.
NORMALISED_SQL: dict[str, dict[str, str]] = {
    "customers": {
        "email": "lower(trim(email))",
        "first_name": "trim(first_name)",
        "last_name": "trim(last_name)",
    },
    "products": {"sku": "upper(trim(sku))", "category": "trim(category)"},
    "orders": {"order_status": "trim(order_status)"},
    "inventory_transactions": {"transaction_type": "trim(transaction_type)"},
    "marketing_campaigns": {"channel": "trim(channel)"},
    "order_items": {},
}

#: Rows that are NOT quarantined (contract section 2), as a SQL condition.
VALID_SQL: dict[str, str] = {
    "customers": "TRUE",
    "products": "TRUE",
    "orders": "trim(order_status) IN ('Pending','Processing','Shipped','Delivered','Cancelled')"
    " AND order_status IS NOT NULL",
    "order_items": "(quantity IS NULL OR quantity > 0) AND (unit_price IS NULL OR unit_price >= 0)",
    "inventory_transactions": "transaction_type IS NOT NULL"
    " AND trim(transaction_type) IN ('IN','OUT','ADJUSTMENT')",
    "marketing_campaigns": "budget IS NULL OR budget >= 0",
}


def source_current(dsn: str, table: str) -> dict[int, dict[str, Any]]:
    """The source table normalised as the contract says, quarantined rows left out;
    TIMESTAMP values (naive UTC wall clock) made UTC-aware like silver's."""
    cols = [c.name for c in COLUMNS[table]]
    exprs = [f"{NORMALISED_SQL[table].get(c, c)} AS {c}" for c in cols]
    sql = f"SELECT {', '.join(exprs)} FROM public.{table} WHERE {VALID_SQL[table]}"
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall()
    finally:
        conn.close()
    out = {}
    for values in rows:
        row = dict(zip(cols, values, strict=True))
        for k, v in row.items():
            if isinstance(v, datetime):
                assert v.tzinfo is None, f"{table}.{k} is not a TIMESTAMP"
                row[k] = v.replace(tzinfo=UTC)
        out[row[PRIMARY_KEYS[table]]] = row
    return out


def data_columns(table: str, row: dict[str, Any]) -> dict[str, Any]:
    return {c.name: row[c.name] for c in COLUMNS[table]}


def sql(dsn: str, statements: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
    """Run statements in one autocommit session; the first column of each statement that
    returns a row (e.g. ``INSERT ... RETURNING id``), in order."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    out = []
    try:
        with conn.cursor() as cur:
            for statement, params in statements:
                cur.execute(statement, params)
                row = cur.fetchone() if cur.description is not None else None
                if row is not None:
                    out.append(row[0])
    finally:
        conn.close()
    return out
