-- product_sales: each product's sales over IV (items of valid orders), the part of
-- dim_products that reads order items. Kept with the local state by incremental builds,
-- which add each changed order's new contribution and take away its old one instead of
-- aggregating every item again, so the sums are kept with NULLs as 0 (a sum over no
-- values is NULL, and NULL minus a contribution would lose the rest).
-- order_count = count(DISTINCT order_id), computed as the number of (product, order)
-- groups: a distinct aggregate would hash every item a second time.
WITH per_order AS (
    SELECT i.product_id,
           sum(i.quantity) AS units_sold,
           sum(i.quantity * i.unit_price) AS revenue
    FROM cur_order_items AS i
    JOIN cur_orders AS o ON o.order_id = i.order_id
    WHERE o.order_status <> 'Cancelled' AND i.product_id IS NOT NULL
    GROUP BY i.product_id, i.order_id
)
SELECT product_id,
       CAST(coalesce(sum(units_sold), 0) AS BIGINT) AS units_sold,
       CAST(coalesce(sum(revenue), 0) AS DECIMAL(38, 2)) AS revenue,
       CAST(count(*) AS BIGINT) AS order_count
FROM per_order
GROUP BY product_id
