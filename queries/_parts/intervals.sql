{{steps}},
-- intervals: each instant holds until the spot's next instant or lookback after
-- it, never past end_ms (METRICS.md section 3).
intervals AS (
    SELECT
        s.spot_id,
        s.occupied,
        s.arrival,
        s.ts_ms AS from_ms,
        least(coalesce(s.next_ms, s.ts_ms + p.lookback_ms), s.ts_ms + p.lookback_ms, p.end_ms) AS to_ms
    FROM steps s CROSS JOIN params p
)
