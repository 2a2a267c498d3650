-- dim_products: one row per current product; sales over IV (items of valid orders).
WITH iv AS (
    SELECT i.product_id,
           sum(i.quantity) AS units_sold,
           sum(i.quantity * i.unit_price) AS revenue,
           count(DISTINCT i.order_id) AS order_count
    FROM cur_order_items AS i
    JOIN cur_orders AS o ON o.order_id = i.order_id
    WHERE o.order_status <> 'Cancelled'
    GROUP BY i.product_id
)
SELECT p.product_id,
       p.product_name,
       p.sku,
       p.category,
       p.price,
       p.stock_quantity,
       CAST(coalesce(iv.units_sold, 0) AS BIGINT) AS units_sold,
       CAST(coalesce(iv.revenue, 0) AS DECIMAL(38, 2)) AS revenue,
       CAST(coalesce(iv.order_count, 0) AS BIGINT) AS order_count
FROM cur_products AS p
LEFT JOIN iv ON iv.product_id = p.product_id
