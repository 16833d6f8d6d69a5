"""A realistic parking event stream, for demos, benchmarks and tests.

Cars arrive as a Poisson process whose rate follows the hour of day and the
day of week (busy weekday daytime, a lighter weekend, quiet nights) and stay
for minutes to a working day. What real garages show on top of that, so a
forecast backtested on this stream means something (docs/CHOICES.md,
"Forecast"):

- **day-to-day variation that persists for hours**: a garage-wide demand
  factor (weather, the economy of the day) that wanders as an hourly AR(1)
  process on the log scale (hour-to-hour correlation 0.93, so a busy
  morning stays busy for the next hours; standard deviation 0.25), times a
  per-zone factor drawn each day (standard deviation 0.12), and now and then
  an event near a zone (2 % of zone-days: 1.5-2.5 times the demand for 3-5
  hours from 14:00-19:00);
- **public holidays** (:func:`public_holiday`: New Year, Good Friday, Easter
  Monday, 1 May, Christmas and Boxing Day) look like a Sunday;
- **a slow trend**: demand grows by 8 % a year from the first simulated day;
- **zones that fill at different times**: each zone's daily curve is
  shifted by its sector (north an hour early: commuters; west three hours
  late: shops and evenings) and each zone has its own popularity;
- **a local clock**: with ``tz`` (an IANA zone, UTC by default) the hour of
  day, the weekday and the holidays are those of the zone's clock, so the
  garage's day moves by an hour in UTC when the clocks change.

Sensors report each change, repeat their status
as a heartbeat every few hours, sometimes send a duplicate, spell statuses
in several ways, and a few fall silent for a while. Events come out in time
order with a little delivery jitter, and a small share of records are broken
the way real feeds break. The same plan and seed always give the same stream.
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
from zoneinfo import ZoneInfo

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
    tz: str = "UTC"  # the clock the garage's day and week follow


def plan(spots: int, days: int, start: date, seed: int = 0, now: datetime | None = None,
         tz: str = "UTC") -> SimulationPlan:
    """``days`` whole UTC days from ``start``, never past ``now``; the garage lives by ``tz``'s clock."""
    begin = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
    end = begin + timedelta(days=days)
    if now is not None:
        end = min(end, now)
    return SimulationPlan(spots=spots, start=begin, end=end, seed=seed, tz=tz)


def lines(simulation: SimulationPlan) -> Iterator[str]:
    """The stream as JSON lines, in delivery order."""
    rng = random.Random(f"{simulation.seed}:broken")
    demand = Demand(simulation)
    for _, _, text in heapq.merge(*(_spot_lines(simulation, n, demand) for n in range(simulation.spots))):
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


# Hours by which each sector's daily curve is late (negative: early); see the module docstring.
SECTOR_SHIFT_HOURS = {"north": -1, "east": 0, "south": 1, "west": 3, "centre": 0}
WEATHER_PERSISTENCE, WEATHER_SD = 0.93, 0.25  # hourly AR(1) of the garage's log demand
ZONE_DAY_SD = 0.12  # each zone's own log demand factor, drawn per day
EVENT_SHARE, EVENT_BOOST = 0.02, (1.5, 2.5)  # zone-days with an event nearby, and its demand factor
TREND_PER_YEAR = 0.08
DEMAND_BOUNDS = (0.3, 3.0)  # the shared factors are clipped to this, so thinning has a peak


def public_holiday(day: date) -> bool:
    """New Year, Good Friday, Easter Monday, 1 May, Christmas and Boxing Day (Western Easter)."""
    if (day.month, day.day) in ((1, 1), (5, 1), (12, 25), (12, 26)):
        return True
    easter = _easter(day.year)
    return day in (easter - timedelta(days=2), easter + timedelta(days=1))


