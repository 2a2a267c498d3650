-- PostgreSQL (ecommerce_gold): per-day count and revenue of V from fact_customer_orders.
SELECT order_date::date AS day, count(*) AS orders, coalesce(sum(total_amount), 0) AS revenue
FROM public.fact_customer_orders
WHERE NOT is_cancelled
GROUP BY 1
