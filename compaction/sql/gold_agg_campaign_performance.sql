-- agg_campaign_performance: one row per current, non-quarantined campaign; V orders.
CREATE TABLE {s}.agg_campaign_performance AS
WITH a AS (
    SELECT campaign_id,
           count(*) AS attributed_orders,
           coalesce(sum(total_amount), 0) AS attributed_revenue,
           count(DISTINCT customer_id) AS attributed_customers
    FROM {s}.cur_orders
    WHERE order_status <> 'Cancelled' AND campaign_id IS NOT NULL
    GROUP BY campaign_id
)
SELECT c.campaign_id, c.campaign_name, c.channel, c.budget, c.roi, c.start_date, c.end_date,
       coalesce(a.attributed_orders, 0) AS attributed_orders,
       coalesce(a.attributed_revenue, 0) AS attributed_revenue,
       coalesce(a.attributed_customers, 0) AS attributed_customers,
       CASE WHEN coalesce(a.attributed_customers, 0) = 0 THEN NULL
            ELSE round(c.budget / a.attributed_customers, 2) END AS cost_per_acquisition,
       CASE WHEN c.budget = 0 THEN NULL
            ELSE round(coalesce(a.attributed_revenue, 0) / c.budget, 4) END AS revenue_to_budget
FROM {s}.cur_marketing_campaigns AS c
LEFT JOIN a ON a.campaign_id = c.campaign_id;
ALTER TABLE {s}.agg_campaign_performance ADD PRIMARY KEY (campaign_id);
