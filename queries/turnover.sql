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
--                         the partitions of [start - lookback, end), for pruning
WITH params AS (
    SELECT
        CAST(%(start_ms)s AS bigint) AS start_ms,
        CAST(%(end_ms)s AS bigint) AS end_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms,
        CAST(%(group_by)s AS varchar) AS group_by,
        CAST(%(filter_zones)s AS integer) AS filter_zones
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
    WHERE e.ts_ms >= p.start_ms - p.lookback_ms AND e.ts_ms < p.end_ms
    GROUP BY e.spot_id, e.ts_ms
),
members AS (
    -- Each spot that sent an event, with its group (METRICS.md section 7): the
    -- catalog's --by column, null when uncatalogued or when not grouping. With
    -- --zone, only the catalog's spots of those zones.
    SELECT
        s.spot_id,
        CASE p.group_by WHEN 'zone' THEN c.zone WHEN 'level' THEN c.level WHEN 'bay_type' THEN c.bay_type END
            AS group_value
    FROM (SELECT DISTINCT spot_id FROM instants) s
    LEFT JOIN spot_catalog c ON c.spot_id = s.spot_id
    CROSS JOIN params p
    WHERE p.filter_zones = 0 OR c.zone IN %(zones)s
),
steps AS (
    -- Each instant with the one before it and with where its status stops holding.
    SELECT
        i.spot_id,
        i.ts_ms,
        i.occupied,
        lag(i.occupied) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) AS prev_occupied,
        i.ts_ms - lag(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) AS gap_ms,
        least(
            coalesce(lead(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms), i.ts_ms + p.lookback_ms),
            i.ts_ms + p.lookback_ms,
            p.end_ms
        ) AS to_ms
    FROM instants i CROSS JOIN params p
),
spots AS (
    SELECT
        s.spot_id,
        sum(CASE WHEN s.to_ms > p.start_ms THEN s.to_ms - greatest(s.ts_ms, p.start_ms) ELSE 0 END) AS observed_ms,
        sum(
            CASE WHEN s.ts_ms >= p.start_ms AND s.occupied = 1 AND s.prev_occupied = 0 AND s.gap_ms <= p.lookback_ms
            THEN 1 ELSE 0 END
        ) AS arrivals
    FROM steps s CROSS JOIN params p
    GROUP BY s.spot_id
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
