"""A gold table computed straight into its CSV file is the table computed in DuckDB,
then exported."""

from __future__ import annotations

from pathlib import Path

import pytest

from compaction import duckgold, gold_sql
from compaction.duckgold import compute_gold, compute_to_csv, export_gold
from tests.unit.compaction.test_incremental import AS_OF, World, full


@pytest.mark.parametrize("seed", [5, 6])
def test_computed_into_csv_equals_computed_then_exported(tmp_path: Path, seed: int) -> None:
    world = World(seed)
    for _ in range(300):
        world.step()
    con, _ = full(world, len(world.arrivals), AS_OF)
    compute_gold(con, AS_OF)
    for name in gold_sql.GOLD:
        kept, direct = tmp_path / f"{name}.kept.csv", tmp_path / f"{name}.csv"
        n_kept = export_gold(con, name, kept)
        assert compute_to_csv(con, name, direct) == n_kept == duckgold.count(
            con, f"{duckgold.GOLD_SCHEMA}.{name}"
        )
        assert sorted(direct.read_text().splitlines()) == sorted(kept.read_text().splitlines())
    assert any(duckgold.count(con, f"{duckgold.GOLD_SCHEMA}.{n}") for n in gold_sql.GOLD)
