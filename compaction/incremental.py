"""An incremental gold build in DuckDB: the kept state (``st_<table>``, ``st_history``)
plus the silver changes it does not cover yet, and the gold rows those changes affect.

New changes are the change-log rows whose bronze offset is above the newest offset of
their topic partition that the state covers. (Each silver commit records, per Kafka
partition, the last offset it holds, and a writer never lands an offset at or below one
already landed, so every row a later version adds is above the covered offsets. A
compaction by ``ecom lake optimize`` rewrites old rows into new files: they stay at or
below the covered offsets and are left out.) Files are pruned by their offset
statistics first, so a build reads only the files that may hold new rows.

Each state table is merged with the shared definition itself (compaction/sql/gold/
state.sql) run over the stored last version of every changed key, that key's new rows and
the stored last truncate: the same rule a full build applies to the whole change-log,
so both give the same state. The customers' history is extended by running the shared
history definition over the stored last event of each changed customer (dated at the
start of its open version) and its new events; an event older than what the state holds
(a redelivery after a Kafka Connect restart, a late snapshot row) cannot be placed that
way, and the build falls back to a full one (:class:`OutOfOrder`).

The derived relations (per-product aggregates the gold SQL reads) are kept with the
state: ``product_sales`` and ``product_sales_30d`` take each changed order's new
contribution and lose its old one (:func:`merge_sales`); ``inventory_totals`` adds new
transactions and counts again the products whose transactions changed
(:func:`merge_stock`). So dim_products and agg_inventory_status no longer aggregate
every order item and transaction.

The gold rows to recompute are those whose inputs changed (the changed rows' old and new
versions name them); each gold table's SQL runs unchanged over ``cur_<table>`` views
narrowed to those keys (a per-product table's order items and inventory only when few
products are affected: :data:`NARROW_PRODUCTS_BELOW`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from compaction import duckgold, gold_sql
from compaction.duckgold import Pos, TableRead
from compaction.exceptions import GoldError
from compaction.silver_files import ParquetFiles
from compaction.state import run_sql
from schemas import PRIMARY_KEYS, SOURCE_TABLES
from schemas.columns import COLUMNS

if TYPE_CHECKING:
    import pyarrow.dataset as pads

#: Change-log columns a state merge reads besides the table's own.
_ENVELOPE = (
    "op", "is_delete", "source_lsn", "commit_lsn", "commit_ts", "bronze_topic",
    "bronze_partition", "bronze_offset",
)  # fmt: skip
_POS = "[CASE WHEN {p}commit_lsn IS NULL THEN 0 ELSE 1 END, coalesce({p}commit_lsn, 0), " \
       "coalesce({p}source_lsn, 0), {p}bronze_offset]"  # fmt: skip
_LIVE = "NOT is_delete AND op IN ('c', 'r', 'u')"


class OutOfOrder(GoldError):
    """A new change sorts before what the kept state already holds."""


def pos_of(prefix: str = "") -> str:
    """A change-log row's position as a DuckDB list (compares lexicographically)."""
    return _POS.format(p=prefix)


def state_pos(prefix: str = "") -> str:
    return f"[{prefix}k0, {prefix}k1, {prefix}k2, {prefix}k3]"


def _pos_literal(pos: Pos) -> str:
    return "[" + ", ".join(str(int(x)) for x in pos) + "]"


# ---------------------------------------------------------------- new changes
def pruning_predicate(coverage: dict[str, dict[int, int]]) -> str | None:
    """A Delta file-pruning predicate keeping every file that may hold a row above the
    covered offsets (by its min/max statistics); None when nothing is covered yet."""
    if not coverage:
        return None
    lowest: dict[int, int] = {}
    for parts in coverage.values():
        for p, last in parts.items():
            lowest[p] = min(last, lowest.get(p, last))
    terms = [f"(bronze_partition = {p} AND bronze_offset > {last})" for p, last in sorted(lowest.items())]
    terms.append(f"bronze_partition NOT IN ({', '.join(str(p) for p in sorted(lowest))})")
    topics = ", ".join("'" + t.replace("'", "''") + "'" for t in sorted(coverage))
    terms.append(f"bronze_topic NOT IN ({topics})")
    return " OR ".join(terms)


_STATS = ("bronze_topic", "bronze_partition", "bronze_offset")


