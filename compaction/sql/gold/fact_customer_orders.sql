-- fact_customer_orders: one row per order in O, with its items in I.
WITH i AS (
    SELECT order_id,
           count(*) AS item_count,
           sum(quantity) AS units,
           sum(quantity * unit_price) AS items_total
    FROM cur_order_items
    GROUP BY order_id
)
SELECT o.order_id,
       o.customer_id,
       o.order_date,
       o.order_status,
       o.campaign_id,
       o.total_amount,
       CAST(coalesce(i.item_count, 0) AS BIGINT) AS item_count,
       CAST(coalesce(i.units, 0) AS BIGINT) AS units,
       CAST(coalesce(i.items_total, 0) AS DECIMAL(38, 2)) AS items_total,
       o.order_status = 'Cancelled' AS is_cancelled
FROM cur_orders AS o
LEFT JOIN i ON i.order_id = o.order_id
