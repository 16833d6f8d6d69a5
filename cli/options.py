"""Parameter types and shared options: bad input fails here, before any query runs."""

from __future__ import annotations

import errno
import math
import os
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from parking.analytics.registry import DEFAULT_LOOKBACK_HOURS
from parking.analytics.windows import check_days, parse_date, parse_instant, zone
from parking.config import ENGINES
from parking.errors import ConfigurationError, InvalidArgument
from parking.layout import check_topic
from parking.text import DECIMAL, DIGITS, shortened

FORMATS = ("table", "csv", "json", "ndjson")
PICTURE_FORMATS = ("png", "svg", "pdf")  # what parking.analytics.plots.save writes (checked by a test)
NAME_MAX, PATH_MAX = 255, 4096  # bytes of a file name and of a path (with its NUL) on Linux file systems
F = TypeVar("F", bound=Callable[..., Any])


#: The flag that sets each library argument an :class:`InvalidArgument` names (its ``arguments``).
FLAGS = {
    "lookback_hours": "--lookback",
    "silent_hours": "--silent-hours",
    "stuck_hours": "--stuck-hours",
    "flapping_changes": "--flapping-changes",
    "ahead": "--ahead",
    "hours": "--hours",
    "days": "--days",
    "by": "--by",
    "zones": "--zone",
    "threshold": "--threshold",
    "first": "--from",
    "last": "--to",
    "before": "--before",
}


def in_flags(error: InvalidArgument) -> str:
    """The library's message, each argument it names spelled as the flag that sets it."""
    return error.worded(FLAGS)


class _Parsed(click.ParamType):
    """A click type over one of the library's parsers; their message becomes click's."""

    parser: Callable[[str], Any]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return type(self).parser(value)
        except InvalidArgument as exc:
            self.fail(in_flags(exc), param, ctx)


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


def os_error_line(error: OSError) -> str:
    """One line for a file that could not be read or written: what the system said, the file, and why if known."""
    where = error.filename2 if error.errno in _FULL and error.filename2 else error.filename
    line = f"{error.strerror or error}" + (f": {where}" if where else "")
    if error.errno == errno.EFBIG:
        line += " (a file size limit stopped the write: see `ulimit -f`)"
    elif error.errno in (errno.ENOSPC, errno.EDQUOT):
        line += " (the device or quota holding it is full: free space there and run the command again)"
    return line


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})




