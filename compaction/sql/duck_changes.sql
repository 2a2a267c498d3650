-- DuckDB: the silver change-log of one table, deduplicated, with the change-order key
-- k0..k3: snapshot rows (no commit LSN) first, then commit LSN, then the event's own
-- LSN, then its bronze offset (README, "Silver records").
-- Two kinds of duplicates are dropped, keeping one row:
-- * the same bronze coordinates (an offset consumed again: replay, crash before commit);
-- * the same change (key, source LSN, op) at another offset: Debezium publishes again
--   what it sent after its last offset flush when Kafka Connect restarts.
-- {source}: a relation with the silver Parquet columns; {pk}: the table's primary key.
CREATE OR REPLACE TABLE changes AS
WITH by_offset AS (
    SELECT *
    FROM {source}
    QUALIFY row_number() OVER (PARTITION BY bronze_partition, bronze_offset) = 1
)
SELECT
    *,
    CAST(commit_lsn IS NOT NULL AS INTEGER) AS k0,
    coalesce(commit_lsn, 0) AS k1,
    coalesce(source_lsn, 0) AS k2,
    bronze_offset AS k3
FROM by_offset
QUALIFY {pk} IS NULL OR source_lsn IS NULL
     OR row_number() OVER (PARTITION BY {pk}, source_lsn, op
                           ORDER BY bronze_partition, bronze_offset) = 1
