"""The same change delivered twice at different offsets (Debezium re-publishing after a
Kafka Connect restart, or a duplicate delivery) counts once in the current state and in
the customers' history."""

from __future__ import annotations

from typing import Any

from compaction import state
from tests.unit.compaction.changelog import Log


def changes(log: Log, rows: list[dict[str, Any]] | None = None) -> list[tuple[Any, ...]]:
    con = state.connect()
    state.load_changes(con, log.table, log.table_(rows))
    pk = {"orders": "order_id", "customers": "customer_id"}[log.table]
    return con.execute(
        f"SELECT {pk}, source_lsn, op, bronze_offset FROM changes ORDER BY k0, k1, k2, k3"
    ).fetchall()


def redelivered(row: dict[str, Any], offset: int) -> dict[str, Any]:
    return dict(row, bronze_offset=offset)


def test_a_change_delivered_again_at_another_offset_counts_once() -> None:
    log = Log("orders")
    c = log.add("c", 1, commit_lsn=100, order_status="Pending")
    u = log.add("u", 1, commit_lsn=200, order_status="Shipped")
    # Connect restarted: both published again, later in the partition
    rows = [*log.rows, redelivered(c, 10), redelivered(u, 11)]
    got = changes(log, rows)
    assert [(k, op, off) for k, _lsn, op, off in got] == [(1, "c", 0), (1, "u", 1)]
    con = state.connect()
    assert state.load_changes(con, "orders", log.table_(rows)) == 2
    for split in (False, True):
        live = state.current_state(con, "orders", split=split).to_pylist()
        assert [r["order_status"] for r in live] == ["Shipped"]


def test_an_old_version_delivered_again_does_not_come_back() -> None:
    log = Log("orders")
    c = log.add("c", 1, commit_lsn=100, order_status="Pending")
    log.add("d", 1, commit_lsn=200)
    rows = [*log.rows, redelivered(c, 50)]  # the create again, after the delete
    con = state.connect()
    state.load_changes(con, "orders", log.table_(rows))
    assert state.current_state(con, "orders").num_rows == 0
    assert state.current_state(con, "orders", split=True).num_rows == 0


def test_same_lsn_other_keys_and_truncates_are_kept() -> None:
    log = Log("orders")
    # a snapshot: every row carries the snapshot's LSN
    log.add("r", 1, commit_lsn=None, source_lsn=500, order_status="Pending")
    log.add("r", 2, commit_lsn=None, source_lsn=500, order_status="Pending")
    log.add("t", commit_lsn=600, source_lsn=610)
    log.add("t", commit_lsn=700, source_lsn=710)
    got = changes(log)
    assert [(k, op) for k, _lsn, op, _off in got] == [(1, "r"), (2, "r"), (None, "t"), (None, "t")]


def test_history_ignores_a_redelivered_version() -> None:
    log = Log("customers")
    c = log.add("c", 7, commit_lsn=100, at=0, email="a@x", customer_segment="New",
                loyalty_tier="None")  # fmt: skip
    log.add("u", 7, commit_lsn=200, at=5, email="a@x", customer_segment="New",
            loyalty_tier="Gold")  # fmt: skip
    rows = [*log.rows, redelivered(c, 40)]
    con = state.connect()
    state.load_changes(con, "customers", log.table_(rows))
    history = state.customers_history(con).to_pylist()
    assert [(h["loyalty_tier"], h["is_current"]) for h in history] == [
        ("None", False), ("Gold", True)
    ]  # fmt: skip
