"""The shared gold definitions (compaction/gold_sql.py, compaction/sql/gold/*.sql) run by
DuckDB: declared column types, exact money and rounding as the contract's PostgreSQL
``round(numeric, n)`` (half away from zero), division by zero as NULL, and SQL that
sqlglot transpiles to Spark SQL.

The expected values are computed here in Python ``Decimal`` with ROUND_HALF_UP, which
rounds half away from zero, like PostgreSQL's ``round(numeric, n)``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st

from compaction import duckgold, gold_sql, state
from schemas import SOURCE_TABLES

AS_OF = date(2026, 11, 29)
IN_WINDOW = datetime(2026, 11, 20, 10, 0)


def pg_round(x: Decimal, n: int) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-n), rounding=ROUND_HALF_UP)


def ratio(x: Decimal | int, y: Decimal | int, n: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        return pg_round(Decimal(x) / Decimal(y), n)


def cur_db(rows: dict[str, list[dict[str, Any]]]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with ``cur_<table>`` tables (typed as the current state),
    ``build_params`` and the derived relations."""
    con = state.connect()
    for table in SOURCE_TABLES:
        cols = gold_sql.current_columns(table)
        con.execute(f"CREATE TABLE cur_{table} ({', '.join(f'{c} {t}' for c, t in cols)})")
        for row in rows.get(table, []):
            con.execute(
                f"INSERT INTO cur_{table} VALUES ({', '.join('?' for _ in cols)})",
                [row.get(c) for c, _ in cols],
            )
    duckgold.set_params(con, AS_OF)
    duckgold.derive(con)
    return con


def gold(con: duckdb.DuckDBPyConnection, name: str, key: str) -> dict[Any, dict[str, Any]]:
    table = gold_sql.GOLD[name]
    rel = con.sql(table.sql)
    return {r[key]: r for r in (dict(zip(rel.columns, t, strict=True)) for t in rel.fetchall())}


def order(oid: int, cust: int, amount: str | None, *, status: str = "Delivered",
          campaign: int | None = None, when: datetime = IN_WINDOW) -> dict[str, Any]:  # fmt: skip
    return {"order_id": oid, "customer_id": cust, "order_date": when, "order_status": status,
            "total_amount": None if amount is None else Decimal(amount),
            "campaign_id": campaign}  # fmt: skip


# ---------------------------------------------------------------- declared columns
def test_every_gold_sql_returns_its_declared_columns() -> None:
    con = cur_db({})
    for table in gold_sql.GOLD_TABLES:
        if table.name == gold_sql.HISTORY:
            duckgold.register(con, "customers", None)
        rel = con.sql(table.sql)
        got = [(n, str(t)) for n, t in zip(rel.columns, rel.types, strict=True)]
        want = [(c.name, c.sql_type.replace(", ", ",")) for c in table.columns]
        got = [(n, "TIMESTAMPTZ" if t == "TIMESTAMP WITH TIME ZONE" else t) for n, t in got]
        assert got == want, table.name
    assert [t.name for t in gold_sql.GOLD_TABLES] == list(gold_sql.GOLD)


def test_state_sql_is_the_state_columns() -> None:
    con = state.connect()
    duckgold.register(con, "orders", None)
    rel = con.sql(gold_sql.state_sql("orders"))
    names = [c for c, _ in gold_sql.current_columns("orders")]
    assert rel.columns == [*names, *gold_sql.STATE_EXTRA]
    assert con.sql(gold_sql.current_state_sql("orders")).columns == names


