"""The bench-only silver export (bench/silver_export.py) is a faithful silver change-log.

The scale-10 gold benchmark rebuilds from a change-log written by that exporter instead
of the stream; this checks it on a small dirty seed: `ecom gold rebuild` on it, then
`ecom gold verify` passes, and every gold table equals the contract computed on the
source (tests/integration/gold_reference.py), row for row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from deltalake import DeltaTable

from bench.silver_export import PARTITIONS
from common.s3 import delta_storage_options
from common.settings import Settings
from schemas import SOURCE_TABLES
from schemas.lake import app_id
from stream_apps.formats import silver_schema
from tests.integration import gold_reference as ref
from tests.integration.conftest import run_cli
from tests.integration.exported_lake import ExportedLake, rebuilt

ANCHOR = date(2026, 11, 1)
AS_OF = datetime.now(UTC).date()  # an earlier day would read the lake before it was written


@pytest.fixture(scope="module")
def lake(stack: Settings) -> Iterator[ExportedLake]:
    with rebuilt(stack, "bench-export-test", scale=0.01, seed=4, anchor=ANCHOR, as_of=AS_OF,
                 rows_per_file=300, dirty_rate=0.02) as exported:  # fmt: skip
        yield exported


def _silver(lake: ExportedLake, table: str) -> DeltaTable:
    uri = f"s3://{lake.silver_bucket}/{table}"
    return DeltaTable(uri, storage_options=delta_storage_options(lake.settings))


def test_export_has_every_row_in_the_stream_layout(lake: ExportedLake) -> None:
    counts = {t: x.rows for t, x in lake.export.tables.items()}
    assert counts == dict(zip(SOURCE_TABLES, _source_counts(lake.settings), strict=True))
    assert sum(x.quarantined for x in lake.export.tables.values()) > 0, "dirty rows expected"
    orders = _silver(lake, "orders")
    parts = set(orders.to_pyarrow_table(columns=["bronze_partition"])["bronze_partition"].to_pylist())
    assert parts == set(range(PARTITIONS))
    # the stream's app transactions: a stream on the same topics would skip these offsets
    topic = lake.settings.cdc_topic("orders")
    assert all(orders.transaction_version(app_id("silver", topic, p)) is not None for p in parts)


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


def test_tables_have_the_silver_schema_and_unique_coordinates(lake: ExportedLake) -> None:
    dt = _silver(lake, "order_items")
    table = dt.to_pyarrow_table()
    assert table.schema.remove_metadata() == silver_schema("order_items")
    coords = set(zip(table["bronze_partition"].to_pylist(), table["bronze_offset"].to_pylist(),
                     strict=True))  # fmt: skip
    assert len(coords) == table.num_rows == lake.export.tables["order_items"].rows
    for p in {c[0] for c in coords}:  # offsets 0..n-1 within each partition, no gap
        offsets = sorted(o for q, o in coords if q == p)
        assert offsets == list(range(len(offsets)))
    assert len(dt.file_uris()) == lake.export.tables["order_items"].files


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
