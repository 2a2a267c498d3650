"""`ecom demo`: from nothing to a change captured end to end, in one command.

Steps: start the stack (installing it the first time), create the source schema,
register the Debezium connector, then make one real change in the source database
and show the change event that arrives on its Kafka topic.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg2

from common.errors import TransientError
from common.progress import SILENT, Reporter
from common.settings import Settings
from connectors import manage
from ecom import dbinit
from stack import services

CAPTURE_TIMEOUT = 60.0


def run(settings: Settings, progress: Reporter = SILENT) -> str:
    progress("starting the stack")
    rows = services.up(settings, progress=progress)
    progress("creating the source schema")
    dbinit.init(settings, progress=progress)
    progress("registering the Debezium connector")
    manage.apply_all(settings, progress=progress)
    progress("making a change in the source database and waiting for its event")
    event, latency = capture_one_change(settings)
    return "\n".join(
        [
            services.format_status(rows),
            "",
            f"Captured in {latency:.2f}s on topic {settings.cdc_topic('customers')}:",
            json.dumps(_summary(event), indent=2),
            "",
            f"MinIO console: http://{settings.host}:{settings.s3_console_port} "
            f"(user {settings.s3_access_key}); `ecom config show` lists every endpoint.",
            "Stop everything with `ecom demo --down` (data is kept).",
        ]
    )


def down(settings: Settings, progress: Reporter = SILENT) -> None:
    services.down(settings, progress=progress)


def capture_one_change(settings: Settings) -> tuple[dict[str, Any], float]:
    """Insert then update one customer; return the update's change event and the latency."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    topic = settings.cdc_topic("customers")
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"ecom-demo-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        md = consumer.list_topics(topic, timeout=10)
        parts = md.topics[topic].partitions if topic in md.topics else {}
        if parts and md.topics[topic].error is None:
            consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in parts])
        else:  # first run: the topic appears with the first event
            consumer.subscribe([topic])
        email = f"demo-{uuid.uuid4().hex[:10]}@example.com"
        now = datetime.now(UTC).replace(tzinfo=None)
        with psycopg2.connect(settings.source_dsn) as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO customers (email, first_name, last_name, customer_segment, "
                "loyalty_tier, registration_date, updated_at) "
                "VALUES (%s, 'Demo', 'Customer', 'New', 'None', %s, %s) RETURNING customer_id",
                (email, now, now),
            )
            row = cur.fetchone()
            assert row is not None
            customer_id = row[0]
            cur.execute(
                "UPDATE customers SET loyalty_tier = 'Bronze', updated_at = %s "
                "WHERE customer_id = %s",
                (now, customer_id),
            )
        t0 = time.monotonic()
        deadline = t0 + CAPTURE_TIMEOUT
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() or msg.value() is None:
                continue
            value = msg.value()
            if value is None:
                continue
            event = json.loads(value)
            after = event.get("after") or {}
            if after.get("customer_id") == customer_id and event.get("op") == "u":
                event["_kafka"] = {"partition": msg.partition(), "offset": msg.offset()}
                return event, time.monotonic() - t0
        raise TransientError(
            f"no change event for customer {customer_id} on {topic} within {CAPTURE_TIMEOUT:.0f}s",
            hint="check `ecom connectors status` and `ecom stack logs connect`",
        )
    finally:
        consumer.close()


def _summary(event: dict[str, Any]) -> dict[str, Any]:
    src = event.get("source", {})
    return {
        "op": event.get("op"),
        "before": {k: (event.get("before") or {}).get(k) for k in ("customer_id", "loyalty_tier")},
        "after": {
            k: (event.get("after") or {}).get(k) for k in ("customer_id", "email", "loyalty_tier")
        },
        "source": {k: src.get(k) for k in ("lsn", "txId", "ts_us", "table")},
        "kafka": event.get("_kafka"),
    }
