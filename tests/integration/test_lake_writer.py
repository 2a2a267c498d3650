"""The lake writer against real MinIO: replays never add copies, whatever the batch
boundaries, across writer restarts, and its index lists one day of one partition only."""

from __future__ import annotations

import io
import uuid
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from minio import Minio

from common.s3 import stream_client
from common.settings import Settings
from schemas import lake
from stream_apps.sink import LakeWriter, PendingRow

D1, D2 = date(2026, 11, 27), date(2026, 11, 28)


def _build(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=pa.schema([("offset", pa.int64())]))


def _encode(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _rows(offsets: range, day_of: Any = lambda o: D1) -> list[PendingRow]:
    return [PendingRow(o, day_of(o), {"offset": o}) for o in offsets]


def _landed(s3: Minio, bucket: str, table: str) -> list[int]:
    """Every offset held by the table's objects (with repeats, if any)."""
    out: list[int] = []
    for obj in s3.list_objects(bucket, prefix=lake.table_prefix(table), recursive=True):
        key = lake.parse_key(obj.object_name or "")
        resp = s3.get_object(bucket, obj.object_name or "")
        try:
            offsets = pq.read_table(io.BytesIO(resp.read())).column("offset").to_pylist()
        finally:
            resp.close()
            resp.release_conn()
        assert offsets == list(range(key.first_offset, key.last_offset + 1)), key
        out += offsets
    return sorted(out)


@pytest.fixture()
def lake_table(stack: Settings) -> tuple[Minio, str, str]:
    # a table name of its own in the bronze bucket, so runs never see each other's objects
    return stream_client(stack), stack.bronze_bucket, f"_test/writer_{uuid.uuid4().hex[:10]}"


def test_replays_with_other_boundaries_add_no_copies(lake_table: tuple[Minio, str, str]) -> None:
    s3, bucket, table = lake_table
    w = LakeWriter(s3, bucket, retry_seconds=30)
    assert w.write(table, 0, _rows(range(0, 100)), _build, _encode).rows == 100
    assert w.write(table, 0, _rows(range(100, 250)), _build, _encode).rows == 150
    # a replay from offset 50 with other batch boundaries, by a fresh writer (a restart)
    w2 = LakeWriter(s3, bucket, retry_seconds=30)
    again = w2.write(table, 0, _rows(range(50, 300)), _build, _encode)
    assert (again.rows, again.skipped_rows) == (50, 200)  # only 250..299 are new
    # and a duplicate inside one batch counts once
    dup = w2.write(table, 0, _rows(range(300, 310)) + _rows(range(305, 310)), _build, _encode)
    assert dup.rows == 10
    assert _landed(s3, bucket, table) == list(range(0, 310))


def test_index_is_per_day_and_partition(lake_table: tuple[Minio, str, str]) -> None:
    s3, bucket, table = lake_table
    w = LakeWriter(s3, bucket, retry_seconds=30)

    def day(o: int) -> date:
        return D1 if o < 60 else D2

    first = w.write(table, 3, _rows(range(0, 100), day), _build, _encode)
    assert sorted(first.objects) == [
        lake.object_key(table, D1, 3, 0, 59),
        lake.object_key(table, D2, 3, 60, 99),
    ]
    assert w.listings == 2  # the two days of partition 3, nothing else
    w.write(table, 4, _rows(range(0, 10), lambda o: D2), _build, _encode)
    restarted = LakeWriter(s3, bucket, retry_seconds=30)
    replay = restarted.write(table, 3, _rows(range(90, 120), lambda o: D2), _build, _encode)
    assert (replay.rows, replay.skipped_rows) == (20, 10)
    assert restarted.listings == 1  # only dt=D2/p=3: D1 and partition 4 are never listed
    assert _landed(s3, bucket, table) == sorted(list(range(0, 120)) + list(range(0, 10)))


def test_a_partition_landed_elsewhere_meanwhile_is_listed_again(
    lake_table: tuple[Minio, str, str],
) -> None:
    s3, bucket, table = lake_table
    ours, theirs = (
        LakeWriter(s3, bucket, retry_seconds=30),
        LakeWriter(s3, bucket, retry_seconds=30),
    )
    ours.write(table, 1, _rows(range(0, 50)), _build, _encode)
    theirs.write(table, 1, _rows(range(50, 80)), _build, _encode)  # after a rebalance
    # the partition comes back after a rebalance, re-delivered from 50 (where `ours` left
    # off, so continuity alone cannot tell): the worker calls forget() on assignment and
    # the writer lists again, so 50..79, landed by the other writer, are not written twice
    ours.forget()
    again = ours.write(table, 1, _rows(range(50, 90)), _build, _encode)
    assert (again.rows, again.skipped_rows) == (10, 30)
    # without an assignment, a batch that does not continue where the writer left off
    # also makes it list again
    theirs.write(table, 1, _rows(range(90, 100)), _build, _encode)
    jump = ours.write(table, 1, _rows(range(95, 105)), _build, _encode)
    assert (jump.rows, jump.skipped_rows) == (5, 5)
    assert _landed(s3, bucket, table) == list(range(0, 105))
