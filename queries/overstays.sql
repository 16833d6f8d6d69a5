-- overstays: the enforcement list. Per spot occupied at an instant whose
-- catalog row sets a maximum stay, and whose stay exceeds it: since when, for
-- how long, by how much (METRICS.md sections 4 and 7).
--
-- Bound parameters (pyformat, set by parking.queries, never typed by users):
--   at_ms                 the instant asked about (epoch milliseconds, at most now)
--   window_ms             the stay is read from the events of (at - window, at] (7 days)
--   lookback_ms           how long an event is trusted; a longer gap breaks a run
--   years, months, days, first_hour, last_hour
--                         the partitions of (at - window - lookback, at], for pruning (a round trip looks back)
-- Reads spot_catalog, the catalog in force (parking-cli spots load); every join
-- is on spot_id.
WITH params AS (
    SELECT
        CAST(%(at_ms)s AS bigint) AS at_ms,
        CAST(%(window_ms)s AS bigint) AS window_ms,
        CAST(%(at_ms)s AS bigint) - CAST(%(window_ms)s AS bigint) + 1 AS read_from_ms,
        CAST(%(at_ms)s AS bigint) + 1 AS read_to_ms,
        CAST(%(lookback_ms)s AS bigint) AS lookback_ms
),
{{events}},
{{instants}},
{{latest}},
stays AS (
    -- Occupied now (the latest event lies within lookback) in a bay with a maximum stay.
    SELECT
        s.spot_id,
        c.zone,
        s.since_ms,
        (p.at_ms - s.since_ms) / 6e4 AS stay_minutes,
        CAST(nullif(c.max_stay_minutes, '') AS bigint) AS max_stay_minutes
    FROM latest s
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
