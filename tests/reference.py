"""An independent, deliberately naive reading of docs/METRICS.md sections 3-6.

It shares no code with the SQL. The state of a spot is evaluated from its
definition ("the status of its latest event in [t - lookback, t]") at the
midpoint of every stretch between breakpoints, and time is integrated by
summing those stretches. Everything is in integer epoch milliseconds.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Event:
    spot_id: str
    status: str  # "occupied" or "free", already normalized
    ms: int  # epoch milliseconds, UTC


def ms_of(instant: datetime) -> int:
    return round(instant.timestamp() * 1000)


def midnight_ms(day: date, zone: str) -> int:
    return ms_of(datetime.combine(day, time(), tzinfo=ZoneInfo(zone)))


class Spot:
    """One spot's distinct instants, read from the events a query may read."""

    def __init__(self, events: Iterable[Event]) -> None:
        by_instant: dict[int, str] = {}
        for event in events:
            if by_instant.get(event.ms) != "occupied":
                by_instant[event.ms] = event.status  # a conflicting instant counts as occupied
        self.instants = sorted(by_instant)
        self.status = by_instant

    def state(self, t: float, lookback: int) -> str | None:
        """Status of the latest instant in [t - lookback, t], or None when unknown."""
        index = bisect_right(self.instants, t) - 1
        if index < 0 or self.instants[index] < t - lookback:
            return None
        return self.status[self.instants[index]]

    def seconds(self, start: int, end: int, lookback: int) -> tuple[float, float]:
        """(occupied, observed) seconds in [start, end)."""
        if end <= start:
            return 0.0, 0.0
        cuts = {start, end}
        for instant in self.instants:
            for cut in (instant, instant + lookback):
                if start < cut < end:
                    cuts.add(cut)
        occupied = observed = 0
        points = sorted(cuts)
        for left, right in zip(points, points[1:], strict=False):
            state = self.state((left + right) / 2, lookback)
            if state is not None:
                observed += right - left
                if state == "occupied":
                    occupied += right - left
        return occupied / 1000, observed / 1000

    def previous_state(self, index: int, lookback: int) -> str | None:
        """The state just before instant ``index``: the previous instant's, if within lookback."""
        if index == 0 or self.instants[index] - self.instants[index - 1] > lookback:
            return None
        return self.status[self.instants[index - 1]]

    def transitions(self, lookback: int) -> list[tuple[int, str]]:
        """(instant, 'arrival' | 'departure') for every change seen from a known state."""
        found = []
        for index, instant in enumerate(self.instants):
            before, now = self.previous_state(index, lookback), self.status[instant]
            if before == "free" and now == "occupied":
                found.append((instant, "arrival"))
            elif before == "occupied" and now == "free":
                found.append((instant, "departure"))
        return found

    def sessions(self, lookback: int) -> list[tuple[int, int]]:
        """(arrival, departure) pairs with the spot occupied throughout."""
        found = []
        departures = {instant for instant, kind in self.transitions(lookback) if kind == "departure"}
        for instant, kind in self.transitions(lookback):
            if kind != "arrival":
                continue
            index = self.instants.index(instant)
            for later in range(index + 1, len(self.instants)):
                if self.instants[later] - self.instants[later - 1] > lookback:
                    break  # the run ends in unknown
                if self.status[self.instants[later]] == "free":
                    if self.instants[later] in departures:
                        found.append((instant, self.instants[later]))
                    break
        return found

    def run_start(self, lookback: int) -> int:
        """The earliest instant of the unbroken run of equal statuses ending at the latest."""
        index = len(self.instants) - 1
        while index > 0:
            gap = self.instants[index] - self.instants[index - 1]
            if gap > lookback or self.status[self.instants[index - 1]] != self.status[self.instants[index]]:
                break
            index -= 1
        return self.instants[index]


def spots_in(events: Iterable[Event], first: int, last: int, *, include_last: bool = False) -> dict[str, Spot]:
    """Spots built from the events with first <= ms < last (or <= last)."""
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if first <= event.ms and (event.ms <= last if include_last else event.ms < last):
            grouped[event.spot_id].append(event)
    return {spot: Spot(group) for spot, group in grouped.items()}


