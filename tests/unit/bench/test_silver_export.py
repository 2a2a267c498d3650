"""The bench-only silver export builds exactly what the stream's silver sink writes.

Pure: no services. Each table's export rows are compared with
``stream_apps.formats.silver_table`` of the same records, and the export's SQL
normalisation and quarantine rules are checked against ``stream_apps.rules``.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from bench import silver_export as ex
from schemas import PRIMARY_KEYS, SOURCE_TABLES
from schemas.columns import COLUMNS
from stream_apps.formats import silver_schema, silver_table

SNAP = ex.Snapshot(lsn=677250648, tx_id=729, ts=datetime(2026, 11, 28, 7, 16, 39, 102603, UTC))

SAMPLE = {  # one CSV line per table as COPY (FORMAT csv) prints it (op first)
    "customers": 'r,7,a@b.com,Ann,"",Regular,Gold,2023-11-02 09:19:09.5,2024-01-01 00:00:00',
    "products": "r,3,Lamp,AB-1,Home,12.30,,2024-01-01 00:00:00",
    "marketing_campaigns": "q,9,,,,,,",
    "orders": "r,11,7,2024-11-01 00:12:25,Delivered,260.50,,2024-11-07 14:43:57",
    "order_items": "r,21,11,3,2,10.00",
    "inventory_transactions": "r,5,3,IN,40,2024-10-01 08:00:00",
}


def _read(table: str, line: str) -> pa.Table:
    types = ex.csv_types(table)
    return pacsv.read_csv(
        io.BytesIO(line.encode() + b"\n"),
        read_options=pacsv.ReadOptions(column_names=list(types)),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),  # fmt: skip
    )


@pytest.mark.parametrize("table", SOURCE_TABLES)
def test_export_rows_equal_the_stream_silver_table(table: str) -> None:
    data = _read(table, SAMPLE[table])
    got = ex.silver_batch(table, data, SNAP, f"ecom.public.{table}", np.array([4]), np.array([17]))
    assert got.schema == silver_schema(table)
    row = data.to_pylist()[0]
    values = {c.name: row[c.name] for c in COLUMNS[table]}
    for c in COLUMNS[table]:
        if c.kind == "timestamp" and values[c.name] is not None:
            values[c.name] = values[c.name].replace(tzinfo=UTC)
    record = {
        "op": row["op"], "is_delete": row["op"] == "q", "source_lsn": SNAP.lsn,
        "commit_lsn": None, "tx_id": SNAP.tx_id, "tx_order": None, "commit_ts": SNAP.ts,
        "snapshot": True, "bronze_topic": f"ecom.public.{table}", "bronze_partition": 4,
        "bronze_offset": 17, "commit_date": SNAP.ts.date(), **values,
    }  # fmt: skip
    assert got.to_pylist() == silver_table(table, [record]).to_pylist()


def test_customers_keep_empty_strings_and_nulls_apart() -> None:
    row = _read("customers", SAMPLE["customers"]).to_pylist()[0]
    assert row["last_name"] == "" and row["registration_date"] is not None
    row = _read("products", SAMPLE["products"]).to_pylist()[0]
    assert row["stock_quantity"] is None and row["price"] == Decimal("12.30")


def test_partitions_are_stable_and_spread() -> None:
    keys = np.arange(1, 60_001)
    part = ex.partition_of(keys)
    assert part.min() == 0 and part.max() == ex.PARTITIONS - 1
    counts = np.bincount(part)
    assert counts.min() > 0.9 * len(keys) / ex.PARTITIONS
    assert (ex.partition_of(keys) == part).all()


@pytest.mark.parametrize("table", SOURCE_TABLES)
def test_select_nulls_every_column_but_the_key_in_a_marker(table: str) -> None:
    """A quarantined row keeps only its key (the stream's quarantine marker); other rows
    carry the normalised value of every column. The rules themselves run in PostgreSQL:
    tests/integration/test_bench_export.py compares the rebuilt gold with the contract."""
    sql = ex.select_sql(table)
    rule = ex.QUARANTINE.get(table, "false")
    assert sql.startswith(f"SELECT CASE WHEN {rule} THEN 'q' ELSE 'r' END AS op, ")
    pk = PRIMARY_KEYS[table]
    items = sql[len("SELECT ") : sql.index(f" FROM public.{table}")].split(", CASE")
    assert f", {pk}," in sql or sql.split(" AS op, ")[1].startswith(f"{pk},")
    for c in COLUMNS[table]:
        if c.name == pk:
            continue
        expr = ex.NORMALISE.get((table, c.name), c.name)
        assert any(x.strip().endswith(f"WHEN {rule} THEN NULL ELSE {expr} END") or
                   x.strip().startswith(f"WHEN {rule} THEN NULL ELSE {expr} END")
                   for x in items), c.name  # fmt: skip


def test_rows_get_the_next_offsets_of_their_partition() -> None:
    next_offset = np.array([5, 0, 0], dtype=np.int64)
    order, counts, offsets = ex._number_rows(np.array([1, 0, 1, 0, 2]), next_offset)
    assert order.tolist() == [1, 3, 0, 2, 4]
    assert counts.tolist() == [2, 2, 1]
    assert offsets.tolist() == [0, 5, 1, 6, 0]
    assert next_offset.tolist() == [7, 2, 1]
