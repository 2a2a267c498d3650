-- agg_inventory_status: one row per current product. D = build_params.as_of.
-- days_of_cover = round(stock_quantity * 30.0 / units_sold_30d, 1), half away from zero,
-- in integer tenths: x = stock_quantity * 300, q = (2|x| + |y|) div 2|y|, negated when x
-- and y differ in sign.
WITH t AS (
    SELECT product_id,
           sum(CASE WHEN transaction_type = 'IN' THEN quantity END) AS total_in,
           sum(CASE WHEN transaction_type = 'OUT' THEN quantity END) AS total_out,
           sum(CASE WHEN transaction_type = 'ADJUSTMENT' THEN quantity END) AS total_adjustment,
           count(*) AS transaction_count,
           max(transaction_date) AS last_transaction_at
    FROM cur_inventory_transactions
    GROUP BY product_id
),
s30 AS (
    SELECT i.product_id, sum(i.quantity) AS units_sold_30d
    FROM cur_order_items AS i
    JOIN cur_orders AS o ON o.order_id = i.order_id
    CROSS JOIN build_params AS d
    WHERE o.order_status <> 'Cancelled'
      AND CAST(o.order_date AS DATE) BETWEEN d.as_of - 29 AND d.as_of
    GROUP BY i.product_id
),
base AS (
    SELECT p.product_id,
           p.sku,
           p.category,
           p.stock_quantity,
           CAST(coalesce(t.total_in, 0) AS BIGINT) AS total_in,
           CAST(coalesce(t.total_out, 0) AS BIGINT) AS total_out,
           CAST(coalesce(t.total_adjustment, 0) AS BIGINT) AS total_adjustment,
           CAST(coalesce(t.transaction_count, 0) AS BIGINT) AS transaction_count,
           t.last_transaction_at,
           CAST(coalesce(s30.units_sold_30d, 0) AS BIGINT) AS units_sold_30d,
           CAST(p.stock_quantity AS BIGINT) * 300 AS x,
           CAST(s30.units_sold_30d AS BIGINT) AS y
    FROM cur_products AS p
    LEFT JOIN t ON t.product_id = p.product_id
    LEFT JOIN s30 ON s30.product_id = p.product_id
),
cover AS (
    SELECT base.*,
           CASE WHEN units_sold_30d = 0 THEN NULL
                ELSE CAST(CAST(CASE WHEN (x < 0) <> (y < 0) THEN -1 ELSE 1 END
                               * ((2 * abs(x) + abs(y)) // (2 * abs(y))) AS DECIMAL(38, 0))
                          * CAST(0.1 AS DECIMAL(2, 1)) AS DECIMAL(38, 1))
           END AS days_of_cover
    FROM base
)
SELECT product_id,
       sku,
       category,
       stock_quantity,
       total_in,
       total_out,
       total_adjustment,
       transaction_count,
       last_transaction_at,
       units_sold_30d,
       days_of_cover,
       CASE WHEN stock_quantity <= 0 THEN 'OUT_OF_STOCK'
            WHEN days_of_cover IS NULL THEN 'NO_DEMAND'
            WHEN days_of_cover < 7 THEN 'LOW'
            WHEN days_of_cover > 180 THEN 'OVERSTOCK'
            ELSE 'OK' END AS stock_status
FROM cover
