"""Where landed rows go: the lake's Delta tables, written exactly once per Kafka offset.

A destination knows *where*, not *what*: the rows (bronze or silver, see
:mod:`stream_apps.formats`) arrive as Arrow tables carrying their Kafka coordinates, and
the destination only commits them. Everything here blocks (delta-rs, S3), so agents call
it from a thread.

Exactly once: each commit records, per Kafka partition it covers, a Delta application
transaction (``schemas.lake.app_id``) whose version is the last offset covered. Before
writing, rows at or below the recorded version are dropped; a commit that raced another
writer on the same partition (a rebalance, a replay on a second worker) is refused by
Delta's conflict check, and the write is filtered again against the winner and retried.
"""

from __future__ import annotations

import abc
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import (
    CommitProperties,
    DeltaTable,
    PostCommitHookProperties,
    Transaction,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from common.errors import EcomError, TransientError
from common.retry import retry_transient
from schemas import lake
from stream_apps.exceptions import LakeWriteFailed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Span:
    """The offsets of one Kafka partition a batch covers (inclusive)."""

    first: int
    last: int


@dataclass(frozen=True)
class TableBatch:
    """Rows of one source table from one CDC topic, and the offsets they stand for.

    ``spans`` covers every offset of the batch for each partition, including offsets
    that produced no row in this layer (a tombstone has no silver row): the recorded
    version then says how far the partition was read, not just what was kept.
    """

    table: str
    topic: str
    rows: pa.Table
    spans: Mapping[int, Span]


@dataclass
class WriteResult:
    rows: int = 0
    files: int = 0
    skipped_rows: int = 0  # at or below a recorded version: landed before (replay)
    version: int | None = None  # the table version committed, if any
    conflicts: int = 0  # commits refused by a concurrent writer, then retried
    seconds: float = 0.0  # wall time of the whole write, retries included
    load_seconds: float = 0.0  # of which loading the table's state (first write, reload)


class Destination(abc.ABC):
    """Somewhere a layer's rows are committed, idempotently per Kafka offset."""

    @abc.abstractmethod
    def write(self, batch: TableBatch) -> WriteResult:
        """Commit the rows not landed yet; returns only once they are durable."""

    @abc.abstractmethod
    def forget(self) -> None:
        """Partitions moved: what is known of landed offsets may be stale."""

    def prepare(self, table: str) -> bool:
        """Load what writing ``table`` needs ahead of its first write after :meth:`forget`
        (called from a thread of its own while the worker starts consuming); whether
        there was anything to load."""
        return False


# ---------------------------------------------------------------- error classes
# delta-rs reports S3 problems as OSError with the store's message; these say that
# retrying cannot help.
_TERMINAL_MARKERS = (
    "lacked the necessary privileges",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "NoSuchBucket",
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def one_line(exc: BaseException) -> str:
    """delta-rs errors span lines with coloured arrows: the first meaningful line."""
    text = _ANSI.sub("", str(exc))
    parts = [p.strip(" ↳") for p in text.splitlines() if p.strip(" ↳")]
    return " / ".join(parts[:2])[:300] or type(exc).__name__


def is_terminal(exc: BaseException) -> bool:
    text = str(exc)
    return any(marker in text for marker in _TERMINAL_MARKERS)


def classify(exc: BaseException) -> EcomError:
    """A lake failure as the project's error: terminal when retrying cannot help
    (credentials, a missing bucket), else transient (MinIO down or slow)."""
    if is_terminal(exc):
        return LakeWriteFailed(one_line(exc), hint="check ECOM_STREAM_S3_* and the buckets")
    return TransientError(one_line(exc))


def _first_per_offset(rows: pa.Table, coords: lake.Coordinates) -> pa.Table:
    """``rows`` with one row per (partition, offset): a buffer can hold a message twice
    when Faust fetched it again (both copies are the same message)."""
    if rows.num_rows < 2:
        return rows
    keys = (
        rows[coords.partition].to_numpy().astype(np.int64) << 40
    ) | rows[coords.offset].to_numpy().astype(np.int64)
    _, first = np.unique(keys, return_index=True)
    if len(first) == rows.num_rows:
        return rows
    return rows.take(pa.array(np.sort(first)))


# ---------------------------------------------------------------- Delta
@dataclass(frozen=True)
class DeltaConfig:
    """How a layer's Delta tables are written."""

    layer: str
    bucket: str
    storage_options: Mapping[str, str]
    retry_seconds: float = 900.0
    #: Table properties set when a table is created (checkpoint interval, retention).
    properties: Mapping[str, str] | None = None
    compression: Literal["ZSTD", "SNAPPY", "UNCOMPRESSED"] = "ZSTD"
    #: Attempts after commits refused by a concurrent writer, before giving up.
    max_conflicts: int = 100
    #: Whether every Kafka offset has a row in this layer (bronze). Silver has none for a
    #: tombstone, so its recorded version can trail a partition by such offsets.
    gapless: bool = True


class DeltaDestination(Destination):
    """One layer's Delta tables (one per source table), written by one worker.

    The caller writes one table from one thread at a time; different tables may be
    written from different threads, and :meth:`prepare` may load a table from another
    (a lock per table keeps the two apart). What is known of a table (its loaded state,
    where each partition left off) belongs to a generation: :meth:`forget` starts a new
    one.
    """

    def __init__(self, config: DeltaConfig) -> None:
        self.config = config
        self.coords = lake.COORDINATES[config.layer]
        self._generation = 0
        self._tables: dict[str, tuple[int, DeltaTable]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        # (topic, partition) -> (generation, the offset this writer expects next)
        self._next: dict[tuple[str, int], tuple[int, int]] = {}
        self._writer_properties = WriterProperties(compression=config.compression)
        self._hooks = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)

    def forget(self) -> None:
        # Only a counter: writes run in threads and reload the tables themselves.
        self._generation += 1

    def uri(self, table: str) -> str:
        return lake.table_uri(self.config.bucket, table)

    def _lock(self, table: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(table, threading.Lock())

    def prepare(self, table: str) -> bool:
        """Load ``table`` for this generation: brought up to date when it was loaded
        before, else opened (reading its log from the lake takes a second or more under
        load, which the first write after a start or a rebalance would otherwise wait
        for). A table that does not exist yet is left to its first write. Where each
        partition stands is still read at that write: another worker may land more of
        it until then."""
        generation = self._generation
        with self._lock(table):
            known = self._tables.get(table)
            if known is not None and known[0] == generation:
                return True
            if known is not None:
                dt: DeltaTable | None = known[1]
                dt.update_incremental()  # type: ignore[union-attr]
            else:
                dt = self._open(table)
            if dt is None:
                return False
            self._tables[table] = (generation, dt)
            return True

    # ------------------------------------------------------------ the write
    def write(self, batch: TableBatch) -> WriteResult:
        generation = self._generation
        result = WriteResult()
        started = time.monotonic()
        retry_transient(
            lambda: self._classified(batch, result, generation),
            what=self._what(batch),
            deadline=self.config.retry_seconds,
            give_up=lambda error, attempts: self._failed(
                batch,
                f"still failing after {attempts} attempts over {self.config.retry_seconds:.0f}s",
                error,
            ),
            logger=log,
        )
        result.seconds = time.monotonic() - started
        return result

    def _classified(self, batch: TableBatch, result: WriteResult, generation: int) -> None:
        """One attempt; its failure sorted into transient (retried) and terminal."""
        try:
            self._attempt(batch, result, generation)
        except CommitFailedError as exc:
            # Another writer committed first on a partition of ours, or changed the
            # schema: reload, filter again against what it landed, and retry.
            result.conflicts += 1
            self._reload(batch)
            if result.conflicts > self.config.max_conflicts:
                raise self._failed(batch, f"{result.conflicts} commit conflicts", exc) from exc
            raise TransientError(f"commit conflict: {one_line(exc)}") from exc
        except (OSError, DeltaError) as exc:
            self._reload(batch)  # the commit may have happened all the same
            error = classify(exc)
            if isinstance(error, LakeWriteFailed):
                raise self._failed(batch, "refused", exc) from exc
            raise error from exc

    def _reload(self, batch: TableBatch) -> None:
        """The next attempt reloads the table and reads where each partition stands."""
        self._tables.pop(batch.table, None)
        for p in batch.spans:
            self._next.pop((batch.topic, p), None)

    def _attempt(self, batch: TableBatch, result: WriteResult, generation: int) -> None:
        # held for the whole attempt: prepare() must not update a table being written
        with self._lock(batch.table):
            self._attempt_locked(batch, result, generation)

    def _attempt_locked(self, batch: TableBatch, result: WriteResult, generation: int) -> None:
        loading = time.monotonic()
        dt = self._table(batch, generation)
        todo, commits, reached = self._unlanded(dt, batch, generation)
        result.load_seconds += time.monotonic() - loading
        result.skipped_rows = batch.rows.num_rows - todo.num_rows
        if not commits or todo.num_rows == 0:
            result.rows = result.files = 0
            self._reached(batch, reached, generation)
            return
        write_deltalake(
            dt,
            todo,
            mode="append",
            partition_by=[lake.PARTITION_COLUMN],
            schema_mode="merge",
            writer_properties=self._writer_properties,
            commit_properties=CommitProperties(
                app_transactions=[
                    Transaction(lake.app_id(self.config.layer, batch.topic, p), last)
                    for p, last in sorted(commits.items())
                ],
                custom_metadata={
                    "ecom.layer": self.config.layer,
                    "ecom.topic": batch.topic,
                    "ecom.offsets": json.dumps(
                        {str(p): [batch.spans[p].first, last] for p, last in commits.items()}
                    ),
                },
                max_commit_retries=20,
            ),
            post_commithook_properties=self._hooks,
        )
        result.rows = todo.num_rows
        result.files = len(pc.unique(todo[lake.PARTITION_COLUMN]))
        # the write left ``dt`` at the version it committed
        self._tables[batch.table] = (generation, dt)
        result.version = dt.version()
        self._reached(batch, reached, generation)

    def _reached(self, batch: TableBatch, reached: dict[int, int], generation: int) -> None:
        """Remember where each partition now stands, for the next write of this generation."""
        for p, last in reached.items():
            self._next[(batch.topic, p)] = (generation, last + 1)

    def _table(self, batch: TableBatch, generation: int) -> DeltaTable:
        """The table, reloaded when a partition does not continue where this writer left
        off (it was elsewhere: another worker may have landed more of it)."""
        known = self._tables.get(batch.table)
        dt = known[1] if known is not None and known[0] == generation else None
        moved = any(
            self._next.get((batch.topic, p)) != (generation, span.first)
            for p, span in batch.spans.items()
        )
        if dt is None:
            dt = self._open(batch.table) or self._create(batch)
        elif moved:
            dt.update_incremental()
        self._tables[batch.table] = (generation, dt)
        return dt

    def _open(self, table: str) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri(table), storage_options=dict(self.config.storage_options))
        except TableNotFoundError:
            return None

    def _create(self, batch: TableBatch) -> DeltaTable:
        """Create the table empty (version 0, no data file) before its first write, so
        data files under a table's folder always have a log: readers can then take data
        without a log for a damaged table, never for one being created."""
        try:
            return DeltaTable.create(
                self.uri(batch.table),
                schema=batch.rows.schema,
                mode="ignore",
                partition_by=[lake.PARTITION_COLUMN],
                configuration=dict(self.config.properties or {}),
                storage_options=dict(self.config.storage_options),
            )
        except (CommitFailedError, DeltaError):
            # another worker may have created it at the same moment: use theirs
            dt = self._open(batch.table)
            if dt is None:
                raise
            return dt

    def _landed(self, dt: DeltaTable, batch: TableBatch, p: int, generation: int) -> int | None:
        """The highest offset of partition ``p`` the table holds. When this writer wrote
        the partition last in this generation and the batch continues it, that is known;
        otherwise it is read from the table's app transactions, which scans the log (on an
        object store, several requests: too slow to do for every write)."""
        first = batch.spans[p].first
        if self._next.get((batch.topic, p)) == (generation, first):
            return first - 1
        return dt.transaction_version(lake.app_id(self.config.layer, batch.topic, p))

    def _unlanded(
        self, dt: DeltaTable, batch: TableBatch, generation: int
    ) -> tuple[pa.Table, dict[int, int], dict[int, int]]:
        """The rows above each partition's recorded version, once each; the version to
        record per partition that moves forward; and the highest offset of each partition
        the table holds once they are written."""
        rows = _first_per_offset(batch.rows, self.coords)
        commits: dict[int, int] = {}
        reached: dict[int, int] = {}
        keep = None
        part_col = rows[self.coords.partition]
        off_col = rows[self.coords.offset]
        for p, span in batch.spans.items():
            landed = self._landed(dt, batch, p, generation)
            if landed is not None and span.first > landed + 1:
                # offsets landed+1 .. first-1 were never written here: only a replay that
                # moved the group forward may skip offsets, so say it loudly where every
                # offset has a row
                log.log(
                    logging.ERROR if self.config.gapless else logging.DEBUG,
                    "%s: partition %d landed up to offset %d, this write starts at %d: "
                    "offsets in between are skipped",
                    self._what(batch), p, landed, span.first,
                )  # fmt: skip
            landed = -1 if landed is None else landed
            reached[p] = max(landed, span.last)
            if span.last <= landed:
                continue
            commits[p] = span.last
            mask = pc.and_(pc.equal(part_col, p), pc.greater(off_col, landed))
            keep = mask if keep is None else pc.or_(keep, mask)
        if keep is None:
            return rows.slice(0, 0), commits, reached
        return rows.filter(keep), commits, reached

    def _what(self, batch: TableBatch) -> str:
        parts = ",".join(str(p) for p in sorted(batch.spans))
        return f"{self.config.layer} {self.uri(batch.table)} ({batch.topic} partitions {parts})"

    def _failed(self, batch: TableBatch, why: str, exc: BaseException) -> LakeWriteFailed:
        first = min((s.first for s in batch.spans.values()), default=-1)
        cause = exc.message if isinstance(exc, EcomError) else one_line(exc)
        return LakeWriteFailed(
            f"{self._what(batch)} from offset {first}: {why}: {cause}",
            hint="is MinIO up and are the ECOM_S3_* / ECOM_STREAM_S3_* settings right? "
            "(`ecom stack status`); nothing was committed to Kafka",
        )
