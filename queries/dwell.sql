-- dwell: per spot, how long cars stayed: sessions from an arrival in the
-- window to the departure that ends the same occupied run, before the
-- window's end (METRICS.md section 6). Percentiles are exact, interpolated
-- linearly between closest ranks (numpy's default), computed from ranks.
--
-- Bound parameters (pyformat, set by parking.queries, never typed by users):
--   start_ms, end_ms      the window [start, end) as epoch milliseconds, end clipped to now
--   lookback_ms           how long an event is trusted; a longer gap ends a run in unknown
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
{{steps}},
boundaries AS (
    -- Where a run starts: an arrival, a departure, or anything after a gap longer
    -- than lookback (unknown before).
    SELECT spot_id, ts_ms, arrival, departure, zero_stay
    FROM steps
    WHERE starts_run = 1
),
sessions AS (
    -- An arrival and the departure at the next boundary; a round trip after free is a
    -- session of its own, of zero minutes (METRICS.md section 6).
    SELECT
        b.spot_id,
        b.ts_ms AS arrival_ms,
        CASE WHEN b.zero_stay = 1 THEN b.ts_ms ELSE b.next_ms END AS departure_ms
    FROM (
        SELECT
            spot_id,
            ts_ms,
            arrival,
            zero_stay,
            lead(ts_ms) OVER (PARTITION BY spot_id ORDER BY ts_ms) AS next_ms,
            lead(departure) OVER (PARTITION BY spot_id ORDER BY ts_ms) AS next_is_departure
        FROM boundaries
    ) b CROSS JOIN params p
    WHERE b.arrival = 1 AND b.ts_ms >= p.start_ms
      AND (b.zero_stay = 1 OR (b.next_is_departure = 1 AND b.next_ms < p.end_ms))
),
grouped AS (
    -- Each session with its spot's group; row_spot is null when grouping.
    SELECT
        m.group_value,
        CASE WHEN p.group_by = '' THEN x.spot_id END AS row_spot,
        x.arrival_ms,
        x.departure_ms
    FROM sessions x
    JOIN members m ON m.spot_id = x.spot_id
    CROSS JOIN params p
),
ranked AS (
    SELECT
        group_value,
        row_spot,
        (departure_ms - arrival_ms) / 6e4 AS minutes,
        row_number() OVER (PARTITION BY group_value, row_spot ORDER BY departure_ms - arrival_ms) - 1 AS rank0,
        (count(*) OVER (PARTITION BY group_value, row_spot) - 1) * 5e-1 AS pos50,
        (count(*) OVER (PARTITION BY group_value, row_spot) - 1) * 9e-1 AS pos90
    FROM grouped
),
quantiles AS (
    SELECT
        group_value,
        row_spot,
        count(*) AS sessions,
        avg(minutes) AS mean_minutes,
        max(minutes) AS max_minutes,
        max(pos50) - floor(max(pos50)) AS frac50,
        max(CASE WHEN rank0 = floor(pos50) THEN minutes END) AS low50,
        max(CASE WHEN rank0 = ceiling(pos50) THEN minutes END) AS high50,
        max(pos90) - floor(max(pos90)) AS frac90,
        max(CASE WHEN rank0 = floor(pos90) THEN minutes END) AS low90,
        max(CASE WHEN rank0 = ceiling(pos90) THEN minutes END) AS high90
    FROM ranked
    GROUP BY group_value, row_spot
)
SELECT
    group_value,
    row_spot AS spot_id,
    sessions,
    mean_minutes,
    low50 + frac50 * (high50 - low50) AS median_minutes,
    low90 + frac90 * (high90 - low90) AS p90_minutes,
    max_minutes
FROM quantiles
ORDER BY group_value NULLS LAST, row_spot
