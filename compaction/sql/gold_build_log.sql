-- PostgreSQL (ecommerce_gold): one row per rebuild, appended, never replaced.
-- kind: 'full' (from the whole change-log) or 'incremental' (the kept state plus the
--   newer changes); why: the reason a build was full, or what an incremental changed;
-- lake_versions: per silver table, the Delta version read, the table's id and the
--   newest bronze offset of each topic partition the build covers;
-- state: where the build's state was kept in the lake (its Delta versions), if it was.
-- A log made before kind..state existed gets them added (compaction.gold.ensure_log).
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
    pid            INTEGER,
    kind           TEXT,
    why            TEXT,
    lake_versions  JSONB,
    state          JSONB
);
