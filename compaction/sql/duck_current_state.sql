-- DuckDB: silver's current state of one table from `changes` (duck_changes.sql).
-- Versions before the table's last truncate are dropped (TRUNCATE ... RESTART IDENTITY
-- makes ids repeat); the last version per key wins; keys whose last version is a
-- delete (d) or a quarantine marker (q) are absent.
-- {pk}: primary key column; {columns}: the select list of the table's columns.
WITH last_truncate AS (
    SELECT max((k0, k1, k2, k3)) AS pos FROM changes WHERE op = 't'
),
live AS (
    SELECT c.*
    FROM changes AS c, last_truncate AS t
    WHERE c.op <> 't'
      AND c.{pk} IS NOT NULL
      AND (t.pos IS NULL OR (c.k0, c.k1, c.k2, c.k3) > t.pos)
),
latest AS (
    SELECT *
    FROM live
    QUALIFY row_number() OVER (PARTITION BY {pk} ORDER BY k0 DESC, k1 DESC, k2 DESC, k3 DESC) = 1
)
SELECT {columns}
FROM latest
WHERE NOT is_delete AND op IN ('c', 'r', 'u')
