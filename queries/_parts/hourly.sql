-- hourly: the rows of local hours of [start_ms, grid_end_ms) (METRICS.md section 6) and,
-- per group and row, the occupied and observed milliseconds (sections 3-4). A row starts
-- at the window's start, at every instant the zone's clock (time_zone) reads a whole hour
-- and at every clock change, and ends where the next starts; so a row's figure is the same
-- whatever window it is asked in. Clock changes fall on whole minutes: the grid is the
-- window's minutes.
clock AS (
    -- Every minute of the window with the row it lies in (row_index counts row starts).
    SELECT
        c.minute_ms,
        c.starts_row,
        CAST(sum(c.starts_row) OVER (ORDER BY c.minute_ms ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS bigint)
            AS row_index
    FROM (
        SELECT
            m.minute_ms,
            -- A row starts at a whole hour of the clock, and where the clock does not step one minute.
            CASE WHEN lag(m.clock_minute) OVER (ORDER BY m.minute_ms) IS NULL OR mod(m.clock_minute, 60) = 0
                      OR mod(m.clock_minute - lag(m.clock_minute) OVER (ORDER BY m.minute_ms) + 1440, 1440) <> 1
                THEN 1 ELSE 0 END AS starts_row
        FROM (
            -- The local clock's minute of the day at each minute of the window.
            SELECT
                t.minute_ms,
                hour(from_unixtime_nanos(t.minute_ms * 1000000) AT TIME ZONE %(time_zone)s) * 60
                    + minute(from_unixtime_nanos(t.minute_ms * 1000000) AT TIME ZONE %(time_zone)s) AS clock_minute
            FROM (
                SELECT p.start_ms + h.k * 3600000 + n.k * 60000 AS minute_ms, p.grid_end_ms
                FROM params p
                CROSS JOIN UNNEST(sequence(0, p.grid_hours - 1, 1)) AS h (k)
                CROSS JOIN UNNEST(sequence(0, 59, 1)) AS n (k)
            ) t
            WHERE t.minute_ms < t.grid_end_ms
        ) m
    ) c
),
grid AS (
    -- The rows: where each starts and ends, and how many there are.
    SELECT
        k.row_index,
        min(k.minute_ms) AS row_ms,
        least(max(k.minute_ms) + 60000, max(p.grid_end_ms)) AS row_end_ms
    FROM clock k CROSS JOIN params p
    GROUP BY k.row_index
),
spans AS (
    -- The intervals that reach into the window, from the window's start on, with the rows
    -- of their first and last millisecond.
    SELECT c.group_value, c.occupied, c.from_ms, c.to_ms, f.row_index AS first_row, l.row_index AS last_row
    FROM (
        SELECT
            m.group_value,
            v.occupied,
            greatest(v.from_ms, p.start_ms) AS from_ms,
            v.to_ms,
            greatest(v.from_ms, p.start_ms) - mod(greatest(v.from_ms, p.start_ms) - p.start_ms, 60000) AS first_minute_ms,
            v.to_ms - 1 - mod(v.to_ms - 1 - p.start_ms, 60000) AS last_minute_ms
        FROM intervals v
        JOIN members m ON m.spot_id = v.spot_id
        CROSS JOIN params p
        WHERE v.to_ms > p.start_ms
    ) c
    JOIN clock f ON f.minute_ms = c.first_minute_ms
    JOIN clock l ON l.minute_ms = c.last_minute_ms
),
pieces AS (
    -- Each span cut at the rows, one piece per row it touches.
    SELECT
        s.group_value,
        g.row_ms,
        s.occupied,
        least(s.to_ms, g.row_end_ms) - greatest(s.from_ms, g.row_ms) AS observed_ms
    FROM spans s
    CROSS JOIN UNNEST(sequence(s.first_row, s.last_row, 1)) AS t (k)
    JOIN grid g ON g.row_index = t.k
),
hourly AS (
    SELECT group_value, row_ms, sum(occupied * observed_ms) AS occupied_ms, sum(observed_ms) AS observed_ms
    FROM pieces
    GROUP BY group_value, row_ms
),
groups AS (
    -- The groups with a spot observed in the window; without grouping, the one
    -- null group, observed or not; each with the number of rows.
    SELECT g.group_value, (SELECT count(*) FROM grid) AS rows
    FROM (
        SELECT DISTINCT group_value FROM pieces WHERE observed_ms > 0
        UNION
        SELECT CAST(NULL AS varchar) FROM params WHERE group_by = ''
    ) g
),
hours AS (
    -- Every row of the window, for each group, with its figures (null: nothing observed).
    SELECT g.group_value, r.row_ms, x.occupied_ms, x.observed_ms
    FROM groups g
    CROSS JOIN UNNEST(sequence(1, g.rows, 1)) AS t (k)
    JOIN grid r ON r.row_index = t.k
    LEFT JOIN hourly x ON x.row_ms = r.row_ms
        AND coalesce(x.group_value, '') = coalesce(g.group_value, '') AND (x.group_value IS NULL) = (g.group_value IS NULL)
)
