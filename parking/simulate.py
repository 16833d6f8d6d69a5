"""A realistic parking event stream, for demos, benchmarks and tests.

Cars arrive as a Poisson process whose rate follows the hour of day and the
day of week (busy weekday daytime, a lighter weekend, quiet nights) and stay
for minutes to a working day. Sensors report each change, repeat their status
as a heartbeat every few hours, sometimes send a duplicate, spell statuses
in several ways, and a few fall silent for a while. Events come out in time
order with a little delivery jitter, and a small share of records are broken
the way real feeds break.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

# Arrivals per spot per hour at each hour of day, before the weekday factor.
HOURLY_ARRIVALS = (
    0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.15, 0.45, 0.70, 0.55, 0.45, 0.45,
    0.55, 0.50, 0.40, 0.40, 0.45, 0.50, 0.40, 0.30, 0.22, 0.15, 0.08, 0.04,
)
WEEKDAY_FACTOR = (1.0, 1.0, 1.0, 1.05, 1.1, 0.75, 0.5)  # Monday .. Sunday
HEARTBEAT = timedelta(hours=6)
FREE_WORDS = ("free", "free", "free", "vacant", "available", "FREE")
OCCUPIED_WORDS = ("occupied", "occupied", "occupied", "OCCUPIED", "Occupied")
BROKEN_RECORDS = (
    "{not json",
    '{"spot_id": "X", "status": "parked", "timestamp": "2024-01-01T00:00:00Z"}',
    '{"spot_id": "X", "status": "free", "timestamp": "2024-01-01 00:00:00"}',
    '{"status": "free", "timestamp": "2024-01-01T00:00:00Z"}',
    "[]",
)


@dataclass(frozen=True, slots=True)
class SimulationPlan:
    """What to simulate; ``end`` caps the stream (usually at now)."""

    spots: int
    start: datetime
    end: datetime
    seed: int = 0
    bad_share: float = 0.001


def plan(spots: int, days: int, start: date, seed: int = 0, now: datetime | None = None) -> SimulationPlan:
    """``days`` whole UTC days from ``start``, never past ``now``."""
    begin = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
    end = begin + timedelta(days=days)
    if now is not None:
        end = min(end, now)
    return SimulationPlan(spots=spots, start=begin, end=end, seed=seed)


def lines(simulation: SimulationPlan) -> Iterator[str]:
    """The stream as JSON lines, in delivery order."""
    rng = random.Random(f"{simulation.seed}:broken")
    for _, _, text in heapq.merge(*(_spot_lines(simulation, n) for n in range(simulation.spots))):
        yield text
        if rng.random() < simulation.bad_share:
            yield rng.choice(BROKEN_RECORDS)


def spot_name(number: int) -> str:
    """Level letters and bay number: A-001 .. Z-250, then AA-001 .. (letters like spreadsheet columns)."""
    return f"{level_letters(number // 250)}-{number % 250 + 1:03d}"


def level_letters(level: int) -> str:
    """A for level 0 .. Z for 25, AA for 26, AB ..: always A-Z, so 100,000 spots name themselves validly."""
    letters = ""
    level += 1
    while level:
        level, rest = divmod(level - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


# The garage's catalog (docs/METRICS.md section 7): level letter A is level 0,
# B level 1 and so on; each level has five zones of 50 bays; every 25th bay
# has a charger and every 40th is accessible, both with a maximum stay.
ZONE_SECTORS = ("north", "east", "south", "west", "centre")
BAYS_PER_ZONE = 50
EV_EVERY, EV_MAX_STAY = 25, 180
ACCESSIBLE_EVERY, ACCESSIBLE_MAX_STAY = 40, 360


def spot_place(number: int) -> tuple[str, str, str, int | None]:
    """(zone, level, bay_type, max_stay_minutes) of the simulated spot ``number``."""
    letter, bay = level_letters(number // 250), number % 250
    zone = f"{letter}-{ZONE_SECTORS[bay // BAYS_PER_ZONE]}"
    level = str(number // 250)
    if bay % EV_EVERY == EV_EVERY - 1:
        return zone, level, "ev", EV_MAX_STAY
    if bay % ACCESSIBLE_EVERY == ACCESSIBLE_EVERY - 1:
        return zone, level, "accessible", ACCESSIBLE_MAX_STAY
    return zone, level, "standard", None


# The garage's plan (METRICS.md section 7's x/y, in metres, y down the page):
# every level is the same 85 m x 80 m deck. Each zone is two facing rows of
# 25 bays 2.4 m wide and 5 m deep; north and south run along the top and
# bottom walls, west and east along the side walls, centre across the middle.
# The deck stands in Munich (ParkAPI accepts only European positions): lat/lon
# is its corner plus the plan's offsets.
BAY_WIDTH, BAY_DEPTH, ROW_BAYS = 2.4, 5.0, 25
GARAGE_LAT, GARAGE_LON = 48.137154, 11.576124
_METRES_PER_DEGREE = 111_320.0
_SECTOR_ORIGIN = {  # (x, y) of the first bay's centre, and whether the rows run down the page
    "north": (12.5 + BAY_WIDTH / 2, BAY_DEPTH / 2, False),
    "south": (12.5 + BAY_WIDTH / 2, 80 - 1.5 * BAY_DEPTH, False),
    "west": (BAY_DEPTH / 2, 10 + BAY_WIDTH / 2, True),
    "east": (85 - 1.5 * BAY_DEPTH, 10 + BAY_WIDTH / 2, True),
    "centre": (12.5 + BAY_WIDTH / 2, 40 - BAY_DEPTH, False),
}


def spot_position(number: int) -> tuple[float, float, float, float]:
    """(lat, lon, x, y) of the simulated spot ``number``: its bay's centre on its level's plan."""
    bay = number % 250
    sector = ZONE_SECTORS[bay // BAYS_PER_ZONE]
    row, along = divmod(bay % BAYS_PER_ZONE, ROW_BAYS)
    x0, y0, down = _SECTOR_ORIGIN[sector]
    x, y = (x0 + row * BAY_DEPTH, y0 + along * BAY_WIDTH) if down else (x0 + along * BAY_WIDTH, y0 + row * BAY_DEPTH)
    lat = GARAGE_LAT - y / _METRES_PER_DEGREE
    lon = GARAGE_LON + x / (_METRES_PER_DEGREE * math.cos(math.radians(GARAGE_LAT)))
    return round(lat, 7), round(lon, 7), round(x, 2), round(y, 2)


def catalog_csv(spots: int) -> str:
    """The catalog CSV of a simulated garage of ``spots`` bays, with each bay's position, ready for ``spots load``."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("spot_id", "zone", "level", "bay_type", "max_stay_minutes", "lat", "lon", "x", "y"))
    for number in range(spots):
        zone, level, bay_type, max_stay = spot_place(number)
        writer.writerow((spot_name(number), zone, level, bay_type, "" if max_stay is None else max_stay,
                         *spot_position(number)))
    return out.getvalue()


