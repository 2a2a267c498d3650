-- PostgreSQL (ecommerce_gold): one row per rebuild, appended, never replaced.
CREATE TABLE IF NOT EXISTS public.gold_build_log (
    build_id       BIGSERIAL PRIMARY KEY,
    as_of          DATE NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at    TIMESTAMPTZ,
    status         TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    step           TEXT,
    row_counts     JSONB,
    max_commit_ts  TIMESTAMPTZ,
    max_source_lsn PG_LSN,
    error          TEXT,
    host           TEXT,
    pid            INTEGER
);
