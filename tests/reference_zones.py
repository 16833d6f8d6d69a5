"""An independent, deliberately naive reading of METRICS.md section 7.

It shares no code with the SQL or with parking.analytics.catalog: the catalog
is a plain dict of spot_id -> Place, the state of a spot is asked of
tests/reference.py's Spot (which evaluates section 3 from its definition),
and groups are gathered in dicts. Times are integer epoch milliseconds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tests.reference import DAY_MS, HOUR_MS, health, spots_in

SEEN_MS = 7 * DAY_MS


@dataclass(frozen=True)
class Place:
    """A catalog row as the spec states it."""

    zone: str
    level: str = ""
    bay_type: str = "standard"
    max_stay_minutes: int | None = None


Catalog = dict[str, Place]


def group_of(catalog: Catalog, spot_id: str, by: str) -> str | None:
    """The spot's group: its catalog column, or None (the null group) when uncatalogued."""
    place = catalog.get(spot_id)
    return None if place is None else getattr(place, by)


def availability(events, catalog: Catalog, at: int, lookback: int, by: str) -> dict[str | None, tuple]:
    """group -> (capacity, occupied, free, unknown, occupancy_rate or None)."""
    spots = spots_in(events, at - SEEN_MS - lookback + 1, at, lookback, include_last=True)
    members: dict[str, str | None] = {spot_id: getattr(place, by) for spot_id, place in catalog.items()}
    for spot_id, spot in spots.items():
        if spot_id not in catalog and spot.instants[-1] > at - SEEN_MS:
            members[spot_id] = None
    counts: dict[str | None, list[int]] = defaultdict(lambda: [0, 0, 0])
    for spot_id, group in members.items():
        state = spots[spot_id].state(at, lookback) if spot_id in spots else None
        counts[group][0] += 1
        if state == "occupied":
            counts[group][1] += 1
        elif state == "free":
            counts[group][2] += 1
    rows = {}
    for group, (capacity, occupied, free) in counts.items():
        rate = occupied / (occupied + free) if occupied + free else None
        rows[group] = (capacity, occupied, free, capacity - occupied - free, rate)
    return rows


def alerts(events, catalog: Catalog, at: int, lookback: int, by: str, threshold: float) -> dict[str | None, tuple]:
    rows = availability(events, catalog, at, lookback, by)
    return {group: row for group, row in rows.items() if row[4] is not None and row[4] >= threshold}


def overstays(events, catalog: Catalog, at: int, lookback: int) -> list[tuple]:
    """(spot_id, zone, since, stay_minutes, max_stay_minutes, over_minutes, sensor_flags), largest over first.

    ``sensor_flags`` are sensor health's flags at ``at`` with its default
    thresholds (silent: the lookback; flapping: 20; stuck: 72 hours), section 6.
    """
    flags = {name: row[4] for name, row in health(events, at, lookback, lookback, 20, 72 * HOUR_MS).items()}
    rows = []
    for spot_id, spot in spots_in(events, at - SEEN_MS + 1, at, lookback, include_last=True).items():
        place = catalog.get(spot_id)
        if place is None or place.max_stay_minutes is None or spot.state(at, lookback) != "occupied":
            continue
        since = spot.run_start(lookback)
        stay = (at - since) / 60_000
        if stay > place.max_stay_minutes:
            rows.append((spot_id, place.zone, since, stay, place.max_stay_minutes, stay - place.max_stay_minutes,
                         flags[spot_id]))
    return sorted(rows, key=lambda row: (-row[5], row[0]))


def ordered_groups(groups) -> list[str | None]:
    """Groups as the queries order them: by value, the null group last."""
    return sorted(g for g in groups if g is not None) + ([None] if None in groups else [])


# Grouping (--by, --zone) of occupancy, utilization, patterns, turnover and dwell.


def membership(spot_ids, catalog: Catalog, by: str | None, zones=()) -> dict[str, str | None]:
    """spot -> group, for the spots kept by --zone: the catalog's --by column, None when
    uncatalogued or when not grouping."""
    kept = {}
    for spot_id in spot_ids:
        place = catalog.get(spot_id)
        if zones and (place is None or place.zone not in zones):
            continue
        kept[spot_id] = None if by is None or place is None else getattr(place, by)
    return kept


