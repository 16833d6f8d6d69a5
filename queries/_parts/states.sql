{{latest}},
-- states: every catalogued spot (seen or not) and every spot that sent an event,
-- with its group (null when uncatalogued) and its state at `at` (null: unknown),
-- counted per group (METRICS.md sections 3 and 7).
spots AS (
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
