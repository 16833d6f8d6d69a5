-- instants: the distinct instants of each spot in [read_from_ms, read_to_ms) (params),
-- each with the state it holds (METRICS.md section 3). A round trip (statuses occupied
-- and free at one instant) holds the state of the spot's latest instant before it, within
-- lookback, that is not a round trip, and occupied when there is none: so the events of
-- one lookback before read_from_ms are read too.
instants AS (
    SELECT
        r.spot_id,
        r.ts_ms,
        r.round_trip,
        CASE
            WHEN r.round_trip = 0 THEN r.occupied
            WHEN r.held_ms >= r.ts_ms - p.lookback_ms THEN mod(r.held_code, 2)
            ELSE 1
        END AS occupied
    FROM (
        SELECT
            d.spot_id,
            d.ts_ms,
            d.occupied,
            d.round_trip,
            -- The latest earlier instant that is not a round trip, and its status (ts * 2 + status).
            max(CASE WHEN d.round_trip = 0 THEN d.ts_ms END)
                OVER (PARTITION BY d.spot_id ORDER BY d.ts_ms ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                AS held_ms,
            max(CASE WHEN d.round_trip = 0 THEN d.ts_ms * 2 + d.occupied END)
                OVER (PARTITION BY d.spot_id ORDER BY d.ts_ms ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                AS held_code
        FROM (
            SELECT
                e.spot_id,
                e.ts_ms,
                max(CASE WHEN e.status = 'occupied' THEN 1 ELSE 0 END) AS occupied,
                max(CASE WHEN e.status = 'occupied' THEN 1 ELSE 0 END)
                    - min(CASE WHEN e.status = 'occupied' THEN 1 ELSE 0 END) AS round_trip
            FROM events e CROSS JOIN params p
            WHERE e.ts_ms >= p.read_from_ms - p.lookback_ms AND e.ts_ms < p.read_to_ms
            GROUP BY e.spot_id, e.ts_ms
        ) d
    ) r CROSS JOIN params p
    WHERE r.ts_ms >= p.read_from_ms
)
