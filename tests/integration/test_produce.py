"""The silver batch producer against the real broker: every record acked, keys placed like
the Java client, and an unreachable broker is an error (never a silent loss)."""

from __future__ import annotations

import time
import uuid

import pytest
from aiokafka.partitioner import murmur2
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from common.kafka import client_config
from common.settings import Settings
from stream_apps.exceptions import SilverProduceFailed
from stream_apps.produce import BatchProducer

PARTITIONS = 6


def _java_partition(key: bytes) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


def test_batch_is_acked_in_order_on_the_java_partition(stack: Settings) -> None:
    topic = f"test.produce.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(client_config(stack))
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[
        topic
    ].result(30)
    producer = BatchProducer(stack.kafka_bootstrap, timeout_seconds=30, max_request_bytes=1 << 20)
    records = [(topic, str(i % 50).encode(), f"v{i}".encode()) for i in range(2_000)]
    assert producer.send_all(records) == 2_000
    producer.close()

    consumer = Consumer(
        client_config(
            stack,
            {
                "group.id": f"test-produce-{uuid.uuid4().hex[:6]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    consumer.subscribe([topic])
    seen: dict[bytes, list[tuple[int, int]]] = {}
    deadline = time.monotonic() + 60
    got = 0
    while got < 2_000 and time.monotonic() < deadline:
        for m in consumer.consume(500, timeout=1.0):
            assert m.error() is None
            key, value = m.key(), m.value()
            assert key is not None and value is not None
            seen.setdefault(key, []).append((m.partition(), int(value[1:])))
            got += 1
    consumer.close()
    assert got == 2_000
    for key, placed in seen.items():
        partitions = {p for p, _ in placed}
        assert partitions == {_java_partition(key)}, key
        values = [v for _, v in placed]
        assert values == sorted(values), f"key {key!r} out of order"
        assert len(values) == 40


def test_unreachable_broker_raises_instead_of_dropping() -> None:
    producer = BatchProducer("127.0.0.1:1", timeout_seconds=2, max_request_bytes=1 << 20)
    started = time.monotonic()
    with pytest.raises(SilverProduceFailed, match="not delivered|unacknowledged"):
        producer.send_all([("silver.orders", b"1", b"x")] * 10)
    assert time.monotonic() - started < 60
