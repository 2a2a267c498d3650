"""Settings of the stream workers, read once from the environment (prefix ECOM_STREAM_)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from common.errors import ConfigError
from common.settings import Settings
from common.settings import load as load_settings


def _num(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number", hint=f"fix or unset {name}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range [{low}, {high}]", hint=f"fix {name}")
    return value


@dataclass(frozen=True)
class StreamSettings:
    """One frozen snapshot per worker process."""

    base: Settings
    #: ECOM_STREAM_APP_ID: Faust app id, which is also the Kafka consumer group.
    app_id: str
    #: ECOM_STREAM_BATCH_SIZE: most events per bronze/silver micro-batch (default 10000).
    batch_size: int
    #: ECOM_STREAM_BATCH_SECONDS: longest wait to fill a micro-batch (default 2.0).
    batch_seconds: float
    #: ECOM_STREAM_WEB_PORT: first worker's web port (metrics at /metrics); worker i uses +i.
    web_port: int
    #: ECOM_STREAM_RETRY_SECONDS: how long a failing lake write is retried in place before
    #: the worker exits without committing (default 900).
    retry_seconds: float
    #: ECOM_STREAM_DLQ_TOPIC: the dead-letter topic (default ecom.dlq).
    dlq_topic: str
    #: ECOM_STREAM_SILVER_PREFIX: silver topics are <prefix>.<table> (default silver).
    silver_prefix: str
    #: ECOM_STREAM_PARTITIONS: partitions of the silver and DLQ topics we create (default 3).
    partitions: int

    @property
    def broker_url(self) -> str:
        return f"kafka://{self.base.kafka_bootstrap}"

    def silver_topic(self, table: str) -> str:
        return f"{self.silver_prefix}.{table}"


def load() -> StreamSettings:
    base = load_settings()
    return StreamSettings(
        base=base,
        app_id=os.environ.get("ECOM_STREAM_APP_ID") or "ecom-stream",
        batch_size=int(_num("ECOM_STREAM_BATCH_SIZE", 10_000, 1, 1_000_000)),
        batch_seconds=_num("ECOM_STREAM_BATCH_SECONDS", 2.0, 0.05, 600),
        web_port=int(_num("ECOM_STREAM_WEB_PORT", 6066, 1024, 65000)),
        retry_seconds=_num("ECOM_STREAM_RETRY_SECONDS", 900, 1, 86_400),
        dlq_topic=os.environ.get("ECOM_STREAM_DLQ_TOPIC") or "ecom.dlq",
        silver_prefix=os.environ.get("ECOM_STREAM_SILVER_PREFIX") or "silver",
        partitions=int(_num("ECOM_STREAM_PARTITIONS", 3, 1, 256)),
    )
