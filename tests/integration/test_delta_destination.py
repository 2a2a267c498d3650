"""The Delta destination against real MinIO: exactly once per Kafka offset whatever the
batch boundaries, across writer restarts, with concurrent writers, and nothing committed
while MinIO is unreachable."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from minio.deleteobjects import DeleteObject

from common.s3 import delta_storage_options, minio_client
from common.settings import Settings
from stream_apps.destinations import DeltaConfig, DeltaDestination, Span, TableBatch
from stream_apps.exceptions import LakeWriteFailed

TOPIC = "ecom.public.test"
D1, D2 = date(2026, 11, 27), date(2026, 11, 28)


def _batch(table: str, partition: int, first: int, last: int, day: date = D1) -> TableBatch:
    n = last - first + 1
    rows = pa.table(
        {
            "topic": pa.array([TOPIC] * n),
            "partition": pa.array([partition] * n, pa.int32()),
            "offset": pa.array(range(first, last + 1), pa.int64()),
            "commit_date": pa.array([day] * n, pa.date32()),
        }
    )
    return TableBatch(table, TOPIC, rows, {partition: Span(first, last)})


def _offsets(config: DeltaConfig, table: str) -> dict[int, list[int]]:
    dt = DeltaTable(f"s3://{config.bucket}/{table}", storage_options=dict(config.storage_options))
    rows = dt.to_pyarrow_table(columns=["partition", "offset"]).to_pylist()
    out: dict[int, list[int]] = {}
    for r in rows:
        out.setdefault(r["partition"], []).append(r["offset"])
    return {p: sorted(v) for p, v in out.items()}


def _files(config: DeltaConfig, table: str) -> int:
    dt = DeltaTable(f"s3://{config.bucket}/{table}", storage_options=dict(config.storage_options))
    return len(dt.file_uris())


@pytest.fixture()
def table(stack: Settings) -> Iterator[tuple[DeltaConfig, str]]:
    """A Delta table of its own in the bronze bucket, written as the stream's user and
    removed afterwards (by the root user: the stream's user may not delete)."""
    name = f"test_dest_{uuid.uuid4().hex[:10]}"
    config = DeltaConfig(
        "bronze", stack.bronze_bucket, delta_storage_options(stack, stream=True), retry_seconds=20
    )
    yield config, name
    s3 = minio_client(stack)
    names = [o.object_name for o in s3.list_objects(stack.bronze_bucket, f"{name}/", recursive=True)]
    list(s3.remove_objects(stack.bronze_bucket, (DeleteObject(n) for n in names if n)))


def test_replays_with_other_boundaries_add_no_row_and_no_file(
    table: tuple[DeltaConfig, str],
) -> None:
    config, name = table
    w = DeltaDestination(config)
    assert w.write(_batch(name, 0, 0, 99)).rows == 100
    assert w.write(_batch(name, 0, 100, 249)).rows == 150
    files = _files(config, name)
    # a restarted writer replays from offset 50 with other boundaries
    w2 = DeltaDestination(config)
    again = w2.write(_batch(name, 0, 50, 199))
    assert (again.rows, again.skipped_rows, again.version) == (0, 150, None)
    assert _files(config, name) == files  # nothing was committed
    more = w2.write(_batch(name, 0, 150, 299))
    assert (more.rows, more.skipped_rows) == (50, 100)
    assert _offsets(config, name) == {0: list(range(300))}


def test_partitions_and_days_are_independent(table: tuple[DeltaConfig, str]) -> None:
    config, name = table
    w = DeltaDestination(config)
    w.write(_batch(name, 0, 0, 9, D1))
    w.write(_batch(name, 1, 0, 9, D2))
    # a batch of two partitions: one already landed up to 9, the other new
    two = _batch(name, 0, 5, 14)
    other = _batch(name, 1, 10, 19)
    both = TableBatch(
        name,
        TOPIC,
        pa.concat_tables([two.rows, other.rows]),
        {**two.spans, **other.spans},
    )
    result = w.write(both)
    assert (result.rows, result.skipped_rows) == (15, 5)
    assert _offsets(config, name) == {0: list(range(15)), 1: list(range(20))}


def test_two_workers_commit_to_one_table_at_once(table: tuple[DeltaConfig, str]) -> None:
    """Different partitions, same table, same moment: both land everything (a lost commit
    race is retried by Delta itself for appends)."""
    config, name = table
    DeltaDestination(config).write(_batch(name, 0, 0, 0))  # the table exists
    errors: list[BaseException] = []

    def worker(partition: int) -> None:
        w = DeltaDestination(config)
        try:
            for first in range(0, 400, 50):
                w.write(_batch(name, partition, first + 1, first + 50))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(p,)) for p in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = _offsets(config, name)
    assert got[0] == [0]
    for p in (1, 2, 3):
        assert got[p] == list(range(1, 401))


def test_a_stale_writer_racing_the_new_owner_lands_nothing_twice(
    table: tuple[DeltaConfig, str],
) -> None:
    """After a rebalance, the old owner of a partition may still commit the same offsets as
    its new owner: Delta refuses the second commit of the same app id, and the writer
    filters again against what the winner landed."""
    config, name = table
    old, new = DeltaDestination(config), DeltaDestination(config)
    old.write(_batch(name, 4, 0, 99))
    new.write(_batch(name, 4, 0, 99))  # loads the table: sees 0..99 landed
    results = []
    barrier = threading.Barrier(2)

    def land(w: DeltaDestination) -> None:
        barrier.wait()
        results.append(w.write(_batch(name, 4, 100, 999)))

    threads = [threading.Thread(target=land, args=(w,)) for w in (old, new)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.rows for r in results) == [0, 900]
    assert _offsets(config, name) == {4: list(range(1000))}


