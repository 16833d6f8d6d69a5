-- events: both tiers of the lake, each event's instant as epoch milliseconds.
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
)
