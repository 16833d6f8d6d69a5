{{latest}},
-- sensors: per spot, sensor health at `at` (METRICS.md section 6): its latest instant,
-- the start of its current run, its arrivals and departures in (at - 24 h, at], and
-- its flags with the thresholds silent_ms, flapping_changes and stuck_ms (params), and its
-- first instant in (at - window_ms, at].
changes AS (
    SELECT
        s.spot_id,
        sum(CASE WHEN s.ts_ms > p.at_ms - 86400000 THEN s.arrival + s.departure ELSE 0 END) AS changes_24h,
        min(CASE WHEN s.ts_ms > p.at_ms - p.window_ms THEN s.ts_ms END) AS first_ms
    FROM steps s CROSS JOIN params p
    GROUP BY s.spot_id
),
sensors AS (
    SELECT
        l.spot_id,
        l.occupied,
        l.last_ms,
        l.since_ms,
        c.changes_24h,
        c.first_ms,
        concat_ws(
            ',',
            CASE WHEN c.changes_24h >= p.flapping_changes THEN 'flapping' END,
            CASE WHEN p.at_ms - l.last_ms > p.silent_ms THEN 'silent' END,
            CASE WHEN l.occupied = 1 AND p.at_ms - l.since_ms > p.stuck_ms THEN 'stuck' END
        ) AS flags
    FROM latest l
    JOIN changes c ON c.spot_id = l.spot_id
    CROSS JOIN params p
)
