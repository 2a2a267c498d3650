"""The old batch pipeline's way of building gold, as the rebuild benchmark's baseline.

Whole source tables into pandas (``pd.read_sql``), the contract's silver rules
(normalisation, quarantine) and the six aggregate gold tables computed with pandas,
written into the scratch schema ``bench_pandas`` of the gold database (dropped
afterwards) with ``DataFrame.to_sql`` (``--write to_sql``, the old pipeline's way) or
with COPY FROM STDIN of each frame as CSV into a table ``to_sql`` created empty
(``--write copy``: pandas at its fastest way into PostgreSQL). Money is float64 there, not exact NUMERIC, and round() is
emulated half away from zero; dim_customers_history (needs the change history) and the
atomic swap have no equivalent in it.

Run as its own process so its memory is measured alone:
``python -m bench.pandas_baseline --as-of D [--write copy]`` prints ``BENCH-RESULT {json}``
last.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.measure import RESULT_MARK  # noqa: E402

SCRATCH_SCHEMA = "bench_pandas"
#: one money (or quantity) total per gold table, compared between gold and the baseline
CHECK_TOTALS = {
    "dim_customers": "lifetime_value",
    "dim_products": "revenue",
    "fact_daily_sales": "revenue",
    "fact_customer_orders": "items_total",
    "agg_campaign_performance": "attributed_revenue",
    "agg_inventory_status": "units_sold_30d",
}
HOW = (
    "pd.read_sql (SQLAlchemy over psycopg2) of the six whole source tables; silver "
    "normalisation and quarantine in pandas; the six aggregate gold tables in pandas; "
    "DataFrame.to_sql (defaults, if_exists=replace) into the scratch schema "
    f"{SCRATCH_SCHEMA} of the gold database (dropped afterwards)"
)
HOW_COPY = HOW.replace(
    "DataFrame.to_sql (defaults, if_exists=replace)",
    "an empty table created by DataFrame.to_sql, then COPY FROM STDIN (CSV from "
    "DataFrame.to_csv, psycopg2 copy_expert)",
)
NOT_EXACT = (
    "money as float64, not exact NUMERIC; round() emulated half away from zero on floats; "
    "no dim_customers_history (needs the change history), no build log, no atomic swap"
)


def _round_half_away(x: Any, n: int) -> Any:
    """PostgreSQL round(numeric, n) on floats: half away from zero (numpy rounds half-even)."""
    import numpy as np

    f = 10.0**n
    return np.sign(x) * np.floor(np.abs(x) * f + 0.5) / f


def _psycopg2_url(dsn: str) -> str:
    """SQLAlchemy URL of ``dsn`` over psycopg2 (SQLAlchemy 2.1 defaults to psycopg 3)."""
    return dsn.replace("postgresql://", "postgresql+psycopg2://", 1)


SOURCE_TABLES = (
    "customers", "products", "marketing_campaigns", "orders", "order_items",
    "inventory_transactions",
)  # fmt: skip


def pandas_baseline(as_of: date, write: str = "to_sql") -> dict[str, Any]:
    """The old pipeline's way: whole tables into pandas, aggregate, DataFrame.to_sql
    (``write="copy"``: COPY instead)."""
    from common.settings import load

    settings = load()
    timings: dict[str, float] = {}
    t = time.monotonic()
    frames = read_sources(settings.source_dsn)
    timings["read_s"] = time.monotonic() - t
    t = time.monotonic()
    gold = transform(frames, as_of)
    timings["transform_s"] = time.monotonic() - t
    t = time.monotonic()
    rows = write_gold(gold, settings.gold_dsn, copy=write == "copy")
    timings["write_s"] = time.monotonic() - t
    return {"rows": rows, "timings": {k: round(x, 2) for k, x in timings.items()}}


def read_sources(source_dsn: str) -> dict[str, pd.DataFrame]:
    import pandas as pd
    from sqlalchemy import create_engine

    src = create_engine(_psycopg2_url(source_dsn))
    frames = {}
    for table in SOURCE_TABLES:
        t1 = time.monotonic()
        frames[table] = pd.read_sql(f"SELECT * FROM public.{table}", src)
        print(f"read {table}: {len(frames[table]):,} rows in {time.monotonic() - t1:.1f}s",
              flush=True)  # fmt: skip
    src.dispose()
    return frames


def write_gold(gold: dict[str, pd.DataFrame], gold_dsn: str, *, copy: bool = False) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    dst = create_engine(_psycopg2_url(gold_dsn))
    with dst.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCRATCH_SCHEMA}"))
    rows = {}
    for name, df in gold.items():
        t1 = time.monotonic()
        if copy:
            df.head(0).to_sql(name, dst, schema=SCRATCH_SCHEMA, if_exists="replace", index=False)
            _copy_frame(df, gold_dsn, name)
        else:
            df.to_sql(name, dst, schema=SCRATCH_SCHEMA, if_exists="replace", index=False)
        rows[name] = len(df)
        how = "COPY" if copy else "to_sql"
        print(f"{how} {name}: {len(df):,} rows in {time.monotonic() - t1:.1f}s", flush=True)
    dst.dispose()
    return rows


def _copy_frame(df: pd.DataFrame, gold_dsn: str, name: str) -> None:
    """COPY ``df`` into the (empty) scratch table ``name``, as CSV built in memory."""
    import io

    import psycopg2

    buf = io.StringIO()
    df.to_csv(buf, index=False, header=False)
    buf.seek(0)
    cols = ", ".join('"' + str(c).replace('"', '""') + '"' for c in df.columns)
    conn = psycopg2.connect(gold_dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.copy_expert(f'COPY {SCRATCH_SCHEMA}."{name}" ({cols}) FROM STDIN WITH (FORMAT csv)',
                            buf)  # fmt: skip
    finally:
        conn.close()


@dataclass
class Silver:
    """The source frames after the contract's silver rules."""

    cust: pd.DataFrame
    prod: pd.DataFrame
    camp: pd.DataFrame
    tx: pd.DataFrame
    o: pd.DataFrame  # orders with a valid status
    v: pd.DataFrame  # ... and not cancelled
    i_o: pd.DataFrame  # valid items of the orders in o
    iv: pd.DataFrame  # valid items of the orders in v, with customer and sale date


