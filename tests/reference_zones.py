"""An independent, deliberately naive reading of METRICS.md section 7.

It shares no code with the SQL or with parking.analytics.catalog: the catalog
is a plain dict of spot_id -> Place, the state of a spot is asked of
tests/reference.py's Spot (which evaluates section 3 from its definition),
and groups are gathered in dicts. Times are integer epoch milliseconds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tests.reference import DAY_MS, spots_in

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
    spots = spots_in(events, at - SEEN_MS - lookback + 1, at, include_last=True)
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
    """(spot_id, zone, since, stay_minutes, max_stay_minutes, over_minutes), largest over first."""
    rows = []
    for spot_id, spot in spots_in(events, at - SEEN_MS + 1, at, include_last=True).items():
        place = catalog.get(spot_id)
        if place is None or place.max_stay_minutes is None or spot.state(at, lookback) != "occupied":
            continue
        since = spot.run_start(lookback)
        stay = (at - since) / 60_000
        if stay > place.max_stay_minutes:
            rows.append((spot_id, place.zone, since, stay, place.max_stay_minutes, stay - place.max_stay_minutes))
    return sorted(rows, key=lambda row: (-row[5], row[0]))


def ordered_groups(groups) -> list[str | None]:
    """Groups as the queries order them: by value, the null group last."""
    return sorted((g for g in groups if g is not None)) + ([None] if None in groups else [])
