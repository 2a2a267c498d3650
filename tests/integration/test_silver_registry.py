"""Silver topics any Kafka consumer can read: the Confluent wire format, schemas in the
real schema registry, one subject per topic (TopicNameStrategy) with BACKWARD
compatibility, and a schema the registry refuses dead-lettered without losing the row.

The consumer in :func:`consume` is plain confluent-kafka (``DeserializingConsumer`` with
an ``AvroDeserializer``), given only the broker, the registry's URL and the topic name:
no project code, no ``.avsc`` file. What it reads is compared with the silver
change-log in the lake (the silver Delta tables).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from confluent_kafka import DeserializingConsumer, TopicPartition
from confluent_kafka.error import ValueDeserializationError
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer

from schemas import SOURCE_TABLES
from schemas.avro import build_schema, published
from stream_apps.configuration import StreamSettings
from tests.integration import stream_helpers as h
from tests.integration.conftest import run_cli

pytestmark = pytest.mark.integration

CAUGHT_UP = 150.0
REGISTRY_TIMEOUT_S = 10.0
READ_DEADLINE_S = 120.0
Coords = tuple[str, int, int]


def _registry(url: str) -> SchemaRegistryClient:
    # The client's default is no timeout at all: a registry that stalls would hang the
    # test until pytest-timeout kills it, with nothing said about the registry.
    return SchemaRegistryClient({"url": url, "timeout": REGISTRY_TIMEOUT_S})


def consume(
    bootstrap: str, registry_url: str, topic: str, start: dict[int, int], end: dict[int, int]
) -> list[dict[str, Any]]:
    """Every record of ``topic`` from ``start`` to ``end`` (per partition), decoded the way
    any service would: the schema registry's URL and the topic are all it is given.

    A record the deserializer could not decode because the registry did not answer is
    read again, as a service would after a retry, until the deadline."""
    consumer = DeserializingConsumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"outside-service-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "value.deserializer": AvroDeserializer(_registry(registry_url)),
    })  # fmt: skip
    todo = {p: hi for p, hi in end.items() if hi > start.get(p, 0)}
    records = []
    last_error: Exception | None = None
    try:
        consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in todo])
        deadline = time.monotonic() + READ_DEADLINE_S
        while todo:
            assert time.monotonic() < deadline, (
                f"{topic}: could not read {todo} in time (last error: {last_error!r})"
            )
            try:
                msg = consumer.poll(0.5)
            except ValueDeserializationError as exc:
                if not _registry_unreachable(exc):
                    raise
                last_error, failed = exc, exc.kafka_message
                consumer.seek(TopicPartition(topic, failed.partition(), failed.offset()))
                time.sleep(1.0)
                continue
            if msg is None or msg.error() is not None:
                continue
            p, offset = msg.partition(), msg.offset()
            if p in todo and offset < todo[p]:
                records.append(msg.value())
                if offset >= todo[p] - 1:
                    del todo[p]
    finally:
        consumer.close()
    return records


def _registry_unreachable(exc: ValueDeserializationError) -> bool:
    """The decode failed for want of an answer from the registry (timeout, refused
    connection), not because of what the record holds."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (httpx2.TransportError, OSError)):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _by_partition(offsets: h.Offsets, topic: str) -> dict[int, int]:
    return {p: off for (t, p), off in offsets.items() if t == topic}


def _coords(row: dict[str, Any]) -> Coords:
    return (row["bronze_topic"], row["bronze_partition"], row["bronze_offset"])


def _same(a: Any, b: Any) -> bool:
    """Exact equality: same type and value; decimals with the same scale too."""
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return isinstance(a, Decimal) and isinstance(b, Decimal) and str(a) == str(b)
    if isinstance(a, datetime | date) or isinstance(b, datetime | date):
        return type(a) is type(b) and a == b
    return a == b


def _lake_rows(s: StreamSettings, table: str, cdc: tuple[h.Offsets, h.Offsets]) -> dict:
    """The table's silver change-log rows of the CDC window, by bronze coordinates."""
    topic = s.base.cdc_topic(table)
    start, end = (_by_partition(o, topic) for o in cdc)
    window = {p: (start.get(p, 0), hi) for p, hi in end.items()}
    rows = h.read_lake(s, "silver", table, window)
    return {_coords(r): r for r in h.dedupe(rows, ("bronze_topic", "bronze_partition",
                                                    "bronze_offset"))}  # fmt: skip


