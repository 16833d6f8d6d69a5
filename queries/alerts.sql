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
--                         the partitions of (at - window - lookback, at], for pruning
-- Reads spot_catalog, the catalog in force (parking-cli spots load); every join
-- is on spot_id.
WITH params AS (
    SELECT
        CAST(%(at_ms)s AS bigint) AS at_ms,
        CAST(%(window_ms)s AS bigint) AS window_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms,
        CAST(%(group_by)s AS varchar) AS group_by,
        CAST(%(threshold)s AS double) AS threshold
),
events AS (
    SELECT
        spot_id,
        status,
        CAST(round(to_unixtime(from_iso8601_timestamp("timestamp")) * 1e3) AS bigint) AS ts_ms
    FROM parking_events
    WHERE year IN %(years)s AND month IN %(months)s AND day IN %(days)s
      AND concat(year, month, day, hour) BETWEEN %(first_hour)s AND %(last_hour)s
    UNION ALL
    -- Closed days compacted to Parquet (README "Two tiers"); ts_ms was computed from the
    -- same text by the same rule. An event in both tiers while a compaction runs, or after
    -- one was cut short, is an exact duplicate, which changes nothing (METRICS.md section 3).
    SELECT spot_id, status, ts_ms
    FROM parking_events_compacted
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
latest AS (
    SELECT spot_id, max_by(occupied, ts_ms) AS occupied, max(ts_ms) AS last_ms
    FROM instants
    GROUP BY spot_id
),
spots AS (
    -- Every catalogued spot (seen or not) and every spot that sent an event,
    -- with its group (null when uncatalogued) and its state at `at` (null: unknown).
    SELECT
        c.spot_id IS NOT NULL AS catalogued,
        CASE p.group_by WHEN 'level' THEN c.level WHEN 'bay_type' THEN c.bay_type ELSE c.zone END AS group_value,
        CASE WHEN l.last_ms >= p.at_ms - p.lookback_ms THEN l.occupied END AS occupied,
        l.last_ms
    FROM spot_catalog c
    FULL OUTER JOIN latest l ON c.spot_id = l.spot_id
    CROSS JOIN params p
),
groups AS (
    SELECT
        s.group_value,
        count(*) AS capacity,
        sum(CASE WHEN s.occupied = 1 THEN 1 ELSE 0 END) AS occupied,
        sum(CASE WHEN s.occupied = 0 THEN 1 ELSE 0 END) AS free
    FROM spots s CROSS JOIN params p
    WHERE s.catalogued OR s.last_ms > p.at_ms - p.window_ms
    GROUP BY s.group_value
)
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
