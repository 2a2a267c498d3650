-- PostgreSQL (ecommerce_source): per-day count and revenue of V (valid, non-cancelled
-- orders), with the contract's normalisation and quarantine rules applied.
SELECT order_date::date AS day, count(*) AS orders, coalesce(sum(total_amount), 0) AS revenue
FROM public.orders
WHERE trim(order_status) IN ('Pending', 'Processing', 'Shipped', 'Delivered')
GROUP BY 1
