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
--                         the partitions of [start - 2 lookback, end], for pruning (a round trip looks back)
-- Columns: group_value, at_ms (an instant), occupied_change and free_change (how
-- the group's occupied and free bays change at that instant: their running sums
-- over the hours are the counts), and first_ms, the group's earliest event read
-- (the backtest's 14-day history rule).
WITH params AS (
    SELECT
        CAST(%(start_ms)s AS bigint) AS start_ms,
        CAST(%(end_ms)s AS bigint) AS end_ms,
        CAST(%(start_ms)s AS bigint) - CAST(%(lookback_ms)s AS bigint) AS read_from_ms,
        CAST(%(end_ms)s AS bigint) + 1 AS read_to_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms,
        CAST(%(group_by)s AS varchar) AS group_by,
        CAST(%(filter_zones)s AS integer) AS filter_zones
),
{{events}},
{{instants}},
members AS (
    SELECT
        s.spot_id,
        c.spot_id IS NOT NULL AS catalogued,
        CASE p.group_by WHEN 'level' THEN c.level WHEN 'bay_type' THEN c.bay_type ELSE c.zone END AS group_value
    FROM (SELECT DISTINCT spot_id FROM instants) s
    LEFT JOIN spot_catalog c ON c.spot_id = s.spot_id
    CROSS JOIN params p
    WHERE p.filter_zones = 0 OR c.zone IN %(zones)s
),
held AS (
    -- The state at instant t is the latest instant in [t - lookback, t]: instant ts
    -- answers for every t in [ts, min(next instant, ts + lookback + 1 ms)); an
    -- uncatalogued spot counts, as in availability, only while seen in (t - 7 days, t].
    SELECT
        m.group_value,
        i.occupied,
        i.ts_ms AS from_ms,
        least(
            coalesce(lead(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms), i.ts_ms + p.lookback_ms + 1),
            i.ts_ms + p.lookback_ms + 1,
            CASE WHEN m.catalogued THEN i.ts_ms + p.lookback_ms + 1 ELSE i.ts_ms + 604800000 END
        ) AS to_ms
    FROM instants i
    JOIN members m ON m.spot_id = i.spot_id
    CROSS JOIN params p
),
grid AS (
    -- The whole hours of the window each held state answers for: first_ms, then
    -- every hour up to last_ms; after_ms is the hour after the last one.
    SELECT
        c.group_value,
        c.occupied,
        c.first_ms,
        c.first_ms + (CAST(floor((c.last_ms - c.first_ms) / 3600000.0) AS bigint) + 1) * 3600000 AS after_ms
    FROM (
        SELECT
            h.group_value,
            h.occupied,
            greatest(p.start_ms, h.from_ms + mod(p.start_ms - h.from_ms + 3600000000000, 3600000)) AS first_ms,
            least(p.end_ms, h.to_ms - 1) AS last_ms
        FROM held h CROSS JOIN params p
    ) c
    WHERE c.last_ms >= c.first_ms
),
changes AS (
    -- A state counts from its first hour and stops counting at the hour after its last:
    -- the counts at each hour are the running sums of these changes (done by the caller).
    SELECT group_value, first_ms AS at_ms, occupied AS occupied_change, 1 - occupied AS free_change FROM grid
    UNION ALL
    SELECT g.group_value, g.after_ms, -g.occupied, g.occupied - 1
    FROM grid g CROSS JOIN params p
    WHERE g.after_ms <= p.end_ms
),
firsts AS (
    SELECT m.group_value, min(i.ts_ms) AS first_ms
    FROM instants i JOIN members m ON m.spot_id = i.spot_id
    GROUP BY m.group_value
),
totals AS (
    SELECT group_value, at_ms, sum(occupied_change) AS occupied_change, sum(free_change) AS free_change
    FROM changes
    GROUP BY group_value, at_ms
)
SELECT t.group_value, t.at_ms, t.occupied_change, t.free_change, f.first_ms
FROM totals t
JOIN firsts f ON coalesce(f.group_value, '') = coalesce(t.group_value, '')
    AND (f.group_value IS NULL) = (t.group_value IS NULL)
ORDER BY t.group_value NULLS LAST, t.at_ms
