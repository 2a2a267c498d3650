-- fact_daily_sales: one row per (sale_date, category) over IV; 'Unknown' when the
-- product is gone.
-- The distinct counts group every item by (day, category, order) and (day, category,
-- customer); grouping by a category number instead of its text makes them cheaper. A
-- product whose category is 'Unknown' shares that number with the products gone.
WITH categories AS (
    SELECT category, row_number() OVER (ORDER BY category) AS category_no
    FROM (SELECT category FROM cur_products UNION SELECT 'Unknown' AS category) AS c
),
unknown AS (
    SELECT category_no FROM categories WHERE category = 'Unknown'
),
product_category AS (
    SELECT p.product_id, c.category_no
    FROM cur_products AS p
    JOIN categories AS c ON c.category IS NOT DISTINCT FROM p.category
),
iv AS (
    SELECT CAST(o.order_date AS DATE) AS sale_date,
           coalesce(pc.category_no, u.category_no) AS category_no,
           o.order_id,
           o.customer_id,
           i.quantity,
           i.quantity * i.unit_price AS line_total
    FROM cur_order_items AS i
    JOIN cur_orders AS o ON o.order_id = i.order_id
    LEFT JOIN product_category AS pc ON pc.product_id = i.product_id
    CROSS JOIN unknown AS u
    WHERE o.order_status <> 'Cancelled'
),
daily AS (
    SELECT sale_date,
           category_no,
           count(DISTINCT order_id) AS order_count,
           sum(quantity) AS units_sold,
           sum(line_total) AS revenue,
           count(DISTINCT customer_id) AS customer_count
    FROM iv
    GROUP BY sale_date, category_no
)
SELECT d.sale_date,
       c.category,
       CAST(d.order_count AS BIGINT) AS order_count,
       CAST(d.units_sold AS BIGINT) AS units_sold,
       CAST(d.revenue AS DECIMAL(38, 2)) AS revenue,
       CAST(d.customer_count AS BIGINT) AS customer_count
FROM daily AS d
JOIN categories AS c ON c.category_no = d.category_no