def _groups(spots, catalog, by, zones, start, end, lookback) -> dict[str | None, list]:
    """group -> its spots, for the groups with a spot observed in [start, end); without
    grouping, the one None group even when nothing is observed."""
    members = membership(spots, catalog, by, zones)
    groups: dict[str | None, list] = defaultdict(list)
    for spot_id, group in members.items():
        groups[group].append(spots[spot_id])
    seen = {g: ss for g, ss in groups.items() if any(s.seconds(start, end, lookback)[1] > 0 for s in ss)}
    if by is None:
        seen.setdefault(None, groups.get(None, []))
    return seen


def occupancy(events, catalog, day, zone, lookback, now, by, zones=()) -> dict:
    """group -> [(hour, rate)] for every hour of the local day."""
    from tests.reference import local_rows, rate, window

    start, end, nominal_end = window(day, day, zone, now)
    spots = spots_in(events, start - lookback, end, lookback)
    return {
        group: [(hour, rate([s.seconds(max(hour, start), min(hour_end, end), lookback) for s in members]))
                for hour, hour_end in local_rows(start, nominal_end, zone)]
        for group, members in _groups(spots, catalog, by, zones, start, end, lookback).items()
    }


def patterns(events, catalog, first, last, zone, lookback, now, by, zones=()) -> dict:
    """group -> {(weekday, hour): rate} over every hour of the window."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from tests.reference import local_rows, rate, window

    start, end, _ = window(first, last, zone, now)
    spots = spots_in(events, start - lookback, end, lookback)
    result = {}
    for group, members in _groups(spots, catalog, by, zones, start, end, lookback).items():
        buckets: dict = defaultdict(list)
        for hour, hour_end in local_rows(start, end, zone):
            local = datetime.fromtimestamp(hour / 1000, ZoneInfo(zone))
            buckets[(local.isoweekday(), local.hour)] += [s.seconds(hour, hour_end, lookback)
                                                          for s in members] + [(0.0, 0.0)]
        result[group] = {key: rate(pieces) for key, pieces in buckets.items()}
    return result


def utilization(events, catalog, first, last, lookback, now, by, zones=()) -> dict:
    """group -> (utilization, occupied_seconds, observed_seconds)."""
    from tests.reference import window

    start, end, _ = window(first, last, "UTC", now)
    spots = spots_in(events, start - lookback, end, lookback)
    rows = {}
    for group, members in _groups(spots, catalog, by, zones, start, end, lookback).items():
        pairs = [s.seconds(start, end, lookback) for s in members]
        occupied, observed = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        if observed > 0:
            rows[group] = (occupied / observed, occupied, observed)
    return rows


def turnover(events, catalog, first, last, zone, lookback, now, by, zones=()) -> dict:
    """group -> (arrivals, observed_seconds, turnover_per_day)."""
    from tests.reference import window

    start, end, _ = window(first, last, zone, now)
    spots = spots_in(events, start - lookback, end, lookback)
    rows = {}
    for group, members in _groups(spots, catalog, by, zones, start, end, lookback).items():
        arrivals = sum(1 for s in members for t, kind in s.transitions(lookback) if kind == "arrival" and start <= t < end)
        observed = sum(s.seconds(start, end, lookback)[1] for s in members)
        if observed > 0:
            rows[group] = (arrivals, observed, arrivals / (observed / 86400))
    return rows


def dwell(events, catalog, first, last, zone, lookback, now, by, zones=()) -> dict:
    """group -> (sessions, mean, median, p90, max) minutes over all sessions of the group's spots."""
    import numpy as np

    from tests.reference import window

    start, end, _ = window(first, last, zone, now)
    spots = spots_in(events, start - lookback, end, lookback)
    rows = {}
    for group, members in _groups(spots, catalog, by, zones, start, end, lookback).items():
        minutes = sorted((d - a) / 60000 for s in members for a, d in s.sessions(lookback) if start <= a < end and d < end)
        if minutes:
            values = np.array(minutes)
            rows[group] = (len(values), float(values.mean()), float(np.quantile(values, 0.5)),
                           float(np.quantile(values, 0.9)), float(values.max()))
    return rows
