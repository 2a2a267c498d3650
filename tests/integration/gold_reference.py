"""The data contract's gold tables (section 3) computed directly on the SOURCE database.

Written independently of ``compaction/sql`` (correlated subqueries where the build
uses joins) so that the integration test compares two formulations. The contract's
silver rules (section 2) are applied in SQL: normalised values, quarantined row
versions left out.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg2

#: The contract's sets on the source: normalised, non-quarantined current rows.
SETS = """
WITH c AS (
    SELECT customer_id, lower(trim(email)) AS email, trim(first_name) AS first_name,
           trim(last_name) AS last_name, customer_segment, loyalty_tier, registration_date
    FROM public.customers
), p AS (
    SELECT product_id, product_name, upper(trim(sku)) AS sku, trim(category) AS category,
           price, stock_quantity
    FROM public.products
), o AS (
    SELECT order_id, customer_id, order_date, trim(order_status) AS order_status,
           total_amount, campaign_id
    FROM public.orders
    WHERE trim(order_status) IN ('Pending', 'Processing', 'Shipped', 'Delivered', 'Cancelled')
), v AS (
    SELECT * FROM o WHERE order_status <> 'Cancelled'
), i AS (
    SELECT order_item_id, order_id, product_id, quantity, unit_price
    FROM public.order_items
    WHERE NOT (quantity IS NOT NULL AND quantity <= 0)
      AND NOT (unit_price IS NOT NULL AND unit_price < 0)
      AND order_id IN (SELECT order_id FROM o)
), iv AS (
    SELECT i.*, v.order_date, v.customer_id FROM i JOIN v USING (order_id)
), mc AS (
    SELECT campaign_id, campaign_name, trim(channel) AS channel, budget, roi, start_date, end_date
    FROM public.marketing_campaigns
    WHERE NOT (budget IS NOT NULL AND budget < 0)
), tx AS (
    SELECT product_id, trim(transaction_type) AS transaction_type, quantity, transaction_date
    FROM public.inventory_transactions
    WHERE trim(transaction_type) IN ('IN', 'OUT', 'ADJUSTMENT')
)
"""

REFERENCE: dict[str, str] = {
    "dim_customers": """
        SELECT c.customer_id, c.email, c.first_name, c.last_name, c.customer_segment,
               c.loyalty_tier, c.registration_date,
               (SELECT count(*) FROM v WHERE v.customer_id = c.customer_id),
               (SELECT coalesce(sum(total_amount), 0) FROM v WHERE v.customer_id = c.customer_id),
               (SELECT round(coalesce(sum(total_amount), 0) / count(*), 2) FROM v
                 WHERE v.customer_id = c.customer_id HAVING count(*) > 0),
               (SELECT min(order_date::date) FROM v WHERE v.customer_id = c.customer_id),
               (SELECT max(order_date::date) FROM v WHERE v.customer_id = c.customer_id)
        FROM c""",
    "dim_products": """
        SELECT p.product_id, p.product_name, p.sku, p.category, p.price, p.stock_quantity,
               (SELECT coalesce(sum(quantity), 0) FROM iv WHERE iv.product_id = p.product_id),
               (SELECT coalesce(sum(quantity * unit_price), 0) FROM iv
                 WHERE iv.product_id = p.product_id),
               (SELECT count(DISTINCT order_id) FROM iv WHERE iv.product_id = p.product_id)
        FROM p""",
    "fact_daily_sales": """
        SELECT iv.order_date::date,
               coalesce((SELECT p.category FROM p WHERE p.product_id = iv.product_id),
                        CASE WHEN EXISTS (SELECT 1 FROM p WHERE p.product_id = iv.product_id)
                             THEN NULL ELSE 'Unknown' END) AS category,
               count(DISTINCT iv.order_id), sum(iv.quantity), sum(iv.quantity * iv.unit_price),
               count(DISTINCT iv.customer_id)
        FROM iv GROUP BY 1, 2""",
    "fact_customer_orders": """
        SELECT o.order_id, o.customer_id, o.order_date, o.order_status, o.campaign_id,
               o.total_amount,
               (SELECT count(*) FROM i WHERE i.order_id = o.order_id),
               (SELECT coalesce(sum(quantity), 0) FROM i WHERE i.order_id = o.order_id),
               (SELECT coalesce(sum(quantity * unit_price), 0) FROM i WHERE i.order_id = o.order_id),
               o.order_status = 'Cancelled'
        FROM o""",
    "agg_campaign_performance": """
        SELECT mc.campaign_id, mc.campaign_name, mc.channel, mc.budget, mc.roi, mc.start_date,
               mc.end_date, a.n, a.revenue, a.customers,
               CASE WHEN a.customers = 0 THEN NULL ELSE round(mc.budget / a.customers, 2) END,
               CASE WHEN mc.budget = 0 THEN NULL ELSE round(a.revenue / mc.budget, 4) END
        FROM mc CROSS JOIN LATERAL (
            SELECT count(*) AS n, coalesce(sum(total_amount), 0) AS revenue,
                   count(DISTINCT customer_id) AS customers
            FROM v WHERE v.campaign_id = mc.campaign_id) AS a""",
    "agg_inventory_status": """
        SELECT x.*,
               CASE WHEN x.stock_quantity <= 0 THEN 'OUT_OF_STOCK'
                    WHEN x.days_of_cover IS NULL THEN 'NO_DEMAND'
                    WHEN x.days_of_cover < 7 THEN 'LOW'
                    WHEN x.days_of_cover > 180 THEN 'OVERSTOCK'
                    ELSE 'OK' END
        FROM (
            SELECT p.product_id, p.sku, p.category, p.stock_quantity,
                   (SELECT coalesce(sum(quantity), 0) FROM tx
                     WHERE tx.product_id = p.product_id AND transaction_type = 'IN'),
                   (SELECT coalesce(sum(quantity), 0) FROM tx
                     WHERE tx.product_id = p.product_id AND transaction_type = 'OUT'),
                   (SELECT coalesce(sum(quantity), 0) FROM tx
                     WHERE tx.product_id = p.product_id AND transaction_type = 'ADJUSTMENT'),
                   (SELECT count(*) FROM tx WHERE tx.product_id = p.product_id),
                   (SELECT max(transaction_date) FROM tx WHERE tx.product_id = p.product_id),
                   s.units AS units_sold_30d,
                   CASE WHEN s.units = 0 THEN NULL
                        ELSE round(p.stock_quantity * 30.0 / s.units, 1) END AS days_of_cover
            FROM p CROSS JOIN LATERAL (
                SELECT coalesce(sum(quantity), 0) AS units FROM iv
                WHERE iv.product_id = p.product_id
                  AND iv.order_date::date BETWEEN %(as_of)s::date - 29 AND %(as_of)s::date
            ) AS s
        ) AS x""",
}

#: Gold columns in the order the reference queries return them, and each table's key.
COLUMNS: dict[str, tuple[str, ...]] = {
    "dim_customers": (
        "customer_id", "email", "first_name", "last_name", "customer_segment", "loyalty_tier",
        "registration_date", "total_orders", "lifetime_value", "avg_order_value",
        "first_order_date", "last_order_date",
    ),
    "dim_products": (
        "product_id", "product_name", "sku", "category", "price", "stock_quantity",
        "units_sold", "revenue", "order_count",
    ),
    "fact_daily_sales": (
        "sale_date", "category", "order_count", "units_sold", "revenue", "customer_count",
    ),
    "fact_customer_orders": (
        "order_id", "customer_id", "order_date", "order_status", "campaign_id", "total_amount",
        "item_count", "units", "items_total", "is_cancelled",
    ),
    "agg_campaign_performance": (
        "campaign_id", "campaign_name", "channel", "budget", "roi", "start_date", "end_date",
        "attributed_orders", "attributed_revenue", "attributed_customers",
        "cost_per_acquisition", "revenue_to_budget",
    ),
    "agg_inventory_status": (
        "product_id", "sku", "category", "stock_quantity", "total_in", "total_out",
        "total_adjustment", "transaction_count", "last_transaction_at", "units_sold_30d",
        "days_of_cover", "stock_status",
    ),
}  # fmt: skip


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, v if v is not None else 0) for v in row)


def _fetch(dsn: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(dsn, options="-c timezone=UTC")
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params or {})
            return sorted((tuple(r) for r in cur.fetchall()), key=_sort_key)
    finally:
        conn.close()


def reference(source_dsn: str, table: str, as_of: date) -> list[tuple[Any, ...]]:
    """The contract's ``table`` computed on the source, sorted."""
    return _fetch(source_dsn, SETS + REFERENCE[table], {"as_of": as_of})


def gold(gold_dsn: str, table: str) -> list[tuple[Any, ...]]:
    """The gold ``table``'s reference columns, sorted."""
    return _fetch(gold_dsn, f"SELECT {', '.join(COLUMNS[table])} FROM public.{table}")


def fingerprint(gold_dsn: str, tables: tuple[str, ...]) -> dict[str, str]:
    """md5 of each gold table's full content (order-independent)."""
    out = {}
    for table in tables:
        rows = _fetch(
            gold_dsn, f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
            f"FROM public.{table} AS t",
        )  # fmt: skip
        out[table] = rows[0][0]
    return out
