"""Settings of the gold rebuild, read once from the environment (prefix ECOM_GOLD_)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import SettingsConfigDict

from common.settings import EcomSettings, Settings, matching, read
from common.settings import load as load_settings

#: pg_advisory_lock key that serialises gold rebuilds (in the gold database).
LOCK_KEY = 0x45434F47  # "ECOG"
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


class GoldSettings(EcomSettings):
    """One frozen snapshot of the rebuild's configuration; ``base`` holds the shared settings."""

    model_config = SettingsConfigDict(env_prefix="ECOM_GOLD_")

    base: Settings = Field(exclude=True)
    """The settings every stage shares (not read from ECOM_GOLD_*)."""
    compact_target_mb: int = Field(64, ge=1, le=4096)
    """Size in MiB a merged lake object grows to at most."""
    duckdb_memory: DuckdbMemory = "2GB"
    """DuckDB memory_limit; beyond it DuckDB spills to disk."""
    duckdb_threads: int = Field(2, ge=1, le=256)
    """DuckDB worker threads."""
    work_dir: Path | None = None
    """Scratch folder for downloaded objects and CSV (default: the system's temp folder)."""
    download_workers: int = Field(8, ge=1, le=64)
    """Parallel lake downloads and uploads."""
    swap_lock_timeout: float = Field(60.0, ge=1, le=3600)
    """Seconds the swap into the live schema waits for readers' locks."""

    @field_validator("work_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def compact_target_bytes(self) -> int:
        return self.compact_target_mb * 1024 * 1024


def load(base: Settings | None = None) -> GoldSettings:
    return read(GoldSettings, base=base or load_settings())
