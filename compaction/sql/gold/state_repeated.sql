repeated AS (
    -- The keys with more than one change: only their changes need ranking.
    SELECT {pk} AS key
    FROM {source}
    WHERE op <> 't' AND {pk} IS NOT NULL
    GROUP BY {pk}
    HAVING count(*) > 1
),
