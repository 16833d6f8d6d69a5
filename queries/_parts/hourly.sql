-- hourly: per group and hour of the window's grid (start + k hours), the
-- occupied and observed milliseconds (METRICS.md sections 3-4).
spans AS (
    -- The intervals that reach into the window, from the window's start on, with the
    -- first hour of the window's grid (start + k hours) each touches and how many it
    -- touches: at most lookback + 1.
    SELECT
        c.group_value,
        c.occupied,
        c.from_ms,
        c.to_ms,
        c.first_hour_ms,
        CAST((c.last_hour_ms - c.first_hour_ms) / 3600000 AS bigint) + 1 AS hours
    FROM (
        SELECT
            m.group_value,
            v.occupied,
            greatest(v.from_ms, p.start_ms) AS from_ms,
            v.to_ms,
            greatest(v.from_ms, p.start_ms) - mod(greatest(v.from_ms, p.start_ms) - p.start_ms, 3600000) AS first_hour_ms,
            v.to_ms - 1 - mod(v.to_ms - 1 - p.start_ms, 3600000) AS last_hour_ms
        FROM intervals v
        JOIN members m ON m.spot_id = v.spot_id
        CROSS JOIN params p
        WHERE v.to_ms > p.start_ms
    ) c
),
pieces AS (
    -- Each span cut at the grid's hours, one piece per hour it touches.
    SELECT
        s.group_value,
        s.first_hour_ms + t.k * 3600000 AS hour_ms,
        s.occupied,
        least(s.to_ms, s.first_hour_ms + (t.k + 1) * 3600000) - greatest(s.from_ms, s.first_hour_ms + t.k * 3600000)
            AS observed_ms
    FROM spans s CROSS JOIN UNNEST(sequence(0, s.hours - 1, 1)) AS t (k)
),
hourly AS (
    SELECT group_value, hour_ms, sum(occupied * observed_ms) AS occupied_ms, sum(observed_ms) AS observed_ms
    FROM pieces
    GROUP BY group_value, hour_ms
),
groups AS (
    -- The groups with a spot observed in the window; without grouping, the one
    -- null group, observed or not.
    SELECT DISTINCT group_value FROM pieces WHERE observed_ms > 0
    UNION
    SELECT CAST(NULL AS varchar) FROM params WHERE group_by = ''
)
