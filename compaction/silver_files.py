"""The data files of silver Delta tables, copied to local disk for DuckDB's own Parquet
reader.

delta-rs reads the table's log and names the files of the version a build reads (the
Delta semantics stay delta-rs's); the files are fetched from MinIO in parallel and
DuckDB scans them with its own multi-threaded Parquet reader, which costs less CPU than
scanning the same files through an Arrow dataset. Only tables that need no reader
feature (protocol reader version 1: no column mapping, no deletion vectors) qualify;
for the others the build reads the Arrow dataset as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from deltalake import DeltaTable

from common.s3 import minio_client
from common.settings import Settings
from compaction.exceptions import LakeReadFailed

#: Downloads at once (MinIO round trips; the files are written to the local disk).
FETCHERS = 8


@dataclass(frozen=True)
class ParquetFiles:
    """A silver table's data files on local disk: every ``*.parquet`` file in ``folder``
    (none: the table has no rows)."""

    folder: Path
    count: int

    @property
    def glob(self) -> str:
        return str(self.folder / "*.parquet")


def plain(dt: DeltaTable) -> bool:
    """Whether the table's data files alone hold its rows (reader version 1)."""
    return dt.protocol().min_reader_version == 1


def fetch(
    settings: Settings, tables: Mapping[str, DeltaTable | None], folder: Path
) -> dict[str, ParquetFiles]:
    """Copy the data files of each plain table into ``folder``; tables that are missing
    or not plain are left out."""
    jobs: list[tuple[str, str, Path]] = []
    out: dict[str, ParquetFiles] = {}
    for table, dt in tables.items():
        if dt is None or not plain(dt):
            continue
        uris = dt.file_uris()
        (folder / table).mkdir(parents=True, exist_ok=True)
        for i, uri in enumerate(uris):
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            jobs.append((bucket, key, folder / table / f"{i:06d}.parquet"))
        out[table] = ParquetFiles(folder / table, len(uris))
    if jobs:
        client = minio_client(settings, pool_size=FETCHERS)
        try:
            with ThreadPoolExecutor(FETCHERS) as pool:
                list(pool.map(lambda j: client.fget_object(j[0], j[1], str(j[2])), jobs))
        except Exception as exc:  # noqa: BLE001 (any failure: the lake could not be read)
            text = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise LakeReadFailed(
                f"fetching the silver data files failed: {text}",
                hint="is MinIO up (`ecom stack status`), and was the table vacuumed meanwhile?",
            ) from exc
    return out
