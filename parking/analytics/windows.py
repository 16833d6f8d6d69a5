"""Query windows: dates and zones to UTC instants, and the partitions to read.

docs/METRICS.md section 4: windows are half-open ``[start, end)``; a date is a
calendar day in the query's zone; a window reaching past ``now`` ends at
now; a query reads its window plus the lookback before it, and no others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from parking.errors import InvalidArgument

HOUR = timedelta(hours=1)
MAX_WINDOW_DAYS = 366  # Athena's sequence() holds at most 10,000 hours
# Days a query may name: from the Unix epoch to the last whole year pandas'
# nanosecond timestamps hold (they end on 2262-04-11), so a window, its
# lookback and every timestamp of the answer fit every type on the way.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2261, 12, 31)
# Names the zone database holds that are not time zones of a place: the host's
# own setting, the template of POSIX rules and the zone for unset clocks.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
# Fixed offsets named the POSIX way, east negative: Etc/GMT+5 is UTC-05:00.
# Refused (docs/CHOICES.md, "The command line"): a garage's days follow its place.
_POSIX_OFFSET = re.compile(r"Etc/GMT([+-])([0-9]{1,2})")


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open window of UTC instants; ``end`` is clipped to now, ``nominal_end`` is not."""

    start: datetime
    end: datetime
    nominal_end: datetime

    @property
    def is_future(self) -> bool:
        return self.end <= self.start


@cache
def zone_names() -> frozenset[str]:
    """The IANA names a query accepts: the zone database's, less folders and host aliases.

    ``zoneinfo.available_timezones()`` leaves out folders (``Europe``), the
    ``right/`` and ``posix/`` trees; :data:`NOT_ZONES` takes out the rest that
    DuckDB and Athena do not know, and the ``Etc/GMT+N`` / ``Etc/GMT-N``
    offsets (N not 0) go too: their sign is POSIX's, the inverse of ISO 8601's.
    """
    return frozenset(name for name in available_timezones() - NOT_ZONES if not _posix_offset(name))


def _posix_offset(name: str) -> str | None:
    """``UTC-05:00`` for ``Etc/GMT+5``: the ISO offset a POSIX-signed zone name stands for; None otherwise."""
    match = _POSIX_OFFSET.fullmatch(name)
    if match is None or int(match[2]) == 0:
        return None
    return f"UTC{'-' if match[1] == '+' else '+'}{int(match[2]):02d}:00"


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or :class:`InvalidArgument` naming the bad one.

    The name is looked up in :func:`zone_names` before any file is opened, so
    a folder of the zone database, an over-long name or a path is refused
    with the same message as a misspelt zone.
    """
    offset = _posix_offset(name) if isinstance(name, str) else None
    if offset is not None:
        raise InvalidArgument(
            f"time zone {name!r} is {offset} (POSIX inverts the sign); name the zone of the garage's place, "
            "such as Europe/Paris"
        )
    if not isinstance(name, str) or name not in zone_names():
        shown = name if len(str(name)) <= 64 else f"{str(name)[:61]}..."
        raise InvalidArgument(f"unknown time zone {shown!r} (use an IANA name such as Europe/Paris)")
    return ZoneInfo(name)


def check_day(day: date) -> date:
    """A day in ``[FIRST_DAY, LAST_DAY]``, or :class:`InvalidArgument`."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidArgument(f"date {day.isoformat()} is outside the days a query can name, {FIRST_DAY} to {LAST_DAY}")
    return day


