-- agg_inventory_status: one row per current product. D = %(as_of)s (the as-of date).
CREATE TABLE {s}.agg_inventory_status AS
WITH t AS (
    SELECT product_id,
           sum(quantity) FILTER (WHERE transaction_type = 'IN') AS total_in,
           sum(quantity) FILTER (WHERE transaction_type = 'OUT') AS total_out,
           sum(quantity) FILTER (WHERE transaction_type = 'ADJUSTMENT') AS total_adjustment,
           count(*) AS transaction_count,
           max(transaction_date) AS last_transaction_at
    FROM {s}.cur_inventory_transactions
    GROUP BY product_id
),
s30 AS (
    SELECT i.product_id, sum(i.quantity) AS units_sold_30d
    FROM {s}.cur_order_items AS i
    JOIN {s}.cur_orders AS o ON o.order_id = i.order_id AND o.order_status <> 'Cancelled'
    WHERE o.order_date::date BETWEEN %(as_of)s::date - 29 AND %(as_of)s::date
    GROUP BY i.product_id
),
base AS (
    SELECT p.product_id, p.sku, p.category, p.stock_quantity,
           coalesce(t.total_in, 0) AS total_in,
           coalesce(t.total_out, 0) AS total_out,
           coalesce(t.total_adjustment, 0) AS total_adjustment,
           coalesce(t.transaction_count, 0) AS transaction_count,
           t.last_transaction_at,
           coalesce(s30.units_sold_30d, 0) AS units_sold_30d,
           CASE WHEN coalesce(s30.units_sold_30d, 0) = 0 THEN NULL
                ELSE round(p.stock_quantity * 30.0 / s30.units_sold_30d, 1) END AS days_of_cover
    FROM {s}.cur_products AS p
    LEFT JOIN t ON t.product_id = p.product_id
    LEFT JOIN s30 ON s30.product_id = p.product_id
)
SELECT base.*,
       CASE WHEN stock_quantity <= 0 THEN 'OUT_OF_STOCK'
            WHEN days_of_cover IS NULL THEN 'NO_DEMAND'
            WHEN days_of_cover < 7 THEN 'LOW'
            WHEN days_of_cover > 180 THEN 'OVERSTOCK'
            ELSE 'OK' END AS stock_status
FROM base;
ALTER TABLE {s}.agg_inventory_status ADD PRIMARY KEY (product_id);
