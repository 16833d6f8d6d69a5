-- overstays: the enforcement list. Per spot occupied at an instant whose
-- catalog row sets a maximum stay, and whose stay exceeds it: since when, for
-- how long, by how much (METRICS.md sections 4 and 7).
--
-- Bound parameters (pyformat, set by parking.queries, never typed by users):
--   at_ms                 the instant asked about (epoch milliseconds, at most now)
--   window_ms             the stay is read from the events of (at - window, at] (7 days)
--   lookback_ms           how long an event is trusted; a longer gap breaks a run
--   years, months, days, first_hour, last_hour
--                         the partitions of (at - window, at], for pruning
-- Reads spot_catalog, the catalog in force (parking-cli spots load); every join
-- is on spot_id.
WITH params AS (
    SELECT
        CAST(%(at_ms)s AS bigint) AS at_ms,
        CAST(%(window_ms)s AS bigint) AS window_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms
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
    WHERE e.ts_ms > p.at_ms - p.window_ms AND e.ts_ms <= p.at_ms
    GROUP BY e.spot_id, e.ts_ms
),
runs AS (
    -- A run breaks where the status changes or the gap exceeds the lookback.
    SELECT
        i.spot_id,
        i.ts_ms,
        i.occupied,
        CASE
            WHEN lag(i.occupied) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) = i.occupied
             AND i.ts_ms - lag(i.ts_ms) OVER (PARTITION BY i.spot_id ORDER BY i.ts_ms) <= p.lookback_ms
            THEN 0 ELSE 1
        END AS starts_run
    FROM instants i CROSS JOIN params p
),
spots AS (
    SELECT
        spot_id,
        max_by(occupied, ts_ms) AS occupied,
        max(CASE WHEN starts_run = 1 THEN ts_ms END) AS since_ms,
        max(ts_ms) AS last_ms
    FROM runs
    GROUP BY spot_id
),
stays AS (
    -- Occupied now (the latest event lies within lookback) in a bay with a maximum stay.
    SELECT
        s.spot_id,
        c.zone,
        s.since_ms,
        (p.at_ms - s.since_ms) / 6e4 AS stay_minutes,
        CAST(nullif(c.max_stay_minutes, '') AS bigint) AS max_stay_minutes
    FROM spots s
    JOIN spot_catalog c ON c.spot_id = s.spot_id
    CROSS JOIN params p
    WHERE s.occupied = 1 AND p.at_ms - s.last_ms <= p.lookback_ms AND c.max_stay_minutes <> ''
)
SELECT
    spot_id,
    zone,
    CAST(from_unixtime_nanos(since_ms * 1000000) AS timestamp) AS since,
    stay_minutes,
    max_stay_minutes,
    stay_minutes - max_stay_minutes AS over_minutes
FROM stays
WHERE stay_minutes > max_stay_minutes
ORDER BY over_minutes DESC, spot_id
