-- KPIs over the gold tables of ecommerce_gold (data contract, section 3).
--
-- Every query starts with two comment lines, which `compaction/kpis.py` parses:
--   -- name: <snake_case_name>
--   -- description: <one line>
-- and runs to the next `-- name:` line. `ecom kpi --list` lists them, `ecom kpi NAME`
-- runs one. Queries read public.* only and never write.
--
-- Conventions:
-- * Money stays exact NUMERIC end to end; round(x, 2) only for display
--   (PostgreSQL's round(numeric): half away from zero). Rates are round(x, 4) in [0, 1].
-- * "valid orders" are the contract's V: orders of fact_customer_orders that are not
--   cancelled. "revenue" is item revenue, sum(quantity * unit_price) over IV, as in
--   fact_daily_sales and dim_products; "order_value" is sum(total_amount) over V, as in
--   dim_customers.lifetime_value and agg_campaign_performance.attributed_revenue.
-- * Months are calendar months of order_date (UTC), written YYYY-MM; newest first.

-- name: daily_revenue
-- description: Revenue per day: item revenue and units (fact_daily_sales), valid orders, buyers and their order value; newest day first
WITH items AS (
    SELECT sale_date, sum(units_sold) AS units_sold, sum(revenue) AS revenue
    FROM fact_daily_sales
    GROUP BY sale_date
), orders AS (
    SELECT order_date::date AS sale_date,
           count(*) AS orders,
           count(DISTINCT customer_id) AS customers,
           sum(total_amount) AS order_value
    FROM fact_customer_orders
    WHERE NOT is_cancelled
    GROUP BY order_date::date
)
SELECT coalesce(i.sale_date, o.sale_date) AS sale_date,
       coalesce(o.orders, 0) AS orders,
       coalesce(o.customers, 0) AS customers,
       coalesce(i.units_sold, 0) AS units_sold,
       round(coalesce(i.revenue, 0), 2) AS revenue,
       round(coalesce(o.order_value, 0), 2) AS order_value
FROM items i
FULL JOIN orders o ON o.sale_date = i.sale_date
ORDER BY 1 DESC;

-- name: monthly_revenue
-- description: Revenue per month with valid orders, buyers, units, order value and revenue growth against the previous month (%)
WITH items AS (
    SELECT date_trunc('month', sale_date)::date AS month,
           sum(units_sold) AS units_sold, sum(revenue) AS revenue
    FROM fact_daily_sales
    GROUP BY 1
), orders AS (
    SELECT date_trunc('month', order_date)::date AS month,
           count(*) AS orders,
           count(DISTINCT customer_id) AS customers,
           sum(total_amount) AS order_value
    FROM fact_customer_orders
    WHERE NOT is_cancelled
    GROUP BY 1
), m AS (
    SELECT coalesce(i.month, o.month) AS month,
           coalesce(o.orders, 0) AS orders,
           coalesce(o.customers, 0) AS customers,
           coalesce(i.units_sold, 0) AS units_sold,
           coalesce(i.revenue, 0) AS revenue,
           coalesce(o.order_value, 0) AS order_value
    FROM items i
    FULL JOIN orders o ON o.month = i.month
)
SELECT to_char(month, 'YYYY-MM') AS month,
       orders,
       customers,
       units_sold,
       round(revenue, 2) AS revenue,
       round(order_value, 2) AS order_value,
       round(100 * (revenue - lag(revenue) OVER w) / nullif(lag(revenue) OVER w, 0), 2)
           AS revenue_growth_pct
FROM m
WINDOW w AS (ORDER BY month)
ORDER BY m.month DESC;

-- name: average_order_value
-- description: Average and median order value (total_amount) of valid orders per month
SELECT to_char(date_trunc('month', order_date), 'YYYY-MM') AS month,
       count(*) AS orders,
       round(sum(total_amount), 2) AS order_value,
       round(sum(total_amount) / count(*), 2) AS avg_order_value,
       round(percentile_disc(0.5) WITHIN GROUP (ORDER BY total_amount), 2) AS median_order_value,
       round(max(total_amount), 2) AS max_order_value
FROM fact_customer_orders
WHERE NOT is_cancelled
GROUP BY 1
ORDER BY 1 DESC;

-- name: order_conversion
-- description: Conversion per month: orders placed vs delivered (delivery_rate), with cancelled and still open
SELECT to_char(date_trunc('month', order_date), 'YYYY-MM') AS month,
       count(*) AS placed,
       count(*) FILTER (WHERE order_status = 'Delivered') AS delivered,
       count(*) FILTER (WHERE order_status = 'Cancelled') AS cancelled,
       count(*) FILTER (WHERE order_status IN ('Pending', 'Processing', 'Shipped')) AS open,
       round((count(*) FILTER (WHERE order_status = 'Delivered'))::numeric / count(*), 4)
           AS delivery_rate
FROM fact_customer_orders
GROUP BY 1
ORDER BY 1 DESC;

-- name: order_status_breakdown
-- description: Current orders by status: count, share of all orders and order value
SELECT order_status,
       count(*) AS orders,
       round(count(*)::numeric / sum(count(*)) OVER (), 4) AS share,
       round(sum(total_amount), 2) AS order_value
FROM fact_customer_orders
GROUP BY order_status
ORDER BY CASE order_status
             WHEN 'Pending' THEN 1 WHEN 'Processing' THEN 2 WHEN 'Shipped' THEN 3
             WHEN 'Delivered' THEN 4 WHEN 'Cancelled' THEN 5 ELSE 6
         END;

-- name: cancellation_rate
-- description: Cancelled orders per month: count, share of orders placed and the order value lost
SELECT to_char(date_trunc('month', order_date), 'YYYY-MM') AS month,
       count(*) AS placed,
       count(*) FILTER (WHERE is_cancelled) AS cancelled,
       round((count(*) FILTER (WHERE is_cancelled))::numeric / count(*), 4) AS cancellation_rate,
       round(coalesce(sum(total_amount) FILTER (WHERE is_cancelled), 0), 2) AS cancelled_value
FROM fact_customer_orders
GROUP BY 1
ORDER BY 1 DESC;

-- name: customer_lifetime_value_distribution
-- description: Customers by lifetime value band (sum of their valid order totals): count, share, average and total value
WITH banded AS (
    SELECT lifetime_value,
           CASE
               WHEN total_orders = 0 THEN 0
               WHEN lifetime_value < 100 THEN 1
               WHEN lifetime_value < 500 THEN 2
               WHEN lifetime_value < 1000 THEN 3
               WHEN lifetime_value < 5000 THEN 4
               ELSE 5
           END AS band
    FROM dim_customers
)
SELECT (ARRAY['no orders', 'under 100', '100 to 499.99', '500 to 999.99',
              '1000 to 4999.99', '5000 and over'])[band + 1] AS lifetime_value_band,
       count(*) AS customers,
       round(count(*)::numeric / sum(count(*)) OVER (), 4) AS share,
       round(avg(lifetime_value), 2) AS avg_lifetime_value,
       round(sum(lifetime_value), 2) AS lifetime_value
FROM banded
GROUP BY band
ORDER BY band;

-- name: customer_lifetime_value_percentiles
-- description: Lifetime value percentiles (exact, from customers' own values) over customers with at least one valid order
SELECT count(*) AS buyers,
       round(avg(lifetime_value), 2) AS avg_lifetime_value,
       round(percentile_disc(0.25) WITHIN GROUP (ORDER BY lifetime_value), 2) AS p25,
       round(percentile_disc(0.50) WITHIN GROUP (ORDER BY lifetime_value), 2) AS p50,
       round(percentile_disc(0.75) WITHIN GROUP (ORDER BY lifetime_value), 2) AS p75,
       round(percentile_disc(0.90) WITHIN GROUP (ORDER BY lifetime_value), 2) AS p90,
       round(percentile_disc(0.99) WITHIN GROUP (ORDER BY lifetime_value), 2) AS p99,
       round(max(lifetime_value), 2) AS max_lifetime_value
FROM dim_customers
WHERE total_orders > 0;

-- name: top_customers_by_lifetime_value
-- description: The 20 customers with the highest lifetime value, with their orders and first and last order dates
SELECT customer_id,
       email,
       customer_segment,
       loyalty_tier,
       total_orders,
       round(lifetime_value, 2) AS lifetime_value,
       avg_order_value,
       first_order_date,
       last_order_date
FROM dim_customers
WHERE total_orders > 0
ORDER BY lifetime_value DESC, customer_id
LIMIT 20;

-- name: repeat_purchase_rate
-- description: Retention overall: customers, buyers (1+ valid orders), repeat buyers (2+), and the buyer and repeat rates
SELECT count(*) AS customers,
       count(*) FILTER (WHERE total_orders >= 1) AS buyers,
       count(*) FILTER (WHERE total_orders >= 2) AS repeat_buyers,
       round((count(*) FILTER (WHERE total_orders >= 1))::numeric / nullif(count(*), 0), 4)
           AS buyer_rate,
       round((count(*) FILTER (WHERE total_orders >= 2))::numeric
             / nullif(count(*) FILTER (WHERE total_orders >= 1), 0), 4) AS repeat_rate
FROM dim_customers;

-- name: monthly_retention
-- description: Month-over-month retention: buyers of the previous month who bought again this month, over the previous month's buyers
WITH active AS (
    SELECT DISTINCT customer_id, date_trunc('month', order_date)::date AS month
    FROM fact_customer_orders
    WHERE NOT is_cancelled
), per_month AS (
    SELECT month, count(*) AS buyers FROM active GROUP BY month
), retained AS (
    SELECT a.month, count(*) AS retained
    FROM active a
    JOIN active p
      ON p.customer_id = a.customer_id AND p.month = (a.month - interval '1 month')::date
    GROUP BY a.month
)
SELECT to_char(m.month, 'YYYY-MM') AS month,
       m.buyers,
       coalesce(prev.buyers, 0) AS previous_month_buyers,
       coalesce(r.retained, 0) AS retained_buyers,
       round(coalesce(r.retained, 0)::numeric / nullif(prev.buyers, 0), 4) AS retention_rate
FROM per_month m
LEFT JOIN per_month prev ON prev.month = (m.month - interval '1 month')::date
LEFT JOIN retained r ON r.month = m.month
ORDER BY m.month DESC;

-- name: new_vs_returning_customers
-- description: Buyers per month split into new (first valid order that month) and returning, with the order value of each
WITH v AS (
    SELECT customer_id, date_trunc('month', order_date)::date AS month, total_amount
    FROM fact_customer_orders
    WHERE NOT is_cancelled
), firsts AS (
    SELECT customer_id, min(month) AS first_month FROM v GROUP BY customer_id
)
SELECT to_char(v.month, 'YYYY-MM') AS month,
       count(DISTINCT v.customer_id) FILTER (WHERE v.month = f.first_month) AS new_customers,
       count(DISTINCT v.customer_id) FILTER (WHERE v.month > f.first_month) AS returning_customers,
       round((count(DISTINCT v.customer_id) FILTER (WHERE v.month = f.first_month))::numeric
             / count(DISTINCT v.customer_id), 4) AS new_customer_share,
       round(coalesce(sum(v.total_amount) FILTER (WHERE v.month = f.first_month), 0), 2)
           AS new_customer_order_value,
       round(coalesce(sum(v.total_amount) FILTER (WHERE v.month > f.first_month), 0), 2)
           AS returning_customer_order_value
FROM v
JOIN firsts f ON f.customer_id = v.customer_id
GROUP BY v.month
ORDER BY v.month DESC;

-- name: segment_performance
-- description: Per customer segment: customers, buyers, valid orders, order value, average order value, average lifetime value and value share
SELECT coalesce(customer_segment, '(none)') AS customer_segment,
       count(*) AS customers,
       count(*) FILTER (WHERE total_orders > 0) AS buyers,
       sum(total_orders) AS orders,
       round(sum(lifetime_value), 2) AS order_value,
       round(sum(lifetime_value) / nullif(sum(total_orders), 0), 2) AS avg_order_value,
       round(avg(lifetime_value), 2) AS avg_lifetime_value,
       round(sum(lifetime_value) / nullif(sum(sum(lifetime_value)) OVER (), 0), 4)
           AS value_share
FROM dim_customers
GROUP BY customer_segment
ORDER BY sum(lifetime_value) DESC, 1;

-- name: loyalty_tier_performance
-- description: Per loyalty tier: customers, buyers, valid orders, order value, average order value, average lifetime value and value share
SELECT coalesce(loyalty_tier, '(none)') AS loyalty_tier,
       count(*) AS customers,
       count(*) FILTER (WHERE total_orders > 0) AS buyers,
       sum(total_orders) AS orders,
       round(sum(lifetime_value), 2) AS order_value,
       round(sum(lifetime_value) / nullif(sum(total_orders), 0), 2) AS avg_order_value,
       round(avg(lifetime_value), 2) AS avg_lifetime_value,
       round(sum(lifetime_value) / nullif(sum(sum(lifetime_value)) OVER (), 0), 4)
           AS value_share
FROM dim_customers
GROUP BY loyalty_tier
ORDER BY CASE loyalty_tier
             WHEN 'Gold' THEN 1 WHEN 'Silver' THEN 2 WHEN 'Bronze' THEN 3 WHEN 'None' THEN 4
             ELSE 5
         END, 1;

-- name: top_products_by_revenue
-- description: The 20 products with the highest item revenue, with units sold, orders and current price and stock
SELECT product_id,
       product_name,
       sku,
       category,
       units_sold,
       order_count,
       round(revenue, 2) AS revenue,
       price,
       stock_quantity
FROM dim_products
WHERE revenue > 0
ORDER BY revenue DESC, product_id
LIMIT 20;

-- name: top_categories
-- description: Categories by item revenue: units, revenue, share of all revenue and days with sales
SELECT category,
       sum(units_sold) AS units_sold,
       round(sum(revenue), 2) AS revenue,
       round(sum(revenue) / nullif(sum(sum(revenue)) OVER (), 0), 4) AS revenue_share,
       count(DISTINCT sale_date) AS selling_days
FROM fact_daily_sales
GROUP BY category
ORDER BY sum(revenue) DESC, category
LIMIT 20;

-- name: inventory_turnover
-- description: Inventory turnover per category: units sold in the last 30 days over units in stock, and annualised
SELECT coalesce(category, 'Unknown') AS category,
       count(*) AS products,
       sum(stock_quantity) AS stock_units,
       sum(units_sold_30d) AS units_sold_30d,
       round(sum(units_sold_30d)::numeric / nullif(sum(greatest(stock_quantity, 0)), 0), 4)
           AS turnover_30d,
       round(sum(units_sold_30d)::numeric * 365 / 30
             / nullif(sum(greatest(stock_quantity, 0)), 0), 2) AS annualised_turnover,
       sum(total_out) AS units_out_all_time
FROM agg_inventory_status
GROUP BY category
ORDER BY turnover_30d DESC NULLS LAST, 1;

-- name: stock_status_distribution
-- description: Products by stock status (OUT_OF_STOCK, LOW, OK, OVERSTOCK, NO_DEMAND): count and share
SELECT stock_status,
       count(*) AS products,
       round(count(*)::numeric / sum(count(*)) OVER (), 4) AS share,
       sum(stock_quantity) AS stock_units
FROM agg_inventory_status
GROUP BY stock_status
ORDER BY CASE stock_status
             WHEN 'OUT_OF_STOCK' THEN 1 WHEN 'LOW' THEN 2 WHEN 'OK' THEN 3
             WHEN 'OVERSTOCK' THEN 4 WHEN 'NO_DEMAND' THEN 5 ELSE 6
         END;

-- name: stockout_frequency
-- description: Stock-out frequency: share of products OUT_OF_STOCK or LOW, over all products and per category (worst first)
SELECT CASE WHEN grouping(category) = 1 THEN '(all products)'
            ELSE coalesce(category, 'Unknown') END AS category,
       count(*) AS products,
       count(*) FILTER (WHERE stock_status = 'OUT_OF_STOCK') AS out_of_stock,
       count(*) FILTER (WHERE stock_status = 'LOW') AS low_stock,
       round((count(*) FILTER (WHERE stock_status = 'OUT_OF_STOCK'))::numeric / count(*), 4)
           AS out_of_stock_rate,
       round((count(*) FILTER (WHERE stock_status = 'LOW'))::numeric / count(*), 4)
           AS low_stock_rate,
       round((count(*) FILTER (WHERE stock_status IN ('OUT_OF_STOCK', 'LOW')))::numeric
             / count(*), 4) AS at_risk_rate
FROM agg_inventory_status
GROUP BY GROUPING SETS ((), (category))
ORDER BY grouping(category) DESC, at_risk_rate DESC, 1;

-- name: days_of_cover_distribution
-- description: Products by days of cover (stock over the last 30 days' sales rate): count, share and average days
WITH banded AS (
    SELECT days_of_cover,
           CASE
               WHEN stock_quantity <= 0 THEN 0
               WHEN days_of_cover IS NULL THEN 6
               WHEN days_of_cover < 7 THEN 1
               WHEN days_of_cover < 30 THEN 2
               WHEN days_of_cover < 90 THEN 3
               WHEN days_of_cover <= 180 THEN 4
               ELSE 5
           END AS band
    FROM agg_inventory_status
)
SELECT (ARRAY['out of stock', 'under 7 days', '7 to 29.9 days', '30 to 89.9 days',
              '90 to 180 days', 'over 180 days', 'no sales in 30 days'])[band + 1]
           AS days_of_cover_band,
       count(*) AS products,
       round(count(*)::numeric / sum(count(*)) OVER (), 4) AS share,
       round(avg(days_of_cover), 1) AS avg_days_of_cover
FROM banded
GROUP BY band
ORDER BY band;

-- name: campaign_roi
-- description: The 20 campaigns with the best return: attributed revenue over budget, net return, cost per acquisition and stated ROI
SELECT campaign_id,
       campaign_name,
       channel,
       budget,
       attributed_orders,
       round(attributed_revenue, 2) AS attributed_revenue,
       revenue_to_budget,
       round(attributed_revenue - budget, 2) AS net_return,
       cost_per_acquisition,
       roi AS stated_roi
FROM agg_campaign_performance
WHERE attributed_orders > 0
ORDER BY revenue_to_budget DESC NULLS LAST, campaign_id
LIMIT 20;

-- name: channel_effectiveness
-- description: Per marketing channel: campaigns, budget, attributed valid orders, distinct customers and revenue, return on budget and revenue share
WITH attributed AS (
    SELECT c.channel,
           count(*) AS orders,
           count(DISTINCT o.customer_id) AS customers,
           sum(o.total_amount) AS revenue
    FROM fact_customer_orders o
    JOIN agg_campaign_performance c ON c.campaign_id = o.campaign_id
    WHERE NOT o.is_cancelled
    GROUP BY c.channel
), budgets AS (
    SELECT channel, count(*) AS campaigns, sum(budget) AS budget, avg(roi) AS avg_stated_roi
    FROM agg_campaign_performance
    GROUP BY channel
)
SELECT coalesce(b.channel, '(none)') AS channel,
       b.campaigns,
       round(b.budget, 2) AS budget,
       coalesce(a.orders, 0) AS attributed_orders,
       coalesce(a.customers, 0) AS attributed_customers,
       round(coalesce(a.revenue, 0), 2) AS attributed_revenue,
       round(coalesce(a.revenue, 0) / nullif(b.budget, 0), 4) AS revenue_to_budget,
       round(coalesce(a.revenue, 0) / nullif(sum(coalesce(a.revenue, 0)) OVER (), 0), 4)
           AS revenue_share,
       round(b.avg_stated_roi, 2) AS avg_stated_roi
FROM budgets b
LEFT JOIN attributed a ON a.channel IS NOT DISTINCT FROM b.channel
ORDER BY revenue_to_budget DESC NULLS LAST, 1;

-- name: cost_per_acquisition
-- description: Cost per acquired customer per channel: blended (budget over distinct customers) and the spread over campaigns with customers
WITH acquired AS (
    SELECT c.channel, count(DISTINCT o.customer_id) AS customers
    FROM fact_customer_orders o
    JOIN agg_campaign_performance c ON c.campaign_id = o.campaign_id
    WHERE NOT o.is_cancelled
    GROUP BY c.channel
)
SELECT coalesce(p.channel, '(none)') AS channel,
       count(*) AS campaigns,
       count(p.cost_per_acquisition) AS campaigns_with_customers,
       round(sum(p.budget), 2) AS budget,
       max(a.customers) AS customers,
       round(sum(p.budget) / nullif(max(a.customers), 0), 2) AS blended_cost_per_acquisition,
       min(p.cost_per_acquisition) AS min_cpa,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY p.cost_per_acquisition) AS median_cpa,
       round(avg(p.cost_per_acquisition), 2) AS avg_cpa,
       max(p.cost_per_acquisition) AS max_cpa
FROM agg_campaign_performance p
LEFT JOIN acquired a ON a.channel IS NOT DISTINCT FROM p.channel
GROUP BY p.channel
ORDER BY blended_cost_per_acquisition NULLS LAST, 1;

-- name: basket_size
-- description: Basket size per month over valid orders: average and median units per order, average item lines and item value
SELECT to_char(date_trunc('month', order_date), 'YYYY-MM') AS month,
       count(*) AS orders,
       sum(units) AS units,
       round(avg(units), 2) AS avg_units_per_order,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY units) AS median_units_per_order,
       round(avg(item_count), 2) AS avg_lines_per_order,
       round(avg(items_total), 2) AS avg_items_value
FROM fact_customer_orders
WHERE NOT is_cancelled
GROUP BY 1
ORDER BY 1 DESC;

-- name: revenue_by_weekday
-- description: Item revenue and valid orders by day of the week (ISO, Monday first), with the share of revenue and revenue per selling day
WITH items AS (
    SELECT extract(isodow FROM sale_date)::int AS isodow,
           count(DISTINCT sale_date) AS days,
           sum(units_sold) AS units_sold,
           sum(revenue) AS revenue
    FROM fact_daily_sales
    GROUP BY 1
), orders AS (
    SELECT extract(isodow FROM order_date)::int AS isodow, count(*) AS orders
    FROM fact_customer_orders
    WHERE NOT is_cancelled
    GROUP BY 1
)
SELECT (ARRAY['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday',
              'Sunday'])[coalesce(i.isodow, o.isodow)] AS weekday,
       coalesce(o.orders, 0) AS orders,
       coalesce(i.units_sold, 0) AS units_sold,
       round(coalesce(i.revenue, 0), 2) AS revenue,
       round(coalesce(i.revenue, 0) / nullif(sum(coalesce(i.revenue, 0)) OVER (), 0), 4)
           AS revenue_share,
       round(i.revenue / nullif(i.days, 0), 2) AS revenue_per_selling_day
FROM items i
FULL JOIN orders o ON o.isodow = i.isodow
ORDER BY coalesce(i.isodow, o.isodow);

-- name: loyalty_tier_changes_per_month
-- description: SCD history: loyalty tier changes per month (dim_customers_history), split into upgrades and downgrades
WITH versions AS (
    SELECT customer_id,
           valid_from,
           loyalty_tier,
           lag(loyalty_tier) OVER w AS previous_tier,
           row_number() OVER w AS version
    FROM dim_customers_history
    WINDOW w AS (PARTITION BY customer_id ORDER BY valid_from)
), changes AS (
    SELECT customer_id,
           date_trunc('month', valid_from)::date AS month,
           array_position(ARRAY['None', 'Bronze', 'Silver', 'Gold']::text[], loyalty_tier)
             - array_position(ARRAY['None', 'Bronze', 'Silver', 'Gold']::text[], previous_tier)
               AS steps
    FROM versions
    WHERE version > 1 AND loyalty_tier IS DISTINCT FROM previous_tier
)
SELECT to_char(month, 'YYYY-MM') AS month,
       count(*) AS tier_changes,
       count(DISTINCT customer_id) AS customers,
       count(*) FILTER (WHERE steps > 0) AS upgrades,
       count(*) FILTER (WHERE steps < 0) AS downgrades,
       count(*) FILTER (WHERE steps IS NULL) AS other_changes
FROM changes
GROUP BY month
ORDER BY month DESC;

-- name: loyalty_tier_transitions
-- description: SCD history: every loyalty tier transition (from tier -> to tier) ever recorded in dim_customers_history, most frequent first
WITH versions AS (
    SELECT customer_id,
           loyalty_tier,
           lag(loyalty_tier) OVER w AS previous_tier,
           row_number() OVER w AS version
    FROM dim_customers_history
    WINDOW w AS (PARTITION BY customer_id ORDER BY valid_from)
)
SELECT coalesce(previous_tier, '(none)') AS from_tier,
       coalesce(loyalty_tier, '(none)') AS to_tier,
       count(*) AS changes,
       count(DISTINCT customer_id) AS customers,
       round(count(*)::numeric / sum(count(*)) OVER (), 4) AS share
FROM versions
WHERE version > 1 AND loyalty_tier IS DISTINCT FROM previous_tier
GROUP BY 1, 2
ORDER BY changes DESC, 1, 2;

-- name: campaign_attribution_share
-- description: Share of valid orders and order value attributed to a marketing campaign, per month
SELECT to_char(date_trunc('month', order_date), 'YYYY-MM') AS month,
       count(*) AS orders,
       count(*) FILTER (WHERE campaign_id IS NOT NULL) AS attributed_orders,
       round((count(*) FILTER (WHERE campaign_id IS NOT NULL))::numeric / count(*), 4)
           AS attributed_order_share,
       round(coalesce(sum(total_amount) FILTER (WHERE campaign_id IS NOT NULL), 0), 2)
           AS attributed_order_value
FROM fact_customer_orders
WHERE NOT is_cancelled
GROUP BY 1
ORDER BY 1 DESC;
