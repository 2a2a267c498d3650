-- dim_customers_history: SCD type 2 versions of customers, from the customers' silver
-- change-log (silver_customers), not from the current state.
-- Events are ordered by change position (k0..k3 as in state.sql). A version starts when
-- a customer appears (c/r/u after nothing or after a delete) or when its email,
-- customer_segment or loyalty_tier changes; valid_from is the commit time of that change
-- (the snapshot time for snapshot rows). A version ends at the next version's start, at
-- the delete's commit time, or at the commit time of the next truncate, which ends every
-- open version (ids may be reused afterwards). A change delivered twice sits next to its
-- copy in this order with the same values, so it starts and ends nothing: no dedupe.
WITH ev AS (
    SELECT CAST(customer_id AS INTEGER) AS customer_id,
           email,
           customer_segment,
           loyalty_tier,
           op,
           is_delete,
           commit_ts,
           CASE WHEN commit_lsn IS NULL THEN 0 ELSE 1 END AS k0,
           coalesce(commit_lsn, 0) AS k1,
           coalesce(source_lsn, 0) AS k2,
           bronze_offset AS k3
    FROM silver_customers
),
epochs AS (
    SELECT ev.*,
           sum(CASE WHEN op = 't' THEN 1 ELSE 0 END)
               OVER (ORDER BY k0, k1, k2, k3 ROWS UNBOUNDED PRECEDING) AS epoch
    FROM ev
),
truncates AS (
    SELECT epoch - 1 AS ended_epoch, min(commit_ts) AS ended_at
    FROM epochs
    WHERE op = 't'
    GROUP BY epoch
),
steps AS (
    SELECT customer_id, epoch, k0, k1, k2, k3, commit_ts, is_delete,
           email, customer_segment, loyalty_tier,
           lag(is_delete) OVER w AS prev_delete,
           lag(email) OVER w AS prev_email,
           lag(customer_segment) OVER w AS prev_segment,
           lag(loyalty_tier) OVER w AS prev_tier
    FROM epochs
    WHERE op <> 't' AND customer_id IS NOT NULL
    WINDOW w AS (PARTITION BY customer_id, epoch ORDER BY k0, k1, k2, k3)
),
bounds AS (
    SELECT steps.*,
           lead(commit_ts) OVER (PARTITION BY customer_id, epoch
                                 ORDER BY k0, k1, k2, k3) AS next_at
    FROM steps
    WHERE (NOT is_delete AND (prev_delete IS NULL OR prev_delete
                              OR email IS DISTINCT FROM prev_email
                              OR customer_segment IS DISTINCT FROM prev_segment
                              OR loyalty_tier IS DISTINCT FROM prev_tier))
       OR (is_delete AND NOT prev_delete)
)
SELECT b.customer_id,
       b.email,
       b.customer_segment,
       b.loyalty_tier,
       b.commit_ts AS valid_from,
       coalesce(b.next_at, t.ended_at) AS valid_to,
       b.next_at IS NULL AND t.ended_at IS NULL AS is_current
FROM bounds AS b
LEFT JOIN truncates AS t ON t.ended_epoch = b.epoch
WHERE NOT b.is_delete
