"""The lake's Delta tables as the nightly job and operators use them: read (as of a
time), maintain (compaction, vacuum, checkpoints: all done by the table format) and
describe (history, files, landed offsets).

The layout (``s3://<bucket>/<table>``, partitioned by ``commit_date``) and the app ids of
the stream's commits are in :mod:`schemas.lake`. This module acts as the lake's root
user: maintenance deletes files, which the stream workers' user may not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from deltalake import DeltaTable, WriterProperties
from deltalake.exceptions import DeltaError, TableNotFoundError

from common.s3 import delta_storage_options, minio_client
from common.settings import Settings
from compaction.exceptions import LakeReadFailed, LakeUnavailable
from schemas import SOURCE_TABLES, lake

if TYPE_CHECKING:
    import pyarrow.dataset as pads

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_UNAVAILABLE = ("Generic S3 error", "error sending request", "Connection refused", "timed out")


def _one_line(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc))
    parts = [p.strip(" ↳") for p in text.splitlines() if p.strip(" ↳")]
    return " / ".join(parts[:2])[:300] or type(exc).__name__


class LakeTableBroken(LakeReadFailed):
    """A table's ``_delta_log`` is missing or unreadable although data is there."""


@dataclass(frozen=True)
class TableRef:
    layer: str
    table: str
    uri: str

    def __str__(self) -> str:
        return f"{self.layer} table {self.table} ({self.uri})"


@dataclass
class TableInfo:
    """What ``ecom status`` and ``ecom lake files`` show of one table."""

    ref: TableRef
    exists: bool
    version: int | None = None
    last_commit: datetime | None = None
    files: int = 0
    bytes: int = 0
    rows: int = 0
    max_commit_ts: datetime | None = None  # newest source commit, by file statistics
    files_per_day: dict[date, int] = field(default_factory=dict)
    offsets: dict[str, dict[int, int]] = field(default_factory=dict)  # topic -> p -> offset


@dataclass(frozen=True)
class Commit:
    version: int
    timestamp: datetime
    operation: str
    rows_added: int | None
    files_added: int | None
    files_removed: int | None
    topic: str | None
    offsets: dict[str, list[int]] | None  # partition -> [first, last]


