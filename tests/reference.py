"""An independent, deliberately naive reading of docs/METRICS.md sections 3-6.

It shares no code with the SQL. The state of a spot is evaluated from its
definition ("the state held by its latest instant in [t - lookback, t]",
a round trip holding its latest earlier non-round-trip instant's) at the
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
    """One spot's distinct instants, read from the events a query may read.

    ``first``: the instants before it are read only to settle the state held by
    a round trip (section 3) and are then dropped, as the query reads them.
    """

    def __init__(self, events: Iterable[Event], lookback: int, first: int | None = None) -> None:
        statuses: dict[int, set[str]] = defaultdict(set)
        for event in events:
            statuses[event.ms].add(event.status)
        every = sorted(statuses)
        self.round_trips = {instant for instant in every if len(statuses[instant]) == 2}
        self.status: dict[int, str] = {}
        for instant in every:
            if instant not in self.round_trips:
                [self.status[instant]] = statuses[instant]
                continue
            # A round trip holds the state of the latest earlier instant within lookback that
            # is not itself a round trip; occupied when there is none.
            earlier = [u for u in every if instant - lookback <= u < instant and u not in self.round_trips]
            self.status[instant] = next(iter(statuses[max(earlier)])) if earlier else "occupied"
        self.instants = [instant for instant in every if first is None or instant >= first]

    def state(self, t: float, lookback: int) -> str | None:
        """Status held by the latest instant in [t - lookback, t], or None when unknown."""
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
        """(instant, 'arrival' | 'departure') for every change seen from a known state.

        A round trip after free is an arrival then a departure; after occupied,
        a departure then an arrival.
        """
        found = []
        for index, instant in enumerate(self.instants):
            before, now = self.previous_state(index, lookback), self.status[instant]
            if instant in self.round_trips and before is not None:
                kinds = ("arrival", "departure") if before == "free" else ("departure", "arrival")
                found += [(instant, kind) for kind in kinds]
            elif before == "free" and now == "occupied":
                found.append((instant, "arrival"))
            elif before == "occupied" and now == "free":
                found.append((instant, "departure"))
        return found

    def sessions(self, lookback: int) -> list[tuple[int, int]]:
        """(arrival, departure) pairs with the spot occupied throughout (zero long after a round trip after free)."""
        found = []
        for index, instant in enumerate(self.instants):
            before, trip = self.previous_state(index, lookback), instant in self.round_trips
            if before is None or not (trip or (before == "free" and self.status[instant] == "occupied")):
                continue  # no arrival here
            if trip and before == "free":
                found.append((instant, instant))  # came and went at once
                continue
            for later in range(index + 1, len(self.instants)):
                if self.instants[later] - self.instants[later - 1] > lookback:
                    break  # the run ends in unknown
                if self.instants[later] in self.round_trips or self.status[self.instants[later]] == "free":
                    found.append((instant, self.instants[later]))  # a departure, from occupied
                    break
        return found

    def run_start(self, lookback: int) -> int:
        """The earliest instant of the unbroken run of equal states ending at the latest; a round trip starts one."""
        index = len(self.instants) - 1
        while index > 0 and self.instants[index] not in self.round_trips:
            gap = self.instants[index] - self.instants[index - 1]
            if gap > lookback or self.status[self.instants[index - 1]] != self.status[self.instants[index]]:
                break
            index -= 1
        return self.instants[index]


def spots_in(
    events: Iterable[Event], first: int, last: int, lookback: int, *, include_last: bool = False
) -> dict[str, Spot]:
    """Spots with an instant in first <= ms < last (or <= last), built from the events from
    one lookback before ``first``: a round trip's state looks that far back."""
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if first - lookback <= event.ms and (event.ms <= last if include_last else event.ms < last):
            grouped[event.spot_id].append(event)
    spots = {spot: Spot(group, lookback, first) for spot, group in grouped.items()}
    return {name: spot for name, spot in spots.items() if spot.instants}


