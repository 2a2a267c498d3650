-- dim_products: one row per current product; sales over IV (items of valid orders).
CREATE TABLE {s}.dim_products AS
WITH iv AS (
    SELECT i.product_id,
           sum(i.quantity) AS units_sold,
           sum(i.quantity * i.unit_price) AS revenue,
           count(DISTINCT i.order_id) AS order_count
    FROM {s}.cur_order_items AS i
    JOIN {s}.cur_orders AS o ON o.order_id = i.order_id AND o.order_status <> 'Cancelled'
    GROUP BY i.product_id
)
SELECT p.product_id, p.product_name, p.sku, p.category, p.price, p.stock_quantity,
       coalesce(iv.units_sold, 0) AS units_sold,
       coalesce(iv.revenue, 0) AS revenue,
       coalesce(iv.order_count, 0) AS order_count
FROM {s}.cur_products AS p
LEFT JOIN iv ON iv.product_id = p.product_id;
ALTER TABLE {s}.dim_products ADD PRIMARY KEY (product_id);
