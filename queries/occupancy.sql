-- occupancy: per hour of one day, the share of observed spot-seconds that
-- were occupied (METRICS.md sections 3-4).
--
-- Bound parameters (pyformat, set by parking.queries, never typed by users):
--   start_ms, day_end_ms  the day [start, end) as epoch milliseconds (UTC instants
--                         of local midnights when a time zone is given)
--   end_ms                day_end_ms clipped to now
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
hours AS (
    -- Every hour of the day, for each group.
    SELECT g.group_value, t.hour_ms
    FROM groups g
    CROSS JOIN params p
    CROSS JOIN UNNEST(sequence(p.start_ms, p.day_end_ms - 1, 3600000)) AS t (hour_ms)
)
SELECT
    h.group_value,
    CAST(from_unixtime_nanos(h.hour_ms * 1000000) AT TIME ZONE 'UTC' AS timestamp) AS hour,
    CAST(x.occupied_ms AS double) / nullif(x.observed_ms, 0) AS occupancy_rate
FROM hours h LEFT JOIN hourly x ON x.hour_ms = h.hour_ms
    AND coalesce(x.group_value, '') = coalesce(h.group_value, '') AND (x.group_value IS NULL) = (h.group_value IS NULL)
ORDER BY h.group_value NULLS LAST, h.hour_ms
