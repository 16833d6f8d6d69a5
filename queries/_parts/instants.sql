-- instants: the distinct instants of each spot in [read_from_ms, read_to_ms) (params).
instants AS (
    -- One status per distinct instant; a conflicting instant counts as occupied.
    SELECT e.spot_id, e.ts_ms, max(CASE WHEN e.status = 'occupied' THEN 1 ELSE 0 END) AS occupied
    FROM events e CROSS JOIN params p
    WHERE e.ts_ms >= p.read_from_ms AND e.ts_ms < p.read_to_ms
    GROUP BY e.spot_id, e.ts_ms
)
