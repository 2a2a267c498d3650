"""The gold definitions, once, for every engine that builds gold.

Each gold table of the data contract (section 3) is one SQL file in
``compaction/sql/gold/<table>.sql``: a single ``SELECT`` in DuckDB's dialect, written in
a plain subset that sqlglot transpiles to Spark SQL (no engine-only functions; decimal
arithmetic with explicit CASTs; every division and rounding in integer arithmetic, so no
engine's float division reaches a money value or a rounded ratio). An engine:

1. makes ``silver_<table>`` relations of the six silver change-logs (the silver Delta
   tables, as of the build's cutoff);
2. makes ``cur_<table>`` of each from :func:`current_state_sql` (or materialises
   :func:`state_sql` as ``st_<table>`` and ``cur_<table>`` from :func:`current_sql`);
3. makes the one-row relation ``build_params`` (column ``as_of DATE``, the contract's D)
   with :func:`build_params_sql`;
4. makes each relation of :data:`DERIVED` (per-product aggregates that dim_products and
   agg_inventory_status read) from :func:`derived_sql`, in order;
5. runs :data:`GOLD_TABLES` in order, each ``table.sql`` materialised as ``table.name``
   with ``table.columns`` (the SQL already returns these names and types, in order).

:data:`GOLD_TABLES` gives each table's grain (``key``), its PostgreSQL column types and
its indexes, which is what loading it into the gold database needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

from schemas import PRIMARY_KEYS, SOURCE_TABLES
from schemas.columns import COLUMNS
from schemas.columns import Column as SourceColumn

#: The one-row relation of build parameters the gold SQL reads (column ``as_of``).
PARAMS = "build_params"
#: Per-product sales over the contract's IV (``sql/gold/product_sales.sql``).
SALES = "product_sales"
#: Per-product inventory transaction totals.
STOCK = "inventory_totals"
#: Per-product units sold over IV in the 30 days up to D.
SALES_30D = "product_sales_30d"
#: Relations over the current state that gold tables read, each made from its SQL file
#: before the gold tables (an incremental build keeps them with its state).
DERIVED: tuple[str, ...] = (SALES, STOCK, SALES_30D)
#: The derived relations that read ``build_params`` (made again when D moves).
DATED: frozenset[str] = frozenset({SALES_30D})


@dataclass(frozen=True)
class Column:
    """A gold column: its name, its SQL type as the gold SQL returns it (DuckDB names:
    INTEGER, BIGINT, DECIMAL(p,s), VARCHAR, DATE, TIMESTAMP (UTC wall clock),
    TIMESTAMPTZ, BOOLEAN) and its PostgreSQL type in the gold database."""

    name: str
    sql_type: str
    pg_type: str


@dataclass(frozen=True)
class GoldTable:
    name: str
    columns: tuple[Column, ...]
    #: The table's grain: one row per distinct value of these columns (its primary key,
    #: except dim_customers_history whose versions are keyed by customer and time).
    key: tuple[str, ...]
    #: Secondary indexes created in PostgreSQL after the load.
    indexes: tuple[tuple[str, ...], ...] = ()
    #: Whether ``key`` is a PRIMARY KEY in PostgreSQL.
    primary_key: bool = True

    @property
    def sql(self) -> str:
        """The definition: one SELECT reading the ``cur_<table>`` relations,
        ``build_params`` and :data:`DERIVED` (dim_customers_history:
        ``silver_customers``)."""
        return read(f"{self.name}.sql")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name: str, sql_type: str, pg_type: str | None = None) -> Column:
    return Column(name, sql_type, pg_type or _PG.get(sql_type, sql_type))


_PG = {
    "VARCHAR": "TEXT",
    "TIMESTAMPTZ": "TIMESTAMPTZ",
    # derived money and ratios: NUMERIC without a typmod, as PostgreSQL's own sum() and
    # round() return it; the values carry their scale (2, 4 or 1 decimals)
    "DECIMAL(38, 2)": "NUMERIC",
    "DECIMAL(38, 4)": "NUMERIC",
    "DECIMAL(38, 1)": "NUMERIC",
}
_MONEY = "DECIMAL(38, 2)"

GOLD_TABLES: tuple[GoldTable, ...] = (
    GoldTable(
        "dim_customers",
        (
            _c("customer_id", "INTEGER"), _c("email", "VARCHAR"), _c("first_name", "VARCHAR"),
            _c("last_name", "VARCHAR"), _c("customer_segment", "VARCHAR"),
            _c("loyalty_tier", "VARCHAR"), _c("registration_date", "TIMESTAMP"),
            _c("total_orders", "BIGINT"), _c("lifetime_value", _MONEY),
            _c("avg_order_value", _MONEY), _c("first_order_date", "DATE"),
            _c("last_order_date", "DATE"),
        ),
        key=("customer_id",),
    ),
    GoldTable(
        "dim_products",
        (
            _c("product_id", "INTEGER"), _c("product_name", "VARCHAR"), _c("sku", "VARCHAR"),
            _c("category", "VARCHAR"), _c("price", "DECIMAL(10, 2)", "NUMERIC(10, 2)"),
            _c("stock_quantity", "INTEGER"), _c("units_sold", "BIGINT"),
            _c("revenue", _MONEY), _c("order_count", "BIGINT"),
        ),
        key=("product_id",),
    ),
    GoldTable(
        "fact_daily_sales",
        (
            _c("sale_date", "DATE"), _c("category", "VARCHAR"), _c("order_count", "BIGINT"),
            _c("units_sold", "BIGINT"), _c("revenue", _MONEY), _c("customer_count", "BIGINT"),
        ),
        key=("sale_date", "category"),
        indexes=(("sale_date",),),
        primary_key=False,  # a product with a NULL category makes a NULL category row
    ),
    GoldTable(
        "fact_customer_orders",
        (
            _c("order_id", "INTEGER"), _c("customer_id", "INTEGER"),
            _c("order_date", "TIMESTAMP"), _c("order_status", "VARCHAR"),
            _c("campaign_id", "INTEGER"),
            _c("total_amount", "DECIMAL(12, 2)", "NUMERIC(12, 2)"),
            _c("item_count", "BIGINT"), _c("units", "BIGINT"), _c("items_total", _MONEY),
            _c("is_cancelled", "BOOLEAN"),
        ),
        key=("order_id",),
        indexes=(("customer_id",),),
    ),
    GoldTable(
        "agg_campaign_performance",
        (
            _c("campaign_id", "INTEGER"), _c("campaign_name", "VARCHAR"),
            _c("channel", "VARCHAR"), _c("budget", "DECIMAL(12, 2)", "NUMERIC(12, 2)"),
            _c("roi", "DECIMAL(8, 2)", "NUMERIC(8, 2)"), _c("start_date", "DATE"),
            _c("end_date", "DATE"), _c("attributed_orders", "BIGINT"),
            _c("attributed_revenue", _MONEY), _c("attributed_customers", "BIGINT"),
            _c("cost_per_acquisition", _MONEY), _c("revenue_to_budget", "DECIMAL(38, 4)"),
        ),
        key=("campaign_id",),
    ),
    GoldTable(
        "agg_inventory_status",
        (
            _c("product_id", "INTEGER"), _c("sku", "VARCHAR"), _c("category", "VARCHAR"),
            _c("stock_quantity", "INTEGER"), _c("total_in", "BIGINT"),
            _c("total_out", "BIGINT"), _c("total_adjustment", "BIGINT"),
            _c("transaction_count", "BIGINT"), _c("last_transaction_at", "TIMESTAMP"),
            _c("units_sold_30d", "BIGINT"), _c("days_of_cover", "DECIMAL(38, 1)"),
            _c("stock_status", "VARCHAR"),
        ),
        key=("product_id",),
    ),
    GoldTable(
        "dim_customers_history",
        (
            _c("customer_id", "INTEGER"), _c("email", "VARCHAR"),
            _c("customer_segment", "VARCHAR"), _c("loyalty_tier", "VARCHAR"),
            _c("valid_from", "TIMESTAMPTZ"), _c("valid_to", "TIMESTAMPTZ"),
            _c("is_current", "BOOLEAN"),
        ),
        key=("customer_id",),
        indexes=(("customer_id", "valid_from"),),
        primary_key=False,  # several versions per customer
    ),
)  # fmt: skip

GOLD: dict[str, GoldTable] = {t.name: t for t in GOLD_TABLES}
#: The gold table built from the customers' change-log rather than the current state.
HISTORY = "dim_customers_history"

#: Envelope and position columns a state relation (:func:`state_sql`) adds to the
#: table's own columns.
STATE_EXTRA: tuple[str, ...] = (
    "op", "is_delete", "source_lsn", "commit_ts", "bronze_topic", "bronze_partition",
    "bronze_offset", "k0", "k1", "k2", "k3",
)  # fmt: skip


@cache
def read(name: str) -> str:
    """The text of ``compaction/sql/gold/<name>``."""
    return resources.files("compaction").joinpath("sql", "gold", name).read_text("utf-8")


def derived_sql(name: str) -> str:
    """The SELECT of derived relation ``name`` (one of :data:`DERIVED`) over the
    ``cur_<table>`` relations."""
    if name not in DERIVED:
        raise ValueError(f"not a derived relation: {name!r}")
    return read(f"{name}.sql")


def source_type(col: SourceColumn) -> str:
    """The SQL type of a source column in the current state (timestamps: UTC wall clock,
    as the source's TIMESTAMP columns hold it)."""
    if col.kind == "decimal":
        return f"DECIMAL({col.precision}, {col.scale})"
    return {"int": "INTEGER", "str": "VARCHAR", "timestamp": "TIMESTAMP", "date": "DATE"}[
        col.kind
    ]


def silver_relation(table: str) -> str:
    return f"silver_{_known(table)}"


def state_relation(table: str) -> str:
    return f"st_{_known(table)}"


def current_relation(table: str) -> str:
    return f"cur_{_known(table)}"


def _known(table: str) -> str:
    if table not in PRIMARY_KEYS:
        raise ValueError(f"not a source table: {table!r}")
    return table


def state_sql(table: str, source: str | None = None, *, split: bool = False) -> str:
    """SELECT of ``table``'s state from its silver change-log (``source``, default
    ``silver_<table>``): the last version of every key since the last truncate, deletes
    and quarantine markers included, with the position columns :data:`STATE_EXTRA`.

    ``split``: rank only the changes of keys with several, the same rows for less work
    when most keys have one change; it reads ``source`` three times, so ``source`` should
    be a table, not a query."""
    pk = PRIMARY_KEYS[_known(table)]
    src = source or silver_relation(table)

    def changes(keys: str = "") -> str:
        return read("state_changes.sql").format(
            source=src, pk=pk, keys=keys,
            columns=", ".join(f"CAST({c.name} AS {source_type(c)}) AS {c.name}"
                              for c in COLUMNS[table]),
        )  # fmt: skip

    repeated = singles = ""
    ranked = changes()
    if split:
        repeated = read("state_repeated.sql").format(source=src, pk=pk)
        ranked = changes(f" AND {pk} IN (SELECT key FROM repeated)")
        singles = (f"\n    UNION ALL\n    SELECT c.*, 1 AS rn FROM ("
                   f"{changes(f' AND {pk} NOT IN (SELECT key FROM repeated)')}) AS c")  # fmt: skip
    return read("state.sql").format(
        source=src, pk=pk, repeated=repeated, changes=ranked, singles=singles,
        names=", ".join(c.name for c in COLUMNS[table]),
    )  # fmt: skip


def current_sql(table: str, state: str | None = None) -> str:
    """SELECT of ``table``'s current state from its state relation (default
    ``st_<table>``): live keys only, the table's own columns."""
    return read("current.sql").format(
        state=state or state_relation(table),
        names=", ".join(c.name for c in COLUMNS[_known(table)]),
    )


def current_state_sql(table: str, source: str | None = None, *, split: bool = False) -> str:
    """SELECT of ``table``'s current state straight from its silver change-log."""
    return current_sql(table, state=f"({state_sql(table, source, split=split)}) AS state")


def build_params_sql(as_of: date) -> str:
    """SELECT of the one-row ``build_params`` relation for the as-of date D."""
    return f"SELECT CAST('{as_of.isoformat()}' AS DATE) AS as_of"


def current_columns(table: str) -> tuple[tuple[str, str], ...]:
    """(name, SQL type) of the columns of ``cur_<table>``."""
    return tuple((c.name, source_type(c)) for c in COLUMNS[_known(table)])


__all__ = [
    "DATED",
    "DERIVED",
    "GOLD",
    "GOLD_TABLES",
    "HISTORY",
    "PARAMS",
    "SALES",
    "SALES_30D",
    "STOCK",
    "SOURCE_TABLES",
    "STATE_EXTRA",
    "Column",
    "GoldTable",
    "build_params_sql",
    "current_columns",
    "current_sql",
    "current_state_sql",
    "derived_sql",
    "silver_relation",
    "state_sql",
]
