-- dim_products: one row per current product; sales over IV (items of valid orders).
-- order_count = count(DISTINCT order_id), computed as the number of (product, order)
-- groups: a distinct aggregate would hash every item a second time.
WITH per_order AS (
    SELECT i.product_id,
           sum(i.quantity) AS units_sold,
           sum(i.quantity * i.unit_price) AS revenue
    FROM cur_order_items AS i
    JOIN cur_orders AS o ON o.order_id = i.order_id
    WHERE o.order_status <> 'Cancelled'
    GROUP BY i.product_id, i.order_id
),
iv AS (
    SELECT product_id,
           sum(units_sold) AS units_sold,
           sum(revenue) AS revenue,
           count(*) AS order_count
    FROM per_order
    GROUP BY product_id
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
