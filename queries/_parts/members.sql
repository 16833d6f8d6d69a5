-- members: each spot that sent an event, with its group (METRICS.md section 7).
members AS (
    -- The catalog's --by column, null when uncatalogued or when not grouping. With
    -- --zone, only the catalog's spots of those zones.
    SELECT
        s.spot_id,
        CASE p.group_by WHEN 'zone' THEN c.zone WHEN 'level' THEN c.level WHEN 'bay_type' THEN c.bay_type END
            AS group_value
    FROM (SELECT DISTINCT spot_id FROM instants) s
    LEFT JOIN spot_catalog c ON c.spot_id = s.spot_id
    CROSS JOIN params p
    WHERE p.filter_zones = 0 OR c.zone IN %(zones)s
)
