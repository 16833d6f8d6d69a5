"""Decoding and validation of one event, per docs/METRICS.md section 1.

This is the per-record hot path of the Lambda, so it is plain functions over
built-in types: the common, already-canonical record costs a handful of C
calls beyond ``orjson.loads``. Anything unusual takes a slower, stricter path.

Choices where docs/METRICS.md leaves room (docs/CHOICES.md, "Events"):

* The timestamp grammar is exactly ``YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)``
  with an upper-case ``T`` and ``Z``; anything else does not parse.
* Stored timestamps keep millisecond precision, truncated (never rounded, so
  an event never moves to the next hour partition), and drop the fraction
  when it is zero: one instant has one spelling, so exact duplicates are
  byte-identical.
* "Control characters" are Unicode category Cc: U+0000-U+001F, U+007F-U+009F.
* A value larger than ``max_value_bytes`` (64 KiB by default) is quarantined.
"""

from __future__ import annotations

import re
from binascii import Error as BinasciiError
from binascii import a2b_base64
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum

import orjson

from parking.errors import InvalidEvent

MAX_SPOT_ID_LENGTH = 128
FUTURE_TOLERANCE = timedelta(hours=24)

STATUS_WORDS = {
    "occupied": "occupied",
    "free": "free",
    "vacant": "free",
    "available": "free",
    "empty": "free",
}


class Reason(StrEnum):
    """Why a record was quarantined; the code is stored on the quarantine line."""

    NO_VALUE = "no_value"
    NOT_BASE64 = "not_base64"
    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    MISSING_FIELD = "missing_field"
    NULL_FIELD = "null_field"
    WRONG_TYPE = "wrong_type"
    BAD_SPOT_ID = "bad_spot_id"
    UNKNOWN_STATUS = "unknown_status"
    BAD_TIMESTAMP = "bad_timestamp"
    NO_ZONE = "no_zone"
    IMPOSSIBLE_DATE = "impossible_date"
    FUTURE_TIMESTAMP = "future_timestamp"


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?",
    re.ASCII,
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_REQUIRED = ("spot_id", "status", "timestamp")


_MINUTE_SECOND_Z = frozenset(f":{minute:02d}:{second:02d}Z" for minute in range(60) for second in range(60))


@dataclass(slots=True)
class Validator:
    """One batch's validation state: its limits and the UTC hours already proven valid.

    ``known_hours`` holds ``YYYY-MM-DDTHH`` prefixes that parsed as real hours
    before the future limit's hour, so a canonical timestamp in one of them
    needs only a set lookup for its minutes and seconds.
    """

    max_bytes: int
    max_base64: int
    limit: datetime
    limit_hour: str
    known_hours: set[str]

    @classmethod
    def at(cls, now: datetime, max_bytes: int) -> Validator:
        limit = now.astimezone(timezone.utc) + FUTURE_TOLERANCE
        return cls(max_bytes, _base64_length(max_bytes), limit, format_instant(limit)[:13], set())


def parse_value(value: object, validator: Validator) -> tuple[str, bytes]:
    """Validate one record's base64 value; return its UTC hour and stored JSON line.

    The hour is ``YYYY-MM-DDTHH``; the line is JSON with a trailing newline.
    Raises :class:`InvalidEvent` with the reason it must be quarantined.
    """
    max_bytes = validator.max_bytes
    try:
        if len(value) > validator.max_base64:  # type: ignore[arg-type]
            raise ValueError("too large")
        raw = a2b_base64(value, strict_mode=True)  # type: ignore[arg-type]
        if len(raw) > max_bytes:
            raise ValueError("too large")
        event = orjson.loads(raw)
        spot_id = event["spot_id"]
        status = event["status"]
        stamp = event["timestamp"]
    except Exception:
        raise _diagnose(value, max_bytes) from None
    if type(spot_id) is not str or type(status) is not str or type(stamp) is not str:
        raise _field_error(event)

    if not 0 < len(spot_id) <= MAX_SPOT_ID_LENGTH or not spot_id.isprintable():
        _check_spot_id(spot_id)
    word = STATUS_WORDS.get(status) or STATUS_WORDS.get(status.lower())
    if word is None:
        raise InvalidEvent(Reason.UNKNOWN_STATUS, f"status {status[:40]!r} is not occupied or free")

    hour = stamp[:13]
    if hour not in validator.known_hours or (
        stamp[13:] not in _MINUTE_SECOND_Z and not _canonical_millis(stamp)
    ):
        stamp = canonical_timestamp(stamp, validator.limit)
        hour = stamp[:13]
        if hour < validator.limit_hour:
            validator.known_hours.add(hour)

    event["status"] = word
    event["timestamp"] = stamp
    return hour, orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)


