"""Generated event histories that stress docs/METRICS.md's edge cases, one per seed.

Each scenario mixes ordinary spots with the awkward ones: duplicates,
same-status repeats, round trips (both statuses at one instant: back-to-back
stays logged to the minute, zero-length stays, a round trip with nothing
before it, one whose state lies in the second lookback before the window),
silences longer than the lookback, flapping sensors, a car parked for four
days, events exactly on hour, window and lookback boundaries, varied
spellings (a comma before the fraction too) and out-of-order delivery, and a
``now`` that may cut the window short.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

from tests.reference import DAY_MS, HOUR_MS, Event, midnight_ms

BASE_DAYS = (
    date(2024, 2, 28), date(2024, 3, 31), date(2023, 12, 31), date(2024, 6, 15), date(2024, 3, 10),
    date(2024, 10, 27), date(2024, 11, 3), date(2024, 4, 7), date(2024, 10, 6),
)
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
LOOKBACKS_HOURS = (24, 6, 1.5, 48)


@dataclass(frozen=True)
class Scenario:
    seed: int
    events: list[Event]
    lines: list[bytes]
    day: date
    first: date
    last: date
    zone: str
    lookback_hours: float
    now_ms: int

    @property
    def lookback_ms(self) -> int:
        return round(self.lookback_hours * HOUR_MS)

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms / 1000, timezone.utc)

    @property
    def status_at(self) -> int:
        return min(self.now_ms, midnight_ms(self.day, "UTC") + 30 * HOUR_MS + 1234)

    @property
    def health_at(self) -> int:
        return min(self.now_ms, midnight_ms(self.day, "UTC") + 20 * HOUR_MS)

    @property
    def ingested_at(self) -> datetime:
        return datetime.fromtimestamp(max(e.ms for e in self.events) / 1000 + 3600, timezone.utc)

    def with_ordinary_spots(self, count: int) -> Scenario:
        """The same history with only the first ``count`` ordinary spots (``S0``...): every edge spot stays.

        For tests whose point is where the events are stored, not the metrics'
        rules: fewer spots touch fewer hours, so there are fewer objects to move.
        """

        def kept(spot: str) -> bool:
            return re.fullmatch(r"S\d+", spot) is None or int(spot[1:]) < count

        return replace(self, events=[e for e in self.events if kept(e.spot_id)],
                       lines=[line for line in self.lines if kept(json.loads(line)["spot_id"])])


def scenario(seed: int) -> Scenario:
    rng = random.Random(seed)
    day = rng.choice(BASE_DAYS)
    zone = rng.choice(ZONES)
    lookback_hours = rng.choice(LOOKBACKS_HOURS)
    lookback = round(lookback_hours * HOUR_MS)
    day_start = midnight_ms(day, zone)
    begin = day_start - 3 * DAY_MS
    finish = day_start + 3 * DAY_MS

    events: list[Event] = []
    for number in range(rng.randint(4, 7)):
        events += _ordinary(rng, f"S{number}", begin, finish)
    events += _flapping(rng, "FLAP", day_start)
    events += _long_stay("LONG", day_start - 2 * DAY_MS)
    events += _silent(rng, "QUIET", begin, day_start, lookback)
    boundary_spot = [day_start, day_start - lookback, day_start + HOUR_MS, day_start + DAY_MS, day_start + 7 * HOUR_MS + 1]
    events += [Event("EDGE", rng.choice(("occupied", "free")), t) for t in boundary_spot]
    events += [Event("CLASH", "free", day_start + 5 * HOUR_MS), Event("CLASH", "occupied", day_start + 5 * HOUR_MS),
               Event("CLASH", "free", day_start + 6 * HOUR_MS)]
    events += _round_trips(rng, day_start, lookback)
    duplicates = rng.sample(events, k=min(len(events), 8))
    events += duplicates

    if rng.random() < 0.4:  # a now inside the range: windows reach past it
        now_ms = day_start + rng.randint(1, 40) * HOUR_MS + rng.randint(0, HOUR_MS - 1)
    else:
        now_ms = finish + 10 * DAY_MS
    if rng.random() < 0.2:
        now_ms = day_start + 5 * HOUR_MS  # now exactly on an event and an hour boundary

    probe = Scenario(seed, [], [], day, day, day, zone, lookback_hours, now_ms)
    for at, span in ((probe.status_at, 7 * DAY_MS), (probe.health_at, DAY_MS)):
        # Changes exactly on the edges of the windows that end at an instant.
        events += [Event("TICK", "free", at - span - 60_000), Event("TICK", "occupied", at - span),
                   Event("TICK", "free", at)]
    # Spots last seen exactly where the status (7 days) and health (30 days) windows begin.
    events += [Event("GONE7", "free", probe.status_at - 7 * DAY_MS), Event("GONE30", "free", probe.health_at - 30 * DAY_MS)]

    lines = [_spell(rng, event) for event in events]
    rng.shuffle(lines)  # delivery order is not event order
    first = day - timedelta(days=rng.randint(0, 2))
    return Scenario(seed, events, lines, day, first, day + timedelta(days=rng.randint(0, 1)), zone, lookback_hours, now_ms)


def _ordinary(rng: random.Random, spot: str, begin: int, finish: int) -> list[Event]:
    events, t, occupied = [], begin + rng.randint(0, 6 * HOUR_MS), rng.random() < 0.5
    while t < finish:
        events.append(Event(spot, "occupied" if occupied else "free", t))
        if rng.random() < 0.15:
            events.append(Event(spot, "occupied" if occupied else "free", t + rng.randint(1, HOUR_MS)))  # repeat
        t += int(rng.expovariate(1 / (3 * HOUR_MS))) + 1
        if rng.random() < 0.05:
            t += 2 * DAY_MS  # falls silent for two days
        occupied = not occupied if rng.random() < 0.85 else occupied
    return events


def _trip(spot: str, t: int) -> list[Event]:
    """A round trip: both statuses at one instant (METRICS.md section 3)."""
    return [Event(spot, "free", t), Event(spot, "occupied", t)]


def _round_trips(rng: random.Random, day_start: int, lookback: int) -> list[Event]:
    minute = 60_000
    # Issue 24's examples: back-to-back stays (two arrivals, 240 and 120 minutes) and a zero-length stay.
    events = [Event("TRIP", "free", day_start + 7 * HOUR_MS), Event("TRIP", "occupied", day_start + 8 * HOUR_MS),
              *_trip("TRIP", day_start + 12 * HOUR_MS), Event("TRIP", "free", day_start + 14 * HOUR_MS)]
    events += [Event("ZERO", "free", day_start + 8 * HOUR_MS), *_trip("ZERO", day_start + 9 * HOUR_MS + 2_313_000)]
    # A session log to the minute: stays end in the minute the next begins, at random.
    t = day_start - DAY_MS + rng.randint(0, 600) * minute
    events.append(Event("LOG", "free", t))
    while t < day_start + 2 * DAY_MS:
        t += rng.randint(1, 300) * minute
        events += _trip("LOG", t) if rng.random() < 0.4 else [Event("LOG", rng.choice(("occupied", "free")), t)]
    # A round trip with no instant before it (occupied), then one within lookback of it.
    lone = day_start + rng.randint(1, 20) * HOUR_MS
    events += [*_trip("LONE", lone), *_trip("LONE", lone + lookback // 2)]
    # A round trip whose state comes from the second lookback before the window, and one
    # whose only earlier non-round-trip instant lies beyond the lookback (it holds occupied).
    events += [Event("BACK", "free", day_start - lookback - lookback // 2), *_trip("BACK", day_start - lookback // 2),
               *_trip("BACK", day_start + lookback // 4)]
    return events


def _flapping(rng: random.Random, spot: str, day_start: int) -> list[Event]:
    t = day_start + 9 * HOUR_MS
    events = []
    for index in range(30):
        events.append(Event(spot, "occupied" if index % 2 else "free", t))
        t += rng.randint(30_000, 20 * 60_000)
    return events


def _long_stay(spot: str, arrival: int) -> list[Event]:
    events = [Event(spot, "free", arrival - HOUR_MS), Event(spot, "occupied", arrival)]
    events += [Event(spot, "occupied", arrival + k * 4 * HOUR_MS) for k in range(1, 24)]
    return events + [Event(spot, "free", arrival + 4 * DAY_MS)]


def _silent(rng: random.Random, spot: str, begin: int, day_start: int, lookback: int) -> list[Event]:
    t = begin + rng.randint(0, DAY_MS)
    return [Event(spot, "free", t), Event(spot, "occupied", t + lookback // 2),
            Event(spot, "free", t + lookback + lookback // 2 + 1), Event(spot, "occupied", day_start + 2 * DAY_MS)]


def _spell(rng: random.Random, event: Event) -> bytes:
    """The event as a sensor might send it: any zone, any case, any synonym."""
    instant = datetime.fromtimestamp(event.ms / 1000, timezone.utc)
    offset = timezone(timedelta(minutes=rng.choice((0, 0, 60, -300, 330, -150))))
    text = instant.astimezone(offset).strftime("%Y-%m-%dT%H:%M:%S")
    if event.ms % 1000 or rng.random() < 0.2:
        separator = "," if rng.random() < 0.3 else "."  # ISO 8601 allows both (METRICS.md section 1)
        text += f"{separator}{event.ms % 1000:03d}" + ("456" if rng.random() < 0.3 else "")
    text += "Z" if offset.utcoffset(None) == timedelta(0) and rng.random() < 0.8 else instant.astimezone(offset).strftime("%z")[:3] + ":" + instant.astimezone(offset).strftime("%z")[3:]
    words = {"occupied": ("occupied", "OCCUPIED", "Occupied"), "free": ("free", "vacant", "Available", "EMPTY")}
    value = {"spot_id": event.spot_id, "status": rng.choice(words[event.status]), "timestamp": text}
    if rng.random() < 0.3:
        value["rssi"] = rng.randint(-90, -40)
    return json.dumps(value).encode()
