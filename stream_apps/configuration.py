"""Settings of the stream workers, read once from the environment (prefix ECOM_STREAM_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.pii import EmailPolicy
from common.settings import EcomSettings, Settings, read
from common.settings import load as load_settings
from schemas import lake as lake_layout


class StreamSettings(EcomSettings):
    """One frozen snapshot per worker process; ``base`` holds the shared settings."""

    model_config = SettingsConfigDict(env_prefix="ECOM_STREAM_")

    base: Settings = Field(exclude=True)
    """The settings every stage shares (not read from ECOM_STREAM_*)."""
    app_id: str = "ecom-stream"
    """Faust app id, which is also the Kafka consumer group."""
    batch_size: int = Field(10_000, ge=1, le=1_000_000)
    """Most change events per micro-batch (and per fetch from Kafka); a batch that holds
    this many, or a partition this many behind, means the consumer is behind."""
    batch_seconds: float = Field(0.25, ge=0.05, le=600)
    """Longest wait to fill a micro-batch, which bounds how late a change reaches its
    silver topic."""
    web_port: int = Field(6066, ge=1024, le=65000)
    """First worker's web port (metrics at /metrics); worker i uses this plus i."""
    worker: int = Field(0, ge=0, le=1000)
    """This worker's index, set by ``ecom stream start`` for each process it starts."""
    retry_seconds: float = Field(900, ge=1, le=86_400)
    """How long a failing lake write is retried in place before the worker exits
    without committing."""
    dlq_topic: str = "ecom.dlq"
    """The dead-letter topic."""
    silver_prefix: str = "silver"
    """Silver topics are ``<prefix>.<table>``."""
    partitions: int = Field(6, ge=1, le=256)
    """Partitions of the CDC, silver and DLQ topics we create (6: an even split over 1,
    2, 3 or 6 workers, which Faust assigns by partition number)."""
    flush_rows: int = Field(200_000, ge=1, le=10_000_000)
    """A table's buffered lake rows are committed to Delta once they are this many..."""
    flush_bytes: int = Field(128 * 1024 * 1024, ge=1024, le=4 * 1024**3)
    """... or take this many bytes in memory ..."""
    flush_seconds: float = Field(1.0, ge=0.05, le=3600)
    """... or the oldest is this many seconds old: how late a live change reaches the
    lake, at most (plus the write)."""
    backlog_flush_seconds: float = Field(15.0, ge=0.05, le=3600)
    """The age limit while the consumer is behind (its batches come full) or a table's
    buffer holds only snapshot reads: larger files during a snapshot or a backlog, when
    no live change waits on them. A table none of whose rows came for ``flush_seconds``
    is flushed at once even then: its backlog is over."""
    silver_lake_seconds: float = Field(10.0, ge=0.05, le=3600)
    """How long a table's silver change-log rows may wait for their lake commit while its
    rows keep coming (bronze is committed every ``flush_seconds``; a table idle for
    ``flush_seconds`` is committed at once). Only the gold refresh reads the silver
    change-log, and each commit is a file it reads; offsets are committed to Kafka once
    both layers hold them, so a restarted worker reads up to this much again."""
    buffer_bytes: int = Field(64 * 1024 * 1024, ge=1024, le=16 * 1024**3)
    """All tables' buffered lake rows together (Arrow bytes): past it, every buffer is
    flushed, and the agent waits for that flush before taking more at twice it. This
    bounds a worker's memory during a snapshot or a backlog."""
    fetch_partition_bytes: int = Field(2 * 1024 * 1024, ge=64 * 1024, le=256 * 1024**2)
    """Most bytes one fetch from Kafka brings of one partition. With 36 partitions, what the
    consumer holds fetched but not yet handed to the agent grows with it: 8 MiB cost a
    draining worker about 150 MB more memory for about 10% more speed."""
    gc_threshold: int = Field(20_000, ge=100, le=10_000_000)
    """Allocations between two runs of Python's cyclic garbage collector in a worker (Python's
    default is 700, which costs a backlog drain about a fifth of its CPU)."""
    bronze_checkpoint_interval: int = Field(100, ge=1, le=100_000)
    """Delta commits between log checkpoints of the bronze tables the workers create. Bronze
    commits about once a second per table while traffic flows and nothing reads it on a
    schedule, so its checkpoints stay rare: each rewrites every file's entry."""
    silver_checkpoint_interval: int = Field(10, ge=1, le=100_000)
    """Delta commits between log checkpoints of the silver tables the workers create. Every
    gold build opens all six, reading the last checkpoint and each commit since, one
    request each: at 100, that took an incremental build 0.9 s after 10 minutes of
    traffic; at 10, 0.1-0.2 s. Silver commits every few seconds, so a checkpoint (0.1-0.25
    s of a writer thread at scale 1) comes a few times a minute per table."""
    columnar: bool = True
    """Process batches column-wise; false forces the record-by-record path, which gives the
    same results at several times the CPU."""

    @property
    def flush_check_seconds(self) -> float:
        """How often buffers are checked for their age limit."""
        return max(0.05, min(self.flush_seconds / 4, 1.0))

    def lake_table_properties(self, layer: str) -> dict[str, str]:
        """Delta table properties of the lake tables of ``layer`` the workers create."""
        interval = (
            self.bronze_checkpoint_interval if layer == lake_layout.BRONZE
            else self.silver_checkpoint_interval
        )  # fmt: skip
        return {"delta.checkpointInterval": str(interval)}

    @property
    def broker_url(self) -> str:
        return f"kafka://{self.base.kafka_bootstrap}"

    def silver_topic(self, table: str) -> str:
        return f"{self.silver_prefix}.{table}"


def email_policy(base: Settings | None = None) -> EmailPolicy:
    """The customer-email policy of the settings (ECOM_PII_EMAIL, and ECOM_PII_SALT when
    hashing)."""
    s = base or load_settings()
    salt = s.pii_salt.get_secret_value() if s.pii_email == "hash" else ""
    return EmailPolicy(s.pii_email, salt)


def load(base: Settings | None = None) -> StreamSettings:
    return read(StreamSettings, base=base or load_settings())
