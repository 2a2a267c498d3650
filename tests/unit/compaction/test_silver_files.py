"""Reading a change-log from its Parquet data files (DuckDB's own reader) gives what
reading it as Arrow gives: the same state, history, summary and gold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from compaction import duckgold, state
from compaction.silver_files import ParquetFiles
from schemas import SOURCE_TABLES
from tests.unit.compaction.test_incremental import AS_OF, World, all_gold, state_rows


def _world(seed: int, events: int = 400) -> World:
    world = World(seed)
    for table in SOURCE_TABLES:
        for _ in range(3):
            world.event(table, snapshot=True)
    for _ in range(events):
        world.step()
    return world


def _files(table: pa.Table, folder: Path, pieces: int) -> ParquetFiles:
    """``table`` split over ``pieces`` Parquet files, as a Delta table's data files."""
    folder.mkdir(parents=True)
    step = max(1, -(-table.num_rows // pieces))
    count = 0
    for start in range(0, max(table.num_rows, 1), step):
        pq.write_table(table.slice(start, step), folder / f"{count:06d}.parquet")
        count += 1
    return ParquetFiles(folder, count)


def _build(sources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    con = state.connect()
    reads = {t: duckgold.read_silver(con, t, sources[t]) for t in SOURCE_TABLES}
    duckgold.compute_gold(con, AS_OF)
    return con, reads


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parquet_files_read_like_the_arrow_table(tmp_path: Path, seed: int) -> None:
    world = _world(seed)
    n = len(world.arrivals)
    arrow = {t: world.table(t, n) for t in SOURCE_TABLES}
    files = {t: _files(arrow[t], tmp_path / t, pieces=3) for t in SOURCE_TABLES}
    by_arrow, reads_arrow = _build(arrow)
    by_files, reads_files = _build(files)
    assert reads_files == reads_arrow
    assert state_rows(by_files) == state_rows(by_arrow)
    assert all_gold(by_files) == all_gold(by_arrow)
    assert any(all_gold(by_arrow).values()), "the case must produce gold rows"


def test_a_column_no_file_has_reads_as_null(tmp_path: Path) -> None:
    """A column added to the table after its files were written: NULL, as the table's
    Arrow dataset (with the table's schema) gives it."""
    world = _world(4, events=100)
    full = world.table("products", len(world.arrivals))
    older = full.drop_columns(["category"])
    con = state.connect()
    got = duckgold.read_silver(con, "products", _files(older, tmp_path / "p", pieces=2))
    rows = con.execute("SELECT count(*), count(category) FROM cur_products").fetchall()
    assert got.changes == full.num_rows
    assert rows[0][0] > 0 and rows[0][1] == 0


def test_no_files_is_an_empty_change_log(tmp_path: Path) -> None:
    con = state.connect()
    got = duckgold.read_silver(con, "orders", ParquetFiles(tmp_path, 0))
    assert got.changes == 0 and got.rows == 0 and got.coverage == {}


def test_named_files_are_the_uris_of_the_log_paths(tmp_path: Path) -> None:
    from deltalake import DeltaTable, write_deltalake

    from compaction.silver_files import _named

    uri = str(tmp_path / "t")
    for i in range(3):
        write_deltalake(uri, pa.table({"a": [i]}), mode="append", partition_by=None)
    dt = DeltaTable(uri)
    uris = dt.file_uris()
    paths = [a["path"] for a in pa.RecordBatchReader.from_stream(
        dt.get_add_actions(flatten=True)).read_all().to_pylist()]  # fmt: skip
    assert len(uris) == len(paths) == 3
    assert sorted(_named(dt, uris, paths[:2])) == sorted(u for u in uris if not u.endswith(paths[2]))
    assert _named(dt, uris, [*paths[:1], "no/such/file.parquet"]) == uris, "unknown path: every file"