def window(first: date, last: date, zone: str, now: int) -> tuple[int, int, int]:
    start = midnight_ms(first, zone)
    nominal_end = midnight_ms(last + timedelta(days=1), zone)
    return start, min(nominal_end, now), nominal_end


def local_rows(start: int, end: int, zone: str) -> list[tuple[int, int]]:
    """(row start, row end) of the local hours of [start, end) (METRICS.md section 6).

    A row starts at ``start``, wherever the zone's clock reads a whole hour and
    wherever its UTC offset changes (asked of zoneinfo minute by minute), and
    ends where the next starts.
    """
    info = ZoneInfo(zone)
    starts = []
    for t in range(start, end, 60_000):
        local = datetime.fromtimestamp(t / 1000, info)
        before = datetime.fromtimestamp((t - 60_000) / 1000, info)
        if t == start or (local.minute == 0 and local.second == 0) or local.utcoffset() != before.utcoffset():
            starts.append(t)
    return list(zip(starts, [*starts[1:], end], strict=True))


def rate(pairs: Iterable[tuple[float, float]]) -> float | None:
    pairs = list(pairs)
    observed = sum(o for _, o in pairs)
    return sum(c for c, _ in pairs) / observed if observed else None


def occupancy(events, day: date, zone: str, lookback: int, now: int) -> list[tuple[int, float | None]]:
    start, end, nominal_end = window(day, day, zone, now)
    spots = spots_in(events, start - lookback, end, lookback)
    rows = []
    for hour, hour_end in local_rows(start, nominal_end, zone):
        pieces = [spot.seconds(max(hour, start), min(hour_end, end), lookback) for spot in spots.values()]
        rows.append((hour, rate(pieces)))
    return rows


def utilization(events, first: date, last: date, lookback: int, now: int) -> dict[str, tuple[float, float, float]]:
    start, end, _ = window(first, last, "UTC", now)
    rows = {}
    for name, spot in spots_in(events, start - lookback, end, lookback).items():
        occupied, observed = spot.seconds(start, end, lookback)
        if observed > 0:
            rows[name] = (occupied / observed, occupied, observed)
    return rows


def patterns(events, first: date, last: date, zone: str, lookback: int, now: int) -> dict[tuple[int, int], float | None]:
    start, end, _ = window(first, last, zone, now)
    spots = spots_in(events, start - lookback, end, lookback)
    buckets: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for hour, hour_end in local_rows(start, end, zone):
        local = datetime.fromtimestamp(hour / 1000, ZoneInfo(zone))
        key = (local.isoweekday(), local.hour)
        buckets[key].extend(spot.seconds(hour, hour_end, lookback) for spot in spots.values())
        buckets[key].append((0.0, 0.0))
    return {key: rate(pieces) for key, pieces in buckets.items()}


def status(events, at: int, lookback: int) -> dict[str, tuple[str, int, int, bool]]:
    rows = {}
    for name, spot in spots_in(events, at - 7 * DAY_MS - lookback + 1, at, lookback, include_last=True).items():
        last = spot.instants[-1]
        if last > at - 7 * DAY_MS:
            rows[name] = (spot.status[last], spot.run_start(lookback), last, at - last > lookback)
    return rows


def turnover(events, first: date, last: date, zone: str, lookback: int, now: int) -> dict[str, tuple[int, float, float | None]]:
    start, end, _ = window(first, last, zone, now)
    rows = {}
    for name, spot in spots_in(events, start - lookback, end, lookback).items():
        _, observed = spot.seconds(start, end, lookback)
        if observed > 0:
            arrivals = sum(1 for t, kind in spot.transitions(lookback) if kind == "arrival" and start <= t < end)
            rows[name] = (arrivals, observed, arrivals / (observed / 86400))
    return rows


def dwell(events, first: date, last: date, zone: str, lookback: int, now: int) -> dict[str, tuple]:
    start, end, _ = window(first, last, zone, now)
    rows = {}
    for name, spot in spots_in(events, start - lookback, end, lookback).items():
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
    for name, spot in spots_in(events, at - 30 * DAY_MS - lookback + 1, at, lookback, include_last=True).items():
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
