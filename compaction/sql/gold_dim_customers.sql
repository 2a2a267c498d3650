-- dim_customers: one row per current customer (contract section 3).
-- V = current, non-quarantined orders whose status is not Cancelled.
CREATE TABLE {s}.dim_customers AS
WITH v AS (
    SELECT customer_id,
           count(*) AS total_orders,
           coalesce(sum(total_amount), 0) AS lifetime_value,
           min(order_date)::date AS first_order_date,
           max(order_date)::date AS last_order_date
    FROM {s}.cur_orders
    WHERE order_status <> 'Cancelled'
    GROUP BY customer_id
)
SELECT c.customer_id, c.email, c.first_name, c.last_name, c.customer_segment,
       c.loyalty_tier, c.registration_date,
       coalesce(v.total_orders, 0) AS total_orders,
       coalesce(v.lifetime_value, 0) AS lifetime_value,
       round(v.lifetime_value / v.total_orders, 2) AS avg_order_value,
       v.first_order_date,
       v.last_order_date
FROM {s}.cur_customers AS c
LEFT JOIN v ON v.customer_id = c.customer_id;
ALTER TABLE {s}.dim_customers ADD PRIMARY KEY (customer_id);
