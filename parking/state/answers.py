"""The live answers' rows from the current-state table (METRICS.md sections 4, 6, 7 and 8).

Standard library only, so the zones Lambda runs it without pandas. Each
spot's row gives its :class:`parking.state.spot.Live` at ``at`` from the
summary its writer stored when that still holds (the usual case), else from
its instants. Rows come out in the queries' order, as plain tuples and
dicts; :mod:`parking.state.live` types them as the queries do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from parking.analytics.catalog import CatalogRow
from parking.analytics.zone_report import ZoneFigures
from parking.state.spot import (
    DAY_MS,
    NEVER,
    OCCUPIED,
    STATUS_WINDOW_MS,
    STUCK_MS,
    SUMMARY,
    Live,
    live_at,
    status_reach,
    unpack_instants,
)
from parking.state.stores import Row

STATUS_WORDS = {OCCUPIED: "occupied", 1: "free"}


def lives(rows: Iterable[Row], at: int, lookback: int) -> dict[str, Live]:
    """Each stored spot's :class:`Live` at ``at`` (ms) under ``lookback`` (ms)."""
    found = {}
    unpack = SUMMARY.unpack_from
    for spot, _, row_lookback, instants, summary in rows:
        computed_at, valid_until, latest, held, since, over_latest, over_held, over_since, stuck, flapping = (
            unpack(summary))
        if row_lookback == lookback and computed_at <= at < valid_until:
            live = Live(None if latest == NEVER else latest, held, since,
                        None if over_latest == NEVER else over_latest, over_held, over_since, stuck, flapping)
        else:
            times, masks = unpack_instants(instants)
            live = live_at(times, masks, at, lookback)[0]
        found[spot] = live
    return found


def status_rows(spots: dict[str, Live], at: int, lookback: int) -> list[tuple[str, str, int, int, bool]]:
    """``(spot_id, status, since_ms, last_event_ms, stale)`` per spot seen in ``(at - 7 d, at]``, by spot_id."""
    return [(spot, STATUS_WORDS[live.held], live.since, live.latest, at - live.latest > lookback)
            for spot, live in sorted(spots.items())
            if live.latest is not None and live.latest > at - STATUS_WINDOW_MS]


def state_now(live: Live | None, at: int, lookback: int) -> int | None:
    """FREE, OCCUPIED or None (unknown): the spot's state at ``at`` (section 3)."""
    if live is None or live.latest is None or live.latest < at - lookback:
        return None
    return live.held


def availability_rows(
    spots: dict[str, Live], catalog: Sequence[CatalogRow], at: int, lookback: int, by: str,
) -> list[tuple[str | None, int, int, int, int, float | None]]:
    """``(group, capacity, occupied, free, unknown, occupancy_rate)`` per group, null group last (section 7)."""
    counts: dict[str | None, list[int]] = {}
    known_from = at - lookback
    catalogued = set()
    for entry in catalog:
        catalogued.add(entry.spot_id)
        group = entry.zone if by == "zone" else getattr(entry, by)
        figures = counts.get(group)
        if figures is None:
            figures = counts[group] = [0, 0, 0]
        figures[0] += 1
        live = spots.get(entry.spot_id)
        if live is not None and live.latest is not None and live.latest >= known_from:
            figures[2 if live.held == OCCUPIED else 1] += 1
    for spot, live in spots.items():
        if spot not in catalogued and live.latest is not None and live.latest > at - STATUS_WINDOW_MS:
            _count(counts, None, state_now(live, at, lookback))
    rows = []
    for group in sorted(counts, key=lambda name: (name is None, name or "")):
        capacity, free, occupied = counts[group]
        rate = occupied / (occupied + free) if occupied + free else None
        rows.append((group, capacity, occupied, free, capacity - occupied - free, rate))
    return rows


def _count(counts: dict[str | None, list[int]], group: str | None, state: int | None) -> None:
    """Add one spot to ``counts[group]`` = [capacity, free, occupied]."""
    figures = counts.setdefault(group, [0, 0, 0])
    figures[0] += 1
    if state == OCCUPIED:
        figures[2] += 1
    elif state is not None:
        figures[1] += 1


def sensor_flags(live: Live, at: int, lookback: int) -> str:
    """Sensor health's ``flags`` at ``at`` with its default thresholds (section 6), as overstays shows them."""
    flags = []
    if live.flapping_from > at - DAY_MS:
        flags.append("flapping")
    if live.latest is None or at - live.latest > lookback:
        flags.append("silent")
    if live.held == OCCUPIED and at - live.stuck_since > STUCK_MS:
        flags.append("stuck")
    return ",".join(flags)


def overstay_rows(
    spots: dict[str, Live], catalog: Sequence[CatalogRow], at: int, lookback: int,
) -> list[tuple[str, str, int, float, int, float, str]]:
    """``(spot_id, zone, since_ms, stay_minutes, max_stay_minutes, over_minutes, sensor_flags)``, largest over first."""
    rows = []
    for entry in catalog:
        live = spots.get(entry.spot_id)
        if entry.max_stay_minutes is None or live is None or live.over_latest is None:
            continue
        if live.over_held != OCCUPIED or live.over_latest < at - lookback:
            continue
        stay = (at - live.over_since) / 6e4
        if stay > entry.max_stay_minutes:
            rows.append((entry.spot_id, entry.zone, live.over_since, stay, entry.max_stay_minutes,
                         stay - entry.max_stay_minutes, sensor_flags(live, at, lookback)))
    rows.sort(key=lambda row: (-row[5], row[0]))
    return rows



def complete_for(complete_from: int | None, at: int, lookback: int) -> bool:
    """Whether a table complete from ``complete_from`` (ms; None: never written) holds all that the views read at ``at``."""
    return complete_from is not None and complete_from <= at - status_reach(lookback)


def zone_figures(spots: dict[str, Live], catalog: Sequence[CatalogRow], at: int, lookback: int) -> list[ZoneFigures]:
    """Per catalogued zone: availability by zone and its overstays at ``at`` (what the zones function publishes).

    Overstays are kept apart as METRICS.md section 7 says: to enforce (the
    sensor looks healthy, empty ``sensor_flags``) and to check the sensor.
    """
    stays = overstay_rows(spots, catalog, at, lookback)
    over = Counter(row[1] for row in stays if not row[6])
    check = Counter(row[1] for row in stays if row[6])
    return [ZoneFigures(zone, capacity, occupied, free, unknown, rate, over[zone], check[zone])
            for zone, capacity, occupied, free, unknown, rate in availability_rows(spots, catalog, at, lookback, "zone")
            if zone is not None]
