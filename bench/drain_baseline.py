"""The bare pipeline that ``stream_drain@S`` compares the stream workers with.

One process reads the CDC topics with confluent-kafka (``consume(num_messages=...)``),
decodes each value with orjson, keeps the after-image (the before-image of a delete) with
the Kafka coordinates, and writes one Parquet file per 100,000 rows of a topic to its own
MinIO bucket with pyarrow. No cleaning, no silver, no dead letters, no exactly-once
bookkeeping: what any consumer of these topics must at least do to land them.
"""

from __future__ import annotations

import io
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

#: Rows of one topic per Parquet file.
FILE_ROWS = 100_000
#: Messages asked of one ``consume`` call.
CONSUME_BATCH = 10_000


@dataclass
class BaselineResult:
    messages: int = 0
    rows: int = 0
    files: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    bucket: str = ""

    def as_dict(self) -> dict[str, Any]:
        rate = self.messages / self.seconds if self.seconds else None
        return {
            "messages": self.messages,
            "rows": self.rows,
            "files": self.files,
            "seconds": round(self.seconds, 2),
            "messages_per_s": round(rate) if rate else None,
            "cpu_s": round(self.cpu_s, 2),
            "cpu_us_per_event": round(self.cpu_s / self.messages * 1e6, 1)
            if self.messages
            else None,
            "bucket": self.bucket,
            "file_rows": FILE_ROWS,
        }


@dataclass
class _Writer:
    """Rows per topic, written as a Parquet object every FILE_ROWS rows."""

    s3: Any
    bucket: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    files: int = 0
    written: int = 0

    def add(self, topic: str, row: dict[str, Any]) -> None:
        rows = self.rows[topic]
        rows.append(row)
        if len(rows) >= FILE_ROWS:
            self.flush(topic)

    def flush(self, topic: str) -> None:
        rows = self.rows.pop(topic, None)
        if not rows:
            return
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), buf, compression="zstd")
        size = buf.tell()
        buf.seek(0)
        self.s3.put_object(self.bucket, f"{topic}/{self.files:06d}.parquet", buf, size)
        self.files += 1
        self.written += len(rows)

    def flush_all(self) -> None:
        for topic in list(self.rows):
            self.flush(topic)


def _row(message: Any) -> dict[str, Any]:
    value = message.value()
    doc = orjson.loads(value) if value else None
    image = (doc.get("after") or doc.get("before") or {}) if isinstance(doc, dict) else {}
    return {
        **image,
        "_op": doc.get("op") if isinstance(doc, dict) else None,
        "_partition": message.partition(),
        "_offset": message.offset(),
    }


def run(settings: Any, ends: dict[tuple[str, int], int], *, timeout: float) -> BaselineResult:
    """Land every message below ``ends`` (topic, partition -> end offset); fresh group."""
    from confluent_kafka import Consumer

    from common.kafka import client_config
    from common.s3 import minio_client

    run_id = uuid.uuid4().hex[:8]
    s3 = minio_client(settings)
    bucket = f"bench-baseline-{run_id}"
    s3.make_bucket(bucket)
    consumer = Consumer(
        client_config(
            settings,
            {
                "group.id": f"bench-baseline-{run_id}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    left = {tp for tp, end in ends.items() if end > 0}
    writer = _Writer(s3, bucket)
    result = BaselineResult(bucket=bucket)
    t0, c0 = time.monotonic(), time.process_time()
    consumer.subscribe(sorted({t for t, _ in ends}))
    try:
        while left and time.monotonic() - t0 < timeout:
            for m in consumer.consume(num_messages=CONSUME_BATCH, timeout=1.0):
                if m.error():
                    continue
                result.messages += 1
                writer.add(m.topic(), _row(m))
                tp = (m.topic(), m.partition())
                if tp in left and m.offset() >= ends[tp] - 1:
                    left.discard(tp)
        writer.flush_all()
    finally:
        consumer.close()
    result.seconds = time.monotonic() - t0
    result.cpu_s = time.process_time() - c0
    result.rows, result.files = writer.written, writer.files
    return result