def _canonical_millis(stamp: str) -> bool:
    """``...THH:MM:SS.fffZ`` with a non-zero millisecond: canonical as it stands."""
    return (
        len(stamp) == 24 and stamp[19] == "." and stamp[23] == "Z" and stamp[13:19] + "Z" in _MINUTE_SECOND_Z
        and stamp[20:23].isdigit() and stamp[20:23] != "000" and stamp[20:23].isascii()
    )


def canonical_timestamp(stamp: str, limit: datetime | None = None) -> str:
    """The stored spelling of an ISO-8601 timestamp with a zone, in UTC."""
    match = _TIMESTAMP.fullmatch(stamp)
    if match is None:
        raise InvalidEvent(Reason.BAD_TIMESTAMP, f"timestamp {stamp[:40]!r} is not ISO-8601 with a zone")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone is None:
        raise InvalidEvent(Reason.NO_ZONE, f"timestamp {stamp!r} has no zone (Z or +HH:MM)")
    micros = int((fraction or "0").ljust(6, "0")[:6])
    try:
        offset = timezone.utc if zone == "Z" else _offset(zone)
        instant = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, offset
        ).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise _impossible(stamp) from None
    if limit is not None and instant > limit:
        raise _future(stamp)
    return format_instant(instant)


def format_instant(instant: datetime) -> str:
    """Canonical UTC text of an aware datetime: milliseconds truncated, omitted when zero."""
    utc = instant.astimezone(timezone.utc)
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    millis = utc.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def _offset(zone: str) -> timezone:
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes >= 60:
        raise ValueError("offset minutes out of range")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if zone[0] == "-" else delta)


def _diagnose(value: object, max_bytes: int) -> InvalidEvent:
    """The reason a value failed the fast path before field checks."""
    if value is None:
        return InvalidEvent(Reason.NO_VALUE, "record has no value (null or absent)")
    if not isinstance(value, str):
        return InvalidEvent(Reason.NOT_BASE64, f"value is a {type(value).__name__}, not base64 text")
    too_large = InvalidEvent(Reason.TOO_LARGE, f"value is larger than {max_bytes} bytes")
    if len(value) > _base64_length(max_bytes):
        return too_large
    try:
        raw = a2b_base64(value, strict_mode=True)
    except (BinasciiError, ValueError):
        return InvalidEvent(Reason.NOT_BASE64, "value is not valid base64")
    if len(raw) > max_bytes:
        return too_large
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return InvalidEvent(Reason.NOT_UTF8, "value is not UTF-8")
        return InvalidEvent(Reason.NOT_JSON, f"value is not JSON: {exc}")
    if type(event) is not dict:
        return InvalidEvent(Reason.NOT_OBJECT, f"value is a JSON {_json_type(event)}, not an object")
    return _field_error(event)


def _base64_length(size: int) -> int:
    """Length of the base64 text of ``size`` bytes."""
    return (size + 2) // 3 * 4


def _check_spot_id(spot_id: str) -> None:
    if not 0 < len(spot_id) <= MAX_SPOT_ID_LENGTH:
        raise InvalidEvent(
            Reason.BAD_SPOT_ID, f"spot_id must be 1-{MAX_SPOT_ID_LENGTH} characters, got {len(spot_id)}"
        )
    if _CONTROL.search(spot_id):
        raise InvalidEvent(Reason.BAD_SPOT_ID, "spot_id contains control characters")


def _impossible(stamp: str) -> InvalidEvent:
    return InvalidEvent(Reason.IMPOSSIBLE_DATE, f"timestamp {stamp!r} names an impossible date")


def _future(stamp: str) -> InvalidEvent:
    return InvalidEvent(Reason.FUTURE_TIMESTAMP, f"timestamp {stamp!r} is more than 24 hours after ingestion")


def _field_error(event: dict) -> InvalidEvent:
    for name in _REQUIRED:
        if name not in event:
            return InvalidEvent(Reason.MISSING_FIELD, f"{name} is missing")
        value = event[name]
        if value is None:
            return InvalidEvent(Reason.NULL_FIELD, f"{name} is null")
        if type(value) is not str:
            return InvalidEvent(Reason.WRONG_TYPE, f"{name} is a JSON {_json_type(value)}, not a string")
    raise AssertionError("no field error in a valid event")  # pragma: no cover


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "object", list: "array", str: "string", type(None): "null"}[type(value)]
