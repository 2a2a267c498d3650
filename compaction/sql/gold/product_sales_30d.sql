-- product_sales_30d: units each product sold over IV in the 30 days up to D
-- (build_params.as_of), the part of agg_inventory_status that reads order items; only
-- products with a non-zero sum. Kept with the local state by incremental builds, which
-- add each changed order's new units and take away its old ones while D stays.
SELECT i.product_id, CAST(sum(i.quantity) AS BIGINT) AS units_sold_30d
FROM cur_order_items AS i
JOIN cur_orders AS o ON o.order_id = i.order_id
CROSS JOIN build_params AS d
WHERE o.order_status <> 'Cancelled'
  AND CAST(o.order_date AS DATE) BETWEEN d.as_of - 29 AND d.as_of
  AND i.product_id IS NOT NULL
GROUP BY i.product_id
HAVING sum(i.quantity) <> 0
