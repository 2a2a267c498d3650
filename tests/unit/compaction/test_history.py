"""SCD type 2 history of customers from the silver change-log (DuckDB)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from compaction import state
from tests.unit.compaction.changelog import T0, Log


def history(log: Log) -> list[dict[str, Any]]:
    con = state.connect()
    state.load_changes(con, "customers", log.table_())
    rows = state.customers_history(con).to_pylist()
    return sorted(rows, key=lambda r: (r["customer_id"], r["valid_from"]))


def at(minutes: int) -> Any:
    return T0 + timedelta(minutes=minutes)


def cust(log: Log, op: str, key: int, lsn: int | None, minute: int, **values: Any) -> None:
    base: dict[str, Any] = {"email": "a@x.org", "customer_segment": "New", "loyalty_tier": "None",
            "first_name": "Ann"}  # fmt: skip
    base.update(values)
    log.add(op, key, commit_lsn=lsn, at=minute, **base)


def versions(rows: list[dict[str, Any]], key: int) -> list[tuple[Any, ...]]:
    return [
        (r["email"], r["customer_segment"], r["loyalty_tier"], r["valid_from"], r["valid_to"],
         r["is_current"])
        for r in rows
        if r["customer_id"] == key
    ]  # fmt: skip


def test_snapshot_row_starts_at_snapshot_time_and_is_current() -> None:
    log = Log("customers")
    cust(log, "r", 1, None, 0)
    assert versions(history(log), 1) == [("a@x.org", "New", "None", at(0), None, True)]


def test_new_version_only_when_tracked_attributes_change() -> None:
    log = Log("customers")
    cust(log, "c", 1, 100, 1)
    cust(log, "u", 1, 200, 2, first_name="Anne")  # name only: same version
    cust(log, "u", 1, 300, 3, loyalty_tier="Gold")
    cust(log, "u", 1, 400, 4, loyalty_tier="Gold", customer_segment="Premium")
    cust(log, "u", 1, 500, 5, loyalty_tier="Gold", customer_segment="Premium",
         email="b@x.org")  # fmt: skip
    assert versions(history(log), 1) == [
        ("a@x.org", "New", "None", at(1), at(3), False),
        ("a@x.org", "New", "Gold", at(3), at(4), False),
        ("a@x.org", "Premium", "Gold", at(4), at(5), False),
        ("b@x.org", "Premium", "Gold", at(5), None, True),
    ]


def test_versions_follow_commit_order_not_arrival() -> None:
    log = Log("customers")
    cust(log, "u", 1, 300, 3, loyalty_tier="Gold", partition=1)  # arrives first
    cust(log, "c", 1, 100, 1, partition=2)
    assert versions(history(log), 1) == [
        ("a@x.org", "New", "None", at(1), at(3), False),
        ("a@x.org", "New", "Gold", at(3), None, True),
    ]


def test_a_null_change_is_a_change() -> None:
    log = Log("customers")
    cust(log, "c", 1, 100, 1)
    cust(log, "u", 1, 200, 2, loyalty_tier=None)
    assert [v[2] for v in versions(history(log), 1)] == ["None", None]


def test_delete_closes_the_last_version_and_leaves_no_current() -> None:
    log = Log("customers")
    cust(log, "c", 1, 100, 1)
    cust(log, "c", 2, 100, 1)
    cust(log, "u", 1, 200, 2, customer_segment="Regular")
    log.add("d", 1, commit_lsn=300, at=3, email="a@x.org")
    rows = history(log)
    assert versions(rows, 1) == [
        ("a@x.org", "New", "None", at(1), at(2), False),
        ("a@x.org", "Regular", "None", at(2), at(3), False),
    ]
    assert versions(rows, 2) == [("a@x.org", "New", "None", at(1), None, True)]


def test_truncate_ends_every_open_version_and_ids_start_over() -> None:
    log = Log("customers")
    cust(log, "r", 1, None, 0)
    cust(log, "c", 2, 100, 1)
    log.add("d", 2, commit_lsn=150, at=2)  # already closed before the truncate
    log.add("t", commit_lsn=200, at=5)
    cust(log, "c", 1, 200, 5, email="new@x.org")  # same transaction as the truncate
    rows = history(log)
    assert versions(rows, 1) == [
        ("a@x.org", "New", "None", at(0), at(5), False),
        ("new@x.org", "New", "None", at(5), None, True),
    ]
    assert versions(rows, 2) == [("a@x.org", "New", "None", at(1), at(2), False)]


def test_duplicate_events_do_not_make_versions() -> None:
    log = Log("customers")
    cust(log, "c", 1, 100, 1)
    cust(log, "u", 1, 200, 2, loyalty_tier="Gold")
    log.rows.append(dict(log.rows[1]))  # the update landed twice
    log.rows.append(dict(log.rows[0]))  # and the create
    assert len(versions(history(log), 1)) == 2


def test_one_current_version_per_live_customer() -> None:
    log = Log("customers")
    for k in range(1, 6):
        cust(log, "c", k, 100 + k, k)
        cust(log, "u", k, 200 + k, 10 + k, loyalty_tier="Silver")
    log.add("d", 3, commit_lsn=400, at=30)
    rows = history(log)
    current = sorted(r["customer_id"] for r in rows if r["is_current"])
    assert current == [1, 2, 4, 5]
    con = state.connect()
    state.load_changes(con, "customers", log.table_())
    live = state.current_state(con, "customers").to_pylist()
    by_id = {r["customer_id"]: r for r in live}
    for r in rows:
        if r["is_current"]:
            assert by_id[r["customer_id"]]["loyalty_tier"] == r["loyalty_tier"]