def _easter(year: int) -> date:
    """Easter Sunday of the Gregorian calendar (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    week = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * week) // 451
    month, day = divmod(h + week - 7 * m + 114, 31)
    return date(year, month, day + 1)


class Demand:
    """The arrival rate factors shared by the spots of a plan, from its seed alone.

    ``rate(zone, moment)`` is a zone's arrivals per spot per hour before the
    spot's own popularity: the hour-of-day curve shifted by the zone's sector,
    the weekday (a public holiday counts as Sunday), the trend, the garage's
    hourly weather factor, the zone's factor of the day and any event.
    """

    def __init__(self, simulation: SimulationPlan) -> None:
        self.start = simulation.start
        hours = max(1, math.ceil((simulation.end - simulation.start).total_seconds() / 3600) + 1)
        rng = random.Random(f"{simulation.seed}:weather")
        innovation = WEATHER_SD * math.sqrt(1 - WEATHER_PERSISTENCE**2)
        level, weather = rng.gauss(0, WEATHER_SD), []
        for _ in range(hours):
            weather.append(level)
            level = WEATHER_PERSISTENCE * level + rng.gauss(0, innovation)
        self.weather = [self._clip(math.exp(x)) for x in weather]
        # The local clock's offset from UTC at each hour's start (None: UTC, the fast path).
        clock = ZoneInfo(simulation.tz) if simulation.tz != "UTC" else None
        self.offsets = None if clock is None else [
            (self.start + timedelta(hours=hour)).astimezone(clock).utcoffset() or timedelta(0) for hour in range(hours)]
        # The garage's factor of each hour: weather, weekday (holidays as Sunday) and trend, by the local clock.
        self.garage = []
        for hour, factor in enumerate(self.weather):
            moment = self.start + timedelta(hours=hour) + (self.offsets[hour] if self.offsets else timedelta(0))
            weekday = 6 if public_holiday(moment.date()) else moment.weekday()
            self.garage.append(factor * WEEKDAY_FACTOR[weekday] * (1 + TREND_PER_YEAR * hour / (365.25 * 24)))
        self.days = hours // 24 + 2
        self.seed = simulation.seed
        self._zones: dict[int, tuple[float, int, list[float], list[tuple[int, int, float]]]] = {}

    @staticmethod
    def _clip(factor: float) -> float:
        return min(max(factor, DEMAND_BOUNDS[0]), DEMAND_BOUNDS[1])

    def zone(self, index: int) -> tuple[float, int, list[float], list[tuple[int, int, float]]]:
        """(popularity, shift in hours, factor per day, events as (first hour, end hour, factor)) of zone ``index``."""
        if index not in self._zones:
            rng = random.Random(f"{self.seed}:zone:{index}")
            sector = ZONE_SECTORS[index % len(ZONE_SECTORS)]
            daily = [self._clip(math.exp(rng.gauss(0, ZONE_DAY_SD))) for _ in range(self.days)]
            events = []
            for day in range(self.days):
                if rng.random() < EVENT_SHARE:
                    first = day * 24 + rng.randint(14, 19) - self.start.hour
                    events.append((first, first + rng.randint(3, 5), rng.uniform(*EVENT_BOOST)))
            self._zones[index] = (rng.uniform(0.75, 1.25), SECTOR_SHIFT_HOURS[sector], daily, events)
        return self._zones[index]

    def rate(self, index: int, moment: datetime) -> float:
        """Arrivals per spot per hour in zone ``index`` at ``moment``, before the spot's popularity."""
        popularity, shift, daily, events = self.zone(index)
        hour = min(max(int((moment - self.start).total_seconds() // 3600), 0), len(self.garage) - 1)
        clock = moment.hour if self.offsets is None else (moment + self.offsets[hour]).hour  # the local hour of day
        factor = HOURLY_ARRIVALS[(clock - shift) % 24] * popularity * daily[hour // 24] * self.garage[hour]
        for first, end, boost in events:
            if first <= hour < end:
                factor *= boost
        return factor

    def peak(self, index: int) -> float:
        """An upper bound of :meth:`rate` for zone ``index`` over the plan."""
        popularity, _, daily, events = self.zone(index)
        boost = max((b for _, _, b in events), default=1.0)
        return max(HOURLY_ARRIVALS) * popularity * max(daily) * max(self.garage) * boost


def _spot_lines(simulation: SimulationPlan, number: int, demand: Demand | None = None) -> Iterator[tuple[float, int, str]]:
    """One spot's events as (delivery time, tiebreak, JSON line), in delivery order."""
    rng = random.Random(f"{simulation.seed}:{number}")
    demand = demand or Demand(simulation)
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
            value: dict[str, str | float] = {"spot_id": spot, "status": word, "timestamp": _spell(moment, rng)}
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
            change = _next_arrival(rng, moment, popularity, simulation.end, demand, number // BAYS_PER_ZONE)
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


def _next_arrival(
    rng: random.Random, moment: datetime, popularity: float, end: datetime, demand: Demand, zone: int
) -> datetime:
    """Thinning: candidate times at the peak rate, kept with probability rate/peak."""
    peak = demand.peak(zone) * popularity
    while moment < end:
        moment += timedelta(hours=rng.expovariate(peak))
        rate = demand.rate(zone, moment) * popularity
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
