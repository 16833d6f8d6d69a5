"""Parameter types and shared options: bad input fails here, before any query runs."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from parking.analytics.windows import check_days, parse_date, parse_instant, zone
from parking.config import ENGINES
from parking.errors import InvalidArgument

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


class Number(click.FloatRange):
    """click's FloatRange without ``nan``, which passes every bound it is compared with."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


class BucketType(click.ParamType):
    """An S3 bucket name by AWS's rules: 3-63 lower-case letters, digits, dots and hyphens."""

    name = "bucket"
    _RULE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not self._RULE.fullmatch(value) or ".." in value:
            self.fail(f"{value!r} is not an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)",
                      param, ctx)
        return value


class TopicType(click.ParamType):
    """A Kafka topic name by Kafka's rules: 1-249 of letters, digits, ``.``, ``_``, ``-`` (not ``.`` or ``..``).

    It becomes part of object names, so nothing else (``/``, ``+``) may reach a path.
    """

    name = "topic"
    _RULE = re.compile(r"[A-Za-z0-9._-]{1,249}")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not self._RULE.fullmatch(value) or value in (".", ".."):
            self.fail(f"{value!r} is not a Kafka topic name (1-249 letters, digits, '.', '_', '-')", param, ctx)
        return value


class NonEmptyType(click.ParamType):
    """Any text but the empty string (librdkafka aborts the process on an empty group id)."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not value.strip():
            self.fail("must not be empty", param, ctx)
        return value


class NewFileType(click.Path):
    """A file to write, in a directory that exists: checked before any query runs."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, writable=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        parent = Path(path).parent
        if not parent.is_dir():
            self.fail(f"directory '{parent}' does not exist", param, ctx)
        return path


DATE, INSTANT, ZONE, BUCKET, NEW_FILE = DateType(), InstantType(), ZoneType(), BucketType(), NewFileType()
TOPIC, NON_EMPTY = TopicType(), NonEmptyType()
POSITIVE_HOURS = Number(min=0, min_open=True, max=24 * 366)


def output_options(command: F) -> F:
    """Engine, data directory and format: on the group, and repeatable on each command."""
    options = (
        click.option("--engine", type=click.Choice(ENGINES), default=None,
                     help="Where to run the query [env PARKING_ENGINE; default local]."),
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

