-- PostgreSQL (ecommerce_gold): per-day units and item revenue from fact_daily_sales.
SELECT sale_date AS day, sum(units_sold) AS units, sum(revenue) AS revenue
FROM public.fact_daily_sales
GROUP BY 1
