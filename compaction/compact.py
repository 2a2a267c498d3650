"""Compaction: merge the many small objects of a ``<table>/dt=<day>/p=<partition>/``
folder into a few large ones.

Safety and idempotence:

* Objects are merged per (table, day, partition) only. A merged object is named
  ``<min first>-<max last>.parquet`` of the objects it replaces, so the stream
  writers' replay-skip logic (which reads offset ranges from keys) still sees every
  offset as covered. Offsets inside that range that are not in the object belong to
  another day's folder of the same partition (every offset has exactly one day).
* The merged object is written first (a complete PUT is atomic), then the objects it
  replaces are deleted. A crash in between leaves rows twice; every reader dedupes by
  offset (bronze: ``(partition, offset)``, silver: ``(bronze_partition,
  bronze_offset)``), and the next compaction merges the leftovers again, since
  objects whose ranges overlap are always merged together.
* Merging dedupes by the same coordinates, so nothing is doubled in a merged object.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from minio import Minio

from common.progress import SILENT, Reporter
from compaction import lakeio
from compaction.lakeio import LakeObject
from schemas import lake

#: Columns that identify a row, per bucket kind (what readers dedupe by).
DEDUPE_COLUMNS: dict[str, tuple[str, ...]] = {
    "bronze": ("partition", "offset"),
    "silver": ("bronze_partition", "bronze_offset"),
}
ROW_GROUP_SIZE = 100_000
#: Uncompressed bytes a merged object's row group aims at (bounds merge memory: bronze
#: rows carry whole Debezium messages, so 100k rows can be hundreds of MB).
ROW_GROUP_BYTES = 32 * 1024 * 1024


@dataclass
class CompactionStats:
    folders: int = 0
    objects_before: int = 0
    objects_merged: int = 0
    objects_written: int = 0
    rows_written: int = 0
    duplicates_dropped: int = 0

    def add(self, other: CompactionStats) -> None:
        self.folders += other.folders
        self.objects_before += other.objects_before
        self.objects_merged += other.objects_merged
        self.objects_written += other.objects_written
        self.rows_written += other.rows_written
        self.duplicates_dropped += other.duplicates_dropped


def plan_groups(objects: Sequence[LakeObject], target_bytes: int) -> list[list[LakeObject]]:
    """Groups of objects of ONE folder to merge, each group into one object.

    Objects whose offset ranges overlap (leftovers of an interrupted compaction, or a
    rare replay duplicate) always land in the same group, whatever its size. Other
    objects are packed in offset order into groups of at most ``target_bytes``.
    Groups of a single object are left out: there is nothing to merge.
    """
    ordered = sorted(objects, key=lambda o: (o.key.first_offset, o.key.last_offset))
    clusters: list[list[LakeObject]] = []
    reach = -1
    for obj in ordered:
        if clusters and obj.key.first_offset <= reach:
            clusters[-1].append(obj)
            reach = max(reach, obj.key.last_offset)
        else:
            clusters.append([obj])
            reach = obj.key.last_offset
    groups: list[list[LakeObject]] = []
    size = 0
    for cluster in clusters:
        csize = sum(o.size for o in cluster)
        if groups and size + csize <= target_bytes:
            groups[-1].extend(cluster)
            size += csize
        else:
            groups.append(list(cluster))
            size = csize
    return [g for g in groups if len(g) > 1]


def merge_tables(tables: Sequence[pa.Table], dedupe_columns: Sequence[str]) -> pa.Table:
    """Concatenate, sort by ``dedupe_columns`` and keep the first row of each value."""
    merged = pa.concat_tables(tables, promote_options="permissive")
    if merged.num_rows == 0:
        return merged
    merged = merged.sort_by([(c, "ascending") for c in dedupe_columns])
    keep = None
    for c in dedupe_columns:
        col = merged.column(c).combine_chunks()
        differs = pc.not_equal(col.slice(1), col.slice(0, len(col) - 1))
        differs = pc.fill_null(differs, True)
        keep = differs if keep is None else pc.or_(keep, differs)
    assert keep is not None
    mask = pa.concat_arrays([pa.array([True]), keep])
    return merged.filter(mask)


def _coordinates(batch: pa.RecordBatch | pa.Table, columns: Sequence[str]) -> np.ndarray:
    """One int64 per row from (partition, offset): partition << 40 | offset."""
    part = np.asarray(batch.column(columns[0]).to_numpy(zero_copy_only=False), dtype=np.int64)
    off = np.asarray(batch.column(columns[1]).to_numpy(zero_copy_only=False), dtype=np.int64)
    return (part << 40) | off


def _row_group_rows(paths: Sequence[Path]) -> int:
    """Rows per row group so that one holds about ROW_GROUP_BYTES uncompressed."""
    size = rows = 0
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        rows += meta.num_rows
        size += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if rows == 0 or size == 0:
        return ROW_GROUP_SIZE
    return max(1_000, min(ROW_GROUP_SIZE, ROW_GROUP_BYTES * rows // size))


def merge_files(paths: Sequence[Path], dedupe_columns: Sequence[str], out: Path) -> tuple[int, int]:
    """Merge Parquet files into ``out``, keeping the first row of each (partition,
    offset); returns (rows written, duplicates dropped).

    Streams record batches (memory: one batch plus 8 bytes per row seen), so a group
    of any size merges in bounded memory. Files whose schemas differ (a schema change
    in between) are merged in memory with :func:`merge_tables` instead.
    """
    schemas = [pq.read_schema(p) for p in paths]
    if any(not s.equals(schemas[0], check_metadata=False) for s in schemas[1:]):
        merged = merge_tables([pq.read_table(p) for p in paths], dedupe_columns)
        before = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
        pq.write_table(merged, out, compression="zstd", row_group_size=ROW_GROUP_SIZE)
        return merged.num_rows, before - merged.num_rows
    group_rows = _row_group_rows(paths)
    # Pass 1: the coordinates of every row, in file order (8 bytes a row), and the
    # first occurrence of each - one sort for the whole group, not one per batch.
    chunks = [
        _coordinates(batch, dedupe_columns)
        for path in paths
        for batch in pq.ParquetFile(path).iter_batches(
            batch_size=group_rows, columns=list(dedupe_columns)
        )
    ]
    keys = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
    keep = np.zeros(len(keys), dtype=bool)
    keep[np.unique(keys, return_index=True)[1]] = True
    # Pass 2: stream the rows again and write the kept ones.
    rows = dropped = pos = 0
    with pq.ParquetWriter(out, schemas[0], compression="zstd") as writer:
        for path in paths:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=group_rows):
                mask = keep[pos : pos + batch.num_rows]
                pos += batch.num_rows
                kept = batch.filter(pa.array(mask))
                writer.write_table(pa.Table.from_batches([kept]), row_group_size=group_rows)
                rows += kept.num_rows
                dropped += batch.num_rows - kept.num_rows
    return rows, dropped


def folders(objects: Sequence[LakeObject]) -> dict[tuple[date, int], list[LakeObject]]:
    out: dict[tuple[date, int], list[LakeObject]] = defaultdict(list)
    for obj in objects:
        out[(obj.key.commit_date, obj.key.partition)].append(obj)
    return dict(out)


def merge_group(
    s3: Minio,
    bucket: str,
    kind: str,
    group: Sequence[LakeObject],
    scratch: Path,
    workers: int,
) -> tuple[str, int, int]:
    """Merge one group: write the merged object, then delete the replaced ones.

    Returns (merged key, rows written, duplicates dropped).
    """
    first = group[0].key
    key = lake.object_key(
        first.table,
        first.commit_date,
        first.partition,
        min(o.key.first_offset for o in group),
        max(o.key.last_offset for o in group),
    )
    folder = Path(tempfile.mkdtemp(dir=scratch))
    try:
        paths = lakeio.download(s3, bucket, group, folder, workers)
        out = folder / "merged.parquet"
        rows, dropped = merge_files(paths, DEDUPE_COLUMNS[kind], out)
        lakeio.upload(s3, bucket, key, out)  # 1. the merged object is complete and current
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # 2. only then the objects it replaces go (never the merged one, if it kept a name)
    lakeio.remove(s3, bucket, [o.name for o in group if o.name != key], workers)
    return key, rows, dropped


def compact_table(
    s3: Minio,
    bucket: str,
    kind: str,
    table: str,
    *,
    target_bytes: int,
    scratch: Path,
    workers: int,
    progress: Reporter = SILENT,
) -> CompactionStats:
    """Compact every folder of ``table`` in ``bucket`` (``kind`` is bronze or silver)."""
    stats = CompactionStats()
    objects = lakeio.list_table(s3, bucket, table)
    stats.objects_before = len(objects)
    for _folder, objs in sorted(folders(objects).items()):
        stats.folders += 1
        for group in plan_groups(objs, target_bytes):
            _key, rows, dropped = merge_group(s3, bucket, kind, group, scratch, workers)
            stats.objects_merged += len(group)
            stats.objects_written += 1
            stats.rows_written += rows
            stats.duplicates_dropped += dropped
    if stats.objects_merged:
        progress(
            f"  {bucket}/{table}: {stats.objects_merged} of {stats.objects_before} objects "
            f"merged into {stats.objects_written} ({stats.duplicates_dropped} duplicate rows dropped)"
        )
    return stats
