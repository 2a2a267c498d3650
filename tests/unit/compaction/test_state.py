"""Current state from the silver change-log (DuckDB), on small handmade tables."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from compaction import duckgold, state
from tests.unit.compaction.changelog import T0, Log


def current(log: Log, rows: list[dict[str, Any]] | None = None) -> dict[int, dict[str, Any]]:
    con = state.connect()
    state.load_changes(con, log.table, log.table_(rows))
    pk = {"orders": "order_id", "customers": "customer_id", "order_items": "order_item_id"}[
        log.table
    ]
    got = {r[pk]: r for r in state.current_state(con, log.table).to_pylist()}
    # Ranking only the repeated keys (what a full build does) must give the same rows.
    split = {r[pk]: r for r in state.current_state(con, log.table, split=True).to_pylist()}
    assert split == got
    return got


def test_last_version_per_key_wins() -> None:
    log = Log("orders")
    log.add("c", 1, commit_lsn=100, order_status="Pending", total_amount=Decimal("10.00"))
    log.add("c", 2, commit_lsn=100, order_status="Pending", total_amount=Decimal("5.50"))
    log.add("u", 1, commit_lsn=200, order_status="Shipped", total_amount=Decimal("10.00"))
    got = current(log)
    assert set(got) == {1, 2}
    assert got[1]["order_status"] == "Shipped"
    assert got[2]["total_amount"] == Decimal("5.50")
    assert list(got[1]) == [
        "order_id", "customer_id", "order_date", "order_status", "total_amount", "campaign_id",
        "updated_at",
    ]  # fmt: skip


def test_order_is_commit_position_not_arrival() -> None:
    log = Log("orders")
    # the later commit arrives first (lower offset), on another partition
    log.add("u", 1, commit_lsn=300, source_lsn=310, partition=1, order_status="Delivered")
    log.add("u", 1, commit_lsn=200, source_lsn=210, partition=0, order_status="Shipped")
    assert current(log)[1]["order_status"] == "Delivered"


def test_within_a_commit_source_lsn_orders() -> None:
    log = Log("orders")
    log.add("u", 1, commit_lsn=200, source_lsn=230, offset=0, order_status="Cancelled")
    log.add("u", 1, commit_lsn=200, source_lsn=220, offset=1, order_status="Processing")
    assert current(log)[1]["order_status"] == "Cancelled"


def test_snapshot_rows_come_first() -> None:
    log = Log("orders")
    # a streamed update reaches the lake before the snapshot row of the same key
    log.add("u", 1, commit_lsn=50, source_lsn=60, order_status="Shipped")
    log.add("r", 1, commit_lsn=None, source_lsn=900, order_status="Pending")
    assert current(log)[1]["order_status"] == "Shipped"


def test_duplicates_by_bronze_coordinates_are_dropped() -> None:
    log = Log("orders")
    row = log.add("c", 1, commit_lsn=100, order_status="Pending")
    log.add("d", 1, commit_lsn=200)
    # the create lands twice (replay): its copy must not resurrect the deleted order
    rows = [*log.rows, dict(row)]
    assert current(log, rows) == {}
    con = state.connect()
    assert state.load_changes(con, "orders", log.table_(rows)) == 2


def test_delete_removes_key() -> None:
    log = Log("orders")
    log.add("c", 1, commit_lsn=100, order_status="Pending")
    log.add("c", 2, commit_lsn=100, order_status="Pending")
    log.add("d", 1, commit_lsn=200, order_status="Pending")  # before-image kept
    assert set(current(log)) == {2}


def test_quarantine_marker_ends_previous_version_until_a_valid_one() -> None:
    log = Log("orders")
    log.add("c", 1, commit_lsn=100, order_status="Shipped")
    log.add("c", 2, commit_lsn=100, order_status="Shipped")
    log.add("q", 1, commit_lsn=200)  # updated to an invalid status
    log.add("q", 2, commit_lsn=200)
    log.add("u", 2, commit_lsn=300, order_status="Delivered")  # valid again
    got = current(log)
    assert set(got) == {2}
    assert got[2]["order_status"] == "Delivered"


def test_truncate_drops_everything_before_it_and_ids_repeat() -> None:
    log = Log("orders")
    log.add("c", 1, commit_lsn=100, order_status="Pending")
    log.add("c", 2, commit_lsn=100, order_status="Pending")
    log.add("c", 3, commit_lsn=100, order_status="Pending")
    log.add("t", commit_lsn=200)
    log.add("c", 1, commit_lsn=200, order_status="Delivered")  # RESTART IDENTITY: id 1 again
    got = current(log)
    assert set(got) == {1}
    assert got[1]["order_status"] == "Delivered"


def test_only_the_last_truncate_counts_and_snapshot_rows_before_it_go() -> None:
    log = Log("orders")
    log.add("r", 5, commit_lsn=None, order_status="Pending")
    log.add("t", commit_lsn=100)
    log.add("c", 1, commit_lsn=150, order_status="Pending")
    log.add("t", commit_lsn=200)
    log.add("c", 2, commit_lsn=250, order_status="Shipped")
    assert set(current(log)) == {2}


def test_empty_change_log() -> None:
    con = state.connect()
    assert state.load_changes(con, "orders", None) == 0
    assert state.current_state(con, "orders").num_rows == 0
    assert state.position(con) == state.Position(None, None)


def test_types_are_exact() -> None:
    log = Log("order_items")
    log.add("c", 7, commit_lsn=100, order_id=1, product_id=2, quantity=3,
            unit_price=Decimal("19.99"))  # fmt: skip
    table = state.connect()
    state.load_changes(table, "order_items", log.table_())
    got = state.current_state(table, "order_items")
    assert got.schema.field("unit_price").type == pa.decimal128(10, 2)
    assert got.to_pylist()[0]["unit_price"] == Decimal("19.99")


def test_position_is_the_highest_commit_time_and_lsn() -> None:
    log = Log("orders")
    log.add("c", 1, commit_lsn=100, source_lsn=5000, at=3, order_status="Pending")
    log.add("u", 1, commit_lsn=200, source_lsn=6000, at=7, order_status="Shipped")
    con = state.connect()
    state.load_changes(con, "orders", log.table_())
    pos = state.position(con)
    assert pos.max_source_lsn == 6000
    assert pos.max_commit_ts is not None and pos.max_commit_ts.timestamp() == (
        T0.timestamp() + 7 * 60
    )
    assert pos.merge(state.Position(None, 7000)).max_source_lsn == 7000


def test_csv_export_keeps_nulls_empty_strings_and_utc(tmp_path: Any) -> None:
    log = Log("customers")
    log.add("c", 1, commit_lsn=100, email="", first_name=None, last_name='O"Neil, Jr',
            registration_date=T0)  # fmt: skip
    con = state.connect()
    state.load_changes(con, "customers", log.table_())
    path = tmp_path / "c.csv"
    assert duckgold.export_csv(con, state.current_state_query("customers"), path) == 1
    assert path.read_text() == '1,"",,"O""Neil, Jr",,,2026-11-01 12:00:00,\n'


@pytest.mark.parametrize("memory", ["2GB", "512MB"])
def test_connect_settings(memory: str) -> None:
    con = state.connect(memory_limit=memory, threads=1)
    row = con.execute("SELECT current_setting('TimeZone')").fetchone()
    assert row == ("UTC",)