# ---------------------------------------------------------------- exact rounding
def test_avg_order_value_rounds_half_away_from_zero() -> None:
    cases = {  # customer -> order totals (all valid orders)
        1: ["1.00", "1.01"],  # 1.005 -> 1.01
        2: ["-1.00", "-1.01"],  # -1.005 -> -1.01
        3: ["0.01", "0.00", "0.00"],  # 0.00333 -> 0.00
        4: ["0.02", "0.03", "0.00"],  # 0.01666 -> 0.02
        5: ["2.00", "2.00", "2.01"],  # 2.00333 -> 2.00
        6: ["9999999999.99", "9999999999.99", "9999999999.98"],
        7: ["0.05", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"],  # 0.00625
        8: ["-0.05", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"],
    }
    orders, oid = [], 0
    for cust, totals in cases.items():
        for total in totals:
            oid += 1
            orders.append(order(oid, cust, total))
    orders.append(order(999, 1, "1000.00", status="Cancelled"))  # not in V
    customers = [{"customer_id": c} for c in (*cases, 9)]
    got = gold(cur_db({"customers": customers, "orders": orders}), "dim_customers", "customer_id")
    for cust, totals in cases.items():
        total = sum((Decimal(t) for t in totals), Decimal(0))
        assert got[cust]["lifetime_value"] == total
        assert got[cust]["total_orders"] == len(totals)
        assert got[cust]["avg_order_value"] == ratio(total, len(totals), 2), cust
    assert got[1]["avg_order_value"] == Decimal("1.01")
    assert got[2]["avg_order_value"] == Decimal("-1.01")
    assert got[9]["avg_order_value"] is None and got[9]["lifetime_value"] == 0
    assert got[9]["total_orders"] == 0 and got[9]["first_order_date"] is None


def test_campaign_ratios_round_exactly_and_null_on_zero() -> None:
    campaigns = {  # id -> (budget, [(customer, total)])
        1: ("0.05", [(1, "1.00"), (2, "1.00")]),  # cpa 0.025 -> 0.03; rtb 40.0000
        2: ("0.01", [(1, "0.00"), (2, "0.00"), (3, "0.00")]),  # cpa 0.0033 -> 0.00
        3: ("8.00", [(1, "1.00")]),  # rtb 0.125 -> 0.1250
        4: ("200.00", [(1, "0.01")]),  # rtb 0.00005 -> 0.0001
        5: ("200.00", [(1, "-0.01")]),  # rtb -0.00005 -> -0.0001
        6: ("600.00", [(1, "0.01")]),  # rtb 0.0000166 -> 0.0000
        7: ("0.00", [(1, "5.00")]),  # budget 0: rtb NULL, cpa 0.00
        8: ("100.00", []),  # no orders: cpa NULL, rtb 0.0000
        9: (None, [(1, "1.00")]),  # no budget: both NULL
        10: ("100.00", [(1, "1.00"), (1, "2.00"), (2, "0.50")]),  # cpa 50.00 (2 customers)
    }
    orders, oid = [], 0
    for cid, (_, lines) in campaigns.items():
        for cust, total in lines:
            oid += 1
            orders.append(order(oid, cust, total, campaign=cid))
    orders.append(order(999, 7, "5.00", status="Cancelled", campaign=1))
    rows = [{"campaign_id": c, "budget": None if b is None else Decimal(b)}
            for c, (b, _) in campaigns.items()]  # fmt: skip
    got = gold(cur_db({"marketing_campaigns": rows, "orders": orders}),
               "agg_campaign_performance", "campaign_id")  # fmt: skip
    for cid, (budget, lines) in campaigns.items():
        revenue = sum((Decimal(t) for _, t in lines), Decimal(0))
        customers = len({c for c, _ in lines})
        row = got[cid]
        assert row["attributed_revenue"] == revenue and row["attributed_customers"] == customers
        want_cpa = None if customers == 0 or budget is None else ratio(Decimal(budget), customers, 2)
        want_rtb = None if budget is None or Decimal(budget) == 0 else ratio(revenue, Decimal(budget), 4)
        assert row["cost_per_acquisition"] == want_cpa, cid
        assert row["revenue_to_budget"] == want_rtb, cid
    assert got[1]["cost_per_acquisition"] == Decimal("0.03")
    assert got[4]["revenue_to_budget"] == Decimal("0.0001")
    assert got[5]["revenue_to_budget"] == Decimal("-0.0001")
    assert str(got[3]["revenue_to_budget"]) == "0.1250"


def test_days_of_cover_with_the_30_day_factor() -> None:
    products = {  # id -> (stock, units sold in the window)
        1: (1, 4),  # 7.5
        2: (1, 8),  # 3.75 -> 3.8
        3: (-1, 8),  # -3.75 -> -3.8
        4: (5, 16),  # 9.375 -> 9.4
        5: (1, 24),  # 1.25 -> 1.3
        6: (0, 7),  # 0.0
        7: (7, 0),  # no demand: NULL
        8: (None, 3),  # no stock figure: NULL
        9: (1, 12),  # 2.5
        10: (100000, 1),  # 3000000.0
    }
    items, orders, oid = [], [], 0
    for pid, (_, units) in products.items():
        if units:
            oid += 1
            orders.append(order(oid, 1, "1.00"))
            items.append({"order_item_id": oid, "order_id": oid, "product_id": pid,
                          "quantity": units, "unit_price": Decimal("1.00")})  # fmt: skip
    old = AS_OF - timedelta(days=30)  # just outside D-29 .. D
    orders.append(order(500, 1, "1.00", when=datetime(old.year, old.month, old.day, 23, 59)))
    items.append({"order_item_id": 500, "order_id": 500, "product_id": 1, "quantity": 50,
                  "unit_price": Decimal("1.00")})  # fmt: skip
    rows = [{"product_id": p, "stock_quantity": s} for p, (s, _) in products.items()]
    got = gold(cur_db({"products": rows, "orders": orders, "order_items": items}),
               "agg_inventory_status", "product_id")  # fmt: skip
    for pid, (stock, units) in products.items():
        row = got[pid]
        assert row["units_sold_30d"] == units, pid
        want = None if not units or stock is None else ratio(stock * 30, units, 1)
        assert row["days_of_cover"] == want, pid
    assert got[2]["days_of_cover"] == Decimal("3.8") and got[3]["days_of_cover"] == Decimal("-3.8")
    assert [got[p]["stock_status"] for p in (1, 3, 7, 8, 10)] == [
        "OK", "OUT_OF_STOCK", "NO_DEMAND", "NO_DEMAND", "OVERSTOCK",
    ]  # fmt: skip
    assert got[5]["stock_status"] == "LOW"


CENTS = st.integers(min_value=-(10**11), max_value=10**11)


@settings(max_examples=60, deadline=None)
@given(
    totals=st.lists(st.lists(CENTS, min_size=1, max_size=7), min_size=1, max_size=6),
    budgets=st.lists(st.integers(min_value=0, max_value=10**11), min_size=1, max_size=6),
)
def test_rounding_matches_decimal_half_up_on_random_money(
    totals: list[list[int]], budgets: list[int]
) -> None:
    """Random cents: avg_order_value, cost_per_acquisition and revenue_to_budget equal
    the exact quotient rounded half away from zero."""
    cent = Decimal("0.01")
    orders, oid = [], 0
    for cust, amounts in enumerate(totals, start=1):
        for a in amounts:
            oid += 1
            orders.append(order(oid, cust, str(a * cent), campaign=1 + oid % len(budgets)))
    camps = [{"campaign_id": i + 1, "budget": b * cent} for i, b in enumerate(budgets)]
    con = cur_db({
        "customers": [{"customer_id": c} for c in range(1, len(totals) + 1)],
        "orders": orders, "marketing_campaigns": camps,
    })  # fmt: skip
    dim = gold(con, "dim_customers", "customer_id")
    for cust, amounts in enumerate(totals, start=1):
        assert dim[cust]["avg_order_value"] == ratio(sum(amounts) * cent, len(amounts), 2)
    camp = gold(con, "agg_campaign_performance", "campaign_id")
    for i, b in enumerate(budgets, start=1):
        mine = [o for o in orders if o["campaign_id"] == i]
        revenue = sum((o["total_amount"] for o in mine), Decimal(0))
        n = len({o["customer_id"] for o in mine})
        assert camp[i]["cost_per_acquisition"] == (ratio(b * cent, n, 2) if n else None)
        assert camp[i]["revenue_to_budget"] == (ratio(revenue, b * cent, 4) if b else None)


@settings(max_examples=60, deadline=None)
@given(stock=st.integers(min_value=-(10**6), max_value=10**9),
       units=st.lists(st.integers(min_value=1, max_value=10**5), min_size=1, max_size=5))  # fmt: skip
def test_days_of_cover_matches_decimal_half_up(stock: int, units: list[int]) -> None:
    orders = [order(i, 1, "1.00") for i in range(1, len(units) + 1)]
    items = [{"order_item_id": i, "order_id": i, "product_id": 1, "quantity": q,
              "unit_price": Decimal("0.01")} for i, q in enumerate(units, start=1)]  # fmt: skip
    con = cur_db({"products": [{"product_id": 1, "stock_quantity": stock}], "orders": orders,
                  "order_items": items})  # fmt: skip
    row = gold(con, "agg_inventory_status", "product_id")[1]
    assert row["days_of_cover"] == ratio(stock * Decimal("30.0"), sum(units), 1)


def test_sums_stay_exact_decimals() -> None:
    items = [{"order_item_id": i, "order_id": 1, "product_id": 1, "quantity": 3,
              "unit_price": Decimal("0.10")} for i in range(1, 11)]  # fmt: skip
    con = cur_db({"products": [{"product_id": 1, "category": "Books"}],
                  "orders": [order(1, 1, "3.00")], "order_items": items})  # fmt: skip
    product = gold(con, "dim_products", "product_id")[1]
    assert product["revenue"] == Decimal("3.00") and str(product["revenue"]) == "3.00"
    fact = gold(con, "fact_customer_orders", "order_id")[1]
    assert fact["items_total"] == Decimal("3.00") and fact["units"] == 30
    (day,) = gold(con, "fact_daily_sales", "sale_date").values()
    assert day["revenue"] == Decimal("3.00") and day["category"] == "Books"


def test_the_units_sold_in_30_days_follow_d_when_it_moves() -> None:
    first_day = datetime.combine(AS_OF - timedelta(days=29), datetime.min.time())
    items = [{"order_item_id": 1, "order_id": 1, "product_id": 1, "quantity": 4,
              "unit_price": Decimal("1.00")}]  # fmt: skip
    con = cur_db({"products": [{"product_id": 1, "stock_quantity": 10}],
                  "orders": [order(1, 1, "4.00", when=first_day)], "order_items": items})  # fmt: skip
    assert gold(con, "agg_inventory_status", "product_id")[1]["units_sold_30d"] == 4
    duckgold.set_params(con, AS_OF)  # D stays: the kept relation stays
    assert con.execute(f"SELECT * FROM {gold_sql.SALES_30D}").fetchall() == [(1, 4)]
    duckgold.set_params(con, AS_OF + timedelta(days=1))  # the order leaves the window
    row = gold(con, "agg_inventory_status", "product_id")[1]
    assert row["units_sold_30d"] == 0 and row["stock_status"] == "NO_DEMAND"
    assert gold(con, "dim_products", "product_id")[1]["units_sold"] == 4  # not dated


# ---------------------------------------------------------------- a second engine
def _definitions() -> list[tuple[str, str]]:
    out = [(t.name, t.sql) for t in gold_sql.GOLD_TABLES]
    out += [(f"state {t}", gold_sql.state_sql(t)) for t in SOURCE_TABLES]
    out += [(f"current {t}", gold_sql.current_state_sql(t)) for t in SOURCE_TABLES]
    return out


@pytest.mark.parametrize(("name", "sql"), _definitions(), ids=[n for n, _ in _definitions()])
def test_definitions_transpile_to_spark(name: str, sql: str) -> None:
    """sqlglot reads every definition as DuckDB and writes Spark SQL that Spark's dialect
    reads back; integer division becomes DIV (Spark's '/' is a float division)."""
    (spark,) = sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level="raise")
    sqlglot.parse_one(spark, read="spark")
    assert "//" not in spark
    if "//" in sql:
        assert " DIV " in spark
