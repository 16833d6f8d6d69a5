"""A naive reading of METRICS.md sections 3, 4, 6 and 7 for the live answers, with section 3's round trips.

tests/reference.py still reads the old rule (a conflicting instant counts as
occupied); this one reads the amended one and shares no code with
``parking/state``. Each figure is written from its sentence in the spec:
``since`` as the latest instant that starts a run (rather than a walk back),
the state before an instant as the state held from the previous one.
Everything is in integer epoch milliseconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from tests.reference import DAY_MS, HOUR_MS, Event

WEEK_MS = 7 * DAY_MS


def read(events: Iterable[Event], after: int, until: int) -> dict[str, dict[int, set[str]]]:
    """Per spot, its distinct instants in ``(after, until]`` and the statuses seen at each."""
    spots: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for event in events:
        if after < event.ms <= until:
            spots[event.spot_id][event.ms].add(event.status)
    return spots


def held(instants: dict[int, set[str]], t: int, lookback: int) -> str:
    """The state instant ``t`` holds: its status; a round trip holds the latest plain instant's within lookback."""
    if len(instants[t]) == 1:
        return next(iter(instants[t]))
    plain = [u for u, seen in instants.items() if u < t and t - u <= lookback and len(seen) == 1]
    return next(iter(instants[max(plain)])) if plain else "occupied"


def starts_run(instants: dict[int, set[str]], order: list[int], index: int, lookback: int) -> bool:
    """Whether instant ``order[index]`` begins a run: first read, a round trip, a gap, or another state before."""
    if index == 0 or len(instants[order[index]]) == 2:
        return True
    before, now = order[index - 1], order[index]
    return now - before > lookback or held(instants, before, lookback) != held(instants, now, lookback)


def latest(instants: dict[int, set[str]], lookback: int) -> tuple[int, str, int]:
    """``(last, state, since)`` over every instant read."""
    order = sorted(instants)
    since = max(order[i] for i in range(len(order)) if starts_run(instants, order, i, lookback))
    return order[-1], held(instants, order[-1], lookback), since


def status(events: Iterable[Event], at: int, lookback: int) -> dict[str, tuple[str, int, int, bool]]:
    """``spot -> (status, since, last_event, stale)`` for spots seen in ``(at - 7 d, at]``."""
    rows = {}
    for spot, instants in read(events, at - WEEK_MS - 2 * lookback, at).items():
        last, state, since = latest(instants, lookback)
        if last > at - WEEK_MS:
            rows[spot] = (state, since, last, at - last > lookback)
    return rows


def state_at(instants: dict[int, set[str]], at: int, lookback: int) -> str | None:
    known = [u for u in instants if at - lookback <= u <= at]
    return held(instants, max(known), lookback) if known else None


def availability(events: Iterable[Event], catalog: dict[str, tuple[str, str, str, int | None]], at: int,
                 lookback: int, by: str) -> dict[str | None, tuple[int, int, int, int, float | None]]:
    """``group -> (capacity, occupied, free, unknown, rate)``; ``catalog`` maps spot -> (zone, level, bay_type, max)."""
    events = list(events)
    spots = read(events, at - WEEK_MS - 2 * lookback, at)
    column = ("zone", "level", "bay_type").index(by)
    groups: dict[str | None, list[str | None]] = defaultdict(list)
    for spot, row in catalog.items():
        groups[row[column]].append(state_at(spots[spot], at, lookback) if spot in spots else None)
    for spot, instants in spots.items():
        if spot not in catalog and max(instants) > at - WEEK_MS:
            groups[None].append(state_at(instants, at, lookback))
    rows = {}
    for group, states in groups.items():
        occupied, free = states.count("occupied"), states.count("free")
        rows[group] = (len(states), occupied, free, len(states) - occupied - free,
                       occupied / (occupied + free) if occupied + free else None)
    return rows


def changes(instants: dict[int, set[str]], after: int, until: int, lookback: int) -> int:
    """Arrivals plus departures at instants in ``(after, until]`` (section 6)."""
    order = sorted(instants)
    count = 0
    for before, now in zip(order, order[1:], strict=False):
        if not after < now <= until or now - before > lookback:
            continue
        state_before = held(instants, before, lookback)
        if len(instants[now]) == 2:
            count += 2  # arrival and departure (or departure and arrival) at once
        elif next(iter(instants[now])) != state_before:
            count += 1
    return count


def flags(events: Iterable[Event], spot: str, at: int, lookback: int) -> str:
    """Sensor health's flags for ``spot`` at ``at`` with the default thresholds."""
    instants = read(events, at - 30 * DAY_MS - 2 * lookback, at)[spot]
    last, state, since = latest(instants, lookback)
    found = []
    if changes(instants, at - DAY_MS, at, lookback) >= 20:
        found.append("flapping")
    if at - last > lookback:
        found.append("silent")
    if state == "occupied" and at - since > 72 * HOUR_MS:
        found.append("stuck")
    return ",".join(found)


def overstays(events: Iterable[Event], catalog: dict[str, tuple[str, str, str, int | None]], at: int,
              lookback: int) -> list[tuple[str, str, int, float, int, float, str]]:
    """``(spot, zone, since, stay_minutes, max, over_minutes, flags)``, largest over first, ties by spot."""
    events = list(events)
    rows = []
    for spot, instants in read(events, at - WEEK_MS, at).items():
        zone, _, _, limit = catalog.get(spot, (None, None, None, None))
        if limit is None or state_at(instants, at, lookback) != "occupied":
            continue
        _, _, since = latest(instants, lookback)
        stay = (at - since) / 60000
        if stay > limit:
            rows.append((spot, zone, since, stay, limit, stay - limit, flags(events, spot, at, lookback)))
    return sorted(rows, key=lambda row: (-row[5], row[0]))
