-- status: per spot with an event in the window up to `at`, its latest status,
-- the start of its current run, and whether it is stale (METRICS.md section 4).
--
-- Bound parameters (pyformat, set by parking.queries, never typed by users):
--   at_ms                 the instant asked about (epoch milliseconds, at most now)
--   window_ms             how far back a spot's last event may lie to be listed (7 days)
--   lookback_ms           how long an event is trusted; a longer gap breaks a run
--   years, months, days, first_hour, last_hour
--                         the partitions of (at - window - 2 lookback, at], for pruning (a round trip looks back)
WITH params AS (
    SELECT
        CAST(%(at_ms)s AS bigint) AS at_ms,
        CAST(%(window_ms)s AS bigint) AS window_ms,
        CAST(%(at_ms)s AS bigint) - CAST(%(window_ms)s AS bigint) - CAST(%(lookback_ms)s AS bigint) + 1
            AS read_from_ms,
        CAST(%(at_ms)s AS bigint) + 1 AS read_to_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms
),
{{events}},
{{instants}},
{{latest}}
SELECT
    s.spot_id,
    CASE WHEN s.occupied = 1 THEN 'occupied' ELSE 'free' END AS status,
    CAST(from_unixtime_nanos(s.since_ms * 1000000) AT TIME ZONE 'UTC' AS timestamp) AS since,
    CAST(from_unixtime_nanos(s.last_ms * 1000000) AT TIME ZONE 'UTC' AS timestamp) AS last_event,
    p.at_ms - s.last_ms > p.lookback_ms AS stale
FROM latest s CROSS JOIN params p
WHERE s.last_ms > p.at_ms - p.window_ms
ORDER BY s.spot_id
