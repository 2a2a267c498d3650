-- DuckDB: the silver change-log of one table, deduplicated by bronze coordinates, with
-- the change-order key k0..k3: snapshot rows (no commit LSN) first, then commit LSN,
-- then the event's own LSN, then its bronze offset (README, "Silver records").
-- {source}: a relation with the silver Parquet columns.
CREATE OR REPLACE TABLE changes AS
SELECT
    *,
    CAST(commit_lsn IS NOT NULL AS INTEGER) AS k0,
    coalesce(commit_lsn, 0) AS k1,
    coalesce(source_lsn, 0) AS k2,
    bronze_offset AS k3
FROM {source}
QUALIFY row_number() OVER (PARTITION BY bronze_partition, bronze_offset) = 1
