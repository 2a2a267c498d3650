-- agg_inventory_status: one row per current product. D = build_params.as_of.
-- days_of_cover = round(stock_quantity * 30.0 / units_sold_30d, 1), half away from zero,
-- in integer tenths: x = stock_quantity * 300, q = (2|x| + |y|) div 2|y|, negated when x
-- and y differ in sign. The transactions' totals and the units sold in the 30 days come
-- from inventory_totals and product_sales_30d.
WITH base AS (
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
    LEFT JOIN inventory_totals AS t ON t.product_id = p.product_id
    LEFT JOIN product_sales_30d AS s30 ON s30.product_id = p.product_id
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