def test_every_silver_topic_reads_with_a_plain_avro_deserializer(stream: StreamSettings) -> None:
    s = stream
    bootstrap, url = s.base.kafka_bootstrap, s.base.schema_registry_url
    h.wait_caught_up(s, CAUGHT_UP)
    cdc_start = h.end_offsets(bootstrap, h.cdc_topics(s))
    silver_start = h.end_offsets(bootstrap, h.silver_topics(s))
    dlq_start = h.end_offsets(bootstrap, [s.dlq_topic])
    done = run_cli("generate", "live", "--rate", "300", "--duration", "6", "--seed", "41",
                   "--dirty-rate", "0", timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    h.wait_caught_up(s, CAUGHT_UP)
    cdc_end = h.end_offsets(bootstrap, h.cdc_topics(s))
    silver_end = h.end_offsets(bootstrap, h.silver_topics(s))

    problems: list[str] = []
    counts = {}
    for table in SOURCE_TABLES:
        topic = s.silver_topic(table)
        records = consume(bootstrap, url, topic, _by_partition(silver_start, topic),
                          _by_partition(silver_end, topic))  # fmt: skip
        lake = _lake_rows(s, table, (cdc_start, cdc_end))
        topic_rows: dict[Coords, dict[str, Any]] = {}
        for rec in records:
            first = topic_rows.setdefault(_coords(rec), rec)
            if first != rec:  # at least once: a copy must be the same record
                problems.append(f"{topic}: two different records for {_coords(rec)}")
        counts[table] = len(topic_rows)
        if set(topic_rows) != set(lake):
            problems.append(f"{topic}: {len(set(lake) - set(topic_rows))} lake rows not on the "
                            f"topic, {len(set(topic_rows) - set(lake))} records not in the lake")  # fmt: skip
        for coords in set(topic_rows) & set(lake):
            rec, row = topic_rows[coords], lake[coords]
            bad = [f for f in rec if f not in row or not _same(rec[f], row[f])]
            extra = [f for f in row if f not in rec and f != "commit_date" and row[f] is not None]
            if bad or extra:
                problems.append(f"{topic} {coords}: fields {bad + extra} differ")
    assert not problems, f"{len(problems)} problems, first: {problems[:10]}"
    assert all(n > 0 for n in counts.values()), counts  # every topic was read
    assert h.read_dlq(s, dlq_start) == []

    client = _registry(url)
    for table in SOURCE_TABLES:
        subject = f"{s.silver_topic(table)}-value"
        assert client.get_compatibility(subject) == "BACKWARD", subject
        assert client.get_latest_version(subject).version >= 1


@pytest.fixture()
def new_column(stream: StreamSettings) -> Iterator[str]:
    """A column name no run used before (the registry keeps every subject's versions)."""
    name = f"c_{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        h.sql(stream.base.source_dsn, [(f"ALTER TABLE products DROP COLUMN IF EXISTS {name}", ())])


def _insert_product(dsn: str, sku: str, column: str | None = None) -> int:
    extra, value = (f", {column}", ", 'x'") if column else ("", "")
    (pid,) = h.sql(dsn, [(
        f"INSERT INTO products (product_name, sku, category, price, stock_quantity, updated_at"
        f"{extra}) VALUES ('registry test', %s, 'Toys', 1.50, 2, now() at time zone 'utc'"
        f"{value}) RETURNING product_id", (sku,))])  # fmt: skip
    return int(pid)


def test_a_schema_the_registry_refuses_goes_to_the_dlq_and_the_lake_keeps_the_row(
    stream: StreamSettings, new_column: str
) -> None:
    s = stream
    bootstrap, dsn = s.base.kafka_bootstrap, s.base.source_dsn
    topic, subject = s.silver_topic("products"), f"{s.silver_topic('products')}-value"
    # Someone else's version of the subject already has the column, as a number: a
    # version where it holds text cannot read it (BACKWARD), so the registry refuses ours.
    theirs = published(build_schema("products"))
    theirs["fields"].append({"name": new_column, "type": ["null", "long"], "default": None})
    client = _registry(s.base.schema_registry_url)
    client.set_compatibility(subject, "BACKWARD")
    client.register_schema(subject, Schema(json.dumps(theirs), "AVRO"))

    h.wait_caught_up(s, CAUGHT_UP)
    cdc_start = h.end_offsets(bootstrap, [s.base.cdc_topic("products")])
    silver_start = h.end_offsets(bootstrap, [topic])
    dlq_start = h.end_offsets(bootstrap, [s.dlq_topic])
    tag = uuid.uuid4().hex[:8].upper()
    h.sql(dsn, [(f"ALTER TABLE products ADD COLUMN {new_column} VARCHAR(10)", ())])
    refused = _insert_product(dsn, f"REFUSED-{tag}", new_column)
    h.sql(dsn, [(f"ALTER TABLE products DROP COLUMN {new_column}", ())])
    after = _insert_product(dsn, f"AFTER-{tag}")
    h.wait_caught_up(s, CAUGHT_UP)

    (letter,) = [d for d in h.read_dlq(s, dlq_start) if d["table"] == "products"]
    assert (letter["stage"], letter["reason"]) == ("silver", "schema_incompatible")
    assert subject in letter["detail"] and "BACKWARD" in letter["detail"], letter["detail"]
    coords = (letter["topic"], letter["partition"], letter["offset"])
    assert json.loads(base64.b64decode(letter["value_b64"]))["after"][new_column] == "x"
    # the lake keeps the row, new column included; the topic does not have it
    lake = _lake_rows(s, "products", (cdc_start, h.end_offsets(bootstrap, [s.base.cdc_topic(
        "products")])))  # fmt: skip
    row = lake[coords]
    assert row["product_id"] == refused and row[new_column] == "x"
    records = consume(bootstrap, s.base.schema_registry_url, topic,
                      _by_partition(silver_start, topic),
                      _by_partition(h.end_offsets(bootstrap, [topic]), topic))  # fmt: skip
    assert coords not in {_coords(r) for r in records}
    # the table's next record, without the column, is published as before
    mine = [r for r in records if r["product_id"] == after and r["sku"] == f"AFTER-{tag}"]
    assert len(mine) >= 1 and new_column not in mine[0]
