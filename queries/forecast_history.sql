-- forecast_history: per group and whole UTC hour of a window, what a forecast or backtest
-- needs (METRICS.md section 8, "Forecast"), from one read of the events: the changes of
-- the group's observed and occupied milliseconds (section 7's hourly rates: occupancy's,
-- by UTC hour) and of its occupied and free bays (availability's state at each whole
-- hour: the persistence baseline and the forecast's current deviation). The caller
-- sums the changes over the hours into the rates and the counts (parking.analytics.forecast).
--
-- Bound parameters (pyformat, set by parking.analytics.forecast, never typed by users):
--   start_ms, end_ms      the window's hours [start, end) (epoch ms, whole UTC hours) for the
--                         rates; the states are at the instants states_from_ms, + 1 h, ... <= end
--   states_from_ms        the first whole hour whose state is wanted (at or after start_ms)
--   lookback_ms           how long an event is trusted: an older state is unknown
--   group_by              'zone', 'level' or 'bay_type': the catalog column to group by
--   filter_zones, zones   1 and the zone names to keep only the catalog's spots of those
--                         zones (--zone); 0 and a placeholder list to keep every spot
--   years, months, days, first_hour, last_hour
--                         the partitions of [start - 2 lookback, end], for pruning (a round trip looks back)
-- Columns: group_value; at_ms, a whole hour; observed_count and observed_offset_ms: the
-- spans of the hourly rule (an instant holds until the next or lookback after it, never
-- past end) that start at that hour (+1) or end in it (-1), and the sum of those starts'
-- and ends' milliseconds past the hour (with the same signs); occupied_count and
-- occupied_offset_ms: the same of the occupied spans; occupied_change and free_change:
-- how the group's occupied and free bays change at that hour (availability's rule:
-- their running sums over the hours are the counts); first_ms, the group's earliest
-- event read (the backtest's 14-day history rule). The observed milliseconds of hour k
-- are 3,600,000 x (the running sum of observed_count up to k) - observed_offset_ms of k.
WITH params AS (
    SELECT
        CAST(%(start_ms)s AS bigint) AS start_ms,
        CAST(%(end_ms)s AS bigint) AS end_ms,
        CAST(%(states_from_ms)s AS bigint) AS states_from_ms,
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
followed AS (
    -- Each instant of a member spot with the spot's next instant.
    SELECT
        m.group_value,
        m.catalogued,
        i.occupied,
        i.ts_ms,
        lead(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) AS next_ms
    FROM instants i
    JOIN members m ON m.spot_id = i.spot_id
),
spans AS (
    -- The hourly rule (occupancy's intervals): an instant holds until the spot's next
    -- instant or lookback after it, never past end; the part from start on.
    SELECT c.group_value, c.occupied, c.from_ms, c.to_ms
    FROM (
        SELECT
            f.group_value,
            f.occupied,
            greatest(f.ts_ms, p.start_ms) AS from_ms,
            least(coalesce(f.next_ms, f.ts_ms + p.lookback_ms), f.ts_ms + p.lookback_ms, p.end_ms) AS to_ms
        FROM followed f CROSS JOIN params p
    ) c
    WHERE c.to_ms > c.from_ms
),
edges AS (
    -- Where each span starts (k = 0: +1) and ends (k = 1: -1): the hour, and the milliseconds past it.
    SELECT c.group_value, c.occupied, c.sign, c.edge_ms - mod(c.edge_ms - p.start_ms, 3600000) AS at_ms,
           mod(c.edge_ms - p.start_ms, 3600000) AS offset_ms
    FROM (
        SELECT s.group_value, s.occupied, 1 - 2 * t.k AS sign, CASE t.k WHEN 0 THEN s.from_ms ELSE s.to_ms END AS edge_ms
        FROM spans s
        CROSS JOIN UNNEST(sequence(0, 1, 1)) AS t (k)
    ) c CROSS JOIN params p
    WHERE c.edge_ms < p.end_ms
),
held AS (
    -- The state at instant t is the latest instant in [t - lookback, t]: instant ts
    -- answers for every t in [ts, min(next instant, ts + lookback + 1 ms)); an
    -- uncatalogued spot counts, as in availability, only while seen in (t - 7 days, t].
    SELECT
        f.group_value,
        f.occupied,
        f.ts_ms AS from_ms,
        least(
            coalesce(f.next_ms, f.ts_ms + p.lookback_ms + 1),
            f.ts_ms + p.lookback_ms + 1,
            CASE WHEN f.catalogued THEN f.ts_ms + p.lookback_ms + 1 ELSE f.ts_ms + 604800000 END
        ) AS to_ms
    FROM followed f
    CROSS JOIN params p
),
grid AS (
    -- The whole hours from states_from each held state answers for: first_ms, then
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
            greatest(p.states_from_ms, h.from_ms + mod(p.states_from_ms - h.from_ms + 3600000000000, 3600000))
                AS first_ms,
            least(p.end_ms, h.to_ms - 1) AS last_ms
        FROM held h CROSS JOIN params p
    ) c
    WHERE c.last_ms >= c.first_ms
),
changes AS (
    -- A state counts from its first hour (k = 0) and stops counting at the hour after its
    -- last (k = 1); a span's edges, as above.
    SELECT g.group_value, CASE t.k WHEN 0 THEN g.first_ms ELSE g.after_ms END AS at_ms,
           (1 - 2 * t.k) * g.occupied AS occupied_change, (1 - 2 * t.k) * (1 - g.occupied) AS free_change,
           0 AS observed_count, 0 AS observed_offset_ms, 0 AS occupied_count, 0 AS occupied_offset_ms
    FROM grid g
    CROSS JOIN UNNEST(sequence(0, 1, 1)) AS t (k)
    CROSS JOIN params p
    WHERE t.k = 0 OR g.after_ms <= p.end_ms
    UNION ALL
    SELECT group_value, at_ms, 0, 0, sign, sign * offset_ms, sign * occupied, sign * occupied * offset_ms
    FROM edges
),
firsts AS (
    SELECT group_value, min(ts_ms) AS first_ms
    FROM followed
    GROUP BY group_value
),
totals AS (
    SELECT
        group_value,
        at_ms,
        CAST(sum(observed_count) AS bigint) AS observed_count,
        CAST(sum(observed_offset_ms) AS bigint) AS observed_offset_ms,
        CAST(sum(occupied_count) AS bigint) AS occupied_count,
        CAST(sum(occupied_offset_ms) AS bigint) AS occupied_offset_ms,
        CAST(sum(occupied_change) AS bigint) AS occupied_change,
        CAST(sum(free_change) AS bigint) AS free_change
    FROM changes
    GROUP BY group_value, at_ms
)
SELECT
    t.group_value, t.at_ms, t.observed_count, t.observed_offset_ms, t.occupied_count, t.occupied_offset_ms,
    t.occupied_change, t.free_change, f.first_ms
FROM totals t
JOIN firsts f ON coalesce(f.group_value, '') = coalesce(t.group_value, '')
    AND (f.group_value IS NULL) = (t.group_value IS NULL)
