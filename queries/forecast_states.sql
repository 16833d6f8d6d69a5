-- forecast_states: per group, the bays occupied and free at every whole hour
-- of a window: availability's state (METRICS.md sections 3, 7) at each origin
-- of a forecast or backtest, in one query instead of one per hour (section 8,
-- "Forecast": the persistence baseline and the forecast's current deviation).
--
-- Bound parameters (pyformat, set by parking.analytics.forecast, never typed by users):
--   start_ms, end_ms      the instants start, start + 1 h, ... <= end (epoch ms, whole UTC hours)
--   lookback_ms           how long an event is trusted: an older state is unknown
--   group_by              'zone', 'level' or 'bay_type': the catalog column to group by
--   filter_zones, zones   1 and the zone names to keep only the catalog's spots of those
--                         zones (--zone); 0 and a placeholder list to keep every spot
--   years, months, days, first_hour, last_hour
--                         the partitions of [start - lookback, end], for pruning
-- Columns: group_value, at_ms (the instant), occupied, free, and first_ms, the
-- group's earliest event read (the backtest's 14-day history rule).
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
    SELECT spot_id, status, ts_ms
    FROM parking_events_compacted
    WHERE year IN %(years)s AND month IN %(months)s AND day IN %(days)s
      AND concat(year, month, day, hour) BETWEEN %(first_hour)s AND %(last_hour)s
),
instants AS (
    -- One status per distinct instant; a conflicting instant counts as occupied (as availability).
    SELECT e.spot_id, e.ts_ms, max(CASE WHEN e.status = 'occupied' THEN 1 ELSE 0 END) AS occupied
    FROM events e CROSS JOIN params p
    WHERE e.ts_ms >= p.start_ms - p.lookback_ms AND e.ts_ms <= p.end_ms
    GROUP BY e.spot_id, e.ts_ms
),
members AS (
    SELECT
        s.spot_id,
        CASE p.group_by WHEN 'level' THEN c.level WHEN 'bay_type' THEN c.bay_type ELSE c.zone END AS group_value
    FROM (SELECT DISTINCT spot_id FROM instants) s
    LEFT JOIN spot_catalog c ON c.spot_id = s.spot_id
    CROSS JOIN params p
    WHERE p.filter_zones = 0 OR c.zone IN %(zones)s
),
held AS (
    -- The state at instant t is the latest instant in [t - lookback, t]: instant ts
    -- answers for every t in [ts, min(next instant, ts + lookback + 1 ms)).
    SELECT
        m.group_value,
        i.occupied,
        i.ts_ms AS from_ms,
        least(
            coalesce(lead(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms), i.ts_ms + p.lookback_ms + 1),
            i.ts_ms + p.lookback_ms + 1
        ) AS to_ms
    FROM instants i
    JOIN members m ON m.spot_id = i.spot_id
    CROSS JOIN params p
),
grid AS (
    -- The whole hours of the window each held state answers for.
    SELECT
        h.group_value,
        h.occupied,
        greatest(p.start_ms, h.from_ms + mod(p.start_ms - h.from_ms + 3600000000000, 3600000)) AS first_ms,
        least(p.end_ms, h.to_ms - 1) AS last_ms
    FROM held h CROSS JOIN params p
),
states AS (
    SELECT g.group_value, g.first_ms + t.k * 3600000 AS at_ms, g.occupied
    FROM grid g
    CROSS JOIN UNNEST(sequence(0, CAST(floor((g.last_ms - g.first_ms) / 3600000.0) AS bigint), 1)) AS t (k)
    WHERE g.last_ms >= g.first_ms
),
firsts AS (
    SELECT m.group_value, min(i.ts_ms) AS first_ms
    FROM instants i JOIN members m ON m.spot_id = i.spot_id
    GROUP BY m.group_value
)
SELECT
    s.group_value,
    s.at_ms,
    sum(s.occupied) AS occupied,
    sum(1 - s.occupied) AS free,
    min(f.first_ms) AS first_ms
FROM states s
JOIN firsts f ON coalesce(f.group_value, '') = coalesce(s.group_value, '')
    AND (f.group_value IS NULL) = (s.group_value IS NULL)
GROUP BY s.group_value, s.at_ms
ORDER BY s.group_value NULLS LAST, s.at_ms
