-- turnover: per spot observed in the window, the arrivals in it and the
-- arrivals per observed day (METRICS.md section 6).
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
{{members}},
{{intervals}},
spots AS (
    SELECT
        v.spot_id,
        sum(CASE WHEN v.to_ms > p.start_ms THEN v.to_ms - greatest(v.from_ms, p.start_ms) ELSE 0 END) AS observed_ms,
        sum(CASE WHEN v.from_ms >= p.start_ms THEN v.arrival ELSE 0 END) AS arrivals
    FROM intervals v CROSS JOIN params p
    GROUP BY v.spot_id
)
SELECT
    m.group_value,
    CASE WHEN p.group_by = '' THEN s.spot_id END AS spot_id,
    sum(s.arrivals) AS arrivals,
    sum(s.observed_ms) / 1e3 AS observed_seconds,
    CAST(sum(s.arrivals) AS double) * 86400000 / nullif(sum(s.observed_ms), 0) AS turnover_per_day
FROM spots s
JOIN members m ON m.spot_id = s.spot_id
CROSS JOIN params p
WHERE s.observed_ms > 0
GROUP BY m.group_value, CASE WHEN p.group_by = '' THEN s.spot_id END
ORDER BY 1 NULLS LAST, 2
