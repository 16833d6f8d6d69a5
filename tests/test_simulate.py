"""The simulated garage: every spot it names is a valid spot, up to the largest garage `simulate` takes."""

from __future__ import annotations

import pytest

from parking.analytics.catalog import parse
from parking.ingest.events import Validator, parse_value
from parking.simulate import catalog_csv, spot_name
from tests.conftest import NOW

LARGEST = 100_000  # simulate --spots maximum


@pytest.mark.parametrize(("number", "name"), [
    (0, "A-001"), (249, "A-250"), (250, "B-001"), (25 * 250, "Z-001"), (26 * 250, "AA-001"),
    (15_502, "BK-003"), (LARGEST - 1, "OJ-250"),
])
def test_spots_are_named_by_level_letters_and_bay(number: int, name: str) -> None:
    assert spot_name(number) == name


def test_every_spot_of_the_largest_garage_is_a_valid_event_spot_id() -> None:
    import base64
    import json

    validator = Validator.at(NOW, 65536)
    names = {spot_name(n) for n in range(LARGEST)}
    assert len(names) == LARGEST
    for name in names:
        value = json.dumps({"spot_id": name, "status": "free", "timestamp": "2024-03-20T10:00:00Z"}).encode()
        parse_value(base64.b64encode(value).decode(), validator)


def test_the_catalog_of_the_largest_garage_loads() -> None:
    rows = parse(catalog_csv(LARGEST))
    assert len(rows) == LARGEST and rows[-1].spot_id == "OJ-250"


# What real garages show (parking/simulate.py's docstring): the demand factors, from the seed alone.

@pytest.mark.parametrize(("day", "holiday"), [
    ("2024-01-01", True), ("2024-03-29", True), ("2024-04-01", True), ("2024-03-31", False),
    ("2025-04-18", True), ("2025-04-21", True), ("2025-04-25", False), ("2026-04-03", True), ("2026-04-06", True),
    ("2024-05-01", True), ("2024-12-25", True), ("2024-12-26", True), ("2024-12-27", False), ("2024-03-20", False),
])
def test_public_holidays(day: str, holiday: bool) -> None:
    from datetime import date

    from parking.simulate import public_holiday

    assert public_holiday(date.fromisoformat(day)) is holiday


def _demand(seed: int = 0, days: int = 730):
    from datetime import date

    from parking.simulate import Demand, plan

    return Demand(plan(250, days, date(2024, 1, 1), seed=seed))


def test_demand_depends_on_the_seed_alone() -> None:
    assert _demand(1, 30).weather == _demand(1, 30).weather
    assert _demand(1, 30).zone(3) == _demand(1, 30).zone(3)
    assert _demand(1, 30).weather != _demand(2, 30).weather


def test_the_garage_demand_swings_for_hours_not_days() -> None:
    import numpy as np

    weather = np.log(np.array(_demand(days=365).weather))
    lag = {k: np.corrcoef(weather[:-k], weather[k:])[0, 1] for k in (1, 3, 24, 72)}
    assert lag[1] > 0.85 and lag[3] > 0.7, lag  # a busy morning stays busy for the next hours
    assert lag[24] < 0.4 and abs(lag[72]) < 0.2, lag  # and tomorrow is another day
    assert 0.15 < weather.std() < 0.35


def test_the_demand_has_holidays_a_trend_and_zone_timing() -> None:
    from datetime import datetime, timedelta, timezone

    from parking.simulate import HOURLY_ARRIVALS, SECTOR_SHIFT_HOURS, TREND_PER_YEAR, WEEKDAY_FACTOR, ZONE_SECTORS

    demand = _demand()
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for hour in (10, 34, 24 * 88 + 10, 24 * 500 + 15):  # New Year, a Tuesday, Good Friday 2024, a 2025 day
        moment = start + timedelta(hours=hour)
        weekday = 6 if hour in (10, 24 * 88 + 10) else moment.weekday()
        years = hour / (365.25 * 24)
        assert demand.garage[hour] == pytest.approx(
            demand.weather[hour] * WEEKDAY_FACTOR[weekday] * (1 + TREND_PER_YEAR * years))
    # Each zone's daily curve is its sector's shift of the garage's: the same weather, another peak hour.
    monday = [start + timedelta(hours=h) for h in range(24)]
    for zone, sector in enumerate(ZONE_SECTORS):
        popularity, shift, daily, events = demand.zone(zone)
        assert shift == SECTOR_SHIFT_HOURS[sector]
        curve = [demand.rate(zone, m) / demand.garage[m.hour] for m in monday]
        assert curve.index(max(curve)) == (HOURLY_ARRIVALS.index(max(HOURLY_ARRIVALS)) + shift) % 24
    assert len({demand.zone(z)[1] for z in range(5)}) >= 4


@pytest.mark.parametrize(("utc", "local"), [
    ("2024-03-30T07:30:00", "2024-03-30T08:30:00"),  # CET: UTC+1
    ("2024-03-31T07:30:00", "2024-03-31T09:30:00"),  # after 01:00 UTC on 31 March: CEST, UTC+2
    ("2024-03-31T23:30:00", "2024-04-01T01:30:00"),  # Easter Monday already in Berlin, not yet in UTC
    ("2024-10-27T00:30:00", "2024-10-27T02:30:00"),  # the last CEST hour
    ("2024-10-27T01:30:00", "2024-10-27T02:30:00"),  # the same wall-clock hour again, in CET
])
def test_a_garage_on_a_local_clock_has_that_clocks_hour_weekday_and_holidays(utc: str, local: str) -> None:
    """Against the same plan in UTC (same weather and zones): only the hour of day and the weekday differ."""
    from datetime import date, datetime, timezone

    from parking.simulate import HOURLY_ARRIVALS, WEEKDAY_FACTOR, Demand, plan, public_holiday

    berlin, utc_plan = (Demand(plan(50, 366, date(2024, 1, 1), tz=tz)) for tz in ("Europe/Berlin", "UTC"))
    moment, wall = datetime.fromisoformat(utc).replace(tzinfo=timezone.utc), datetime.fromisoformat(local)
    shift = berlin.zone(0)[1]

    def factor(clock: datetime) -> float:
        weekday = 6 if public_holiday(clock.date()) else clock.weekday()
        return HOURLY_ARRIVALS[(clock.hour - shift) % 24] * WEEKDAY_FACTOR[weekday]

    ratio = berlin.rate(0, moment) / utc_plan.rate(0, moment)
    assert ratio == pytest.approx(factor(wall) / factor(moment.replace(tzinfo=None)))


def test_simulate_interrupted_leaves_no_file_to_ingest_by_mistake(tmp_path, monkeypatch) -> None:
    """Ctrl-C half way: exit 130 and no --out file (a truncated one would ingest as if whole)."""
    from click.testing import CliRunner

    from parking.cli import ingest
    from parking.cli.main import cli

    def interrupted(lines, start, end, show):
        for number, line in enumerate(lines):
            if number == 500:
                raise KeyboardInterrupt
            yield line

    monkeypatch.setattr(ingest, "simulate_progress", interrupted)
    out = tmp_path / "week.jsonl"
    result = CliRunner().invoke(cli, ["simulate", "--spots", "100", "--days", "3", "--out", str(out)])
    assert result.exit_code == 130 and result.stderr == "Error: aborted\n"
    assert list(tmp_path.iterdir()) == []
