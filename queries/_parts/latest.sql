{{steps}},
-- latest: per spot, the status of its latest instant, that instant, and the
-- start of its current run (METRICS.md section 4, status's since).
latest AS (
    SELECT
        spot_id,
        max_by(occupied, ts_ms) AS occupied,
        max(CASE WHEN starts_run = 1 THEN ts_ms END) AS since_ms,
        max(ts_ms) AS last_ms
    FROM steps
    GROUP BY spot_id
)
