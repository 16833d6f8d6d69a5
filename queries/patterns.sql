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
intervals AS (
    -- Each instant holds until the spot's next instant or lookback after it, never past end.
    SELECT
        i.spot_id,
        i.occupied,
        i.ts_ms AS from_ms,
        least(
            coalesce(lead(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms), i.ts_ms + p.lookback_ms),
            i.ts_ms + p.lookback_ms,
            p.end_ms
        ) AS to_ms,
        m.group_value
    FROM instants i
    JOIN members m ON m.spot_id = i.spot_id
    CROSS JOIN params p
),
spans AS (
    -- The intervals that reach into the window, from the window's start on, with the
    -- first hour of the window's grid (start + k hours) each touches and how many it
    -- touches: at most lookback + 1.
    SELECT
        c.group_value,
        c.occupied,
        c.from_ms,
        c.to_ms,
        c.first_hour_ms,
        CAST((c.last_hour_ms - c.first_hour_ms) / 3600000 AS bigint) + 1 AS hours
    FROM (
        SELECT
            v.group_value,
            v.occupied,
            greatest(v.from_ms, p.start_ms) AS from_ms,
            v.to_ms,
            greatest(v.from_ms, p.start_ms) - mod(greatest(v.from_ms, p.start_ms) - p.start_ms, 3600000) AS first_hour_ms,
            v.to_ms - 1 - mod(v.to_ms - 1 - p.start_ms, 3600000) AS last_hour_ms
        FROM intervals v CROSS JOIN params p
        WHERE v.to_ms > p.start_ms
    ) c
),
pieces AS (
    -- Each span cut at the grid's hours, one piece per hour it touches.
    SELECT
        s.group_value,
        s.first_hour_ms + t.k * 3600000 AS hour_ms,
        s.occupied,
        least(s.to_ms, s.first_hour_ms + (t.k + 1) * 3600000) - greatest(s.from_ms, s.first_hour_ms + t.k * 3600000)
            AS observed_ms
    FROM spans s CROSS JOIN UNNEST(sequence(0, s.hours - 1, 1)) AS t (k)
),
hourly AS (
    SELECT group_value, hour_ms, sum(occupied * observed_ms) AS occupied_ms, sum(observed_ms) AS observed_ms
    FROM pieces
    GROUP BY group_value, hour_ms
),
groups AS (
    -- The groups with a spot observed in the window; without grouping, the one
    -- null group, observed or not.
    SELECT DISTINCT group_value FROM pieces WHERE observed_ms > 0
    UNION
    SELECT CAST(NULL AS varchar) FROM params WHERE group_by = ''
),
hours AS (
    -- Every hour of the window, for each group. Hours are counted from the
    -- window's start, so they follow local hours in any zone.
    SELECT
        g.group_value,
        t.hour_ms,
        day_of_week(from_unixtime_nanos(t.hour_ms * 1000000) AT TIME ZONE %(time_zone)s) AS day_of_week,
        hour(from_unixtime_nanos(t.hour_ms * 1000000) AT TIME ZONE %(time_zone)s) AS hour_of_day
    FROM groups g
    CROSS JOIN params p
    CROSS JOIN UNNEST(sequence(p.start_ms, p.end_ms - 1, 3600000)) AS t (hour_ms)
)
SELECT
    h.group_value,
    h.day_of_week,
    h.hour_of_day AS hour,
    CAST(sum(x.occupied_ms) AS double) / nullif(sum(x.observed_ms), 0) AS occupancy_rate
FROM hours h LEFT JOIN hourly x ON x.hour_ms = h.hour_ms
    AND coalesce(x.group_value, '') = coalesce(h.group_value, '') AND (x.group_value IS NULL) = (h.group_value IS NULL)
GROUP BY h.group_value, h.day_of_week, h.hour_of_day
ORDER BY h.group_value NULLS LAST, h.day_of_week, h.hour_of_day
