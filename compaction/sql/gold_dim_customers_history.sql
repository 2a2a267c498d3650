-- dim_customers_history: SCD type 2 versions, loaded with COPY from the DuckDB
-- history query (duck_customers_history.sql); this file only declares the table.
CREATE TABLE {s}.dim_customers_history (
    customer_id      INTEGER NOT NULL,
    email            TEXT,
    customer_segment TEXT,
    loyalty_tier     TEXT,
    valid_from       TIMESTAMPTZ,
    valid_to         TIMESTAMPTZ,
    is_current       BOOLEAN NOT NULL
);
