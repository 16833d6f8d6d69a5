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
--                         the partitions of (at - window - lookback, at], for pruning
WITH params AS (
    SELECT
        CAST(%(at_ms)s AS bigint) AS at_ms,
        CAST(%(window_ms)s AS bigint) AS window_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms,
        CAST(%(silent_ms)s AS bigint) AS silent_ms,
        CAST(%(flapping_changes)s AS bigint) AS flapping_changes,
        CAST(%(stuck_ms)s AS bigint) AS stuck_ms
),
events AS (
    SELECT
        spot_id,
        status,
        CAST(round(to_unixtime(from_iso8601_timestamp("timestamp")) * 1e3) AS bigint) AS ts_ms
    FROM parking_events
    WHERE year IN %(years)s AND month IN %(months)s AND day IN %(days)s
      AND concat(year, month, day, hour) BETWEEN %(first_hour)s AND %(last_hour)s
),
instants AS (
    -- One status per distinct instant; a conflicting instant counts as occupied.
    SELECT e.spot_id, e.ts_ms, max(CASE WHEN e.status = 'occupied' THEN 1 ELSE 0 END) AS occupied
    FROM events e CROSS JOIN params p
    WHERE e.ts_ms > p.at_ms - p.window_ms - p.lookback_ms AND e.ts_ms <= p.at_ms
    GROUP BY e.spot_id, e.ts_ms
),
steps AS (
    SELECT
        i.spot_id,
        i.ts_ms,
        i.occupied,
        lag(i.occupied) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) AS prev_occupied,
        i.ts_ms - lag(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) AS gap_ms
    FROM instants i
),
spots AS (
    SELECT
        s.spot_id,
        max_by(s.occupied, s.ts_ms) AS occupied,
        max(s.ts_ms) AS last_ms,
        -- The current run starts at the latest status change or gap longer than lookback.
        max(
            CASE WHEN s.prev_occupied IS NULL OR s.prev_occupied <> s.occupied OR s.gap_ms > p.lookback_ms
            THEN s.ts_ms END
        ) AS since_ms,
        -- Arrivals and departures: status changes seen within lookback, in (at - 24 h, at].
        sum(
            CASE WHEN s.ts_ms > p.at_ms - 86400000 AND s.prev_occupied <> s.occupied AND s.gap_ms <= p.lookback_ms
            THEN 1 ELSE 0 END
        ) AS changes_24h
    FROM steps s CROSS JOIN params p
    GROUP BY s.spot_id
)
SELECT
    s.spot_id,
    CAST(from_unixtime_nanos(s.last_ms * 1000000) AT TIME ZONE 'UTC' AS timestamp) AS last_event,
    (p.at_ms - s.last_ms) / 3.6e6 AS silent_hours,
    s.changes_24h,
    (p.at_ms - s.since_ms) / 3.6e6 AS state_hours,
    concat_ws(
        ',',
        CASE WHEN s.changes_24h >= p.flapping_changes THEN 'flapping' END,
        CASE WHEN p.at_ms - s.last_ms > p.silent_ms THEN 'silent' END,
        CASE WHEN s.occupied = 1 AND p.at_ms - s.since_ms > p.stuck_ms THEN 'stuck' END
    ) AS flags
FROM spots s CROSS JOIN params p
WHERE s.last_ms > p.at_ms - p.window_ms
ORDER BY s.spot_id
