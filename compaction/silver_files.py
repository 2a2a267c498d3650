"""The data files of silver Delta tables, copied to local disk for DuckDB's own Parquet
reader.

delta-rs reads the table's log and names the files of the version a build reads (the
Delta semantics stay delta-rs's); the files are fetched from MinIO in parallel (pyarrow's
S3 filesystem: its reads are C++, about half the time of the minio client's) and
DuckDB scans them with its own multi-threaded Parquet reader, which costs less CPU than
scanning the same files through an Arrow dataset. Only tables that need no reader
feature (protocol reader version 1: no column mapping, no deletion vectors) qualify;
for the others the build reads the Arrow dataset as before.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from deltalake import DeltaTable

from common.s3 import arrow_filesystem
from common.settings import Settings
from compaction.exceptions import LakeReadFailed

#: Downloads at once (MinIO round trips; the files are written to the local disk).
FETCHERS = 8
#: Bytes read from MinIO at a time while copying a file.
COPY_BUFFER = 4 << 20


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


def fetching(
    settings: Settings,
    tables: Mapping[str, DeltaTable | None],
    folder: Path,
    only: Mapping[str, Collection[str]] | None = None,
) -> Iterator[tuple[str, ParquetFiles | None]]:
    """Copy the data files of each plain table into ``folder`` (of a table in ``only``,
    just the files it names there, by their paths in the table's log), yielding every
    table in order with its files once they are all on disk (None: the table is missing
    or not plain) while the later tables' files are still being fetched, so the caller
    reads one table while the next downloads."""
    plan: list[tuple[str, list[tuple[str, str, Path]]] | tuple[str, None]] = []
    for table, dt in tables.items():
        if dt is None or not plain(dt):
            plan.append((table, None))
            continue
        uris = dt.file_uris()
        if only is not None and table in only:
            uris = _named(dt, uris, only[table])
        (folder / table).mkdir(parents=True, exist_ok=True)
        jobs = []
        for i, uri in enumerate(uris):
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            jobs.append((bucket, key, folder / table / f"{i:06d}.parquet"))
        plan.append((table, jobs))
    fs = arrow_filesystem(settings)

    def get(job: tuple[str, str, Path]) -> None:
        bucket, key, path = job
        with fs.open_input_stream(f"{bucket}/{key}") as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst, COPY_BUFFER)

    pool = ThreadPoolExecutor(FETCHERS)
    try:
        pending = [(t, None if jobs is None else [pool.submit(get, j) for j in jobs])
                   for t, jobs in plan]  # fmt: skip
        for table, futures in pending:
            if futures is None:
                yield table, None
                continue
            try:
                for future in futures:
                    future.result()
            except Exception as exc:  # noqa: BLE001 (any failure: the lake could not be read)
                text = " ".join(str(exc).split())[:300] or type(exc).__name__
                raise LakeReadFailed(
                    f"fetching the silver data files of {table} failed: {text}",
                    hint="is MinIO up (`ecom stack status`), and was the table vacuumed meanwhile?",
                ) from exc
            yield table, ParquetFiles(folder / table, len(futures))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _named(dt: DeltaTable, uris: list[str], paths: Collection[str]) -> list[str]:
    """The URIs among ``uris`` (all of the table's files) of the log paths ``paths``.

    A URI is the table's location joined with the path as the log holds it; a path
    that no URI ends with (an encoding this does not foresee) keeps every file, which
    costs time, never rows."""
    wanted = set(paths)
    root = dt.table_uri.rstrip("/") + "/"
    if uris and not uris[0].startswith(root):  # a local table's files are plain paths
        root = root.removeprefix("file://")
    named = [u for u in uris if u.removeprefix(root) in wanted]
    return named if len(named) == len(wanted) else uris