def new_files(actions: pa.Table, coverage: dict[str, dict[int, int]]) -> list[str] | None:
    """The paths of the data files that may hold a row above ``coverage``, by the
    statistics in the table's log (``actions``: its add actions, flattened); None when
    every file may (nothing covered yet, or no statistics).

    The same rule as :func:`pruning_predicate`, for a build that fetches the files
    itself: a file is left out only when its rows are all of one covered topic and,
    for every partition between its lowest and highest, at or below the covered
    offset. A file with NULL coordinates is kept (its rows count as new)."""
    needed = [f"{k}.{c}" for c in _STATS for k in ("min", "max", "null_count")]
    if not coverage or any(n not in actions.column_names for n in needed):
        return None
    cols = {n: actions.column(n).to_pylist() for n in ("path", *needed)}
    kept = []
    for i, path in enumerate(cols["path"]):
        stat = {n: cols[n][i] for n in needed}
        if _may_hold_new(stat, coverage):
            kept.append(path)
    return kept


def _may_hold_new(stat: dict[str, object], coverage: dict[str, dict[int, int]]) -> bool:
    if any(stat[f"null_count.{c}"] != 0 for c in _STATS) or None in stat.values():
        return True
    topic = stat["min.bronze_topic"]
    if topic != stat["max.bronze_topic"] or topic not in coverage:
        return True
    covered, top = coverage[str(topic)], int(stat["max.bronze_offset"])  # type: ignore[call-overload]
    low, high = int(stat["min.bronze_partition"]), int(stat["max.bronze_partition"])  # type: ignore[call-overload]
    return any(p not in covered or top > covered[p] for p in range(low, high + 1))


def read_new(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: pads.Dataset | pa.Table | ParquetFiles | None,
    coverage: dict[str, dict[int, int]],
) -> TableRead:
    """``nw_<table>``: the change-log rows above ``coverage`` (typed like the state);
    ``source``: the silver table as an Arrow dataset or table, data files on local disk,
    or None (no table)."""
    run_sql(con, "CREATE OR REPLACE TEMP TABLE cov (topic VARCHAR, part INTEGER, last BIGINT)")
    rows = [(t, p, o) for t, parts in coverage.items() for p, o in parts.items()]
    if rows:
        con.executemany("INSERT INTO cov VALUES (?, ?, ?)", rows)
    cols = ", ".join(
        f"CAST(s.{c} AS {t}) AS {c}" for c, t in gold_sql.current_columns(table)
    )
    registered = None
    if isinstance(source, ParquetFiles) and source.count:
        relation = f"({duckgold.parquet_select(con, table, source)})"
    else:
        empty = source is None or isinstance(source, ParquetFiles)
        relation = registered = duckgold.register(con, table, None if empty else source)
    try:
        run_sql(
            con,
            f"CREATE OR REPLACE TEMP TABLE nw_{table} AS "
            f"SELECT {cols}, {', '.join('s.' + c for c in _ENVELOPE)} "
            f"FROM {relation} AS s LEFT JOIN cov AS c "
            f"ON c.topic = s.bronze_topic AND c.part = s.bronze_partition "
            f"WHERE c.last IS NULL OR s.bronze_offset > c.last",
        )
    finally:
        if registered is not None:
            con.unregister(registered)
    return duckgold.summarise(con, table, f"nw_{table}")


# ---------------------------------------------------------------- state merge
@dataclass
class Merged:
    table: str
    changed_keys: int = 0
    #: position and time of a truncate newer than the stored one, if the batch had one
    truncate: Pos | None = None
    truncate_ts: object = None


def _names(table: str) -> str:
    return ", ".join(c.name for c in COLUMNS[table])


def _from_state(table: str, where: str) -> str:
    """State rows as change-log rows (the inverse of the position columns)."""
    return (
        f"SELECT {_names(table)}, op, is_delete, source_lsn, "
        f"CASE WHEN k0 = 1 THEN k1 END AS commit_lsn, commit_ts, bronze_topic, "
        f"bronze_partition, bronze_offset FROM {gold_sql.state_relation(table)} WHERE {where}"
    )


def _truncate_row(table: str, pos: Pos, ts: object) -> str:
    """The stored last truncate as a change-log row, so a merge cuts at it too."""
    nulls = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in gold_sql.current_columns(table))
    k0, k1, k2, k3 = (int(x) for x in pos)
    when = "NULL" if ts is None else f"CAST('{ts}' AS TIMESTAMPTZ)"
    return (
        f"SELECT {nulls}, 't' AS op, TRUE AS is_delete, CAST({k2} AS BIGINT) AS source_lsn, "
        f"CAST({k1 if k0 else 'NULL'} AS BIGINT) AS commit_lsn, {when} AS commit_ts, "
        f"CAST(NULL AS VARCHAR) AS bronze_topic, CAST(NULL AS INTEGER) AS bronze_partition, "
        f"CAST({k3} AS BIGINT) AS bronze_offset"
    )


