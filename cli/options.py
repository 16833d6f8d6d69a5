"""Parameter types and shared options: bad input fails here, before any query runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import click

from parking.config import ENGINES
from parking.errors import InvalidArgument
from parking.analytics.windows import check_days, parse_date, parse_instant, zone

FORMATS = ("table", "csv", "json")
F = TypeVar("F", bound=Callable[..., Any])


class _Parsed(click.ParamType):
    """A click type over one of the library's parsers; their message becomes click's."""

    parser: Callable[[str], Any]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return type(self).parser(value)
        except InvalidArgument as exc:
            self.fail(str(exc), param, ctx)


class DateType(_Parsed):
    name = "date"
    parser = staticmethod(parse_date)


class InstantType(_Parsed):
    name = "timestamp"
    parser = staticmethod(parse_instant)


class ZoneType(_Parsed):
    name = "zone"

    @staticmethod
    def parser(value: str) -> str:
        zone(value)
        return value


DATE, INSTANT, ZONE = DateType(), InstantType(), ZoneType()
POSITIVE_HOURS = click.FloatRange(min=0, min_open=True, max=24 * 366)


def output_options(command: F) -> F:
    """Engine, data directory and format: on the group, and repeatable on each command."""
    options = (
        click.option("--engine", type=click.Choice(ENGINES), default=None,
                     help="Where to run the query [env PARKING_ENGINE; default local]. athena needs "
                          "AWS_REGION and AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY), and reads PARKING_WORKGROUP, PARKING_DATABASE, "
                          "PARKING_OUTPUT_LOCATION."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                     help="Local data lake root [env PARKING_DATA_DIR; default ./data]."),
        click.option("--format", "output_format", type=click.Choice(FORMATS), default=None,
                     help="Output format [default table]."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def lookback_option(command: F) -> F:
    return click.option(
        "--lookback", "lookback_hours", type=POSITIVE_HOURS, default=24.0, show_default=True,
        help="Hours an event is trusted; a sensor silent for longer is unknown.",
    )(command)


def zone_option(command: F) -> F:
    return click.option(
        "--tz", "tz", type=ZONE, default="UTC", show_default=True,
        help="IANA time zone for dates, hours and weekdays.",
    )(command)


def range_options(command: F) -> F:
    command = click.option("--to", "last", type=DATE, required=True, help="Last day, included (YYYY-MM-DD).")(command)
    return click.option("--from", "first", type=DATE, required=True, help="First day (YYYY-MM-DD).")(command)


def check_range(first: date, last: date) -> None:
    try:
        check_days(first, last)
    except InvalidArgument as exc:
        raise click.UsageError(str(exc)) from None


def at_option(command: F) -> F:
    return click.option(
        "--at", type=INSTANT, default=None,
        help="Instant to ask about, ISO-8601 (no zone means UTC) [default now].",
    )(command)