def check_instant(instant: datetime) -> datetime:
    """An aware instant whose UTC day is in ``[FIRST_DAY, LAST_DAY]``, or :class:`InvalidArgument`."""
    first = datetime.combine(FIRST_DAY, time(), tzinfo=timezone.utc)
    end = datetime.combine(LAST_DAY, time(), tzinfo=timezone.utc) + timedelta(days=1)
    if not first <= instant < end:
        raise InvalidArgument(
            f"instant {instant.isoformat()} is outside the days a query can name, {FIRST_DAY} to {LAST_DAY}"
        )
    return instant


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """First instant of a local calendar day, in UTC (after a gap at midnight, the gap's end)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(timezone.utc)


def check_days(first: date, last: date) -> None:
    """A range of days is in order, each day a query can name, and not longer than Athena can walk."""
    check_day(first)
    check_day(last)
    if last < first:
        raise InvalidArgument(f"{{first}} {first} is after {{last}} {last}", "first", "last")
    if (last - first).days + 1 > MAX_WINDOW_DAYS:
        raise InvalidArgument(f"window of {(last - first).days + 1} days is longer than {MAX_WINDOW_DAYS}")


def days_window(first: date, last: date, tz: ZoneInfo, now: datetime) -> Window:
    """``[first 00:00, last + 1 00:00)`` in ``tz``, both dates included."""
    check_days(first, last)
    start = local_midnight(first, tz)
    nominal_end = local_midnight(last + timedelta(days=1), tz)
    return Window(start, min(nominal_end, now), nominal_end)


def instant_window(at: datetime, length: timedelta) -> Window:
    """``(at - length, at]``, for the queries asked about one instant."""
    check_instant(at)
    return Window(at - length, at, at)


def to_ms(instant: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly."""
    delta = instant - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def reuse_grid(instant: datetime, minutes: int) -> datetime:
    """``instant`` taken down to a whole multiple of ``minutes`` since 1970-01-01T00:00Z.

    With Athena's result reuse (``--reuse-results MINUTES``), a question about
    now is asked about this instant instead, so two runs within one step of the
    grid send byte-identical SQL, which is what Athena reuses; the answer is
    then at most ``minutes`` old, as a reused result is anyway (docs/CHOICES.md,
    "Queries and windows": reusing Athena results). Raises :class:`InvalidArgument` for ``minutes`` < 1.
    """
    if minutes < 1:
        raise InvalidArgument(f"a reuse grid needs at least 1 minute, got {minutes}")
    step = minutes * 60_000
    epoch_ms = to_ms(instant.astimezone(timezone.utc))
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=epoch_ms - epoch_ms % step)


def partition_params(first: datetime, last: datetime) -> dict[str, Any]:
    """Partition predicates for every UTC hour from ``first``'s to ``last``'s, both included.

    ``year``/``month``/``day`` IN lists let Athena's partition projection prune
    by column; the ``first_hour``/``last_hour`` range on ``year||month||day||hour``
    trims the first and last day to the hours actually needed.
    """
    first = first.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    last = max(first, last.astimezone(timezone.utc))
    days = sorted({first.date() + timedelta(days=n) for n in range((last.date() - first.date()).days + 1)})
    return {
        "years": sorted({f"{d.year:04d}" for d in days}),
        "months": sorted({f"{d.month:02d}" for d in days}),
        "days": sorted({f"{d.day:02d}" for d in days}),
        "first_hour": first.strftime("%Y%m%d%H"),
        "last_hour": last.strftime("%Y%m%d%H"),
    }


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant from the command line; without a zone it is UTC.

    Raises :class:`InvalidArgument` for text that does not parse and for an
    instant outside :data:`FIRST_DAY` to :data:`LAST_DAY` (UTC).
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(
            f"invalid timestamp {_shown(text)} (expected ISO-8601, e.g. 2024-03-20T10:00:00Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    if not FIRST_DAY - timedelta(days=1) <= value.date() <= LAST_DAY + timedelta(days=1):
        check_day(value.date())  # far from the range: refuse before converting (9999-12-31T23:00-01:00)
    return check_instant(value.astimezone(timezone.utc))


_RELATIVE_DAY = re.compile(r"(today|yesterday|-([0-9]{1,5})d)")


def parse_date(text: str, today: date | None = None) -> date:
    """A calendar date from the command line, from :data:`FIRST_DAY` to :data:`LAST_DAY`.

    ``YYYY-MM-DD``, or a day relative to ``today`` (default: this machine's
    calendar, the day the person typing it lives in): ``today``,
    ``yesterday`` or ``-Nd`` (N days before today), so a copied example keeps
    working on any date. Raises :class:`InvalidArgument` for anything else.
    """
    relative = _RELATIVE_DAY.fullmatch(text.strip().lower())
    if relative:
        base = today or date.today()
        days = 0 if relative[1] == "today" else 1 if relative[1] == "yesterday" else int(relative[2])
        try:
            return check_day(base - timedelta(days=days))
        except OverflowError:
            raise InvalidArgument(f"invalid date {_shown(text)} (too far before today)") from None
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):  # fromisoformat also takes 2026-W47-1
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"invalid date {_shown(text)} (expected YYYY-MM-DD, a real calendar day, or today, yesterday, -7d)"
        ) from None
    return check_day(day)


def _shown(text: str, limit: int = 64) -> str:
    """User text quoted for a one-line message, cut when long."""
    return repr(text if len(text) <= limit else f"{text[:limit - 3]}...")
