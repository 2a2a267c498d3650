-- fact_customer_orders: one row per order in O, with its items in I.
CREATE TABLE {s}.fact_customer_orders AS
WITH i AS (
    SELECT order_id,
           count(*) AS item_count,
           sum(quantity) AS units,
           sum(quantity * unit_price) AS items_total
    FROM {s}.cur_order_items
    GROUP BY order_id
)
SELECT o.order_id, o.customer_id, o.order_date, o.order_status, o.campaign_id, o.total_amount,
       coalesce(i.item_count, 0) AS item_count,
       coalesce(i.units, 0) AS units,
       coalesce(i.items_total, 0) AS items_total,
       (o.order_status = 'Cancelled') AS is_cancelled
FROM {s}.cur_orders AS o
LEFT JOIN i ON i.order_id = o.order_id;
ALTER TABLE {s}.fact_customer_orders ADD PRIMARY KEY (order_id);
CREATE INDEX ON {s}.fact_customer_orders (customer_id);
