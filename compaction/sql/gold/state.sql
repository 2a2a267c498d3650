-- The state of one source table from its silver change-log: the last version of every
-- key since the table's last truncate. A key whose last version is a delete (d) or a
-- quarantine marker (q) keeps that version: it is absent from the current state, and an
-- incremental build can tell that the key ended.
-- Change position (k0, k1, k2, k3): snapshot rows (no commit LSN) first, then the commit
-- LSN, the event's own LSN, its bronze offset. The same change delivered twice (two
-- offsets, or one offset read twice) has equal values, so no dedupe is needed here.
-- compaction.gold_sql.state_sql fills in the change-log relation, the primary key, the
-- typed column list and the column names; the changes ranked are state_changes.sql.
-- When most keys have one change (a lake filled by a snapshot), gold_sql.state_sql can
-- rank only the keys with several changes (state_repeated.sql) and take every other key's
-- one change as its last version: the same rows, without sorting the whole change-log.
-- The truncates are read from the change-log on their own: a CTE read twice is
-- materialised by DuckDB (the whole change-log copied, spilled at scale 10), one read
-- once is streamed.
WITH last_truncate AS (
    SELECT k0, k1, k2, k3
    FROM (
        SELECT CASE WHEN commit_lsn IS NULL THEN 0 ELSE 1 END AS k0,
               coalesce(commit_lsn, 0) AS k1,
               coalesce(source_lsn, 0) AS k2,
               bronze_offset AS k3
        FROM {source}
        WHERE op = 't'
    ) AS t
    ORDER BY k0 DESC, k1 DESC, k2 DESC, k3 DESC
    LIMIT 1
),
{repeated}ranked AS (
    SELECT c.*,
           row_number() OVER (PARTITION BY c.{pk} ORDER BY c.k0 DESC, c.k1 DESC, c.k2 DESC,
                                                          c.k3 DESC) AS rn
    FROM ({changes}) AS c
),
last_versions AS (
    SELECT * FROM ranked WHERE rn = 1{singles}
)
-- The last version of a key is after the last truncate exactly when some version is, so
-- the truncate is applied to the last versions only (fewer rows than the change-log).
SELECT {names},
       c.op, c.is_delete, c.source_lsn, c.commit_ts, c.bronze_topic, c.bronze_partition,
       c.bronze_offset, c.k0, c.k1, c.k2, c.k3
FROM last_versions AS c
LEFT JOIN last_truncate AS t ON TRUE
WHERE (t.k0 IS NULL
       OR c.k0 > t.k0
       OR (c.k0 = t.k0 AND (c.k1 > t.k1
           OR (c.k1 = t.k1 AND (c.k2 > t.k2
               OR (c.k2 = t.k2 AND c.k3 > t.k3))))))
