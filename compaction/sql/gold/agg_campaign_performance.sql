-- agg_campaign_performance: one row per current, non-quarantined campaign; V orders.
-- cost_per_acquisition = round(budget / attributed_customers, 2) and revenue_to_budget =
-- round(attributed_revenue / budget, 4), half away from zero, in integer cents:
-- q = (2|x| + |y|) div 2|y|, negated when x and y differ in sign.
WITH a AS (
    SELECT campaign_id,
           count(*) AS attributed_orders,
           coalesce(sum(total_amount), 0) AS attributed_revenue,
           count(DISTINCT customer_id) AS attributed_customers
    FROM cur_orders
    WHERE order_status <> 'Cancelled' AND campaign_id IS NOT NULL
    GROUP BY campaign_id
),
b AS (
    SELECT c.campaign_id, c.campaign_name, c.channel, c.budget, c.roi, c.start_date,
           c.end_date,
           CAST(coalesce(a.attributed_orders, 0) AS BIGINT) AS attributed_orders,
           CAST(coalesce(a.attributed_revenue, 0) AS DECIMAL(38, 2)) AS attributed_revenue,
           CAST(coalesce(a.attributed_customers, 0) AS BIGINT) AS attributed_customers,
           CAST(c.budget * 100 AS BIGINT) AS budget_cents,
           CAST(coalesce(a.attributed_revenue, 0) * 100 AS BIGINT) AS revenue_cents
    FROM cur_marketing_campaigns AS c
    LEFT JOIN a ON a.campaign_id = c.campaign_id
)
SELECT campaign_id,
       campaign_name,
       channel,
       budget,
       roi,
       start_date,
       end_date,
       attributed_orders,
       attributed_revenue,
       attributed_customers,
       CASE WHEN attributed_customers = 0 THEN NULL
            ELSE CAST(CAST(CASE WHEN (budget_cents < 0) <> (attributed_customers < 0)
                                THEN -1 ELSE 1 END
                           * ((2 * abs(budget_cents) + abs(attributed_customers))
                              // (2 * abs(attributed_customers))) AS DECIMAL(38, 0))
                      * CAST(0.01 AS DECIMAL(3, 2)) AS DECIMAL(38, 2))
       END AS cost_per_acquisition,
       CASE WHEN budget_cents = 0 THEN NULL
            ELSE CAST(CAST(CASE WHEN (revenue_cents < 0) <> (budget_cents < 0)
                                THEN -1 ELSE 1 END
                           * ((2 * abs(revenue_cents * 10000) + abs(budget_cents))
                              // (2 * abs(budget_cents))) AS DECIMAL(38, 0))
                      * CAST(0.0001 AS DECIMAL(5, 4)) AS DECIMAL(38, 4))
       END AS revenue_to_budget
FROM b
