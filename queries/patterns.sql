-- patterns: occupancy by (ISO weekday, hour of day) over every hour of the
-- window, in local time when a zone is given (METRICS.md sections 3-4, 6).
--
-- Bound parameters (pyformat, set by parking.queries, never typed by users):
--   start_ms, end_ms      the window [start, end) as epoch milliseconds, end clipped to now
--   time_zone             IANA zone for weekday and hour, 'UTC' by default
--   lookback_ms           how long an event is trusted
--   group_by              '' for one row per spot (or for the whole garage), else 'zone',
--                         'level' or 'bay_type': one row per group of the spot catalog
--   filter_zones, zones   1 and the zone names to keep only the catalog's spots of those
--                         zones (--zone); 0 and a placeholder list to keep every spot
--   years, months, days, first_hour, last_hour
--                         the partitions of [start - 2 lookback, end), for pruning (a round trip looks back)
WITH params AS (
    SELECT
        CAST(%(start_ms)s AS bigint) AS start_ms,
        CAST(%(end_ms)s AS bigint) AS end_ms,
        CAST(%(end_ms)s AS bigint) AS grid_end_ms,
        CAST(ceiling((%(end_ms)s - %(start_ms)s) / 3.6e6) AS bigint) AS grid_hours,
        CAST(%(start_ms)s AS bigint) - CAST(%(lookback_ms)s AS bigint) AS read_from_ms,
        CAST(%(end_ms)s AS bigint) AS read_to_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms,
        CAST(%(group_by)s AS varchar) AS group_by,
        CAST(%(filter_zones)s AS integer) AS filter_zones
),
{{events}},
{{instants}},
{{members}},
{{intervals}},
{{hourly}},
cells AS (
    -- Each row's local weekday and the local hour it starts in.
    SELECT
        h.group_value,
        day_of_week(from_unixtime_nanos(h.row_ms * 1000000) AT TIME ZONE %(time_zone)s) AS day_of_week,
        hour(from_unixtime_nanos(h.row_ms * 1000000) AT TIME ZONE %(time_zone)s) AS hour_of_day,
        h.occupied_ms,
        h.observed_ms
    FROM hours h
)
SELECT
    c.group_value,
    c.day_of_week,
    c.hour_of_day AS hour,
    CAST(sum(c.occupied_ms) AS double) / nullif(sum(c.observed_ms), 0) AS occupancy_rate
FROM cells c
GROUP BY c.group_value, c.day_of_week, c.hour_of_day
ORDER BY c.group_value NULLS LAST, c.day_of_week, c.hour_of_day
