"""Which days and hours are closed, and which of them compaction has yet to fold.

A day (an hour) is closed once it ended the lateness allowance ago; it is
pending while a JSON object of it is not folded yet (no copy kept under the
sources prefix) or its folder holds more than one compacted file.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from parking.errors import InvalidArgument
from parking.lake.compaction.dayfiles import HOUR_FOLDER, day_file_name, day_of, file_hour, hour_of
from parking.lake.stores import Listed, Store
from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX, DATA_PREFIX, OBJECT_SUFFIX

# A day with objects in at least this many of its hours has its kept copies listed whole, else hour by hour.
DAY_LISTING_HOURS = 6


def latest_before(now: datetime, lateness_days: int) -> date:
    """The first UTC day not yet closed: every day before it ended ``lateness_days`` ago or more."""
    if now.tzinfo is None:
        raise InvalidArgument("now must be timezone-aware")
    return (now.astimezone(timezone.utc) - timedelta(days=lateness_days)).date()


def check_before(before: date | None, now: datetime, lateness_days: int) -> date:
    """``--before``: the default is the lateness allowance's limit; later is refused.

    Raises :class:`InvalidArgument` when ``before`` would compact a day that
    ended less than ``lateness_days`` ago.
    """
    limit = latest_before(now, lateness_days)
    if before is None:
        return limit
    if before > limit:
        raise InvalidArgument(
            f"--before {before} is later than the lateness allowance allows: days must have ended "
            f"{lateness_days} days ago (PARKING_COMPACTION_LATENESS_DAYS), so at most --before {limit}"
        )
    return before


def latest_hour_before(now: datetime, lateness_minutes: int) -> datetime:
    """The first UTC hour not yet closed: every hour before it ended ``lateness_minutes`` ago or more."""
    if now.tzinfo is None:
        raise InvalidArgument("now must be timezone-aware")
    return (now.astimezone(timezone.utc) - timedelta(minutes=lateness_minutes)).replace(minute=0, second=0,
                                                                                         microsecond=0)


def pending_days(store: Store, before: date, data_prefix: str = DATA_PREFIX) -> list[date]:
    """Days before ``before`` with a JSON object not yet folded, an hour file, or several day files."""
    days = {day_of(key) for key in unfolded(store, data_prefix)}
    files: dict[date | None, int] = {}
    for key in store.keys(COMPACTED_PREFIX):
        if day_file_name(key):
            files[day_of(key)] = files.get(day_of(key), 0) + (2 if file_hour(key) is not None else 1)
    days |= {day for day, count in files.items() if count > 1}
    return sorted(day for day in days if day is not None and day < before)


def pending_hours(store: Store, before: datetime, data_prefix: str = DATA_PREFIX) -> list[datetime]:
    """Hours before ``before`` (a whole UTC hour) with a JSON object not yet folded into a compacted file."""
    hours = {hour_of(key) for key in unfolded(store, data_prefix)}
    return sorted(hour for hour in hours if hour is not None and hour < before)


def unfolded(store: Store, data_prefix: str = DATA_PREFIX) -> list[str]:
    """The JSON objects under ``data_prefix`` that no compacted file holds yet (none kept under the sources prefix)."""
    listed = {key: item for key, item in store.listing(data_prefix).items() if key.endswith(OBJECT_SUFFIX)}
    kept = kept_copies(store, listed, data_prefix)
    return sorted(key for key in listed if key not in kept)


def kept_copies(store: Store, listed: dict[str, Listed], data_prefix: str) -> dict[str, Listed]:
    """Of the data objects ``listed``, those with a copy of their size kept under the sources prefix: that copy.

    A copy is kept only after the compacted file that holds the object is
    written (steps 2 and 4), so such an object is folded. Names identify
    what an object holds (docs/METRICS.md section 2); the size guards
    against a hand-placed object of the same name.

    One listing per hour folder of ``listed``, but one per day for a day
    with :data:`DAY_LISTING_HOURS` such hours or more: a backlog (a daily
    run, a first run over an old lake) lists a day in one request per 1,000
    copies instead of 24 requests, while the hourly runs, whose two or three
    hours of a day are the open ones and those awaiting the removal delay,
    still list those hours only, not the day's other copies.
    """
    # only hour partitions: compaction keeps nothing else (and a loose key must not list the whole kept tier)
    folders = {key.rsplit("/", 1)[0] + "/" for key in listed if hour_of(key) is not None}
    days: dict[str, set[str]] = {}
    for hour_folder in folders:
        if (canonical := HOUR_FOLDER.fullmatch(hour_folder[len(data_prefix):])) is not None:
            days.setdefault(data_prefix + canonical["day"], set()).add(hour_folder)
    for day_folder, hours in days.items():
        if len(hours) >= DAY_LISTING_HOURS:
            folders = (folders - hours) | {day_folder}
    kept: dict[str, Listed] = {}
    for folder in sorted(folders):
        for key, item in store.listing(COMPACTED_SOURCES_PREFIX + folder[len(data_prefix):]).items():
            data_key = data_prefix + key[len(COMPACTED_SOURCES_PREFIX):]
            if data_key in listed and listed[data_key].size == item.size:
                kept[data_key] = item
    return kept