class Integer(click.IntRange):
    """click's IntRange reading plain decimal digits only, perhaps after a '-'; every integer option's type.

    click's INT is Python's ``int``: ``+3``, `` 3`` and ``3 `` read as 3,
    ``1_2`` as 12 and ``\u0663`` as 3, so a typo passed as another number. As
    in the live API (parking/live/app.py), a value is what it says or a usage
    error naming the option. A '-' is read where the range allows negatives;
    elsewhere it gets the range's message (``-0`` too, which ``int`` reads as 0).
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            digits = value.removeprefix("-")
            if not DIGITS.fullmatch(digits):
                self.fail(f"{value!r} is not a whole number in decimal digits (0-9)", param, ctx)
            if digits != value and self.min is not None and self.min >= 0:
                self.fail(f"{value} is not in the range {self._describe_range()}.", param, ctx)
        return super().convert(value, param, ctx)


class Number(click.FloatRange):
    """click's FloatRange for a decimal number as people type it: ``0.5``, ``.5``, ``+0.5``, ``2``, ``1e-3``.

    Not ``nan`` (it passes every bound it is compared with), an infinity, ``1_0``
    (Python's ``float`` reads 10), other scripts' digits, or spaces around it.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and (not DECIMAL.fullmatch(value) or math.isinf(float(value))):  # 1e309 too
            self.fail(_not_decimal(value), param, ctx)
        return super().convert(value, param, ctx)


def _not_decimal(value: str) -> str:
    """Why ``value`` is not a number for an option, naming NaN and the infinities that ``float`` would take."""
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if math.isnan(number):
        return f"{value!r} is not a number"
    if math.isinf(number):
        return f"{value!r} is not a finite number"
    return f"{value!r} is not a decimal number like 0.5, 2 or 1e-3"


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
    """A Kafka topic name, by the one rule object names rely on (:func:`parking.layout.check_topic`)."""

    name = "topic"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return check_topic(value)
        except ConfigurationError as exc:
            self.fail(str(exc), param, ctx)


class NonEmptyType(click.ParamType):
    """Any text but the empty string (librdkafka aborts the process on an empty group id)."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not value.strip():
            self.fail("must not be empty", param, ctx)
        return value



class OutputFile(click.ParamType):
    """A file to write (``-`` for stdout where allowed): its folder exists, it is not a folder.

    Checked, not opened: nothing is truncated before every argument has passed.
    """

    name = "file"

    def __init__(self, allow_dash: bool = False) -> None:
        self.allow_dash = allow_dash

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if self.allow_dash and value == "-":
            return value
        if "\x00" in str(value):
            self.fail(f"{_short(value)} holds a NUL character", param, ctx)
        path = Path(value)
        if len(os.fsencode(path)) >= PATH_MAX or any(len(os.fsencode(part)) > NAME_MAX for part in path.parts):
            self.fail(f"{_short(str(value))} is longer than a file system allows ({NAME_MAX} bytes a name, "
                      f"{PATH_MAX - 1} a path)", param, ctx)
        self.check_name(path, param, ctx)
        if not path.parent.is_dir():
            self.fail(f"folder {_short(str(path.parent))} of {_short(str(value))} does not exist", param, ctx)
        if path.is_dir():
            self.fail(f"{_short(str(value))} is a folder", param, ctx)
        return path

    def check_name(self, path: Path, param: click.Parameter | None, ctx: click.Context | None) -> None:
        """Any name will do here; subclasses refuse some."""


class PictureFile(OutputFile):
    """A file to write a picture or page to: its suffix names a format we write, its folder exists.

    Checked before any query runs, so a typo in the folder or the suffix is a
    usage error (exit 2), not a failure after the work is done.
    """

    def __init__(self, suffixes: tuple[str, ...]) -> None:
        super().__init__()
        self.suffixes = suffixes

    def check_name(self, path: Path, param: click.Parameter | None, ctx: click.Context | None) -> None:
        if path.suffix.lower().lstrip(".") not in self.suffixes:
            wanted = ", ".join(f".{s}" for s in self.suffixes)
            self.fail(f"{_short(str(path))} does not end in {wanted}", param, ctx)


class _NoNul:
    """A file name with a NUL byte is refused as a usage error (the OS would raise ValueError)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and "\x00" in value:
            self.fail(f"{_short(value)} holds a NUL character", param, ctx)  # type: ignore[attr-defined]
        return super().convert(value, param, ctx)  # type: ignore[misc]


class LocalPath(_NoNul, click.Path):
    """click.Path, refusing a NUL byte."""


class LocalFile(_NoNul, click.File):
    """click.File, refusing a NUL byte."""


DATA_DIR = LocalPath(file_okay=False)


def _short(path: str, limit: int = 80) -> str:
    """A path quoted for an error line, its middle cut when long: its start and its end (the name) stay."""
    return repr(shortened(path, limit, head=limit // 4))


DATE, INSTANT, ZONE, BUCKET = DateType(), InstantType(), ZoneType(), BucketType()
class BootstrapServersType(click.ParamType):
    """Kafka's ``bootstrap.servers``: ``HOST:PORT`` pairs, comma-separated, each port 1-65535.

    librdkafka takes a port of 99999 modulo 65536 and would reach another one.
    """

    name = "host:port"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not str(value).strip():
            self.fail("must not be empty", param, ctx)
        for server in str(value).split(","):
            host, colon, port = server.strip().rpartition(":")
            if not colon or not host.strip("[]") or not DIGITS.fullmatch(port) or not 1 <= int(port) <= 65535:
                self.fail(f"{server.strip()[:80]!r} is not HOST:PORT with a port from 1 to 65535", param, ctx)
        return str(value)


TOPIC, NON_EMPTY, BOOTSTRAP_SERVERS = TopicType(), NonEmptyType(), BootstrapServersType()
MAX_HOURS = 24 * 366
POSITIVE_HOURS = Number(min=0, min_open=True, max=MAX_HOURS)
# Counts bound far below what the SQL's bigint arithmetic holds (2**63 - 1).
MAX_CHANGES = 100_000  # one change every 0.9 s for a whole day
KAFKA_PARTITIONS = Integer(0, 2**31 - 1)  # Kafka's partition is an int32
SEED = Integer(0, 2**63 - 1)


DATA_DIR_HELP = "Local data lake root [env PARKING_DATA_DIR; default ./data]."
AWS_NEEDS = "AWS_REGION and AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
def engine_options(command: F) -> F:
    """--engine and --data-dir: where a query runs, one definition for every command that runs one."""
    command = data_dir_option(command)
    return click.option(
        "--engine", type=click.Choice(ENGINES), default=None,
        help=f"Where to run the query [env PARKING_ENGINE; default local]. athena needs {AWS_NEEDS}, "
             "and reads PARKING_WORKGROUP, PARKING_DATABASE, PARKING_TABLE, PARKING_OUTPUT_LOCATION.",
    )(command)



def data_dir_option(command: F) -> F:
    """``--data-dir``: the local lake, one definition for every command that reads or writes it."""
    return click.option("--data-dir", type=DATA_DIR, default=None, help=DATA_DIR_HELP)(command)


ALL_KEY = "parking.all_rows"  # ctx.meta: shared by the group's context and the command's


def output_options(command: F) -> F:
    """Engine, data directory, format and --all: on the group, and repeatable on each command."""
    return engine_options(format_options(command))


def format_options(command: F) -> F:
    """``--format`` and ``--all``: how rows are printed, for every command that prints rows."""
    command = all_option(command)
    return click.option("--format", "output_format", type=click.Choice(FORMATS), default=None,
                        callback=check_format_env,
                        help="Output format: table for people; csv, json, or ndjson (one JSON object a "
                             "line) for programs [env PARKING_FORMAT; default table].")(command)


FORMAT_VARIABLE = "PARKING_FORMAT"


def format_from_env() -> str | None:
    """PARKING_FORMAT, lower-cased, or None when unset or blank; :class:`ConfigurationError` for another word."""
    value = os.environ.get(FORMAT_VARIABLE, "").strip()
    if not value:
        return None
    if value.lower() not in FORMATS:
        raise ConfigurationError(f"{FORMAT_VARIABLE}={value!r} is not a format: use one of {', '.join(FORMATS)}")
    return value.lower()


def check_format_env(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A bad PARKING_FORMAT stops a command that prints rows while its arguments are read, before any query.

    Not the group's own --format (every command has one: ``simulate`` prints
    no rows), nor a command whose format was given before its name.
    """
    given_before = ctx.parent is not None and ctx.parent.params.get("output_format")
    if value is None and not isinstance(ctx.command, click.Group) and not given_before:
        format_from_env()
    return value


def all_option(command: F) -> F:
    """``--all``: every row of a table on a terminal, which otherwise shows the first 100."""
    return click.option("--all", "all_rows", is_flag=True, expose_value=False, callback=_remember_all,
                        help="Show every row of a table on a terminal (it shows the first 100 and says "
                             "how many it left out).")(command)


def _remember_all(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[ALL_KEY] = True
    return value


def show_all(ctx: click.Context | None) -> bool:
    """Whether --all was given, before or after the command name."""
    return ctx is not None and bool(ctx.meta.get(ALL_KEY))


def bucket_option(what: str) -> Callable[[F], F]:
    """``--bucket``: S3 instead of the data directory; its help says what AWS needs."""
    return click.option("--bucket", type=BUCKET, default=None, help=f"{what} Needs {AWS_NEEDS}.")



def place_options(bucket_help: str) -> Callable[[F], F]:
    """``--data-dir`` and ``--bucket``: where a command stores or reads, the local lake or an S3 bucket."""
    def decorate(command: F) -> F:
        return data_dir_option(bucket_option(bucket_help)(command))
    return decorate




def lookback_option(command: F) -> F:
    """``--lookback``: on the group and on each query command; the command's wins, then the group's."""
    return click.option(
        "--lookback", "lookback_hours", type=POSITIVE_HOURS, default=None,
        help="Hours an event is trusted; a sensor silent for longer is unknown "
             f"[default: PARKING_LOOKBACK_HOURS, else {DEFAULT_LOOKBACK_HOURS:g}].",
    )(command)


def zone_option(command: F) -> F:
    return click.option(
        "--tz", "tz", type=ZONE, default="UTC", show_default=True,
        help="IANA time zone of a place (Europe/Paris) for dates, hours and weekdays; "
             "Etc/GMT+N offsets (POSIX sign: +5 is UTC-05:00) are refused.",
    )(command)


def range_options(command: F) -> F:
    command = click.option("--to", "last", type=DATE, required=True, help="Last day, included (YYYY-MM-DD).")(command)
    return click.option("--from", "first", type=DATE, required=True, help="First day (YYYY-MM-DD).")(command)


def check_range(first: date, last: date) -> None:
    try:
        check_days(first, last)
    except InvalidArgument as exc:
        raise click.UsageError(in_flags(exc)) from None


REUSE_KEY = "parking.reuse_minutes"  # ctx.meta: shared by the group's context and the command's
REUSE_HELP = (
    "Athena only: reuse (unbilled) the result of the same query run in the last MINUTES (1-10080); "
    "'now' is taken down to a multiple of MINUTES, so answers are up to MINUTES old."
)


def reuse_option(command: F) -> F:
    """``--reuse-results MINUTES``: on the group and on each Athena-capable command, after the name wins.

    Not a parameter of the command function: the value goes to ``ctx.meta``
    (shared by the group's context and the command's), read by :func:`reuse_minutes`.
    """
    return click.option(
        "--reuse-results", "reuse_minutes", type=Integer(1, 10080), default=None, metavar="MINUTES",
        expose_value=False, callback=_remember_reuse, help=REUSE_HELP,
    )(command)


def _remember_reuse(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None:
        ctx.meta[REUSE_KEY] = value
    return value


def reuse_minutes(ctx: click.Context | None) -> int | None:
    """The --reuse-results given after the command name, else before it, else None."""
    return None if ctx is None else ctx.meta.get(REUSE_KEY)


def at_option(command: F) -> F:
    return click.option(
        "--at", type=INSTANT, default=None,
        help="Instant to ask about, ISO-8601 (no zone means UTC) [default now].",
    )(command)


def picture_option(command: F) -> F:
    """``--out``: the picture to write, its format named by its suffix, checked before any query runs."""
    return click.option("--out", type=PictureFile(PICTURE_FORMATS), required=True,
                        help="File to write: .png, .svg or .pdf (its folder must exist).")(command)
