-- dim_products: one row per current product; its sales over IV (items of valid orders)
-- come from product_sales.
SELECT p.product_id,
       p.product_name,
       p.sku,
       p.category,
       p.price,
       p.stock_quantity,
       CAST(coalesce(s.units_sold, 0) AS BIGINT) AS units_sold,
       CAST(coalesce(s.revenue, 0) AS DECIMAL(38, 2)) AS revenue,
       CAST(coalesce(s.order_count, 0) AS BIGINT) AS order_count
FROM cur_products AS p
LEFT JOIN product_sales AS s ON s.product_id = p.product_id
