-- utilization: per spot observed in the window, the share of its observed
-- seconds that were occupied (METRICS.md sections 3-4).
--
-- Bound parameters (pyformat, set by parking.queries, never typed by users):
--   start_ms, end_ms      the window [start, end) as epoch milliseconds, end clipped to now
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
        CAST(%(start_ms)s AS bigint) - CAST(%(lookback_ms)s AS bigint) AS read_from_ms,
        CAST(%(end_ms)s AS bigint) AS read_to_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms,
        CAST(%(group_by)s AS varchar) AS group_by,
        CAST(%(filter_zones)s AS integer) AS filter_zones
),
{{events}},
{{instants}},
{{intervals}},
{{members}},
observed AS (
    -- Per spot, or per group when grouping (row_spot is then null).
    SELECT
        m.group_value,
        CASE WHEN p.group_by = '' THEN v.spot_id END AS row_spot,
        v.occupied,
        v.to_ms - greatest(v.from_ms, p.start_ms) AS observed_ms
    FROM intervals v
    JOIN members m ON m.spot_id = v.spot_id
    CROSS JOIN params p
    WHERE v.to_ms > p.start_ms
)
SELECT
    group_value,
    row_spot AS spot_id,
    CAST(sum(occupied * observed_ms) AS double) / sum(observed_ms) AS utilization,
    sum(occupied * observed_ms) / 1e3 AS occupied_seconds,
    sum(observed_ms) / 1e3 AS observed_seconds
FROM observed
GROUP BY group_value, row_spot
HAVING sum(observed_ms) > 0
ORDER BY group_value NULLS LAST, row_spot
