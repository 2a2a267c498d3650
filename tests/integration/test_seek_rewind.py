"""A worker drops the events it fetched before a rebalance and relies on its partitions
being read again from where the group left off. The partitions of a group that has not
committed yet must go back to their earliest offset too (aiokafka's own
``seek_to_committed`` leaves them where they are, past the dropped events)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from common.kafka import client_config
from common.settings import Settings
from stream_apps.chunks import seek_committed_or_earliest

MESSAGES = 30


@pytest.fixture()
def topic(stack: Settings) -> Iterator[str]:
    name = f"test.seek-rewind.{uuid.uuid4().hex[:10]}"
    admin = AdminClient(client_config(stack))
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])[name].result(
        timeout=30
    )
    try:
        yield name
    finally:
        admin.delete_topics([name], operation_timeout=30)[name].result(timeout=30)


async def _fill(settings: Settings, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for i in range(MESSAGES):
            await producer.send_and_wait(topic, str(i).encode(), partition=i % 2)
    finally:
        await producer.stop()


async def _read_all(consumer: AIOKafkaConsumer, want: int) -> list[tuple[int, int]]:
    got: list[tuple[int, int]] = []
    for _ in range(60):
        batches = await consumer.getmany(timeout_ms=500)
        got += [(r.partition, r.offset) for records in batches.values() for r in records]
        if len(got) >= want:
            break
    return got


async def _scenario(settings: Settings, topic: str) -> tuple[list, list, dict]:
    await _fill(settings, topic)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"seek-rewind-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        first = await _read_all(consumer, MESSAGES)
        # partition 0 has a committed position (offset 5), partition 1 has none
        await consumer.commit({TopicPartition(topic, 0): 5})
        committed = await seek_committed_or_earliest(consumer)
        again = await _read_all(consumer, MESSAGES - 5)
    finally:
        await consumer.stop()
    return first, again, committed


def test_uncommitted_partitions_are_read_again_from_the_earliest_offset(
    stack: Settings, topic: str
) -> None:
    first, again, committed = asyncio.run(_scenario(stack, topic))
    assert len(first) == MESSAGES
    assert committed == {TopicPartition(topic, 0): 5, TopicPartition(topic, 1): None}
    per_partition = {p: sorted(o for q, o in again if q == p) for p in (0, 1)}
    assert per_partition[0] == list(range(5, MESSAGES // 2))  # from its committed offset
    assert per_partition[1] == list(range(MESSAGES // 2))  # from the beginning
