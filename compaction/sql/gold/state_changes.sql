-- The changes of one source table's change-log, truncates and keyless rows left out, with
-- their change position (k0, k1, k2, k3, see state.sql); a condition on the keys may follow.
SELECT {columns},
       op, is_delete, source_lsn, commit_ts, bronze_topic, bronze_partition, bronze_offset,
       CASE WHEN commit_lsn IS NULL THEN 0 ELSE 1 END AS k0,
       coalesce(commit_lsn, 0) AS k1,
       coalesce(source_lsn, 0) AS k2,
       bronze_offset AS k3
FROM {source}
WHERE op <> 't' AND {pk} IS NOT NULL{keys}