def test_a_table_prepared_before_another_writer_lands_more_is_still_filtered(
    table: tuple[DeltaConfig, str],
) -> None:
    """prepare() loads the table at a start or a rebalance; where each partition stands is
    still read at the first write, so rows another worker landed in between (the old
    owner flushing) are not written twice."""
    config, name = table
    w = DeltaDestination(config)
    assert not w.prepare(name)  # no table yet: left to the first write
    assert w.write(_batch(name, 0, 0, 9)).rows == 10
    mine, theirs = DeltaDestination(config), DeltaDestination(config)
    mine.forget()
    assert mine.prepare(name)
    loaded = mine._tables[name][1]
    theirs.write(_batch(name, 0, 10, 19))
    result = mine.write(_batch(name, 0, 10, 29))
    assert (result.rows, result.skipped_rows) == (10, 10)
    # prepared again in a new generation: brought up to date, not reopened
    mine.forget()
    mine.prepare(name)
    assert mine._tables[name] == (2, loaded)
    theirs.write(_batch(name, 0, 30, 39))
    result = mine.write(_batch(name, 0, 30, 44))
    assert (result.rows, result.skipped_rows) == (5, 10)
    assert _offsets(config, name) == {0: list(range(45))}


def test_minio_unreachable_commits_nothing_and_fails_after_the_deadline(
    table: tuple[DeltaConfig, str], stack: Settings
) -> None:
    config, name = table
    DeltaDestination(config).write(_batch(name, 0, 0, 9))
    down = dict(config.storage_options, AWS_ENDPOINT_URL=f"http://{stack.s3_host}:1")
    w = DeltaDestination(replace(config, storage_options=down, retry_seconds=3))
    with pytest.raises(LakeWriteFailed, match="still failing") as err:
        w.write(_batch(name, 0, 10, 19))
    assert "\n" not in str(err.value)
    assert _offsets(config, name) == {0: list(range(10))}


def test_wrong_credentials_fail_at_once(table: tuple[DeltaConfig, str]) -> None:
    config, name = table
    bad = dict(config.storage_options, AWS_SECRET_ACCESS_KEY="not-the-secret")
    w = DeltaDestination(replace(config, storage_options=bad, retry_seconds=600))
    with pytest.raises(LakeWriteFailed, match="refused"):
        w.write(_batch(name, 0, 0, 9))


def test_an_offset_held_twice_in_one_write_lands_once(table: tuple[DeltaConfig, str]) -> None:
    """A buffer can hold a message twice (Faust fetched it again): one row per offset."""
    config, name = table
    w = DeltaDestination(config)
    first, again = _batch(name, 0, 0, 9), _batch(name, 0, 5, 14)
    both = TableBatch(name, TOPIC, pa.concat_tables([first.rows, again.rows]), {0: Span(0, 14)})
    assert w.write(both).rows == 15
    assert _offsets(config, name) == {0: list(range(15))}


def test_a_gap_is_an_error_only_where_every_offset_has_a_row(
    table: tuple[DeltaConfig, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Bronze holds a row for every offset, so offsets left out are an error; silver has
    none for a tombstone, so its recorded version trailing by one is normal there."""
    config, name = table

    def gap_levels(config: DeltaConfig, first: int, last: int) -> list[int]:
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="stream_apps.destinations"):
            DeltaDestination(config).write(_batch(name, 0, first, last))
        return [r.levelno for r in caplog.records if "offsets in between are skipped" in r.message]

    assert gap_levels(config, 0, 9) == []
    assert gap_levels(config, 10, 19) == []
    assert gap_levels(config, 21, 29) == [logging.ERROR]
    assert gap_levels(replace(config, gapless=False), 31, 39) == [logging.DEBUG]
    assert _offsets(config, name) == {0: [*range(20), *range(21, 30), *range(31, 40)]}


def test_the_table_checkpoints_its_log_at_the_interval_it_was_created_with(
    table: tuple[DeltaConfig, str], stack: Settings
) -> None:
    """A reader opens the last checkpoint and the commits after it: the writer's tables
    carry their layer's interval (``ECOM_STREAM_BRONZE_CHECKPOINT_INTERVAL``,
    ``ECOM_STREAM_SILVER_CHECKPOINT_INTERVAL``) and checkpoint at it."""
    config, name = table
    config = replace(config, properties={"delta.checkpointInterval": "3"})
    w = DeltaDestination(config)
    for i in range(7):
        w.write(_batch(name, 0, i * 10, i * 10 + 9))
    dt = DeltaTable(f"s3://{config.bucket}/{name}", storage_options=dict(config.storage_options))
    assert dt.version() >= 6 and dt.metadata().configuration["delta.checkpointInterval"] == "3"
    log = {o.object_name.rsplit("/", 1)[1] for o in minio_client(stack).list_objects(
        config.bucket, f"{name}/_delta_log/", recursive=True)}  # fmt: skip
    checkpoints = sorted(n for n in log if n.endswith(".checkpoint.parquet"))
    at = [int(n.split(".")[0]) for n in checkpoints]
    # one every 3 commits, and fewer than 3 commits after the last one for a reader
    assert len(at) >= 2 and all(b - a == 3 for a, b in zip(at, at[1:], strict=False)), log
    assert dt.version() - at[-1] < 3, sorted(log)
