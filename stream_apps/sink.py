"""Where lake objects are written: MinIO (S3), with idempotent keys and in-place retries.

The file *format* lives in :mod:`stream_apps.formats`; this module only decides
object keys and puts bytes. Everything here blocks, so agents call it through
``asyncio.to_thread``.

Idempotence under replay: an object's key names the offset range it holds
(``<table>/dt=<day>/p=<partition>/<first>-<last>.parquet``). Before writing, the
writer subtracts the ranges already in the lake for that table and partition, so
re-consumed offsets (after a crash or an offset reset) are never written twice,
whatever the batch boundaries were the first time.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import pyarrow as pa
import urllib3
from minio import Minio
from minio.error import S3Error

from common.errors import TransientError
from common.retry import retry_transient
from common.s3 import stream_client
from common.settings import Settings
from schemas import lake
from stream_apps.exceptions import LakeWriteFailed

log = logging.getLogger(__name__)
T = TypeVar("T")

TERMINAL_S3_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket"}
)


def client(settings: Settings) -> Minio:
    """The stream workers' client, as their own MinIO user (ECOM_STREAM_S3_*, which may only
    read and write the lake buckets): no urllib3 retries, LakeWriter retries in place."""
    return stream_client(settings)


@dataclass
class PendingRow:
    """One row to land: its partition offset, the day it belongs to, and the row itself."""

    offset: int
    day: date
    row: dict[str, Any]


@dataclass
class WriteResult:
    objects: list[str] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    skipped_rows: int = 0  # already in the lake (replay)


class LakeWriter:
    """Writes micro-batches for one bucket; keeps an index of offset ranges already landed.

    The index is kept per table, partition and commit date, and loaded by listing just
    that prefix (``<table>/dt=<day>/p=<partition>/``): a message's day is a function of
    the message, so a replayed offset can only ever have been landed under the day it
    has now. Listing costs what one day of one partition holds, however large the lake
    grows. Entries older than ``index_ttl`` are listed again when next needed, and
    dropped otherwise (memory stays bounded in a long-running worker).
    """

    def __init__(
        self,
        s3: Minio,
        bucket: str,
        *,
        retry_seconds: float = 900.0,
        index_ttl: float = 120.0,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.retry_seconds = retry_seconds
        self.index_ttl = index_ttl
        self._ranges: dict[tuple[str, int, date], list[tuple[int, int]]] = {}
        self._loaded_at: dict[tuple[str, int, date], float] = {}
        self._next: dict[tuple[str, int], int] = {}  # offset this writer expects next
        self._stale = False
        self.listings = 0  # prefixes listed so far (for tests and debugging)

    def forget(self) -> None:
        """Drop the index of landed offsets before the next write (called when partitions
        are assigned: another worker may have landed offsets of them meanwhile). Only sets
        a flag: writes run in a thread and clear the index themselves."""
        self._stale = True

    # ------------------------------------------------------------ index
    def _covered(self, table: str, partition: int, day: date) -> list[tuple[int, int]]:
        k = (table, partition, day)
        loaded = self._loaded_at.get(k)
        if loaded is None or time.monotonic() - loaded > self.index_ttl:
            self._ranges[k] = self._list(table, partition, day)
            self._loaded_at[k] = time.monotonic()
        return self._ranges[k]

    def _list(self, table: str, partition: int, day: date) -> list[tuple[int, int]]:
        prefix = lake.partition_day_prefix(table, day, partition)
        objects = self._retry(
            lambda: list(self.s3.list_objects(self.bucket, prefix=prefix, recursive=True)),
            what=f"list s3://{self.bucket}/{prefix}",
        )
        self.listings += 1
        ranges = []
        for obj in objects:
            try:
                key = lake.parse_key(obj.object_name or "")
            except ValueError:
                continue
            ranges.append((key.first_offset, key.last_offset))
        return ranges

    def _drop(self, table: str, partition: int) -> None:
        """Forget what is known of one table and partition (every day)."""
        for k in [k for k in self._loaded_at if k[0] == table and k[1] == partition]:
            del self._loaded_at[k]
            self._ranges.pop(k, None)

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.index_ttl
        for k in [k for k, at in self._loaded_at.items() if at < cutoff]:
            del self._loaded_at[k]
            self._ranges.pop(k, None)

    # ------------------------------------------------------------ writes
    def write(
        self,
        table: str,
        partition: int,
        rows: Sequence[PendingRow],
        build: Callable[[list[dict[str, Any]]], pa.Table],
        encode: Callable[[pa.Table], bytes],
    ) -> WriteResult:
        """Land rows of one table and partition; returns what was written."""
        result = WriteResult()
        if self._stale:
            self._stale = False
            self._ranges.clear()
            self._loaded_at.clear()
            self._next.clear()
        if not rows:
            return result
        self._expire()
        # one row per offset: after a rebalance Faust can hand a batch the same message
        # twice (once from before the rebalance, once fetched again from the commit)
        ordered = sorted({r.offset: r for r in rows}.values(), key=lambda r: r.offset)
        if self._next.get((table, partition)) != ordered[0].offset:
            # Not where this writer left off (or its first write here): the partition was
            # elsewhere before (a rebalance, a crashed worker), which may have landed
            # offsets this index does not show yet.
            self._drop(table, partition)
        self._next[(table, partition)] = ordered[-1].offset + 1
        by_day = {day: self._covered(table, partition, day) for day in {r.day for r in ordered}}
        covered = [rng for ranges in by_day.values() for rng in ranges]
        todo = lake.uncovered_ranges(ordered[0].offset, ordered[-1].offset, covered)
        tagged = [(i, r) for r in ordered for i, (a, b) in enumerate(todo) if a <= r.offset <= b]
        result.skipped_rows = len(rows) - len(tagged)
        for run in _runs(tagged):
            first, last = run[0].offset, run[-1].offset
            key = lake.object_key(table, run[0].day, partition, first, last)
            body = encode(build([r.row for r in run]))
            self._put(key, body)
            by_day[run[0].day].append((first, last))
            result.objects.append(key)
            result.rows += len(run)
            result.bytes += len(body)
        return result

    def _put(self, key: str, body: bytes) -> None:
        self._retry(
            lambda: self.s3.put_object(
                self.bucket,
                key,
                io.BytesIO(body),
                len(body),
                content_type="application/vnd.apache.parquet",
            ),
            what=f"put s3://{self.bucket}/{key}",
        )

    def _retry(self, fn: Callable[[], T], *, what: str) -> T:
        """Retry transient failures in place with capped exponential backoff.

        Terminal S3 errors (credentials, missing bucket) and a retry budget spent
        raise :class:`LakeWriteFailed`; the caller must then stop without committing.
        """

        def give_up(error: TransientError, attempts: int) -> LakeWriteFailed:
            return LakeWriteFailed(
                f"{what}: still failing after {attempts} attempts over "
                f"{self.retry_seconds:.0f}s: {error}",
                hint="is MinIO up? (`ecom stack status`)",
            )

        return retry_transient(
            lambda: classify_s3(fn, what),
            what=what,
            deadline=self.retry_seconds,
            give_up=give_up,
            logger=log,
        )


def classify_s3(fn: Callable[[], T], what: str) -> T:
    """``fn()``, its failures sorted: S3 refusals that retrying cannot fix raise
    :class:`LakeWriteFailed`; other S3 errors, HTTP and socket errors are transient."""
    try:
        return fn()
    except S3Error as exc:
        if exc.code in TERMINAL_S3_CODES:
            raise LakeWriteFailed(
                f"{what}: {exc.code}: {exc.message}",
                hint="check ECOM_S3_* settings and the buckets",
            ) from exc
        raise TransientError(str(exc)) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransientError(str(exc)) from exc


def _runs(tagged: Sequence[tuple[int, PendingRow]]) -> list[list[PendingRow]]:
    """Split offset-ordered rows into runs (one object each): a run holds one day and lies
    inside one uncovered range, so an object's key never claims offsets it lacks."""
    runs: list[list[PendingRow]] = []
    last_range = -1
    for range_no, r in tagged:
        if runs and runs[-1][-1].day == r.day and range_no == last_range:
            runs[-1].append(r)
        else:
            runs.append([r])
        last_range = range_no
    return runs


__all__ = ["LakeWriter", "PendingRow", "WriteResult", "client"]
