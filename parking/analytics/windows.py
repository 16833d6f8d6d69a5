"""Query windows: dates and zones to UTC instants, and the partitions to read.

docs/METRICS.md section 4: windows are half-open ``[start, end)``; a date is a
calendar day in the query's zone; a window reaching past ``now`` ends at
now; a query reads its window plus the lookback before it, and no others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parking.errors import InvalidArgument

HOUR = timedelta(hours=1)
MAX_WINDOW_DAYS = 366  # Athena's sequence() holds at most 10,000 hours


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open window of UTC instants; ``end`` is clipped to now, ``nominal_end`` is not."""

    start: datetime
    end: datetime
    nominal_end: datetime

    @property
    def is_future(self) -> bool:
        return self.end <= self.start


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or :class:`InvalidArgument` naming the bad one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from None


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """First instant of a local calendar day, in UTC (after a gap at midnight, the gap's end)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(timezone.utc)


def check_days(first: date, last: date) -> None:
    """A range of days is in order and not longer than Athena can walk hour by hour."""
    if last < first:
        raise InvalidArgument(f"--from {first} is after --to {last}")
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
    return Window(at - length, at, at)


def to_ms(instant: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly."""
    delta = instant - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


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
    """An ISO-8601 instant from the command line; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(f"invalid timestamp {text!r} (expected ISO-8601, e.g. 2024-03-20T10:00:00Z)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_date(text: str) -> date:
    """A calendar date ``YYYY-MM-DD`` from the command line."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"invalid date {text!r} (expected YYYY-MM-DD, a real calendar day)") from None
