"""What a query accepts as a day, an instant and a zone (parking.analytics.windows)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from parking import queries
from parking.analytics.windows import (
    FIRST_DAY,
    LAST_DAY,
    days_window,
    parse_date,
    parse_instant,
    zone,
    zone_names,
)
from parking.cli.main import cli
from parking.errors import InvalidArgument

NOW = datetime(2024, 3, 20, 12, tzinfo=timezone.utc)


def test_every_accepted_zone_is_known_to_duckdb() -> None:
    known = {name for (name,) in duckdb.connect().execute("SELECT name FROM pg_timezone_names()").fetchall()}
    assert zone_names() <= known, sorted(zone_names() - known)
    assert {"UTC", "Europe/Paris", "Asia/Kolkata", "America/St_Johns"} <= zone_names()


@pytest.mark.parametrize("name", ["Europe", "America/Argentina", "right/UTC", "posix/Europe/Paris", "posixrules",
                                  "localtime", "Factory", "/etc/localtime", "../zoneinfo/UTC", "UTC/", "", "x" * 5000,
                                  "Europe/" + "x" * 300, "Etc/UTC\x00"])
def test_names_that_are_not_zones_of_a_place_are_refused_without_opening_a_file(name: str) -> None:
    with pytest.raises(InvalidArgument, match="unknown time zone") as refused:
        zone(name)
    assert len(str(refused.value)) < 200, "one short line, however long the name"


POSIX_OFFSETS = sorted(name for name in available_timezones()
                       if name.startswith("Etc/GMT") and name[7:8] in ("+", "-") and int(name[8:]) != 0)


def test_every_posix_signed_offset_is_in_the_table() -> None:
    assert len(POSIX_OFFSETS) == 26 and {"Etc/GMT+12", "Etc/GMT-14"} <= set(POSIX_OFFSETS)


@pytest.mark.parametrize("name", POSIX_OFFSETS)
def test_a_posix_signed_offset_is_refused_naming_the_offset_it_stands_for(name: str) -> None:
    hours = int(name[7:])  # POSIX: Etc/GMT+5 is five hours west, UTC-05:00
    offset = ZoneInfo(name).utcoffset(NOW)
    assert offset == timedelta(hours=-hours)
    with pytest.raises(InvalidArgument) as refused:
        zone(name)
    assert str(refused.value) == (
        f"time zone {name!r} is UTC{'-' if hours > 0 else '+'}{abs(hours):02d}:00 (POSIX inverts the sign); "
        "name the zone of the garage's place, such as Europe/Paris")
    assert name not in zone_names()


@pytest.mark.parametrize("engine", ["local", "athena"])
def test_both_engines_refuse_a_posix_signed_offset_before_any_query(engine: str, tmp_path) -> None:
    from parking.analytics.engines import engine_from_settings
    from parking.config import Settings

    settings = Settings(engine=engine, data_dir=tmp_path, region="eu-west-1")
    with pytest.raises(InvalidArgument, match="UTC-05:00"):
        queries.occupancy("2024-03-20", tz="Etc/GMT+5", engine=engine_from_settings(settings), now=NOW)


@pytest.mark.parametrize("name", ["Etc/GMT", "Etc/GMT+0", "Etc/GMT-0", "UTC"])
def test_utc_under_any_of_its_names_is_accepted(name: str) -> None:
    assert zone(name).utcoffset(NOW) == timedelta(0)


@given(st.dates())
def test_a_day_is_accepted_exactly_when_it_is_in_range(day: date) -> None:
    text = day.strftime("%Y-%m-%d").zfill(10)
    if FIRST_DAY <= day <= LAST_DAY:
        assert parse_date(text) == day
    else:
        with pytest.raises(InvalidArgument, match="outside the days a query can name"):
            parse_date(text)


@given(st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-1)),
                                                 timezone(timedelta(hours=14)), timezone(timedelta(minutes=-59))])))
def test_an_instant_anywhere_in_the_calendar_parses_or_is_refused(moment: datetime) -> None:
    text = moment.isoformat()
    try:
        in_range = FIRST_DAY <= moment.astimezone(timezone.utc).date() <= LAST_DAY
    except OverflowError:
        in_range = False
    if in_range:
        assert parse_instant(text) == moment
    else:
        with pytest.raises(InvalidArgument, match="outside the days a query can name"):
            parse_instant(text)


@pytest.mark.parametrize(("first", "last"), [(date(1, 1, 1), date(1, 1, 2)), (date(9999, 12, 30), date(9999, 12, 31))])
def test_the_library_refuses_days_outside_the_range_too(first: date, last: date) -> None:
    with pytest.raises(InvalidArgument, match="outside the days"):
        days_window(first, last, zone("UTC"), NOW)
    with pytest.raises(InvalidArgument, match="outside the days"):
        queries.occupancy(last, now=NOW)


def test_the_last_day_in_range_still_makes_a_window() -> None:
    window = days_window(LAST_DAY, LAST_DAY, zone("Pacific/Kiritimati"), datetime(2262, 4, 1, tzinfo=timezone.utc))
    assert window.end - window.start == timedelta(days=1)


@pytest.mark.parametrize(("text", "days_before"), [
    ("today", 0), ("yesterday", 1), ("-0d", 0), ("-1d", 1), ("-7d", 7), ("-30d", 30), (" Today ", 0), ("YESTERDAY", 1),
])
def test_a_relative_day_counts_back_from_today(text: str, days_before: int) -> None:
    today = date(2026, 3, 1)
    assert parse_date(text, today=today) == today - timedelta(days=days_before)


def test_a_relative_day_without_a_given_today_is_this_machines_calendar() -> None:
    assert parse_date("today") == date.today()


@pytest.mark.parametrize("text", ["tomorrow", "+7d", "-7", "7d", "-d", "-7w", "-99999d", "today-1"])
def test_other_relative_words_are_refused_with_the_forms_that_work(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"today, yesterday, -7d|outside the days|too far before"):
        parse_date(text, today=date(2026, 3, 1))


def test_a_relative_day_on_the_command_line_asks_about_that_day(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from parking.cli.main import cli

    day = date.today() - timedelta(days=1)
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"spot_id": "A1", "status": "occupied", "timestamp": f"{day}T10:00:00Z"}) + "\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(events), "--data-dir", str(tmp_path)]).exit_code == 0
    result = runner.invoke(cli, ["--data-dir", str(tmp_path), "occupancy", "--date", "yesterday", "--format", "csv"])
    assert result.exit_code == 0, result.output
    hours = result.output.splitlines()[1:]
    assert len(hours) == 24 and all(line.startswith(day.isoformat()) for line in hours)


@pytest.mark.parametrize("servers", ["localhost:99999", "localhost:0", "localhost", ":9092", "a:9092,b",
                                     "localhost:90x"])
@pytest.mark.parametrize("command", [["consume", "--bootstrap-servers"], ["simulate", "--kafka"]])
def test_a_bootstrap_server_that_is_not_host_and_port_is_exit_2_before_connecting(command, servers) -> None:
    """librdkafka would take port 99999 as 34463 (modulo 65536) and reach another program."""
    result = CliRunner().invoke(cli, [*command, servers])
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: Invalid value for ") and "is not HOST:PORT with a port from 1 to 65535" in line
