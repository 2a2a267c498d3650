"""The live generator's in-memory helpers and SQL builders (no database)."""

from __future__ import annotations

import datetime as dt
import random
import re

import numpy as np
import pytest

from generator import actions as a
from generator.state import Bag, LiveState


def test_bag_pop_random_returns_each_item_once() -> None:
    bag = Bag([(i, "Pending") for i in range(100)])
    rnd = random.Random(1)
    seen = {bag.pop_random(rnd)[0] for _ in range(100)}
    assert seen == set(range(100))
    assert len(bag) == 0


def test_pick_products_distinct_and_popularity_weighted() -> None:
    state = LiveState()
    for pid in range(1, 101):
        state.add_product(pid, 10, weight=100.0 if pid == 7 else 1.0)
    rng = np.random.default_rng(0)
    picks = [state.pick_products(rng, 3) for _ in range(300)]
    assert all(len(set(p)) == len(p) == 3 for p in picks)
    sevens = sum(7 in p for p in picks)
    assert sevens > 150  # weight 100 vs 1: product 7 is in most orders


def test_pick_products_never_more_than_available() -> None:
    state = LiveState()
    state.add_product(1, 0, 1.0)
    state.add_product(2, 0, 1.0)
    assert sorted(state.pick_products(np.random.default_rng(0), 5)) == [1, 2]


def test_active_campaigns_by_day_and_cache_invalidation() -> None:
    state = LiveState()
    today = dt.date(2025, 6, 1)
    state.add_campaign(1, dt.date(2025, 5, 1), dt.date(2025, 6, 1))
    state.add_campaign(2, dt.date(2025, 6, 2), dt.date(2025, 6, 30))
    assert state.active_campaigns(today) == [1]
    state.add_campaign(3, dt.date(2025, 6, 1), dt.date(2025, 6, 1))
    assert state.active_campaigns(today) == [1, 3]
    state.remove_campaign(1)
    assert state.active_campaigns(today) == [3]
    assert state.unused_campaigns == {2, 3}


def test_low_stock_product_prefers_empty_shelves() -> None:
    state = LiveState()
    for pid in range(1, 11):
        state.add_product(pid, 0 if pid == 4 else 100, 1.0)
    assert state.low_stock_product(random.Random(0), sample=200) == 4


STATEMENTS = [
    a.new_customer(1, "a@b.c", "A", "B", "New", "None"),
    a.new_product(1, "n", "S-1", "Books", 999, 10, "IN"),
    a.new_order(1, 1, None, [1, 2], [1, 2], [1, 1], "OUT", True),
    a.set_status(1, "Pending", "Processing", restock=False),
    a.set_status(1, "Pending", "Cancelled", restock=True),
    a.delete_abandoned(1, "Pending"),
    a.edit_add_item(1, 1, 1, 1),
    a.edit_remove_item(1),
    a.edit_quantity(1, 3),
    a.change_price(1, 1.1),
    a.stock_move(1, "IN", 5, 5),
    a.update_customer(1, "email", "x@y.z", "change_email"),
    a.new_campaign(1, "c", "EMAIL", 100, 10, 0, 7),
    a.delete_unused_campaign(1),
]


@pytest.mark.parametrize("stmt", STATEMENTS, ids=lambda s: s.action)
def test_statement_counts_one_column_per_key(stmt: a.Statement) -> None:
    final = stmt.sql[stmt.sql.rindex("\nSELECT") + len("\nSELECT") :]
    depth, columns = 0, 1
    for ch in final:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        columns += ch == "," and depth == 0
    assert columns == len(stmt.keys)
    for key in stmt.keys:
        table, kind = key.split(".")
        assert kind in {"insert", "update", "delete"}
        assert table in stmt.sql
    # every named parameter has a value
    assert set(re.findall(r"%\((\w+)\)s", stmt.sql)) <= set(stmt.params)


def test_update_customer_rejects_unknown_column() -> None:
    with pytest.raises(ValueError):
        a.update_customer(1, "customer_id; DROP TABLE x", "v", "x")


@pytest.mark.parametrize("stmt", STATEMENTS, ids=lambda s: s.action)
def test_statement_prepares_with_a_type_for_every_parameter(stmt: a.Statement) -> None:
    text, names = a.positional(stmt.sql)
    assert "%(" not in text
    assert set(names) == set(re.findall(r"%\((\w+)\)s", stmt.sql))
    # each name is numbered once, in order of first use, and used where it was
    assert [f"${i}" for i in range(1, len(names) + 1)] == sorted(
        set(re.findall(r"\$\d+", text)), key=lambda p: int(p[1:])
    )
    again = text
    for i, name in reversed(list(enumerate(names, 1))):
        again = again.replace(f"${i}", f"%({name})s")
    assert again == stmt.sql
    assert all(name in a.PARAM_TYPES for name in names)


def test_sessions_split_orders_and_campaigns_and_share_the_catalogue() -> None:
    state = LiveState(customers=[1, 2, 3], products=[10, 11], stock={10: 1, 11: 2})
    for oid in range(20):
        state.open["Pending" if oid % 2 else "Shipped"].add((oid, "Pending"))
    for cid in range(1, 9):
        state.add_campaign(cid, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    parts = [state.share(k, 3) for k in range(3)]
    for stage, bag in state.open.items():
        held = [item for part in parts for item in part.open[stage].items]
        assert sorted(held) == sorted(bag.items)  # every open order in exactly one session
    for k, part in enumerate(parts):
        assert all(oid % 3 == k for bag in part.open.values() for oid, _ in bag.items)
        assert set(part.campaigns) == {c for c in range(1, 9) if c % 3 == k}
        assert part.unused_campaigns == set(part.campaigns)
        assert part.customers is state.customers and part.stock is state.stock
    parts[0].customers.append(4)
    assert parts[2].customers[-1] == 4