def _spot_lines(simulation: SimulationPlan, number: int) -> Iterator[tuple[float, int, str]]:
    """One spot's events as (delivery time, tiebreak, JSON line), in delivery order."""
    rng = random.Random(f"{simulation.seed}:{number}")
    spot = spot_name(number)
    popularity = rng.uniform(0.4, 1.6)
    silent_from, silent_to = _silence(rng, simulation)
    pending: list[tuple[float, int, str]] = []
    sequence = 0

    def emit(moment: datetime, occupied: bool) -> None:
        nonlocal sequence
        if silent_from <= moment < silent_to or moment >= simulation.end:
            return
        for _ in range(2 if rng.random() < 0.01 else 1):  # an occasional duplicate
            sequence += 1
            word = rng.choice(OCCUPIED_WORDS if occupied else FREE_WORDS)
            value = {"spot_id": spot, "status": word, "timestamp": _spell(moment, rng)}
            if rng.random() < 0.3:
                value["battery_v"] = round(rng.uniform(2.9, 3.6), 2)
            delivered = moment.timestamp() + rng.expovariate(1 / 20)  # seconds of delivery jitter
            heapq.heappush(pending, (delivered, number * 10_000_000 + sequence, json.dumps(value)))

    moment, occupied = simulation.start, rng.random() < 0.3
    emit(moment, occupied)
    last_report = moment
    while moment < simulation.end:
        if occupied:
            change = moment + _dwell(rng)
        else:
            change = _next_arrival(rng, moment, popularity, simulation.end)
        while True:  # heartbeats repeat the current status until it changes
            heartbeat = last_report + HEARTBEAT + timedelta(seconds=rng.uniform(-900, 900))
            if heartbeat >= change:
                break
            emit(heartbeat, occupied)
            last_report = heartbeat
        moment, occupied, last_report = change, not occupied, change
        emit(moment, occupied)
        while pending and pending[0][0] < moment.timestamp() - 3600:
            yield heapq.heappop(pending)
    while pending:
        yield heapq.heappop(pending)


def _next_arrival(rng: random.Random, moment: datetime, popularity: float, end: datetime) -> datetime:
    """Thinning: candidate times at the peak rate, kept with probability rate/peak."""
    peak = max(HOURLY_ARRIVALS) * max(WEEKDAY_FACTOR) * popularity
    while moment < end:
        moment += timedelta(hours=rng.expovariate(peak))
        rate = HOURLY_ARRIVALS[moment.hour] * WEEKDAY_FACTOR[moment.weekday()] * popularity
        if rng.random() < rate / peak:
            return moment
    return end


def _dwell(rng: random.Random) -> timedelta:
    """Short errands, a few hours, or a working day; a rare car stays for days."""
    kind = rng.random()
    if kind < 0.45:
        minutes = rng.lognormvariate(math.log(25), 0.5)
    elif kind < 0.85:
        minutes = rng.lognormvariate(math.log(150), 0.4)
    elif kind < 0.995:
        minutes = rng.lognormvariate(math.log(540), 0.15)
    else:
        minutes = rng.uniform(2, 5) * 24 * 60
    return timedelta(minutes=max(minutes, 2.0))


def _silence(rng: random.Random, simulation: SimulationPlan) -> tuple[datetime, datetime]:
    """About 2% of sensors go silent for one to three days."""
    if rng.random() >= 0.02:
        return simulation.end, simulation.end
    span = (simulation.end - simulation.start).total_seconds()
    begin = simulation.start + timedelta(seconds=rng.uniform(0, span))
    return begin, begin + timedelta(days=rng.uniform(1, 3))


def _spell(moment: datetime, rng: random.Random) -> str:
    """Mostly canonical UTC, sometimes milliseconds or a local offset."""
    kind = rng.random()
    if kind < 0.85:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind < 0.95:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.astimezone(timezone(timedelta(hours=1))).isoformat(timespec="seconds")
