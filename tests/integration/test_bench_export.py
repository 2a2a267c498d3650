"""The bench-only silver export (bench/silver_export.py) is a faithful silver change-log.

The scale-10 gold benchmark rebuilds from a change-log written by that exporter instead
of the stream; this checks it on a small dirty seed: `ecom gold rebuild` on it, then
`ecom gold verify` passes, and every gold table equals the contract computed on the
source (tests/integration/gold_reference.py), row for row.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import pyarrow.parquet as pq
import pytest

from bench.silver_export import PARTITIONS
from common.s3 import minio_client
from common.settings import Settings
from compaction import lakeio
from schemas import SOURCE_TABLES
from stream_apps.formats import silver_schema
from tests.integration import gold_reference as ref
from tests.integration.conftest import run_cli
from tests.integration.exported_lake import ExportedLake, rebuilt

AS_OF = date(2026, 11, 1)


@pytest.fixture(scope="module")
def lake(stack: Settings) -> Iterator[ExportedLake]:
    with rebuilt(stack, "bench-export-test", scale=0.01, seed=4, as_of=AS_OF,
                 rows_per_object=300, dirty_rate=0.02) as exported:  # fmt: skip
        yield exported


def test_export_has_every_row_in_the_sink_layout(lake: ExportedLake) -> None:
    counts = {t: x.rows for t, x in lake.export.tables.items()}
    assert counts == dict(zip(SOURCE_TABLES, _source_counts(lake.settings), strict=True))
    assert sum(x.quarantined for x in lake.export.tables.values()) > 0, "dirty rows expected"
    s3 = lakeio.client(lake.settings)
    objs = lakeio.list_table(s3, lake.silver_bucket, "orders")
    assert {o.key.partition for o in objs} == set(range(PARTITIONS))


def test_rebuild_then_verify_pass(lake: ExportedLake) -> None:
    res = run_cli("gold", "verify", env=lake.env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "checks, OK" in res.stdout, res.stdout


@pytest.mark.parametrize("table", tuple(ref.COLUMNS))
def test_gold_equals_contract_on_source(lake: ExportedLake, table: str) -> None:
    s = lake.settings
    got, want = ref.gold(s.gold_dsn, table), ref.reference(s.source_dsn, table, AS_OF)
    assert got, f"{table} is empty: the test data does not exercise it"
    assert len(got) == len(want), f"{table}: gold {len(got)} rows, source {len(want)}"
    bad = [(g, w) for g, w in zip(got, want, strict=True) if g != w]
    assert not bad, f"{table}: {len(bad)} rows differ, first: gold {bad[0][0]} source {bad[0][1]}"


def test_objects_have_the_silver_schema_and_unique_coordinates(lake: ExportedLake) -> None:
    s3 = minio_client(lake.settings)
    seen: set[tuple[int, int]] = set()
    for obj in s3.list_objects(lake.silver_bucket, prefix="order_items/", recursive=True):
        name = obj.object_name or ""
        resp = s3.get_object(lake.silver_bucket, name)
        try:
            table = pq.read_table(io.BytesIO(resp.read()))
        finally:
            resp.close()
            resp.release_conn()
        assert table.schema == silver_schema("order_items"), name
        coords = set(zip(table["bronze_partition"].to_pylist(), table["bronze_offset"].to_pylist(),
                         strict=True))  # fmt: skip
        assert len(coords) == table.num_rows and not coords & seen
        seen |= coords
        first, last = (int(x) for x in name.rsplit("/", 1)[1].removesuffix(".parquet").split("-"))
        assert sorted(o for _, o in coords) == list(range(first, last + 1)), name
    assert len(seen) == lake.export.tables["order_items"].rows


def _source_counts(s: Settings) -> list[Any]:
    import psycopg2

    conn = psycopg2.connect(s.source_dsn)
    try:
        with conn.cursor() as cur:
            out = []
            for t in SOURCE_TABLES:
                cur.execute(f"SELECT count(*) FROM public.{t}")
                out.append(int(cur.fetchone()[0]))  # type: ignore[index]
            return out
    finally:
        conn.close()
