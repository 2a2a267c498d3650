"""Settings of the gold rebuild, read once from the environment (prefix ECOM_GOLD_)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import SettingsConfigDict

from common.settings import Bucket, EcomSettings, JvmHeap, Settings, matching, read
from common.settings import load as load_settings

#: pg_advisory_lock key that serialises gold rebuilds (in the gold database).
LOCK_KEY = 0x45434F47  # "ECOG"
#: Advisory lock of the lake's maintenance (``ecom lake optimize`` / ``vacuum``): delta-rs
#: (1.6.6) lets two compactions of the same files both commit (each rewrites the rows
#: into a new file and removes the old ones), which leaves every row twice.
LAKE_LOCK_KEY = 0x45434F4C  # "ECOL"
#: Prefix of the staging schemas a rebuild builds in (``gold_build_<build id>``).
STAGING_PREFIX = "gold_build_"

DuckdbMemory = Annotated[
    str,
    BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v),
    matching(
        r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", "a size such as 2GB or 512MB",
        flags=re.IGNORECASE,
    ),
]  # fmt: skip
SparkMaster = Annotated[
    str,
    BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v),
    matching(
        r"local(\[(\d+|\*)(,\d+)?\])?|yarn|(spark|k8s|mesos)://[A-Za-z0-9_.:,/\[\]-]+",
        "local, local[N], local[*], yarn, or a spark://, k8s:// or mesos:// URL",
    ),
]  # fmt: skip
Engine = Literal["duckdb", "spark"]


class GoldSettings(EcomSettings):
    """One frozen snapshot of the rebuild's configuration; ``base`` holds the shared settings."""

    model_config = SettingsConfigDict(env_prefix="ECOM_GOLD_")

    base: Settings = Field(exclude=True)
    """The settings every stage shares (not read from ECOM_GOLD_*)."""
    lake_target_file_mb: int = Field(128, ge=1, le=8192)
    """File size in MiB ``ecom lake optimize`` compacts the lake's Delta tables to."""
    lake_maintain_seconds: float = Field(60.0, ge=5, le=86_400)
    """How often the lake maintainer (``ecom lake maintain``, started by ``ecom stream
    start``) compacts the newest day partitions. The stream adds about one file per table,
    worker and second, and delta-rs's work per commit grows with a table's files."""
    lake_recent_days: int = Field(2, ge=1, le=31)
    """Day partitions (UTC, newest first) the maintainer compacts: today's, and yesterday's
    for changes committed before midnight that land after it."""
    lake_recent_target_file_mb: int = Field(16, ge=1, le=1024)
    """Largest file (MiB) the maintainer writes. Small, because the day's compacted file is
    rewritten with the new small files each round until it reaches this size; the nightly
    ``ecom lake optimize`` merges whole days into ``lake_target_file_mb`` files."""
    lake_vacuum_retention_hours: float = Field(168.0, ge=0, le=24 * 3650)
    """History ``ecom lake vacuum`` keeps (7 days by default): time travel, such as
    ``ecom gold rebuild --as-of``, reaches back this far."""
    duckdb_memory: DuckdbMemory = "2GB"
    """DuckDB memory_limit; beyond it DuckDB spills to disk."""
    duckdb_threads: int = Field(2, ge=1, le=256)
    """DuckDB worker threads."""
    load_connections: int = Field(2, ge=1, le=16)
    """Gold database connections COPYing the gold tables into the staging schema at once
    (each table is one COPY on one connection)."""
    work_dir: Path | None = None
    """Scratch folder for DuckDB's spill files and CSV (default: the system's temp folder)."""
    swap_lock_timeout: float = Field(60.0, ge=1, le=3600)
    """Seconds the swap into the live schema waits for readers' locks."""
    state_dir: Path | None = None
    """Folder of the local copy of the gold state, the DuckDB database an incremental
    build starts from (default: ECOM_HOME/gold-state). The lake keeps the state too."""
    state_bucket: Bucket = "gold-state"
    """MinIO bucket of the state builds keep for the next one (created by the first build
    that keeps one, as the root user; the stream workers' user cannot write it)."""
    keep_state: bool = True
    """Whether builds keep their state (in the lake and in ``state_dir``) so the next
    build can be incremental; off, every build is a full one."""
    refresh_minutes: int = Field(5, ge=1, le=1440)
    """Minutes between incremental refreshes in `ecom gold schedule` (beside the nightly
    full build)."""
    engine: Engine = "duckdb"
    """What computes gold: ``duckdb`` (in this process) or ``spark`` (Apache Spark, on this
    machine or a cluster: ``spark_master``). Both run the same definitions."""
    spark_master: SparkMaster = "local[*]"
    """Spark master of the Spark engine: ``local[*]`` (this machine, every core),
    ``local[N]``, or a cluster such as ``spark://host:7077``."""
    spark_driver_memory: JvmHeap = "2g"
    """Heap of the Spark driver (with a local master, the whole local Spark)."""
    spark_executor_memory: JvmHeap = "2g"
    """Heap of each Spark executor on a cluster."""
    spark_shuffle_partitions: int = Field(8, ge=1, le=100_000)
    """Partitions of Spark's joins and aggregations (``spark.sql.shuffle.partitions``)."""
    spark_jdbc_writers: int = Field(2, ge=1, le=64)
    """Connections writing each gold table into the staging schema over JDBC."""
    spark_jdbc_batch: int = Field(10_000, ge=1, le=1_000_000)
    """Rows per JDBC insert batch."""

    @field_validator("work_dir", "state_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def state_path(self) -> Path:
        return self.state_dir or self.base.home / "gold-state"

    @property
    def lake_target_file_bytes(self) -> int:
        return self.lake_target_file_mb * 1024 * 1024


def load(base: Settings | None = None, **overrides: object) -> GoldSettings:
    """The settings from the environment; ``overrides`` (field -> value, such as command
    line options) win and are checked like the environment's values."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return read(GoldSettings, base=base or load_settings(), **given)
