"""aiokafka (the client faust-streaming uses) works against the real local broker:
keyed produce, group consume, commit, rebalance to a second member, exactly-once
consumption split between the two members."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from common.kafka import client_config
from common.settings import Settings

PARTITIONS = 4
FIRST_BATCH = 40
SECOND_BATCH = 40
SCENARIO_TIMEOUT = 150.0


@pytest.fixture()
def topic(stack: Settings) -> Iterator[str]:
    name = f"test.aiokafka-smoke.{uuid.uuid4().hex[:10]}"
    admin = AdminClient(client_config(stack))
    futures = admin.create_topics([NewTopic(name, num_partitions=PARTITIONS,
                                            replication_factor=1)], operation_timeout=30)
    futures[name].result(timeout=30)
    deadline = time.monotonic() + 30
    while True:
        md = admin.list_topics(topic=name, timeout=10)
        meta = md.topics.get(name)
        if meta is not None and meta.error is None and len(meta.partitions) == PARTITIONS:
            break
        assert time.monotonic() < deadline, f"topic {name} not visible with {PARTITIONS} partitions"
        time.sleep(0.2)
    try:
        yield name
    finally:
        admin.delete_topics([name], operation_timeout=30)[name].result(timeout=30)


def _consumer(settings: Settings, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        client_id=f"smoke-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10_000,
        heartbeat_interval_ms=500,
        request_timeout_ms=30_000,
    )


Record = tuple[int, int, bytes, bytes]  # partition, offset, key, value


async def _drain(consumer: AIOKafkaConsumer, into: list[Record], ms: int = 200) -> None:
    batches = await consumer.getmany(timeout_ms=ms, max_records=500)
    for tp, msgs in batches.items():
        for m in msgs:
            into.append((tp.partition, m.offset, m.key, m.value))


async def _wait_until(cond: Callable[[], bool], what: str, timeout: float,
                      *pollers: Callable[[], Awaitable[None]]) -> None:
    """Run one round of every poller until ``cond()`` holds; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        if pollers:
            await asyncio.gather(*(poll() for poll in pollers))
        else:
            await asyncio.sleep(0.2)


async def _scenario(settings: Settings, topic: str) -> None:
    tps = {TopicPartition(topic, p) for p in range(PARTITIONS)}
    group = f"test-aiokafka-smoke-{uuid.uuid4().hex[:10]}"
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                request_timeout_ms=30_000)
    c1 = _consumer(settings, topic, group)
    c2 = _consumer(settings, topic, group)
    started: list[AIOKafkaConsumer | AIOKafkaProducer] = []
    try:
        await producer.start()
        started.append(producer)

        # ---- 1. keyed produce: the same key always lands in the same partition
        sent: dict[bytes, tuple[int, int]] = {}
        for i in range(FIRST_BATCH):
            key = f"key-{i % 20}".encode()
            md = await producer.send_and_wait(topic, value=f"first-{i}".encode(), key=key)
            if key in sent:
                assert md.partition == sent[key][0], f"{key!r} moved partition"
            sent.setdefault(key, (md.partition, md.offset))
        per_partition_first = await _end_offsets(c1, tps, started_consumer=False,
                                                 settings=settings)
        assert sum(per_partition_first.values()) == FIRST_BATCH
        assert len({p for p, _ in sent.values()}) > 1, "20 keys all hashed to one partition"

        # ---- 2. one member: joins, gets every partition, consumes all, commits
        await c1.start()
        started.append(c1)
        got1: list[Record] = []
        await _wait_until(lambda: len(got1) >= FIRST_BATCH, "first batch", 60,
                          lambda: _drain(c1, got1))
        assert c1.assignment() == tps
        assert sorted(v for *_, v in got1) == sorted(f"first-{i}".encode()
                                                     for i in range(FIRST_BATCH))
        assert len({(p, o) for p, o, *_ in got1}) == FIRST_BATCH  # no duplicates
        for p, _o, key, _v in got1:
            assert sent[key][0] == p
        await c1.commit()
        for tp in tps:
            committed = await c1.committed(tp)
            assert committed == per_partition_first[tp.partition], (tp, committed)

        # ---- 3. a second member joins the same group: the partitions are split
        await c2.start()
        started.append(c2)
        stray: list[Record] = []

        def split() -> bool:
            a1, a2 = c1.assignment(), c2.assignment()
            return bool(a1) and bool(a2) and not (a1 & a2) and (a1 | a2) == tps

        await _wait_until(split, "a rebalance over two members", 60,
                          lambda: _drain(c1, stray), lambda: _drain(c2, stray))
        # the committed offsets carried over: nothing is consumed twice
        assert stray == [], f"re-consumed after the rebalance: {stray[:5]}"
        a1, a2 = set(c1.assignment()), set(c2.assignment())

        # ---- 4. new messages are consumed exactly once by the two members together
        for i in range(SECOND_BATCH):
            await producer.send_and_wait(topic, value=f"second-{i}".encode(),
                                         key=f"k2-{i}".encode(), partition=i % PARTITIONS)
        got_a: list[Record] = []
        got_b: list[Record] = []
        await _wait_until(lambda: len(got_a) + len(got_b) >= SECOND_BATCH, "second batch", 60,
                          lambda: _drain(c1, got_a), lambda: _drain(c2, got_b))
        # keep polling briefly: a duplicate delivery would show up here
        settle_until = time.monotonic() + 2.0
        while time.monotonic() < settle_until:
            await asyncio.gather(_drain(c1, got_a), _drain(c2, got_b))
        assert split(), "assignment changed while consuming the second batch"
        assert c1.assignment() == a1 and c2.assignment() == a2

        both = got_a + got_b
        assert len(both) == SECOND_BATCH, f"{len(both)} deliveries for {SECOND_BATCH} messages"
        assert sorted(v for *_, v in both) == sorted(f"second-{i}".encode()
                                                     for i in range(SECOND_BATCH))
        assert {p for p, *_ in got_a} == {tp.partition for tp in a1}
        assert {p for p, *_ in got_b} == {tp.partition for tp in a2}

        await c1.commit()
        await c2.commit()
        ends = await _end_offsets(c1, tps, started_consumer=True, settings=settings)
        assert sum(ends.values()) == FIRST_BATCH + SECOND_BATCH
        for tp in tps:
            owner = c1 if tp in a1 else c2
            assert await owner.committed(tp) == ends[tp.partition]
    finally:
        for client in reversed(started):
            await asyncio.wait_for(client.stop(), 30)


async def _end_offsets(consumer: AIOKafkaConsumer, tps: set[TopicPartition], *,
                       started_consumer: bool, settings: Settings) -> dict[int, int]:
    """High watermark of each partition (through a throwaway consumer if needed)."""
    if started_consumer:
        offsets = await consumer.end_offsets(list(tps))
    else:
        probe = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                 enable_auto_commit=False)
        await probe.start()
        try:
            offsets = await probe.end_offsets(list(tps))
        finally:
            await probe.stop()
    return {tp.partition: off for tp, off in offsets.items()}


def test_aiokafka_produce_group_commit_rebalance(stack: Settings, topic: str) -> None:
    asyncio.run(asyncio.wait_for(_scenario(stack, topic), SCENARIO_TIMEOUT))
