"""Compaction planning and merging (pure: no MinIO)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from compaction.compact import DEDUPE_COLUMNS, folders, merge_files, merge_tables, plan_groups
from compaction.lakeio import LakeObject
from schemas import lake

DAY = date(2026, 11, 1)


def obj(
    first: int, last: int, size: int = 10, *, partition: int = 0, day: date = DAY
) -> LakeObject:
    name = lake.object_key("orders", day, partition, first, last)
    return LakeObject(name, lake.parse_key(name), size)


def spans(groups: list[list[LakeObject]]) -> list[list[tuple[int, int]]]:
    return [[(o.key.first_offset, o.key.last_offset) for o in g] for g in groups]


def test_small_objects_are_packed_up_to_the_target() -> None:
    objs = [obj(0, 9), obj(10, 19), obj(20, 29), obj(30, 39), obj(40, 49)]
    assert spans(plan_groups(objs, 25)) == [[(0, 9), (10, 19)], [(20, 29), (30, 39)]]
    assert spans(plan_groups(objs, 1000)) == [[(o.key.first_offset, o.key.last_offset)
                                               for o in objs]]  # fmt: skip


def test_nothing_to_do_for_one_object_or_big_objects() -> None:
    assert plan_groups([obj(0, 9)], 100) == []
    assert plan_groups([obj(0, 9, 500), obj(10, 19, 500)], 100) == []


def test_overlapping_leftovers_are_always_merged_together() -> None:
    # a merged object 0-49 (big) and the leftovers of an interrupted compaction
    objs = [obj(0, 49, 500), obj(0, 9), obj(10, 19), obj(60, 69, 500)]
    assert spans(plan_groups(objs, 100)) == [[(0, 9), (0, 49), (10, 19)]]


def test_folders_split_by_day_and_partition() -> None:
    objs = [obj(0, 9), obj(10, 19, partition=1), obj(20, 29, day=date(2026, 11, 2))]
    assert sorted(folders(objs)) == [(DAY, 0), (DAY, 1), (date(2026, 11, 2), 0)]


def test_merge_dedupes_by_offset_and_keeps_every_row() -> None:
    a = pa.table({"bronze_partition": pa.array([0, 0], pa.int32()), "bronze_offset": [5, 6],
                  "v": ["a", "b"]})  # fmt: skip
    b = pa.table({"bronze_partition": pa.array([0, 0, 1], pa.int32()), "bronze_offset": [6, 7, 6],
                  "v": ["b", "c", "x"]})  # fmt: skip
    merged = merge_tables([b, a], DEDUPE_COLUMNS["silver"])
    got = sorted(zip(merged["bronze_partition"].to_pylist(), merged["bronze_offset"].to_pylist(),
                     merged["v"].to_pylist(), strict=True))  # fmt: skip
    assert got == [(0, 5, "a"), (0, 6, "b"), (0, 7, "c"), (1, 6, "x")]


def test_merge_bronze_and_empty() -> None:
    t = pa.table({"partition": pa.array([2, 2], pa.int32()), "offset": [1, 1], "v": [1, 1]})
    assert merge_tables([t, t], DEDUPE_COLUMNS["bronze"]).num_rows == 1
    assert merge_tables([t.slice(0, 0)], DEDUPE_COLUMNS["bronze"]).num_rows == 0


def _silver(parts: list[int], offsets: list[int], values: list[str]) -> pa.Table:
    return pa.table(
        {
            "bronze_partition": pa.array(parts, pa.int32()),
            "bronze_offset": pa.array(offsets, pa.int64()),
            "v": values,
        }
    )


def test_merge_files_streams_and_dedupes(tmp_path: Path) -> None:
    files = [
        _silver([0, 0], [5, 6], ["a", "b"]),
        _silver([0, 0, 1, 0], [6, 7, 6, 7], ["b", "c", "x", "c"]),  # 6 again, 7 twice
        _silver([0], [5], ["a"]),
    ]
    paths = []
    for i, t in enumerate(files):
        paths.append(tmp_path / f"{i}.parquet")
        pq.write_table(t, paths[-1])
    out = tmp_path / "merged.parquet"
    assert merge_files(paths, DEDUPE_COLUMNS["silver"], out) == (4, 3)
    got = pq.read_table(out)
    assert sorted(
        zip(
            got["bronze_partition"].to_pylist(),
            got["bronze_offset"].to_pylist(),
            got["v"].to_pylist(),
            strict=True,
        )
    ) == [(0, 5, "a"), (0, 6, "b"), (0, 7, "c"), (1, 6, "x")]
    assert got.schema.field("bronze_partition").type == pa.int32()


def test_merge_files_with_different_schemas_falls_back(tmp_path: Path) -> None:
    a = _silver([0], [1], ["a"])
    b = _silver([0, 0], [1, 2], ["a", "b"]).append_column("extra", pa.array(["x", None]))
    pq.write_table(a, tmp_path / "a.parquet")
    pq.write_table(b, tmp_path / "b.parquet")
    out = tmp_path / "m.parquet"
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    assert merge_files(paths, DEDUPE_COLUMNS["silver"], out) == (2, 1)
    assert "extra" in pq.read_table(out).schema.names
