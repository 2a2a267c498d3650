-- fact_daily_sales: one row per (sale_date, category) over IV; 'Unknown' when the
-- product is gone.
WITH iv AS (
    SELECT CAST(o.order_date AS DATE) AS sale_date,
           CASE WHEN p.product_id IS NULL THEN 'Unknown' ELSE p.category END AS category,
           o.order_id,
           o.customer_id,
           i.quantity,
           i.quantity * i.unit_price AS line_total
    FROM cur_order_items AS i
    JOIN cur_orders AS o ON o.order_id = i.order_id
    LEFT JOIN cur_products AS p ON p.product_id = i.product_id
    WHERE o.order_status <> 'Cancelled'
)
SELECT sale_date,
       category,
       CAST(count(DISTINCT order_id) AS BIGINT) AS order_count,
       CAST(sum(quantity) AS BIGINT) AS units_sold,
       CAST(sum(line_total) AS DECIMAL(38, 2)) AS revenue,
       CAST(count(DISTINCT customer_id) AS BIGINT) AS customer_count
FROM iv
GROUP BY sale_date, category