def window(first: date, last: date, zone: str, now: int) -> tuple[int, int, int]:
    start = midnight_ms(first, zone)
    nominal_end = midnight_ms(last + timedelta(days=1), zone)
    return start, min(nominal_end, now), nominal_end


def rate(pairs: Iterable[tuple[float, float]]) -> float | None:
    pairs = list(pairs)
    observed = sum(o for _, o in pairs)
    return sum(c for c, _ in pairs) / observed if observed else None


def occupancy(events, day: date, zone: str, lookback: int, now: int) -> list[tuple[int, float | None]]:
    start, end, nominal_end = window(day, day, zone, now)
    spots = spots_in(events, start - lookback, end)
    rows = []
    for hour in range(start, nominal_end, HOUR_MS):
        pieces = [spot.seconds(max(hour, start), min(hour + HOUR_MS, end), lookback) for spot in spots.values()]
        rows.append((hour, rate(pieces)))
    return rows


def utilization(events, first: date, last: date, lookback: int, now: int) -> dict[str, tuple[float, float, float]]:
    start, end, _ = window(first, last, "UTC", now)
    rows = {}
    for name, spot in spots_in(events, start - lookback, end).items():
        occupied, observed = spot.seconds(start, end, lookback)
        if observed > 0:
            rows[name] = (occupied / observed, occupied, observed)
    return rows


def patterns(events, first: date, last: date, zone: str, lookback: int, now: int) -> dict[tuple[int, int], float | None]:
    start, end, _ = window(first, last, zone, now)
    spots = spots_in(events, start - lookback, end)
    buckets: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for hour in range(start, end, HOUR_MS):
        local = datetime.fromtimestamp(hour / 1000, ZoneInfo(zone))
        key = (local.isoweekday(), local.hour)
        buckets[key].extend(spot.seconds(hour, min(hour + HOUR_MS, end), lookback) for spot in spots.values())
        buckets[key].append((0.0, 0.0))
    return {key: rate(pieces) for key, pieces in buckets.items()}


def status(events, at: int, lookback: int) -> dict[str, tuple[str, int, int, bool]]:
    rows = {}
    for name, spot in spots_in(events, at - 7 * DAY_MS - lookback + 1, at, include_last=True).items():
        last = spot.instants[-1]
        if last > at - 7 * DAY_MS:
            rows[name] = (spot.status[last], spot.run_start(lookback), last, at - last > lookback)
    return rows


def turnover(events, first: date, last: date, zone: str, lookback: int, now: int) -> dict[str, tuple[int, float, float | None]]:
    start, end, _ = window(first, last, zone, now)
    rows = {}
    for name, spot in spots_in(events, start - lookback, end).items():
        _, observed = spot.seconds(start, end, lookback)
        if observed > 0:
            arrivals = sum(1 for t, kind in spot.transitions(lookback) if kind == "arrival" and start <= t < end)
            rows[name] = (arrivals, observed, arrivals / (observed / 86400))
    return rows


def dwell(events, first: date, last: date, zone: str, lookback: int, now: int) -> dict[str, tuple]:
    start, end, _ = window(first, last, zone, now)
    rows = {}
    for name, spot in spots_in(events, start - lookback, end).items():
        minutes = [(d - a) / 60000 for a, d in spot.sessions(lookback) if start <= a < end and d < end]
        if minutes:
            values = np.array(sorted(minutes))
            rows[name] = (
                len(values), float(values.mean()), float(np.quantile(values, 0.5)),
                float(np.quantile(values, 0.9)), float(values.max()),
            )
    return rows


def health(events, at: int, lookback: int, silent: int, flapping: int, stuck: int) -> dict[str, tuple]:
    rows = {}
    for name, spot in spots_in(events, at - 30 * DAY_MS - lookback + 1, at, include_last=True).items():
        last = spot.instants[-1]
        if last <= at - 30 * DAY_MS:
            continue
        since = spot.run_start(lookback)
        changes = sum(1 for t, _ in spot.transitions(lookback) if at - DAY_MS < t <= at)
        flags = []
        if changes >= flapping:
            flags.append("flapping")
        if at - last > silent:
            flags.append("silent")
        if spot.status[last] == "occupied" and at - since > stuck:
            flags.append("stuck")
        rows[name] = (last, (at - last) / HOUR_MS, changes, (at - since) / HOUR_MS, ",".join(flags))
    return rows


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)
