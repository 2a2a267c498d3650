"""Settings of the gold rebuild, read once from the environment (prefix ECOM_GOLD_)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from common.errors import ConfigError
from common.settings import Settings, env_int, env_number, env_str
from common.settings import load as load_settings

#: pg_advisory_lock key that serialises gold rebuilds (in the gold database).
LOCK_KEY = 0x45434F47  # "ECOG"
#: Prefix of the staging schemas a rebuild builds in (``gold_build_<build id>``).
STAGING_PREFIX = "gold_build_"

_MEMORY_RE = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


@dataclass(frozen=True)
class GoldSettings:
    """One frozen snapshot of the rebuild's configuration."""

    base: Settings
    #: ECOM_GOLD_LAKE_TARGET_FILE_MB: file size ``ecom lake optimize`` compacts to (default 128).
    lake_target_file_bytes: int
    #: ECOM_GOLD_LAKE_VACUUM_RETENTION_HOURS: history ``ecom lake vacuum`` keeps, so time
    #: travel reaches back this far (default 168: 7 days).
    lake_vacuum_retention_hours: float
    #: ECOM_GOLD_DUCKDB_MEMORY: DuckDB memory_limit; beyond it DuckDB spills to disk (default 2GB).
    duckdb_memory: str
    #: ECOM_GOLD_DUCKDB_THREADS: DuckDB worker threads (default 2).
    duckdb_threads: int
    #: ECOM_GOLD_WORK_DIR: scratch folder for DuckDB's spill files and CSV (default: system temp).
    work_dir: Path | None
    #: ECOM_GOLD_SWAP_LOCK_TIMEOUT: seconds the swap waits for readers' locks (default 60).
    swap_lock_timeout: float


def load(base: Settings | None = None) -> GoldSettings:
    base = base or load_settings()
    memory = env_str("ECOM_GOLD_DUCKDB_MEMORY", "2GB")
    if not _MEMORY_RE.fullmatch(memory.strip()):
        raise ConfigError(
            f"ECOM_GOLD_DUCKDB_MEMORY={memory!r} is not a size such as 2GB or 512MB",
            hint="fix ECOM_GOLD_DUCKDB_MEMORY",
        )
    work = env_str("ECOM_GOLD_WORK_DIR", "")
    return GoldSettings(
        base=base,
        lake_target_file_bytes=env_int("ECOM_GOLD_LAKE_TARGET_FILE_MB", 128, low=1, high=8192)
        * 1024
        * 1024,
        lake_vacuum_retention_hours=env_number(
            "ECOM_GOLD_LAKE_VACUUM_RETENTION_HOURS", 168.0, low=0, high=24 * 3650
        ),
        duckdb_memory=memory.strip(),
        duckdb_threads=env_int("ECOM_GOLD_DUCKDB_THREADS", 2, low=1, high=256),
        work_dir=Path(work).expanduser() if work else None,
        swap_lock_timeout=env_number("ECOM_GOLD_SWAP_LOCK_TIMEOUT", 60.0, low=1, high=3600),
    )