class Lake:
    """The bronze and silver Delta tables of the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.options = delta_storage_options(settings)
        self.buckets = {lake.BRONZE: settings.bronze_bucket, lake.SILVER: settings.silver_bucket}

    def ref(self, layer: str, table: str) -> TableRef:
        return TableRef(layer, table, lake.table_uri(self.buckets[layer], table))

    def refs(self, table: str | None = None) -> Iterator[TableRef]:
        for layer in lake.LAYERS:
            for name in (table,) if table else SOURCE_TABLES:
                yield self.ref(layer, name)

    # ------------------------------------------------------------ opening
    def open(self, ref: TableRef, as_of: datetime | None = None) -> DeltaTable | None:
        """The table (as it was at ``as_of``, if given); None when it does not exist (yet,
        or at ``as_of``). A table whose log cannot be read raises one line saying so."""
        try:
            dt = DeltaTable(ref.uri, storage_options=self.options)
        except TableNotFoundError:
            if self._has_data(ref):
                raise LakeTableBroken(
                    f"{ref}: data files but no Delta log (_delta_log is missing)",
                    hint=self._fix(ref),
                ) from None
            return None
        except (OSError, DeltaError) as exc:
            raise self._error(ref, exc) from exc
        if as_of is not None:
            try:
                dt.load_as_version(as_of)
            except (OSError, DeltaError) as exc:
                raise self._error(ref, exc) from exc
            # delta-rs answers a time before the table existed with its first version
            if dt.version() == 0 and self._created(ref) > as_of:
                return None
        return dt

    def _has_data(self, ref: TableRef) -> bool:
        """Whether anything is stored under the table's folder."""
        try:
            s3 = minio_client(self.settings)
            return any(True for _ in s3.list_objects(self.buckets[ref.layer], f"{ref.table}/"))
        except Exception as exc:  # noqa: BLE001 (cannot list: report it as the lake's state)
            raise self._error(ref, exc) from exc

    @staticmethod
    def _fix(ref: TableRef) -> str:
        return (
            f"move {ref.uri} aside and replay its topic to rebuild it from Kafka: "
            f"`ecom replay --group ecom-stream --table {ref.table} --to-earliest "
            "--stop-workers --yes`"
        )

    def _created(self, ref: TableRef) -> datetime:
        """When version 0 of the table was committed (its log entry's write time)."""
        key = f"{ref.table}/_delta_log/{0:020d}.json"
        try:
            stat = minio_client(self.settings).stat_object(self.buckets[ref.layer], key)
        except Exception as exc:  # noqa: BLE001 (any failure: the table is unreadable here)
            raise self._error(ref, exc) from exc
        assert stat.last_modified is not None
        return stat.last_modified

    def dataset(self, ref: TableRef, as_of: datetime | None = None) -> pads.Dataset | None:
        dt = self.open(ref, as_of)
        return None if dt is None else dt.to_pyarrow_dataset()

    def _error(self, ref: TableRef, exc: BaseException) -> Exception:
        text = _one_line(exc)
        if any(marker in text for marker in _UNAVAILABLE):
            return LakeUnavailable(f"{ref}: {text}", hint="is MinIO up? (`ecom stack status`)")
        return LakeTableBroken(f"{ref}: its Delta log cannot be read: {text}", hint=self._fix(ref))

    # ------------------------------------------------------------ describing
    def info(self, ref: TableRef, partitions: dict[str, int] | None = None) -> TableInfo:
        """Version, last commit, data files and bytes; with ``partitions`` (topic ->
        partition count) also the newest landed offset of each partition."""
        dt = self.open(ref)
        if dt is None:
            return TableInfo(ref, exists=False)
        info = TableInfo(ref, exists=True, version=dt.version())
        last = dt.history(1)
        if last:
            info.last_commit = datetime.fromtimestamp(last[0]["timestamp"] / 1000, UTC)
        actions = pa.table(dt.get_add_actions(flatten=True)).to_pydict()
        sizes = actions.get("size_bytes", [])
        info.files, info.bytes = len(sizes), int(sum(sizes))
        info.rows = int(sum(n or 0 for n in actions.get("num_records", [])))
        newest = [t for t in actions.get("max.commit_ts", []) if t is not None]
        info.max_commit_ts = max(newest) if newest else None
        for day in actions.get(f"partition.{lake.PARTITION_COLUMN}", []):
            key = day if isinstance(day, date) else date.fromisoformat(str(day))
            info.files_per_day[key] = info.files_per_day.get(key, 0) + 1
        for topic, count in (partitions or {}).items():
            landed = {}
            for p in range(count):
                version = dt.transaction_version(lake.app_id(ref.layer, topic, p))
                if version is not None:
                    landed[p] = int(version)
            info.offsets[topic] = landed
        return info

    def history(self, ref: TableRef, limit: int | None = None) -> list[Commit]:
        dt = self.open(ref)
        if dt is None:
            return []
        out = []
        for entry in dt.history(limit):
            metrics = entry.get("operationMetrics") or {}
            offsets = entry.get("ecom.offsets")
            out.append(
                Commit(
                    version=int(entry["version"]),
                    timestamp=datetime.fromtimestamp(entry["timestamp"] / 1000, UTC),
                    operation=str(entry.get("operation", "")),
                    rows_added=_int_or_none(metrics.get("num_added_rows")),
                    files_added=_int_or_none(
                        metrics.get("num_added_files", metrics.get("numFilesAdded"))
                    ),
                    files_removed=_int_or_none(
                        metrics.get("num_removed_files", metrics.get("numFilesRemoved"))
                    ),
                    topic=entry.get("ecom.topic"),
                    offsets=json.loads(offsets) if isinstance(offsets, str) else None,
                )
            )
        return out

    # ------------------------------------------------------------ maintenance
    def optimize(
        self,
        ref: TableRef,
        target_bytes: int,
        *,
        days: Sequence[date] | None = None,
        checkpoint: bool = True,
    ) -> dict[str, Any] | None:
        """Compact small files (of the day partitions ``days`` only, if given) into files
        of about ``target_bytes``, then checkpoint the log. Readers and the stream go on
        meanwhile (an optimize commit changes no data). Two optimizes of one table must
        not run at once (:func:`compaction.rebuild.lake_lock`)."""
        dt = self.open(ref)
        if dt is None:
            return None
        filters = None
        if days is not None:
            filters = [(lake.PARTITION_COLUMN, "in", [d.isoformat() for d in days])]
        try:
            stats = dt.optimize.compact(
                partition_filters=filters,
                target_size=target_bytes,
                writer_properties=WriterProperties(compression="ZSTD"),
                max_concurrent_tasks=2,
            )
            if checkpoint:
                dt.create_checkpoint()
        except (OSError, DeltaError) as exc:
            raise self._error(ref, exc) from exc
        return dict(stats)

    def vacuum(self, ref: TableRef, retention_hours: float) -> list[str] | None:
        """Delete data files no version newer than ``retention_hours`` needs, and log
        entries past the log's own retention. Time travel reaches back that far."""
        dt = self.open(ref)
        if dt is None:
            return None
        try:
            removed = dt.vacuum(
                retention_hours=int(retention_hours),
                dry_run=False,
                enforce_retention_duration=False,
            )
            dt.cleanup_metadata()
        except (OSError, DeltaError) as exc:
            raise self._error(ref, exc) from exc
        return list(removed)


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
