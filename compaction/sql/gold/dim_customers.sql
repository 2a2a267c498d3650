-- dim_customers: one row per current customer (data contract, section 3).
-- V: current, non-quarantined orders whose status is not Cancelled.
-- avg_order_value = round(lifetime_value / total_orders, 2), half away from zero, done in
-- integer cents: q = (2|x| + |y|) div 2|y|, negated when x and y differ in sign.
WITH v AS (
    SELECT customer_id,
           count(*) AS total_orders,
           coalesce(sum(total_amount), 0) AS lifetime_value,
           min(CAST(order_date AS DATE)) AS first_order_date,
           max(CAST(order_date AS DATE)) AS last_order_date
    FROM cur_orders
    WHERE order_status <> 'Cancelled'
    GROUP BY customer_id
),
a AS (
    SELECT customer_id, total_orders, lifetime_value, first_order_date, last_order_date,
           CAST(lifetime_value * 100 AS BIGINT) AS x,
           CAST(total_orders AS BIGINT) AS y
    FROM v
)
SELECT c.customer_id,
       c.email,
       c.first_name,
       c.last_name,
       c.customer_segment,
       c.loyalty_tier,
       c.registration_date,
       CAST(coalesce(a.total_orders, 0) AS BIGINT) AS total_orders,
       CAST(coalesce(a.lifetime_value, 0) AS DECIMAL(38, 2)) AS lifetime_value,
       CAST(CAST(CASE WHEN (a.x < 0) <> (a.y < 0) THEN -1 ELSE 1 END
                 * ((2 * abs(a.x) + abs(a.y)) // (2 * abs(a.y))) AS DECIMAL(38, 0))
            * CAST(0.01 AS DECIMAL(3, 2)) AS DECIMAL(38, 2)) AS avg_order_value,
       a.first_order_date,
       a.last_order_date
FROM cur_customers AS c
LEFT JOIN a ON a.customer_id = c.customer_id
