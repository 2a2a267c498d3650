"""Silver records to Kafka with confluent-kafka (librdkafka), one whole batch at a time.

Faust's own producer (aiokafka, pure Python) would be awaited once per record, and on a
snapshot that per-record bookkeeping on the event loop costs more than encoding the
records. Here a batch is handed to librdkafka from the landing thread and the call
returns only when the broker acknowledged every record, so the agent's offsets are
still committed only after silver landed.

Settings: idempotent (no duplicates from librdkafka's own retries, order kept per
partition), ``acks=all``, and the Java client's key partitioner (murmur2) so a key lands
on the same partition as with any other Kafka client. Only failed deliveries call back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, Producer

from common.kafka import client_config
from stream_apps.exceptions import SilverProduceFailed

log = logging.getLogger(__name__)


class BatchProducer:
    """Produce records and wait for the broker's acknowledgement of all of them."""

    def __init__(self, bootstrap: str, *, timeout_seconds: float, max_request_bytes: int) -> None:
        self.timeout_seconds = timeout_seconds
        self._failures: list[tuple[str, int, KafkaError]] = []
        self._producer = Producer(
            client_config(
                bootstrap,
                {
                    "enable.idempotence": True,
                    "acks": "all",
                    "partitioner": "murmur2_random",
                    "linger.ms": 5,
                    "batch.num.messages": 10_000,
                    "queue.buffering.max.messages": 500_000,
                    "message.max.bytes": max_request_bytes,
                    # librdkafka retries in place until this deadline, then reports failure
                    "delivery.timeout.ms": int(timeout_seconds * 1000),
                    "delivery.report.only.error": True,
                    "on_delivery": self._on_delivery,
                    "client.id": "ecom-silver",
                },
            )
        )

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self._failures.append((msg.topic(), msg.partition(), err))

    def send_all(self, records: Iterable[tuple[str, bytes | None, bytes]]) -> int:
        """Produce ``(topic, key, value)`` records; return their number once all are acked.

        Raises :class:`SilverProduceFailed` if any record could not be delivered before the
        deadline (the caller must then stop without committing).
        """
        self._failures.clear()
        produce = self._producer.produce
        n = 0
        for topic, key, value in records:
            while True:
                try:
                    produce(topic, value, key)
                    break
                except BufferError:  # local queue full: let librdkafka drain it
                    self._producer.poll(0.05)
            n += 1
        deadline = time.monotonic() + self.timeout_seconds + 30
        while True:
            left = self._producer.flush(5.0)
            if left == 0:
                break
            if time.monotonic() > deadline:
                raise SilverProduceFailed(
                    f"{left} silver records still unacknowledged after {self.timeout_seconds:.0f}s",
                    hint="is Kafka up? (`ecom stack status`)",
                )
            log.warning("waiting for Kafka to acknowledge %d silver records", left)
        if self._failures:
            topic, partition, err = self._failures[0]
            raise SilverProduceFailed(
                f"{len(self._failures)} of {n} silver records were not delivered "
                f"(first: {topic}[{partition}]: {err.str()})",
                hint="see the worker log; the batch is not committed and will be redone",
            )
        return n

    def close(self) -> None:
        self._producer.flush(10.0)
