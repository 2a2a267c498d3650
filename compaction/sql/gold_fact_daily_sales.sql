-- fact_daily_sales: (sale_date, category) over IV; 'Unknown' when the product is gone.
CREATE TABLE {s}.fact_daily_sales AS
SELECT o.order_date::date AS sale_date,
       CASE WHEN p.product_id IS NULL THEN 'Unknown' ELSE p.category END AS category,
       count(DISTINCT o.order_id) AS order_count,
       sum(i.quantity) AS units_sold,
       sum(i.quantity * i.unit_price) AS revenue,
       count(DISTINCT o.customer_id) AS customer_count
FROM {s}.cur_order_items AS i
JOIN {s}.cur_orders AS o ON o.order_id = i.order_id AND o.order_status <> 'Cancelled'
LEFT JOIN {s}.cur_products AS p ON p.product_id = i.product_id
GROUP BY 1, 2;
CREATE INDEX ON {s}.fact_daily_sales (sale_date);
