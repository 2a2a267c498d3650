-- PostgreSQL (ecommerce_source): per-day units and item revenue over IV (valid items of
-- valid, non-cancelled orders).
SELECT o.order_date::date AS day, sum(i.quantity) AS units, sum(i.quantity * i.unit_price) AS revenue
FROM public.order_items AS i
JOIN public.orders AS o ON o.order_id = i.order_id
WHERE trim(o.order_status) IN ('Pending', 'Processing', 'Shipped', 'Delivered')
  AND (i.quantity IS NULL OR i.quantity > 0)
  AND (i.unit_price IS NULL OR i.unit_price >= 0)
GROUP BY 1