def transform(frames: dict[str, pd.DataFrame], as_of: date) -> dict[str, pd.DataFrame]:
    """The six aggregate gold tables from the whole source tables (``frames`` is changed)."""
    s = silver(frames)
    return {
        "dim_customers": dim_customers(s),
        "dim_products": dim_products(s),
        "fact_daily_sales": fact_daily_sales(s),
        "fact_customer_orders": fact_customer_orders(s),
        "agg_campaign_performance": agg_campaign_performance(s),
        "agg_inventory_status": agg_inventory_status(s, as_of),
    }


def silver(frames: dict[str, pd.DataFrame]) -> Silver:
    cust, prod = frames["customers"], frames["products"]
    camp, orders = frames["marketing_campaigns"], frames["orders"]
    items, tx = frames["order_items"], frames["inventory_transactions"]
    # silver rules (contract section 2): normalisation ...
    cust["email"] = cust["email"].str.strip().str.lower()
    for col in ("first_name", "last_name"):
        cust[col] = cust[col].str.strip()
    prod["sku"] = prod["sku"].str.strip().str.upper()
    prod["category"] = prod["category"].str.strip()
    orders["order_status"] = orders["order_status"].str.strip()
    tx["transaction_type"] = tx["transaction_type"].str.strip()
    camp["channel"] = camp["channel"].str.strip()
    # ... and quarantine
    o = orders[orders["order_status"].isin(
        ["Pending", "Processing", "Shipped", "Delivered", "Cancelled"])]  # fmt: skip
    v = o[o["order_status"] != "Cancelled"]
    items = items[~((items["quantity"] <= 0) | (items["unit_price"] < 0))].copy()
    items["line"] = items["quantity"] * items["unit_price"]
    i_o = items[items["order_id"].isin(o["order_id"])]
    iv = items.merge(v[["order_id", "customer_id", "order_date"]], on="order_id", how="inner")
    iv["sale_date"] = iv["order_date"].dt.normalize()
    tx = tx[tx["transaction_type"].isin(["IN", "OUT", "ADJUSTMENT"])]
    camp = camp[~(camp["budget"] < 0)]
    return Silver(cust=cust, prod=prod, camp=camp, tx=tx, o=o, v=v, i_o=i_o, iv=iv)


