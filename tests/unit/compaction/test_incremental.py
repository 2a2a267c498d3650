"""Incremental builds equal full builds, on random change-logs (DuckDB, no stack).

Each case makes a silver change-log per table with the things the lake really holds: a
snapshot, creates, updates, deletes, quarantine markers, truncates, the same event
delivered twice (at a later offset), late snapshot rows, keys spread over two Kafka
partitions. The log arrives in batches. After each batch the incremental way (the kept
state plus the rows above the covered offsets, then only the affected gold rows replaced
in the previous gold) must give exactly the state, the history and the gold that a full
build over everything so far gives.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from compaction import duckgold, gold_sql, incremental, state
from compaction.builds import REPLACE_KEY
from compaction.duckgold import Pos
from schemas import SOURCE_TABLES
from tests.unit.compaction.changelog import Log

AS_OF = date(2026, 11, 1)  # the changelog's T0 day
PARTITIONS = 2


class World:
    """Random change-logs of the six tables, arriving in one global order."""

    def __init__(self, seed: int, keys: int = 6) -> None:
        self.rnd = random.Random(seed)
        self.keys = keys
        self.logs = {t: Log(t) for t in SOURCE_TABLES}
        self.next_offset = {(t, p): 0 for t in SOURCE_TABLES for p in range(PARTITIONS)}
        self.lsn = 10_000
        self.arrivals: list[tuple[str, dict[str, Any]]] = []
        self.last: dict[tuple[str, int], dict[str, Any]] = {}

    def values(self, table: str) -> dict[str, Any]:
        r, wide = self.rnd, max(5, self.keys // 4)
        money = Decimal(r.randint(-500, 50_000)) / 100
        return {
            "customers": lambda: {"email": r.choice(["a@x", "b@x", "c@x"]),
                                  "customer_segment": r.choice(["New", "Regular"]),
                                  "loyalty_tier": r.choice(["None", "Gold"])},
            "products": lambda: {"category": r.choice(["Toys", "Books", None]),
                                 "stock_quantity": r.randint(-3, 40), "sku": "S",
                                 "price": Decimal(r.randint(0, 9999)) / 100},
            "marketing_campaigns": lambda: {"budget": r.choice([None, Decimal(0), abs(money)]),
                                            "channel": "EMAIL"},
            "orders": lambda: {"customer_id": r.randint(1, wide), "total_amount": money,
                               "order_status": r.choice(["Pending", "Shipped", "Cancelled"]),
                               "campaign_id": r.choice([None, 1, 2, 3]),
                               "order_date": self._day()},
            "order_items": lambda: {"order_id": r.randint(1, max(8, self.keys)),
                                    "product_id": r.randint(1, wide),
                                    "quantity": r.randint(1, 6),
                                    "unit_price": Decimal(r.randint(0, 2000)) / 100},
            "inventory_transactions": lambda: {
                "product_id": r.randint(1, wide), "quantity": r.randint(-5, 20),
                "transaction_type": r.choice(["IN", "OUT", "ADJUSTMENT"]),
                "transaction_date": self._day()},
        }[table]()  # fmt: skip

    def _day(self) -> Any:
        from tests.unit.compaction.changelog import T0

        return T0 - timedelta(days=self.rnd.randint(0, 40))

    def _land(self, table: str, row: dict[str, Any], partition: int) -> None:
        key = (table, partition)
        row["bronze_partition"], row["bronze_offset"] = partition, self.next_offset[key]
        self.next_offset[key] += 1
        self.arrivals.append((table, row))

    def event(self, table: str, *, snapshot: bool = False) -> None:
        r, log = self.rnd, self.logs[table]
        key = r.randint(1, self.keys)
        op = "r" if snapshot else r.choices(["c", "u", "d", "q", "t"], [3, 6, 2, 1, 0.15])[0]
        self.lsn += 10
        commit = None if snapshot else self.lsn
        values = {} if op == "t" else self.values(table)
        if op == "u" and (table, key) in self.last and r.random() < 0.5:
            # an update of one column only (an order's status, its amount...): what the
            # gold tables that do not read that column must not see
            column = r.choice(sorted(values))
            values = {**self.last[table, key], column: values[column]}
        if op != "t":
            self.last[table, key] = values
        row = log.add(op, None if op == "t" else key, commit_lsn=commit, source_lsn=self.lsn,
                      at=r.randint(0, 300), **values)  # fmt: skip
        log.rows.pop()  # landed below, with its partition and offset
        self._land(table, row, r.randrange(PARTITIONS) if op == "t" else key % PARTITIONS)

    def redeliver(self) -> None:
        """A copy of a recent event at a new offset of its partition (Debezium resends what
        it sent after its last offset flush)."""
        table, row = self.rnd.choice(self.arrivals[-12:])
        self._land(table, dict(row), row["bronze_partition"])

    def step(self) -> None:
        roll = self.rnd.random()
        table = self.rnd.choice(SOURCE_TABLES)
        if roll < 0.08:
            self.redeliver()
        elif roll < 0.11:
            self.event(table, snapshot=True)  # a late snapshot row
        else:
            self.event(table)

    def table(self, name: str, upto: int) -> pa.Table:
        rows = [row for t, row in self.arrivals[:upto] if t == name]
        return self.logs[name].table_(rows)


def full(world: World, upto: int, as_of: date) -> tuple[duckdb.DuckDBPyConnection, dict[str, Any]]:
    con = state.connect()
    reads = {t: duckgold.read_silver(con, t, world.table(t, upto)) for t in SOURCE_TABLES}
    duckgold.compute_gold(con, as_of)
    return con, reads


def gold_rows(con: duckdb.DuckDBPyConnection, name: str, relation: str) -> list[tuple[Any, ...]]:
    cols = ", ".join(gold_sql.GOLD[name].column_names)
    return sorted(con.execute(f"SELECT {cols} FROM {relation}").fetchall(), key=repr)


def all_gold(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {n: gold_rows(con, n, f"{duckgold.GOLD_SCHEMA}.{n}") for n in gold_sql.GOLD}


def state_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for name in duckgold.state_tables():
        cols = "*" if name == duckgold.HISTORY_TABLE else (
            ", ".join(c for c, _ in gold_sql.current_columns(name[3:])) + ", op, is_delete"
        )  # fmt: skip
        out[name] = sorted(con.execute(f"SELECT {cols} FROM {name}").fetchall(), key=repr)
    return out


def replace_rows(
    con: duckdb.DuckDBPyConnection, previous: dict[str, list[tuple[Any, ...]]]
) -> dict[str, list[tuple[Any, ...]]]:
    """The previous gold with the recomputed rows of the affected keys in place (what
    the incremental build does in PostgreSQL)."""
    out = {}
    for name, rows in previous.items():
        table = gold_sql.GOLD[name]
        col = table.column_names.index(REPLACE_KEY.get(name, table.key[0]))
        keys = {r[0] for r in con.execute(f"SELECT k FROM dk_{name}").fetchall()}
        if name == "fact_daily_sales":
            keys = {None if k == date(1, 1, 1) else k for k in keys}
        kept = [r for r in rows if r[col] not in keys]
        out[name] = sorted(kept + gold_rows(con, name, f"dg_{name}"), key=repr)
    return out


def newer(a: tuple[Pos | None, Any], b: tuple[Pos | None, Any]) -> tuple[Pos | None, Any]:
    if b[0] is None:
        return a
    return b if a[0] is None or b[0] > a[0] else a


@pytest.mark.parametrize("seed", range(40))
def test_incremental_equals_full_after_every_batch(seed: int) -> None:
    world = World(seed)
    for t in SOURCE_TABLES:
        for _ in range(4):
            world.event(t, snapshot=True)
    for _ in range(260):
        world.step()
    cuts = sorted(random.Random(seed).sample(range(20, len(world.arrivals)), 4))
    cuts.append(len(world.arrivals))
    con, reads = full(world, cuts[0], AS_OF)
    previous = all_gold(con)
    coverage = {t: r.coverage for t, r in reads.items()}
    truncates = {t: (r.truncate, r.truncate_ts) for t, r in reads.items()}
    fallbacks = 0
    for i, upto in enumerate(cuts[1:]):
        as_of = AS_OF + timedelta(days=1) if i == 2 else AS_OF  # the window moves once
        news = {t: incremental.read_new(con, t, world.table(t, upto), coverage[t])
                for t in SOURCE_TABLES}  # fmt: skip
        want_con, want_reads = full(world, upto, as_of)
        try:
            batch = incremental.merge_all(con, truncates)
        except incremental.OutOfOrder:
            fallbacks += 1  # the build runs a full one instead
            con, previous = want_con, all_gold(want_con)
            coverage = {t: r.coverage for t, r in want_reads.items()}
            truncates = {t: (r.truncate, r.truncate_ts) for t, r in want_reads.items()}
            continue
        assert state_rows(con) == state_rows(want_con), f"state after batch {i + 1}"
        duckgold.set_params(con, as_of)  # derives the dated relations again if D moved
        for name in gold_sql.DERIVED:  # what the kept per-product aggregates hold
            q = f"SELECT * FROM {name}"
            got_rows, want_rows = con.execute(q).fetchall(), want_con.execute(q).fetchall()
            assert sorted(got_rows) == sorted(want_rows), f"{name} after batch {i + 1}"
        if batch.truncated:
            duckgold.compute_gold(con, as_of)
            got = all_gold(con)
        else:
            moved = i in (2, 3)  # the as-of day changed since the previous build
            whole = frozenset({"agg_inventory_status"}) if moved else frozenset()
            incremental.recompute(con, whole)
            incremental.history_delta(con)
            got = replace_rows(con, previous)
        want = all_gold(want_con)
        for name in gold_sql.GOLD:
            assert got[name] == want[name], f"{name} after batch {i + 1} (seed {seed})"
        previous = want
        for t in SOURCE_TABLES:
            for topic, parts in news[t].coverage.items():
                coverage[t].setdefault(topic, {}).update(parts)
            truncates[t] = newer(truncates[t], (news[t].truncate, news[t].truncate_ts))
    assert fallbacks <= len(cuts) - 1


def update(world: World, table: str, key: int, **changes: Any) -> None:
    """An update of ``key`` changing only ``changes``."""
    world.lsn += 10
    values = {**world.last[table, key], **changes}
    world.last[table, key] = values
    row = world.logs[table].add("u", key, commit_lsn=world.lsn, source_lsn=world.lsn, at=301,
                                **values)  # fmt: skip
    world.logs[table].rows.pop()
    world._land(table, row, key % PARTITIONS)


def incremental_gold(world: World, base: int) -> dict[str, list[tuple[Any, ...]]]:
    """Gold after a full build of the first ``base`` arrivals and an incremental build of
    the rest."""
    con, reads = full(world, base, AS_OF)
    previous = all_gold(con)
    upto = len(world.arrivals)
    for t in SOURCE_TABLES:
        incremental.read_new(con, t, world.table(t, upto), reads[t].coverage)
    incremental.merge_all(con, {t: (r.truncate, r.truncate_ts) for t, r in reads.items()})
    duckgold.set_params(con, AS_OF)
    incremental.recompute(con)
    incremental.history_delta(con)
    return replace_rows(con, previous)


#: One column of an order changed, and to what: a gold table that reads the column (or
#: whether the order is in V) must see it, one that does not may skip the order.
ORDER_CHANGES = [
    ("order_status", "Shipped"), ("order_status", "Pending"), ("order_status", "Cancelled"),
    ("total_amount", Decimal("123.45")), ("customer_id", 9), ("campaign_id", 3),
    ("order_date", None),
]  # fmt: skip


@pytest.mark.parametrize("narrow_below", [0.0, 1.0])  # per-product inputs: all, narrowed
@pytest.mark.parametrize(("column", "value"), ORDER_CHANGES)
def test_an_order_changing_one_column_changes_every_gold_row_it_should(
    column: str, value: Any, narrow_below: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "NARROW_PRODUCTS_BELOW", narrow_below)
    world = World(11, keys=200)
    for t in SOURCE_TABLES:
        for _ in range(400):
            world.event(t, snapshot=True)
    base = len(world.arrivals)
    for key in sorted(k for t, k in world.last if t == "orders"):
        old = world.last["orders", key]
        new = old[column] if value is None else value
        if column == "order_date":
            new = old[column] - timedelta(days=3)
        if new != old[column]:
            update(world, "orders", key, **{column: new})
    assert len(world.arrivals) > base
    want_con, _ = full(world, len(world.arrivals), AS_OF)
    got, want = incremental_gold(world, base), all_gold(want_con)
    for name in gold_sql.GOLD:
        assert got[name] == want[name], f"{name} after {column} -> {value}"


def test_new_rows_are_those_above_the_covered_offsets() -> None:
    log = Log("orders")
    for i in range(6):
        log.add("c", i, commit_lsn=100 + i, partition=i % 2, offset=i // 2, order_status="Pending")
    con = state.connect()
    got = incremental.read_new(con, "orders", log.table_(), {"ecom.public.orders": {0: 1, 1: 0}})
    rows = con.execute("SELECT order_id FROM nw_orders ORDER BY 1").fetchall()
    assert rows == [(3,), (4,), (5,)]  # p0 offset 2, p1 offsets 1 and 2
    assert got.changes == 3 and got.coverage == {"ecom.public.orders": {0: 2, 1: 2}}
    none = incremental.read_new(con, "orders", log.table_(), {"other.topic": {0: 99}})
    assert none.changes == 6, "rows of a topic the state does not cover are all new"


def test_pruning_predicate_keeps_files_that_may_hold_new_rows() -> None:
    assert incremental.pruning_predicate({}) is None
    pred = incremental.pruning_predicate({"t.a": {0: 10, 1: 5}, "t.b": {0: 3}})
    assert pred == (
        "(bronze_partition = 0 AND bronze_offset > 3) OR (bronze_partition = 1 AND "
        "bronze_offset > 5) OR bronze_partition NOT IN (0, 1) OR bronze_topic NOT IN "
        "('t.a', 't.b')"
    )


def test_a_redelivered_old_customer_event_asks_for_a_full_build() -> None:
    log = Log("customers")
    first = log.add("c", 1, commit_lsn=100, email="a@x", customer_segment="New")
    log.add("u", 1, commit_lsn=200, email="a@x", customer_segment="Regular")
    con = state.connect()
    reads = {t: duckgold.read_silver(con, t, log.table_() if t == "customers" else None)
             for t in SOURCE_TABLES}  # fmt: skip
    copy = dict(first, bronze_offset=5)  # the create again, after the update
    incremental.read_new(con, "customers", log.table_([*log.rows, copy]),
                         reads["customers"].coverage)  # fmt: skip
    for t in SOURCE_TABLES[1:]:
        incremental.read_new(con, t, None, {})
    with pytest.raises(incremental.OutOfOrder):
        incremental.merge_all(con, {t: (None, None) for t in SOURCE_TABLES})


@pytest.mark.parametrize("seed", range(6))
def test_files_chosen_by_their_statistics_hold_every_new_row(tmp_path: Any, seed: int) -> None:
    """A Delta table's files, each a random run of offsets over random partitions: the
    files :func:`incremental.new_files` keeps hold every row above a random coverage,
    and reading only those gives the rows reading the whole table gives."""
    from deltalake import DeltaTable, write_deltalake

    from compaction.silver_files import ParquetFiles

    rnd = random.Random(seed)
    log, next_offset = Log("orders"), {p: 0 for p in range(3)}
    uri = str(tmp_path / "orders")
    for _ in range(12):
        rows = []
        for p in rnd.sample(range(3), rnd.randint(1, 3)):
            for _ in range(rnd.randint(1, 4)):
                rows.append(log.add("c", len(log.rows), commit_lsn=100 + len(log.rows),
                                    partition=p, offset=next_offset[p]))  # fmt: skip
                next_offset[p] += 1
        write_deltalake(uri, log.table_(rows), mode="append")
    topic = "ecom.public.orders"
    coverage = {topic: {p: rnd.randint(-1, n) for p, n in next_offset.items() if rnd.random() < 0.8}}
    dt = DeltaTable(uri)
    actions = pa.RecordBatchReader.from_stream(dt.get_add_actions(flatten=True)).read_all()
    kept = incremental.new_files(actions, coverage)
    assert kept is not None
    new_rows = {(r["bronze_partition"], r["bronze_offset"]) for r in log.rows
                if r["bronze_offset"] > coverage[topic].get(r["bronze_partition"], -2**62)}  # fmt: skip
    folder = tmp_path / "kept"
    folder.mkdir()
    for i, path in enumerate(kept):
        (folder / f"{i:06d}.parquet").write_bytes((tmp_path / "orders" / path).read_bytes())
    con = state.connect()
    incremental.read_new(con, "orders", ParquetFiles(folder, len(kept)), coverage)
    got = set(con.execute("SELECT bronze_partition, bronze_offset FROM nw_orders").fetchall())
    assert got == new_rows
    incremental.read_new(con, "orders", dt.to_pyarrow_dataset(), coverage)
    assert set(con.execute("SELECT bronze_partition, bronze_offset FROM nw_orders").fetchall()) == got
    whole = {a["path"] for a in actions.to_pylist()}
    dropped = whole - set(kept)
    for a in actions.to_pylist():
        if a["path"] in dropped:  # every partition it spans is covered up to its top
            parts = range(a["min.bronze_partition"], a["max.bronze_partition"] + 1)
            assert all(a["max.bronze_offset"] <= coverage[topic][p] for p in parts)
    if seed == 0:
        assert incremental.new_files(actions, {}) is None
        assert incremental.new_files(actions, {"other.topic": {0: 10**9}}) == sorted(
            whole, key=[a["path"] for a in actions.to_pylist()].index
        )


def test_every_gold_table_is_recomputed_once_and_after_what_it_reads() -> None:
    order = incremental.RECOMPUTE_ORDER
    assert sorted(order) == sorted(incremental.AFFECTED)
    for name in order:
        for other in order:
            if f"dk_{other}" in incremental.AFFECTED[name]:
                assert order.index(other) < order.index(name), (name, other)