def _newest_truncate(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[Pos | None, object]:
    rows = run_sql(
        con,
        f"SELECT {pos_of()}, commit_ts FROM {relation} WHERE op = 't' "
        f"ORDER BY {pos_of()} DESC LIMIT 1",
    )
    if not rows:
        return None, None
    return tuple(int(x) for x in rows[0][0]), rows[0][1]  # type: ignore[attr-defined,return-value]


def merge_table(
    con: duckdb.DuckDBPyConnection, table: str, stored: Pos | None, stored_ts: object
) -> Merged:
    """Merge ``nw_<table>`` into ``st_<table>``; leaves the changed keys' old and new
    current rows in ``oc_<table>`` / ``nc_<table>``."""
    pk, st = PRIMARY_KEYS[table], gold_sql.state_relation(table)
    changed = f"{pk} IN (SELECT {pk} FROM nw_{table})"
    parts = [_from_state(table, changed),
             f"SELECT {_names(table)}, {', '.join(_ENVELOPE)} FROM nw_{table}"]  # fmt: skip
    if stored is not None:
        parts.append(_truncate_row(table, stored, stored_ts))
    union = "(" + " UNION ALL ".join(parts) + ") AS merged"
    run_sql(con, f"CREATE OR REPLACE TEMP TABLE upd_{table} AS {gold_sql.state_sql(table, union)}")
    run_sql(con, f"CREATE OR REPLACE TEMP TABLE old_{table} AS SELECT * FROM {st} WHERE {changed}")
    out = Merged(table, changed_keys=duckgold.count(con, f"old_{table}"))
    newest, newest_ts = _newest_truncate(con, f"nw_{table}")
    if newest is not None and (stored is None or newest > stored):
        out.truncate, out.truncate_ts = newest, newest_ts
        run_sql(con, f"DELETE FROM {st} WHERE {state_pos()} <= {_pos_literal(newest)}")
    run_sql(con, f"DELETE FROM {st} WHERE {changed}")
    run_sql(con, f"INSERT INTO {st} SELECT * FROM upd_{table}")
    for prefix, source in (("oc", f"old_{table}"), ("nc", f"upd_{table}")):
        run_sql(
            con,
            f"CREATE OR REPLACE TEMP TABLE {prefix}_{table} AS "
            f"{gold_sql.current_sql(table, state=source)}",
        )
    return out


# ---------------------------------------------------------------- customers' history
@dataclass
class HistoryMerge:
    customers: int = 0
    versions_added: int = 0
    truncated: bool = False


def _check_order(con: duckdb.DuckDBPyConnection, stored: Pos | None) -> list[Pos]:
    """The new truncates to apply (after everything stored); raises :class:`OutOfOrder`
    when a new event sorts at or before what the state holds for its key (or before the
    stored truncate)."""
    after_stored = "TRUE" if stored is None else f"{pos_of('n.')} > {_pos_literal(stored)}"
    late = run_sql(
        con,
        f"SELECT count(*) FROM nw_customers AS n "
        f"LEFT JOIN st_customers AS s ON s.customer_id = n.customer_id "
        f"WHERE n.op <> 't' AND NOT (({after_stored}) "
        f"AND (s.customer_id IS NULL OR {pos_of('n.')} > {state_pos('s.')}))",
    )[0][0]
    if late:
        raise OutOfOrder(f"{late} new customer event(s) sort before the kept state")
    newest = run_sql(con, f"SELECT max({state_pos()}) FROM st_customers")[0][0]
    held = [tuple(int(x) for x in p) for p in (newest, stored) if p is not None]  # type: ignore[attr-defined]
    floor = max(held, default=None)
    truncates = [
        tuple(int(x) for x in r[0])  # type: ignore[attr-defined]
        for r in run_sql(con, f"SELECT {pos_of()} FROM nw_customers WHERE op = 't'")
    ]
    fresh = [t for t in truncates if floor is None or t > floor]
    stale = [t for t in truncates if t not in fresh and (stored is None or t[:3] != stored[:3])]
    if stale:
        raise OutOfOrder(f"{len(stale)} new truncate(s) sort before events the state holds")
    return sorted(fresh)  # type: ignore[arg-type]


def merge_history(con: duckdb.DuckDBPyConnection, stored: Pos | None) -> HistoryMerge:
    """Extend ``st_history`` with ``nw_customers`` (before ``st_customers`` is merged);
    leaves the changed customers in ``hk`` (keys of the gold rows to replace)."""
    fresh = _check_order(con, stored)
    keep_truncates = " OR ".join(f"{pos_of()} = {_pos_literal(t)}" for t in fresh) or "FALSE"
    hist_cols = "customer_id, email, customer_segment, loyalty_tier, op, is_delete, " \
                "source_lsn, commit_lsn, commit_ts, bronze_offset"  # fmt: skip
    run_sql(con, "CREATE OR REPLACE TEMP TABLE hk AS SELECT DISTINCT customer_id FROM "
                 "nw_customers WHERE op <> 't' AND customer_id IS NOT NULL")  # fmt: skip
    run_sql(
        con,
        f"""CREATE OR REPLACE TEMP TABLE mini AS
        SELECT s.customer_id, s.email, s.customer_segment, s.loyalty_tier, s.op, s.is_delete,
               s.source_lsn, CASE WHEN s.k0 = 1 THEN s.k1 END AS commit_lsn,
               coalesce(h.valid_from, s.commit_ts) AS commit_ts, s.bronze_offset
        FROM st_customers AS s
        LEFT JOIN st_history AS h ON h.customer_id = s.customer_id AND h.valid_to IS NULL
        WHERE s.customer_id IN (SELECT customer_id FROM hk)
        UNION ALL SELECT {hist_cols} FROM nw_customers WHERE op <> 't'
        UNION ALL SELECT {hist_cols} FROM nw_customers WHERE op = 't' AND ({keep_truncates})""",
    )
    run_sql(con, "CREATE OR REPLACE TEMP VIEW silver_customers AS SELECT * FROM mini")
    try:
        run_sql(con, f"CREATE OR REPLACE TEMP TABLE hnew AS {gold_sql.GOLD[gold_sql.HISTORY].sql}")
    finally:
        run_sql(con, "DROP VIEW IF EXISTS temp.silver_customers")
    run_sql(con, "DELETE FROM st_history WHERE valid_to IS NULL "
                 "AND customer_id IN (SELECT customer_id FROM hk)")  # fmt: skip
    run_sql(con, "INSERT INTO st_history SELECT * FROM hnew")
    out = HistoryMerge(duckgold.count(con, "hk"), duckgold.count(con, "hnew"), bool(fresh))
    if fresh:
        ended = run_sql(
            con, f"SELECT commit_ts FROM nw_customers WHERE {pos_of()} = {_pos_literal(fresh[0])}"
        )[0][0]
        con.execute(
            "UPDATE st_history SET valid_to = ?, is_current = FALSE WHERE valid_to IS NULL "
            "AND customer_id NOT IN (SELECT customer_id FROM hk)",
            [ended],
        )
    return out


# ---------------------------------------------------------------- derived relations
def _contribution(items: str, orders: str) -> str:
    """Per product: units, revenue and (product, order) groups of ``items`` in the
    orders of ``orders`` (relations of order items and of order ids), the way
    product_sales.sql sums them."""
    return f"""SELECT product_id, coalesce(sum(u), 0) AS u, coalesce(sum(r), 0) AS r,
                      count(*) AS n
        FROM (SELECT i.product_id, sum(i.quantity) AS u, sum(i.quantity * i.unit_price) AS r
              FROM {items} AS i JOIN {orders} AS o ON o.order_id = i.order_id
              WHERE i.product_id IS NOT NULL GROUP BY i.product_id, i.order_id) AS g
        GROUP BY product_id"""


def _units(items: str, orders: str) -> str:
    """Per product: units of ``items`` in the orders of ``orders`` (product_sales_30d)."""
    return f"""SELECT i.product_id, coalesce(sum(i.quantity), 0) AS u
        FROM {items} AS i JOIN {orders} AS o ON o.order_id = i.order_id
        WHERE i.product_id IS NOT NULL GROUP BY i.product_id"""


def _apply_delta(con: duckdb.DuckDBPyConnection, name: str, delta: str,
                 sums: dict[str, str], keep: str) -> None:  # fmt: skip
    """Add ``delta`` (product_id and the columns of ``sums``: derived column -> delta
    column) to derived table ``name``; a product's row goes when ``keep`` is false."""
    cols = ", ".join(
        f"CAST(coalesce(s.{c}, 0) + d.{dc} AS {_DERIVED_TYPES[c]}) AS {c}" for c, dc in sums.items()
    )
    run_sql(con, f"CREATE OR REPLACE TEMP TABLE dn AS SELECT d.product_id, {cols} "
                 f"FROM ({delta}) AS d LEFT JOIN main.{name} AS s ON s.product_id = d.product_id")  # fmt: skip
    run_sql(con, f"DELETE FROM main.{name} WHERE product_id IN (SELECT product_id FROM dn)")
    run_sql(con, f"INSERT INTO main.{name} SELECT * FROM dn WHERE {keep}")


_DERIVED_TYPES = {"units_sold": "BIGINT", "revenue": "DECIMAL(38, 2)", "order_count": "BIGINT",
                  "units_sold_30d": "BIGINT"}  # fmt: skip


def merge_sales(con: duckdb.DuckDBPyConnection) -> None:
    """Bring ``product_sales`` and ``product_sales_30d`` (as of the stored D) up to date
    with the merged changes (after :func:`merge_table` of orders and order items, no
    truncate among them): the orders whose items changed or that entered or left V or
    whose date changed give their new contribution and take away their old one. An
    order's old items are its current ones but for the changed keys, whose old versions
    are in ``oc_order_items``; its old version is in ``oc_orders`` when it changed."""
    run_sql(con, f"""CREATE OR REPLACE TEMP TABLE so AS
        SELECT k AS order_id FROM ({_orders_moved("order_id", ("order_date",))}) AS m
        WHERE k IS NOT NULL
        UNION SELECT order_id FROM oc_order_items WHERE order_id IS NOT NULL
        UNION SELECT order_id FROM nc_order_items WHERE order_id IS NOT NULL""")
    # the orders' current items and versions, each read once (the join order is
    # spelled out: left to the optimizer, every item met every order before the filter)
    in_so = "order_id IN (SELECT order_id FROM so)"
    run_sql(con, f"CREATE OR REPLACE TEMP TABLE si AS SELECT * FROM main.cur_order_items "
                 f"WHERE {in_so}")  # fmt: skip
    run_sql(con, f"CREATE OR REPLACE TEMP TABLE sv AS SELECT order_id, order_status, order_date "
                 f"FROM main.cur_orders WHERE {in_so}")  # fmt: skip
    old_items = f"""(SELECT * FROM si WHERE NOT EXISTS (
                         SELECT 1 FROM nw_order_items AS w WHERE w.order_item_id = si.order_item_id)
                     UNION ALL SELECT * FROM oc_order_items WHERE {in_so})"""
    old_orders = f"""(SELECT order_id, order_status, order_date FROM sv WHERE NOT EXISTS (
                          SELECT 1 FROM nw_orders AS w WHERE w.order_id = sv.order_id)
                      UNION ALL SELECT order_id, order_status, order_date FROM oc_orders
                      WHERE {in_so})"""
    v = "order_status <> 'Cancelled'"
    window = (f"{v} AND CAST(order_date AS DATE) BETWEEN "
              f"(SELECT as_of - 29 FROM main.{gold_sql.PARAMS}) "
              f"AND (SELECT as_of FROM main.{gold_sql.PARAMS})")  # fmt: skip
    new_in, old_in = "(SELECT * FROM sv WHERE {w})", f"(SELECT * FROM {old_orders} AS oo WHERE {{w}})"
    _apply_delta(con, gold_sql.SALES, f"""
        SELECT product_id, sum(u) AS u, sum(r) AS r, sum(n) AS n FROM (
            {_contribution("si", new_in.format(w=v))}
            UNION ALL SELECT product_id, -u, -r, -n FROM (
                {_contribution(old_items, old_in.format(w=v))}) AS o
        ) AS d GROUP BY product_id HAVING sum(n) <> 0 OR sum(u) <> 0 OR sum(r) <> 0""",
        {"units_sold": "u", "revenue": "r", "order_count": "n"},
        keep="order_count <> 0",  # no (product, order) group left: no row, as in a full build
    )  # fmt: skip
    _apply_delta(con, gold_sql.SALES_30D, f"""
        SELECT product_id, sum(u) AS u FROM (
            {_units("si", new_in.format(w=window))}
            UNION ALL SELECT product_id, -u FROM ({_units(old_items, old_in.format(w=window))}) AS o
        ) AS d GROUP BY product_id HAVING sum(u) <> 0""",
        {"units_sold_30d": "u"}, keep="units_sold_30d <> 0",
    )  # fmt: skip


def _derive_over(con: duckdb.DuckDBPyConnection, name: str, into: str, table: str,
                 rows: str) -> None:  # fmt: skip
    """Temporary table ``into``: derived relation ``name`` computed over ``rows`` (a
    SELECT of the current rows of ``table``) in place of ``cur_<table>``."""
    run_sql(con, f"CREATE OR REPLACE TEMP VIEW cur_{table} AS {rows}")
    try:
        run_sql(con, f"CREATE OR REPLACE TEMP TABLE {into} AS {gold_sql.derived_sql(name)}")
    finally:
        run_sql(con, f"DROP VIEW IF EXISTS temp.cur_{table}")


def merge_stock(con: duckdb.DuckDBPyConnection) -> None:
    """Bring ``inventory_totals`` up to date with the merged inventory transactions: a
    product none of whose transactions changed or went adds its new ones (a maximum
    cannot be taken back), the others are counted again from their current ones."""
    name, table = gold_sql.STOCK, "inventory_transactions"
    run_sql(con, "CREATE OR REPLACE TEMP TABLE sp AS SELECT DISTINCT product_id "
                 "FROM oc_inventory_transactions WHERE product_id IS NOT NULL")  # fmt: skip
    in_sp = "product_id IN (SELECT product_id FROM sp)"
    db = str(run_sql(con, "SELECT current_database()")[0][0]).replace('"', '""')
    _derive_over(con, name, "sr", table,
                 f'SELECT * FROM "{db}".main.cur_{table} WHERE {in_sp}')  # fmt: skip
    _derive_over(con, name, "sa", table, f"SELECT * FROM nc_{table} WHERE NOT ({in_sp})")
    run_sql(con, f"""CREATE OR REPLACE TEMP TABLE dn AS
        SELECT a.product_id,
               CAST(coalesce(s.total_in, 0) + a.total_in AS BIGINT) AS total_in,
               CAST(coalesce(s.total_out, 0) + a.total_out AS BIGINT) AS total_out,
               CAST(coalesce(s.total_adjustment, 0) + a.total_adjustment AS BIGINT)
                   AS total_adjustment,
               CAST(coalesce(s.transaction_count, 0) + a.transaction_count AS BIGINT)
                   AS transaction_count,
               CASE WHEN s.last_transaction_at IS NULL THEN a.last_transaction_at
                    WHEN a.last_transaction_at IS NULL THEN s.last_transaction_at
                    ELSE greatest(s.last_transaction_at, a.last_transaction_at)
               END AS last_transaction_at
        FROM sa AS a LEFT JOIN main.{name} AS s ON s.product_id = a.product_id
        UNION ALL SELECT * FROM sr""")
    run_sql(con, f"DELETE FROM main.{name} WHERE product_id IN (SELECT product_id FROM dn) "
                 f"OR {in_sp}")  # fmt: skip
    run_sql(con, f"INSERT INTO main.{name} SELECT * FROM dn")


# ---------------------------------------------------------------- a whole batch
@dataclass
class Batch:
    """What merging one batch of new changes did to the state."""

    history: HistoryMerge
    merges: dict[str, Merged]
    #: state table -> whether the lake copy must be rewritten whole (a truncate removed
    #: keys) rather than appended to; only tables with changes
    changed: dict[str, bool]

    @property
    def truncated(self) -> bool:
        return any(self.changed.values())


def merge_all(
    con: duckdb.DuckDBPyConnection, truncates: dict[str, tuple[Pos | None, object]]
) -> Batch:
    """Merge every ``nw_<table>`` into the state (the history first: it needs the
    customers' stored last events). ``truncates``: each table's stored last truncate
    (position, commit time). Raises :class:`OutOfOrder` before changing anything when the
    customers' history cannot be extended."""
    hist = merge_history(con, truncates["customers"][0])
    merges = {t: merge_table(con, t, *truncates[t]) for t in SOURCE_TABLES}
    if any(m.truncate is not None for m in merges.values()):
        duckgold.derive(con)  # a truncate removes rows no old version names
    else:
        merge_sales(con)
        merge_stock(con)
    changed = {
        gold_sql.state_relation(t): m.truncate is not None
        for t, m in merges.items()
        if duckgold.count(con, f"nw_{t}")
    }
    if hist.customers or hist.truncated:
        changed[duckgold.HISTORY_TABLE] = hist.truncated
    return Batch(hist, merges, changed)


# ---------------------------------------------------------------- affected gold rows
def _changed(table: str, column: str) -> str:
    return f"SELECT {column} AS k FROM oc_{table} UNION SELECT {column} FROM nc_{table}"


#: Whether an order is in V (the contract's valid orders: current, status not Cancelled).
_IN_V = "({p}.order_status <> 'Cancelled')"


def _orders_moved(column: str, attrs: tuple[str, ...] = ()) -> str:
    """``column`` of the old and new current versions of the changed orders that entered
    or left V (created, deleted, quarantined, cancelled or restored) or whose ``attrs``
    changed: the orders a gold table reading only V and ``attrs`` sees change. Most live
    changes move an order between Pending, Processing, Shipped and Delivered, which such
    a table does not see."""
    differs = " OR ".join(
        (f"{_IN_V.format(p='a')} IS DISTINCT FROM {_IN_V.format(p='b')}",
         *(f"a.{c} IS DISTINCT FROM b.{c}" for c in attrs))
    )  # fmt: skip
    on = "a.order_id = b.order_id"
    return (
        f"SELECT a.{column} AS k FROM oc_orders AS a LEFT JOIN nc_orders AS b ON {on} "
        f"WHERE b.order_id IS NULL OR {differs} "
        f"UNION SELECT b.{column} FROM nc_orders AS b LEFT JOIN oc_orders AS a ON {on} "
        f"WHERE a.order_id IS NULL OR {differs}"
    )


def _products_of_orders(orders: str) -> str:
    return f"SELECT product_id FROM main.cur_order_items WHERE order_id IN ({orders})"


def _days_of_orders(orders: str) -> str:
    return f"SELECT CAST(order_date AS DATE) FROM main.cur_orders WHERE order_id IN ({orders})"


#: The keys of each gold table whose rows the changes may alter, as SQL over the merged
#: state (``cur_*``), the new rows (``nw_*``) and the changed rows' old and new current
#: versions (``oc_*``, ``nc_*``). An order's change reaches a table only through the
#: order columns that table reads (:func:`_orders_moved`).
AFFECTED: dict[str, str] = {
    "dim_customers": (
        "SELECT customer_id AS k FROM nw_customers WHERE customer_id IS NOT NULL UNION "
        + _orders_moved("customer_id", ("customer_id", "total_amount", "order_date"))
    ),
    "dim_products": (
        "SELECT product_id AS k FROM nw_products WHERE product_id IS NOT NULL UNION "
        + _changed("order_items", "product_id")
        + " UNION "
        + _products_of_orders(_orders_moved("order_id"))
    ),
    "fact_customer_orders": (
        "SELECT order_id AS k FROM nw_orders WHERE order_id IS NOT NULL UNION "
        + _changed("order_items", "order_id")
    ),
    "agg_campaign_performance": (
        "SELECT campaign_id AS k FROM nw_marketing_campaigns WHERE campaign_id IS NOT NULL "
        "UNION " + _orders_moved("campaign_id", ("campaign_id", "customer_id", "total_amount"))
    ),
    "agg_inventory_status": (
        "SELECT k FROM dk_dim_products UNION "
        + _changed("inventory_transactions", "product_id")
        + " UNION "
        + _products_of_orders(_orders_moved("order_id", ("order_date",)))
    ),
    "fact_daily_sales": f"""
        SELECT CAST(k AS DATE) AS k FROM (
            {_orders_moved("order_date", ("order_date", "customer_id"))}) AS moved
        UNION {_days_of_orders("SELECT order_id FROM oc_order_items "
                               "UNION SELECT order_id FROM nc_order_items")}
        UNION {_days_of_orders(
            "SELECT i.order_id FROM main.cur_order_items AS i WHERE i.product_id IN ("
            "SELECT coalesce(a.product_id, b.product_id) "
            "FROM oc_products AS a FULL JOIN nc_products AS b ON a.product_id = b.product_id "
            "WHERE a.product_id IS NULL OR b.product_id IS NULL "
            "OR a.category IS DISTINCT FROM b.category)")}""",
}
#: The order :func:`recompute` takes the gold tables in: dim_products before
#: agg_inventory_status (whose affected keys include dim_products'), and the tables that
#: are quick to compute but slow to load first, so the gold database has work early.
RECOMPUTE_ORDER = (
    "fact_customer_orders", "dim_customers", "agg_campaign_performance", "dim_products",
    "agg_inventory_status", "fact_daily_sales",
)  # fmt: skip
#: Every current key of a gold table (when its whole content may change).
ALL_KEYS = {"agg_inventory_status": "SELECT product_id AS k FROM main.cur_products"}
_SENTINEL = "DATE '0001-01-01'"  # stands for a NULL sale_date among the affected days
_IN = "{col} IN (SELECT k FROM dk_{gold})"
#: How each gold table's inputs narrow to its affected keys (``cur_<table>`` -> filter).
NARROW: dict[str, dict[str, str]] = {
    "dim_customers": {"customers": "customer_id", "orders": "customer_id"},
    "dim_products": {"products": "product_id"},
    "fact_customer_orders": {"orders": "order_id", "order_items": "order_id"},
    "agg_campaign_performance": {"marketing_campaigns": "campaign_id", "orders": "campaign_id"},
    "agg_inventory_status": {
        "products": "product_id", "inventory_transactions": "product_id",
        "order_items": "product_id",
    },
    "fact_daily_sales": {"orders": f"coalesce(CAST(order_date AS DATE), {_SENTINEL})"},
}  # fmt: skip


#: Gold tables whose narrowed inputs are read into tables before the table's SQL runs.
#: Over the narrowed views, DuckDB joined every order item to every order and only then
#: kept the affected days' orders: 1.7 s for 7 days at scale 10, against 0.4 s with
#: those orders in a table first (other tables' plans are faster over the views).
READ_FIRST = frozenset({"fact_daily_sales"})

#: The inputs of a per-product gold table that are narrowed only when few products are
#: affected: beyond :data:`NARROW_PRODUCTS_BELOW` of them, filtering every order item
#: by product costs more than aggregating them all (scale 1, 1.5M items: 0.05 s at 10%
#: of the products, 0.30 s at 25%, 0.39 s at 50%, against 0.25-0.28 s for all).
WIDE_INPUTS = {"agg_inventory_status": ("order_items", "inventory_transactions")}
NARROW_PRODUCTS_BELOW = 0.2


def _narrowed(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, str]:
    """The inputs of gold table ``name`` to narrow to its affected keys (``dk_<name>``)."""
    narrowed = NARROW[name]
    if name in WIDE_INPUTS:
        keys = duckgold.count(con, f"dk_{name}")
        if keys > NARROW_PRODUCTS_BELOW * duckgold.count(con, "main.cur_products"):
            return {t: c for t, c in narrowed.items() if t not in WIDE_INPUTS[name]}
    return narrowed


@dataclass
class Recomputed:
    keys: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def recompute(
    con: duckdb.DuckDBPyConnection,
    whole: frozenset[str] = frozenset(),
    done: Callable[[str], None] | None = None,
    names: tuple[str, ...] = RECOMPUTE_ORDER,
) -> Recomputed:
    """For each gold table of ``names`` (taken in :data:`RECOMPUTE_ORDER`):
    temporary tables ``dk_<table>``, its affected keys, and ``dg_<table>``, their
    recomputed rows. The table's SQL runs over temporary ``cur_<table>`` views narrowed
    to those keys (they shadow the full ones while it runs). Tables in ``whole`` take
    every key. ``done(table)`` is called as each table is ready."""
    out = Recomputed()
    db = str(run_sql(con, "SELECT current_database()")[0][0]).replace('"', '""')
    for name in (n for n in RECOMPUTE_ORDER if n in names):
        keys = AFFECTED[name] + (f" UNION {ALL_KEYS[name]}" if name in whole else "")
        if name == "fact_daily_sales":
            keys = f"SELECT DISTINCT coalesce(k, {_SENTINEL}) AS k FROM ({keys}) AS d"
        run_sql(con, f"CREATE OR REPLACE TEMP TABLE dk_{name} AS "
                     f"SELECT DISTINCT k FROM ({keys}) AS a WHERE k IS NOT NULL")  # fmt: skip
        narrowed = _narrowed(con, name)
        for table, col in narrowed.items():
            rows = f'SELECT * FROM "{db}".main.cur_{table} WHERE {_IN.format(col=col, gold=name)}'
            if name in READ_FIRST:
                run_sql(con, f"CREATE OR REPLACE TEMP TABLE nr_{table} AS {rows}")
                rows = f"SELECT * FROM nr_{table}"
            run_sql(con, f"CREATE OR REPLACE TEMP VIEW cur_{table} AS {rows}")
        try:
            run_sql(con, f"CREATE OR REPLACE TEMP TABLE dg_{name} AS {gold_sql.GOLD[name].sql}")
        finally:
            for table in narrowed:
                run_sql(con, f"DROP VIEW IF EXISTS temp.cur_{table}")
                run_sql(con, f"DROP TABLE IF EXISTS temp.nr_{table}")
        out.keys[name] = duckgold.count(con, f"dk_{name}")
        out.rows[name] = duckgold.count(con, f"dg_{name}")
        if done is not None:
            done(name)
    return out


def history_delta(con: duckdb.DuckDBPyConnection) -> int:
    """``dk_dim_customers_history`` / ``dg_dim_customers_history``: every version of the
    customers whose history changed."""
    name = gold_sql.HISTORY
    run_sql(con, f"CREATE OR REPLACE TEMP TABLE dk_{name} AS SELECT customer_id AS k FROM hk")
    cols = ", ".join(gold_sql.GOLD[name].column_names)
    run_sql(con, f"CREATE OR REPLACE TEMP TABLE dg_{name} AS SELECT {cols} FROM st_history "
                 "WHERE customer_id IN (SELECT customer_id FROM hk)")  # fmt: skip
    return duckgold.count(con, f"dg_{name}")


def empty_changes(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether no table has a new row."""
    return all(duckgold.count(con, f"nw_{t}") == 0 for t in SOURCE_TABLES)
