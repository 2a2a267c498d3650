"""Settings of the stream workers, read once from the environment (prefix ECOM_STREAM_)."""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import ConfigError
from common.pii import EmailPolicy
from common.settings import Settings, env_int, env_number, env_str
from common.settings import load as load_settings


@dataclass(frozen=True)
class StreamSettings:
    """One frozen snapshot per worker process."""

    base: Settings
    #: ECOM_STREAM_APP_ID: Faust app id, which is also the Kafka consumer group.
    app_id: str
    #: ECOM_STREAM_BATCH_SIZE: most events per micro-batch (default 10000).
    batch_size: int
    #: ECOM_STREAM_BATCH_SECONDS: longest wait to fill a micro-batch, which bounds how late
    #: a change reaches its silver topic (default 0.5).
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
    #: ECOM_STREAM_FLUSH_ROWS / ECOM_STREAM_FLUSH_BYTES: a table's buffered lake rows are
    #: written to Delta once they reach this many rows or bytes (defaults 200000, 128 MiB).
    flush_rows: int
    flush_bytes: int
    #: ECOM_STREAM_FLUSH_SECONDS: ... or once the oldest is this old (default 1.0), which
    #: bounds how late a live change reaches the lake.
    flush_seconds: float
    #: ECOM_STREAM_BACKLOG_FLUSH_SECONDS: the age limit while the consumer is behind (its
    #: batches come full): larger files during a snapshot or backlog (default 15).
    backlog_flush_seconds: float
    #: ECOM_STREAM_LAKE_CHECKPOINT_INTERVAL: Delta commits between log checkpoints, set on
    #: the tables the workers create (default 100).
    lake_checkpoint_interval: int
    #: ECOM_STREAM_PARTITIONS: partitions of the CDC, silver and DLQ topics we create (default
    #: 6: an even split over 1, 2, 3 or 6 workers, which Faust assigns by partition number).
    partitions: int
    #: ECOM_STREAM_COLUMNAR: process batches column-wise (default true); false forces the
    #: record-by-record path, which gives the same results at several times the CPU.
    columnar: bool

    @property
    def flush_check_seconds(self) -> float:
        """How often buffers are checked for their age limit."""
        return max(0.05, min(self.flush_seconds / 4, 1.0))

    @property
    def lake_table_properties(self) -> dict[str, str]:
        """Delta table properties of the lake tables the workers create."""
        return {"delta.checkpointInterval": str(self.lake_checkpoint_interval)}

    @property
    def broker_url(self) -> str:
        return f"kafka://{self.base.kafka_bootstrap}"

    def silver_topic(self, table: str) -> str:
        return f"{self.silver_prefix}.{table}"

    @property
    def email_policy(self) -> EmailPolicy:
        """ECOM_PII_EMAIL / ECOM_PII_SALT: what silver stores as a customer's email."""
        return email_policy(self.base)


def email_policy(base: Settings | None = None) -> EmailPolicy:
    """The customer-email policy of the settings (``keep``, ``hash`` or ``mask``)."""
    s = base or load_settings()
    return EmailPolicy(s.pii_email, s.pii_salt if s.pii_email == "hash" else "")


def _env_flag(name: str, default: bool) -> bool:
    raw = env_str(name, "true" if default else "false").strip().lower()
    if raw not in ("true", "false", "1", "0"):
        raise ConfigError(f"{name}={raw!r} is not a boolean", hint=f"set {name} to true or false")
    return raw in ("true", "1")


def load() -> StreamSettings:
    base = load_settings()
    return StreamSettings(
        base=base,
        app_id=env_str("ECOM_STREAM_APP_ID", "ecom-stream"),
        batch_size=env_int("ECOM_STREAM_BATCH_SIZE", 10_000, low=1, high=1_000_000),
        batch_seconds=env_number("ECOM_STREAM_BATCH_SECONDS", 0.5, low=0.05, high=600),
        web_port=env_int("ECOM_STREAM_WEB_PORT", 6066, low=1024, high=65000),
        retry_seconds=env_number("ECOM_STREAM_RETRY_SECONDS", 900, low=1, high=86_400),
        dlq_topic=env_str("ECOM_STREAM_DLQ_TOPIC", "ecom.dlq"),
        silver_prefix=env_str("ECOM_STREAM_SILVER_PREFIX", "silver"),
        partitions=env_int("ECOM_STREAM_PARTITIONS", 6, low=1, high=256),
        flush_rows=env_int("ECOM_STREAM_FLUSH_ROWS", 200_000, low=1, high=10_000_000),
        flush_bytes=env_int(
            "ECOM_STREAM_FLUSH_BYTES", 128 * 1024 * 1024, low=1024, high=4 * 1024**3
        ),
        flush_seconds=env_number("ECOM_STREAM_FLUSH_SECONDS", 1.0, low=0.05, high=3600),
        backlog_flush_seconds=env_number(
            "ECOM_STREAM_BACKLOG_FLUSH_SECONDS", 15.0, low=0.05, high=3600
        ),
        lake_checkpoint_interval=env_int(
            "ECOM_STREAM_LAKE_CHECKPOINT_INTERVAL", 100, low=1, high=100_000
        ),
        columnar=_env_flag("ECOM_STREAM_COLUMNAR", True),
    )
