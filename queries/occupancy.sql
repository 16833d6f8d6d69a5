-- occupancy: per local hour of one day (its rows, METRICS.md section 6), the share of observed spot-seconds that
-- were occupied (METRICS.md sections 3-4).
--
-- Bound parameters (pyformat, set by parking.queries, never typed by users):
--   start_ms, day_end_ms  the day [start, end) as epoch milliseconds (UTC instants
--                         of local midnights when a time zone is given)
--   end_ms                day_end_ms clipped to now
--   time_zone             IANA zone whose clock makes the day's rows, 'UTC' by default
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
        CAST(%(day_end_ms)s AS bigint) AS day_end_ms,
        CAST(%(day_end_ms)s AS bigint) AS grid_end_ms,
        CAST(ceiling((%(day_end_ms)s - %(start_ms)s) / 3.6e6) AS bigint) AS grid_hours,
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
{{hourly}}
SELECT
    h.group_value,
    CAST(from_unixtime_nanos(h.row_ms * 1000000) AT TIME ZONE 'UTC' AS timestamp) AS hour,
    CAST(h.occupied_ms AS double) / nullif(h.observed_ms, 0) AS occupancy_rate
FROM hours h
ORDER BY h.group_value NULLS LAST, h.row_ms
