-- The current state of one source table from its state (state.sql): keys whose last
-- version is a delete or a quarantine marker are absent.
-- compaction.gold_sql.current_sql fills in the state relation and the column names.
SELECT {names}
FROM {state}
WHERE NOT is_delete AND op IN ('c', 'r', 'u')
