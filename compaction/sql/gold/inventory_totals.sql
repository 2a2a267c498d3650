-- inventory_totals: each product's inventory transactions summed by type, the part of
-- agg_inventory_status that reads them. Kept with the local state by incremental
-- builds (new transactions are added; a product whose transactions changed or went is
-- counted again), so the sums are kept with NULLs as 0.
SELECT product_id,
       CAST(coalesce(sum(CASE WHEN transaction_type = 'IN' THEN quantity END), 0) AS BIGINT)
           AS total_in,
       CAST(coalesce(sum(CASE WHEN transaction_type = 'OUT' THEN quantity END), 0) AS BIGINT)
           AS total_out,
       CAST(coalesce(sum(CASE WHEN transaction_type = 'ADJUSTMENT' THEN quantity END), 0)
           AS BIGINT) AS total_adjustment,
       CAST(count(*) AS BIGINT) AS transaction_count,
       max(transaction_date) AS last_transaction_at
FROM cur_inventory_transactions
WHERE product_id IS NOT NULL
GROUP BY product_id