def dim_customers(s: Silver) -> pd.DataFrame:
    g = s.v.groupby("customer_id").agg(
        total_orders=("order_id", "size"),
        lifetime_value=("total_amount", "sum"),
        first_order_date=("order_date", "min"),
        last_order_date=("order_date", "max"),
    )
    dc = s.cust.drop(columns=["updated_at"]).merge(g, on="customer_id", how="left")
    dc["total_orders"] = dc["total_orders"].fillna(0).astype("int64")
    dc["lifetime_value"] = dc["lifetime_value"].fillna(0.0)
    dc["avg_order_value"] = _round_half_away(
        dc["lifetime_value"] / dc["total_orders"].where(dc["total_orders"] > 0), 2
    )
    for col in ("first_order_date", "last_order_date"):
        dc[col] = dc[col].dt.date
    return dc[
        ["customer_id", "email", "first_name", "last_name", "customer_segment", "loyalty_tier",
         "registration_date", "total_orders", "lifetime_value", "avg_order_value",
         "first_order_date", "last_order_date"]
    ]  # fmt: skip


def dim_products(s: Silver) -> pd.DataFrame:
    g = s.iv.groupby("product_id").agg(
        units_sold=("quantity", "sum"), revenue=("line", "sum"), order_count=("order_id", "nunique")
    )
    dp = s.prod.drop(columns=["updated_at"]).merge(g, on="product_id", how="left")
    dp["units_sold"] = dp["units_sold"].fillna(0).astype("int64")
    dp["revenue"] = dp["revenue"].fillna(0.0)
    dp["order_count"] = dp["order_count"].fillna(0).astype("int64")
    return dp


def fact_daily_sales(s: Silver) -> pd.DataFrame:
    fs = s.iv.merge(s.prod[["product_id", "category"]], on="product_id", how="left", indicator=True)
    fs["category"] = fs["category"].where(fs["_merge"] == "both", "Unknown")
    fd = (
        fs.groupby(["sale_date", "category"], dropna=False)
        .agg(
            order_count=("order_id", "nunique"),
            units_sold=("quantity", "sum"),
            revenue=("line", "sum"),
            customer_count=("customer_id", "nunique"),
        )
        .reset_index()
    )
    fd["sale_date"] = fd["sale_date"].dt.date
    return fd


def fact_customer_orders(s: Silver) -> pd.DataFrame:
    g = s.i_o.groupby("order_id").agg(
        item_count=("order_item_id", "size"), units=("quantity", "sum"), items_total=("line", "sum")
    )
    fo = s.o.drop(columns=["updated_at"]).merge(g, on="order_id", how="left")
    fo["item_count"] = fo["item_count"].fillna(0).astype("int64")
    fo["units"] = fo["units"].fillna(0).astype("int64")
    fo["items_total"] = fo["items_total"].fillna(0.0)
    fo["is_cancelled"] = fo["order_status"] == "Cancelled"
    return fo


def agg_campaign_performance(s: Silver) -> pd.DataFrame:
    v = s.v
    g = (
        v[v["campaign_id"].notna()]
        .groupby("campaign_id")
        .agg(
            attributed_orders=("order_id", "size"),
            attributed_revenue=("total_amount", "sum"),
            attributed_customers=("customer_id", "nunique"),
        )
    )
    g.index = g.index.astype("int64")
    ac = s.camp.merge(g, on="campaign_id", how="left")
    for col in ("attributed_orders", "attributed_customers"):
        ac[col] = ac[col].fillna(0).astype("int64")
    ac["attributed_revenue"] = ac["attributed_revenue"].fillna(0.0)
    ac["cost_per_acquisition"] = _round_half_away(
        ac["budget"] / ac["attributed_customers"].where(ac["attributed_customers"] > 0), 2
    )
    ac["revenue_to_budget"] = _round_half_away(
        ac["attributed_revenue"] / ac["budget"].where(ac["budget"] != 0), 4
    )
    return ac


