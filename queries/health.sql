-- health: per spot with an event in the window up to `at`, signs that its
-- sensor is lying: silence, flapping, a car "parked" for days (METRICS.md section 6).
--
-- Bound parameters (pyformat, set by parking.queries, never typed by users):
--   at_ms                 the instant asked about (epoch milliseconds, at most now)
--   window_ms             how far back a spot's last event may lie to be listed (30 days)
--   lookback_ms           how long an event is trusted; a longer gap breaks a run
--   silent_ms, flapping_changes, stuck_ms
--                         the thresholds of the silent, flapping and stuck flags
--   years, months, days, first_hour, last_hour
--                         the partitions of (at - window - 2 lookback, at], for pruning (a round trip looks back)
WITH params AS (
    SELECT
        CAST(%(at_ms)s AS bigint) AS at_ms,
        CAST(%(window_ms)s AS bigint) AS window_ms,
        CAST(%(at_ms)s AS bigint) - CAST(%(window_ms)s AS bigint) - CAST(%(lookback_ms)s AS bigint) + 1
            AS read_from_ms,
        CAST(%(at_ms)s AS bigint) + 1 AS read_to_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms,
        CAST(%(silent_ms)s AS bigint) AS silent_ms,
        CAST(%(flapping_changes)s AS bigint) AS flapping_changes,
        CAST(%(stuck_ms)s AS bigint) AS stuck_ms
),
{{events}},
{{instants}},
{{sensors}}
SELECT
    s.spot_id,
    CAST(from_unixtime_nanos(s.last_ms * 1000000) AT TIME ZONE 'UTC' AS timestamp) AS last_event,
    (p.at_ms - s.last_ms) / 3.6e6 AS silent_hours,
    s.changes_24h,
    (p.at_ms - s.since_ms) / 3.6e6 AS state_hours,
    s.flags
FROM sensors s CROSS JOIN params p
WHERE s.last_ms > p.at_ms - p.window_ms
ORDER BY s.spot_id
