-- overstays: the enforcement list. Per spot occupied at an instant whose
-- catalog row sets a maximum stay, and whose stay exceeds it: since when, for
-- how long, by how much, and what sensor health says of its sensor at that
-- instant (sensor_flags: empty when it looks healthy, a stay worth an officer's
-- visit; otherwise worth a technician's) (METRICS.md sections 4, 6 and 7).
--
-- Bound parameters (pyformat, set by parking.queries, never typed by users):
--   at_ms                 the instant asked about (epoch milliseconds, at most now)
--   window_ms             the stay is read from the events of (at - window, at] (7 days)
--   health_window_ms      sensor health's window, whose events its flags read (30 days)
--   lookback_ms           how long an event is trusted; a longer gap breaks a run
--   silent_ms, flapping_changes, stuck_ms
--                         sensor health's default thresholds (the lookback, 20, 72 hours)
--   years, months, days, first_hour, last_hour
--                         the partitions of (at - health_window - 2 lookback, at], for pruning
-- Reads spot_catalog, the catalog in force (parking-cli spots load); every join
-- is on spot_id.
WITH params AS (
    SELECT
        CAST(%(at_ms)s AS bigint) AS at_ms,
        CAST(%(window_ms)s AS bigint) AS window_ms,
        -- Sensor health's reading: (at - health_window - lookback, at].
        CAST(%(at_ms)s AS bigint) - CAST(%(health_window_ms)s AS bigint) - CAST(%(lookback_ms)s AS bigint) + 1
            AS read_from_ms,
        CAST(%(at_ms)s AS bigint) + 1 AS read_to_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms,
        CAST(%(silent_ms)s AS bigint) AS silent_ms,
        CAST(%(flapping_changes)s AS bigint) AS flapping_changes,
        CAST(%(stuck_ms)s AS bigint) AS stuck_ms
),
{{events}},
{{instants}},
{{sensors}},
stays AS (
    -- Occupied now (the latest event lies within lookback) in a bay with a maximum stay.
    -- The stay is read from the 7 days: its run starts at sensor health's start of the
    -- run, or at the spot's first instant of the 7 days when the run began before them.
    SELECT
        s.spot_id,
        c.zone,
        greatest(s.since_ms, s.first_ms) AS since_ms,
        (p.at_ms - greatest(s.since_ms, s.first_ms)) / 6e4 AS stay_minutes,
        CAST(nullif(c.max_stay_minutes, '') AS bigint) AS max_stay_minutes,
        s.flags AS sensor_flags
    FROM sensors s
    JOIN spot_catalog c ON c.spot_id = s.spot_id
    CROSS JOIN params p
    WHERE s.occupied = 1 AND p.at_ms - s.last_ms <= p.lookback_ms AND c.max_stay_minutes <> ''
      AND s.first_ms IS NOT NULL
)
SELECT
    spot_id,
    zone,
    CAST(from_unixtime_nanos(since_ms * 1000000) AS timestamp) AS since,
    stay_minutes,
    max_stay_minutes,
    stay_minutes - max_stay_minutes AS over_minutes,
    sensor_flags
FROM stays
WHERE stay_minutes > max_stay_minutes
ORDER BY over_minutes DESC, spot_id
