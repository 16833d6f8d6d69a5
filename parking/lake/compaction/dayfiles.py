"""What the compacted tier's files are: their folders, their names and their columns.

The one definition of a compacted file's name (``<day>[T<HH>]-<digest>.parquet``
in its day's folder) and of the Hive partitions a key names, which every part
of compaction (scheduling, the protocol, removal, the check) reads keys by.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

from parking.layout import COMPACTED_PREFIX

# Digits are [0-9], never \d: Python's \d matches every script's digits, so 'hour=1\u0663' would pass as hour 13.
_DAY = re.compile(r"year=([0-9]{4})/month=([0-9]{2})/day=([0-9]{2})/")
HOUR_PARTITION = re.compile(r"hour=([0-9]{2})/")
# An hour's folder below a prefix, as the ingester writes it; ``day`` is its day's folder.
HOUR_FOLDER = re.compile(r"(?P<day>year=[0-9]{4}/month=[0-9]{2}/day=[0-9]{2}/)hour=[0-9]{2}/")
# A day file, or an hour file (``<day>T<HH>-<digest>.parquet``): both in their day's folder, which every query reads.
_DAY_FILE = re.compile(
    r"year=[0-9]{4}/month=[0-9]{2}/day=[0-9]{2}/"
    r"(?P<name>[0-9]{4}-[0-9]{2}-[0-9]{2})(?:T(?P<hour>[01][0-9]|2[0-3]))?-[0-9a-f]{16}\.parquet"
)

# The columns of a compacted day, in file order. year/month/day are its Hive partition.
PARQUET_COLUMNS = ("spot_id", "status", "timestamp", "ts_ms", "hour", "source", "line_number", "line")


def partition(day: date) -> str:
    """A day's Hive partition below a prefix: ``year=YYYY/month=MM/day=DD/``."""
    return f"year={day:%Y}/month={day:%m}/day={day:%d}/"


def grain_name(day: date, hour: int | None = None) -> str:
    """A day, or one hour of it, as file names and messages give it: ``2024-03-01``, ``2024-03-01T10``."""
    return day.isoformat() if hour is None else f"{day.isoformat()}T{hour:02d}"


def folder(day: date) -> str:
    """A day's folder in the compacted tier, where its day and hour files lie."""
    return f"{COMPACTED_PREFIX}{partition(day)}"


def day_of(key: str) -> date | None:
    """The day of a key under ``year=/month=/day=/``, else None (an impossible date too)."""
    match = _DAY.search(key)
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def hour_of(key: str) -> datetime | None:
    """The UTC hour of a key under ``year=/month=/day=/hour=/``, else None."""
    day, hour = day_of(key), HOUR_PARTITION.search(key)
    if day is None or hour is None or int(hour.group(1)) > 23:
        return None
    return datetime(day.year, day.month, day.day, int(hour.group(1)), tzinfo=timezone.utc)


def day_file_name(key: str) -> date | None:
    """The day of a key named as :func:`parking.lake.compaction.protocol.compact_day` names a day or hour file, else None."""
    match = _DAY_FILE.fullmatch(key[len(COMPACTED_PREFIX):]) if key.startswith(COMPACTED_PREFIX) else None
    day = day_of(key) if match else None
    return day if day is not None and match is not None and match["name"] == day.isoformat() else None


def file_hour(key: str) -> int | None:
    """The hour of an hour file (``<day>T<HH>-<digest>.parquet``); None for a day file or any other key."""
    match = _DAY_FILE.fullmatch(key[len(COMPACTED_PREFIX):]) if day_file_name(key) else None
    return int(match["hour"]) if match and match["hour"] is not None else None
