-- alerts: the availability rows whose occupancy rate is at or above a threshold:
-- the zones (levels, bay types) that are full or nearly so (METRICS.md section 7).
--
-- Bound parameters (pyformat, set by parking.queries, never typed by users):
--   at_ms                 the instant asked about (epoch milliseconds, at most now)
--   window_ms             uncatalogued spots count when seen in (at - window, at] (7 days)
--   lookback_ms           how long an event is trusted: an older state is unknown
--   group_by              'zone', 'level' or 'bay_type': the catalog column to group by
--   threshold             the occupancy rate (0-1) at or above which a group is listed
--   years, months, days, first_hour, last_hour
--                         the partitions of (at - window - 2 lookback, at], for pruning (a round trip looks back)
-- Reads spot_catalog, the catalog in force (parking-cli spots load); every join
-- is on spot_id.
WITH params AS (
    SELECT
        CAST(%(at_ms)s AS bigint) AS at_ms,
        CAST(%(window_ms)s AS bigint) AS window_ms,
        CAST(%(at_ms)s AS bigint) - CAST(%(window_ms)s AS bigint) - CAST(%(lookback_ms)s AS bigint) + 1
            AS read_from_ms,
        CAST(%(at_ms)s AS bigint) + 1 AS read_to_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms,
        CAST(%(group_by)s AS varchar) AS group_by,
        CAST(%(threshold)s AS double) AS threshold
),
{{events}},
{{instants}},
{{states}}
SELECT
    group_value,
    capacity,
    occupied,
    free,
    capacity - occupied - free AS unknown,
    CAST(occupied AS double) / nullif(occupied + free, 0) AS occupancy_rate
FROM groups g CROSS JOIN params p
WHERE CAST(g.occupied AS double) / nullif(g.occupied + g.free, 0) >= p.threshold
ORDER BY group_value NULLS LAST
