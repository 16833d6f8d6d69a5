-- steps: each instant with the state just before it (METRICS.md section 6), the
-- transitions it makes and whether it starts a run (section 4, status's since). The
-- state just before is the previous instant's, when that lies within lookback. A round
-- trip after a known state is an arrival and a departure at once (after free, a stay
-- of zero minutes: zero_stay; after occupied, one stay ends and the next begins), and
-- always starts a run.
steps AS (
    SELECT
        s.spot_id,
        s.ts_ms,
        s.occupied,
        s.next_ms,
        CASE WHEN s.gap_ms <= p.lookback_ms AND (s.round_trip = 1 OR (s.occupied = 1 AND s.prev_occupied = 0))
            THEN 1 ELSE 0 END AS arrival,
        CASE WHEN s.gap_ms <= p.lookback_ms AND (s.round_trip = 1 OR (s.occupied = 0 AND s.prev_occupied = 1))
            THEN 1 ELSE 0 END AS departure,
        CASE WHEN s.gap_ms <= p.lookback_ms AND s.round_trip = 1 AND s.prev_occupied = 0 THEN 1 ELSE 0 END
            AS zero_stay,
        CASE WHEN s.prev_occupied IS NULL OR s.prev_occupied <> s.occupied OR s.gap_ms > p.lookback_ms
                OR s.round_trip = 1
            THEN 1 ELSE 0 END AS starts_run
    FROM (
        SELECT
            i.spot_id,
            i.ts_ms,
            i.occupied,
            i.round_trip,
            lag(i.occupied) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) AS prev_occupied,
            i.ts_ms - lag(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) AS gap_ms,
            lead(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) AS next_ms
        FROM instants i
    ) s CROSS JOIN params p
)