def agg_inventory_status(s: Silver, as_of: date) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    tx, iv = s.tx, s.iv
    q, kind = tx["quantity"], tx["transaction_type"]
    t_agg = (
        tx.assign(
            total_in=q.where(kind == "IN"),
            total_out=q.where(kind == "OUT"),
            total_adjustment=q.where(kind == "ADJUSTMENT"),
        )
        .groupby("product_id")
        .agg(
            total_in=("total_in", "sum"),
            total_out=("total_out", "sum"),
            total_adjustment=("total_adjustment", "sum"),
            transaction_count=("transaction_id", "size"),
            last_transaction_at=("transaction_date", "max"),
        )
    )
    lo, hi = pd.Timestamp(as_of - timedelta(days=29)), pd.Timestamp(as_of)
    s30 = (
        iv[(iv["sale_date"] >= lo) & (iv["sale_date"] <= hi)]
        .groupby("product_id")["quantity"]
        .sum()
        .rename("units_sold_30d")
    )
    ai = (
        s.prod[["product_id", "sku", "category", "stock_quantity"]]
        .merge(t_agg, on="product_id", how="left")
        .merge(s30, on="product_id", how="left")
    )
    for col in ("total_in", "total_out", "total_adjustment", "transaction_count",
                "units_sold_30d"):  # fmt: skip
        ai[col] = ai[col].fillna(0).astype("int64")
    ai["days_of_cover"] = _round_half_away(
        ai["stock_quantity"] * 30.0 / ai["units_sold_30d"].where(ai["units_sold_30d"] != 0), 1
    )
    dcov = ai["days_of_cover"]
    ai["stock_status"] = np.select(
        [ai["stock_quantity"] <= 0, dcov.isna(), dcov < 7, dcov > 180],
        ["OUT_OF_STOCK", "NO_DEMAND", "LOW", "OVERSTOCK"],
        default="OK",
    )
    return ai


def compare_with_gold(gold_dsn: str) -> dict[str, Any]:
    """Row counts and one total per table: public (the rebuild) vs bench_pandas (baseline)."""
    import psycopg2

    conn = psycopg2.connect(gold_dsn)
    out: dict[str, Any] = {}
    try:
        with conn.cursor() as cur:
            for table, col in CHECK_TOTALS.items():
                row = []
                for schema in ("public", SCRATCH_SCHEMA):
                    cur.execute(f"SELECT count(*), sum({col})::float8 FROM {schema}.{table}")
                    r = cur.fetchone()
                    row.append((int(r[0]), float(r[1] or 0)) if r else (0, 0.0))
                (n_g, s_g), (n_p, s_p) = row
                out[table] = {
                    "rows_rebuild": n_g,
                    "rows_pandas": n_p,
                    f"sum_{col}_rebuild": round(s_g, 2),
                    f"sum_{col}_pandas": round(s_p, 2),
                    "rows_equal": n_g == n_p,
                    "sum_rel_diff": float(f"{abs(s_g - s_p) / abs(s_g) if s_g else abs(s_p):.2g}"),
                }
        cur_status = conn.cursor()
        cur_status.execute(
            f"SELECT count(*) FROM public.agg_inventory_status g "
            f"JOIN {SCRATCH_SCHEMA}.agg_inventory_status p USING (product_id) "
            f"WHERE g.stock_status IS DISTINCT FROM p.stock_status"
        )
        r = cur_status.fetchone()
        out["agg_inventory_status"]["stock_status_differs"] = int(r[0]) if r else None
    finally:
        conn.close()
    return out


def drop_scratch(gold_dsn: str) -> None:
    import psycopg2

    conn = psycopg2.connect(gold_dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE")
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--as-of", type=date.fromisoformat, required=True)
    ap.add_argument("--write", choices=("to_sql", "copy"), default="to_sql",
                    help="how the gold frames reach PostgreSQL (default to_sql)")  # fmt: skip
    args = ap.parse_args(argv)
    result = pandas_baseline(args.as_of, args.write)
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
