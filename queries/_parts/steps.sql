-- steps: each instant with the state just before it (METRICS.md section 6), the
-- transition it makes and whether it starts a run (section 4, status's since).
steps AS (
    SELECT
        s.spot_id,
        s.ts_ms,
        s.occupied,
        s.next_ms,
        -- A status change seen within lookback: an arrival or a departure.
        CASE WHEN s.occupied = 1 AND s.prev_occupied = 0 AND s.gap_ms <= p.lookback_ms THEN 1 ELSE 0 END AS arrival,
        CASE WHEN s.occupied = 0 AND s.prev_occupied = 1 AND s.gap_ms <= p.lookback_ms THEN 1 ELSE 0 END AS departure,
        -- A run starts at a status change or after a gap longer than lookback (unknown before).
        CASE WHEN s.prev_occupied IS NULL OR s.prev_occupied <> s.occupied OR s.gap_ms > p.lookback_ms
            THEN 1 ELSE 0 END AS starts_run
    FROM (
        SELECT
            i.spot_id,
            i.ts_ms,
            i.occupied,
            lag(i.occupied) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) AS prev_occupied,
            i.ts_ms - lag(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) AS gap_ms,
            lead(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) AS next_ms
        FROM instants i
    ) s CROSS JOIN params p
)
