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
* Depth counts the event object itself as level 1: an event is at most
  ``MAX_DEPTH`` (64) levels deep, so a pass-through value holds at most 63.
* Numbers keep their text (section 1). orjson reads a number as an int or a
  float, so the fast path takes a record only when no number in it could
  change its spelling on the way through (a cheap scan of the raw bytes for
  exponents, 16 or more digits, trailing fraction zeros, ``-0`` and tiny
  decimals); the rest, and anything orjson refuses (a lone surrogate escape,
  deep nesting), take the slow path: the standard library's parser with every
  number kept as its source text (``orjson.Fragment``), lone surrogates
  replaced by U+FFFD, and the same checks.
* Duplicate keys keep the last value (both parsers do), so a stored line never
  holds a key twice (DuckDB refuses such a line).
"""

from __future__ import annotations

import json
import re
from binascii import Error as BinasciiError
from binascii import a2b_base64
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, cast

import orjson

from parking.config import EARLIEST_EVENT
from parking.errors import InvalidEvent
from parking.spot_ids import MAX_SPOT_ID_LENGTH, has_control, length_problem

MAX_DEPTH = 64
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
    TOO_EARLY = "too_early"
    TOO_DEEP = "too_deep"
    INTERNAL_ERROR = "internal_error"


# ISO 8601 allows a full stop or a comma before the fraction (GNU date --iso-8601=ns writes a comma).
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})?",
    re.ASCII,
)
# The pieces of a timestamp in order, to say which one is wrong (timestamp_problem).
_TIMESTAMP_PIECES = (
    (re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII), "does not start with a date YYYY-MM-DD"),
    (re.compile(r"T", re.ASCII), "has no 'T' between the date and the time"),
    (re.compile(r"\d{2}:\d{2}:\d{2}", re.ASCII), "has no time HH:MM:SS after the 'T'"),
    (re.compile(r"(?:[.,]\d+)?", re.ASCII), ""),
    (re.compile(r"(?:Z|[+-]\d{2}:\d{2})?", re.ASCII), ""),
)
# The detail of unknown_status: the words section 1 accepts, in any case.
_STATUS_PROBLEM = "is not a status word: occupied, or free, vacant, available, empty (any case)"
_REQUIRED = ("spot_id", "status", "timestamp")


# Raw bytes whose numbers orjson might respell (see _may_respell). A false
# match (the same bytes inside a string) only costs the slow path.
_DIGITS = bytes.maketrans(b"0123456789.", b"ddddddddddd")
_ZERO_END = re.compile(rb"0[,}\]\s]")
_TRAILING_ZERO = re.compile(rb"\.[0-9]*[1-9]0+(?=[,}\]\s])|\.00+(?=[,}\]\s])|-0(?=[,}\]\s])")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BRACKET_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')

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
    earliest: datetime = EARLIEST_EVENT
    earliest_hour: str = "2000-01-01T00"

    @classmethod
    def at(cls, now: datetime, max_bytes: int, earliest: datetime = EARLIEST_EVENT) -> Validator:
        """Limits for a batch ingested at ``now``: at most ``max_bytes`` a value, timestamps in [earliest, now + 24 h]."""
        limit = now.astimezone(timezone.utc) + FUTURE_TOLERANCE
        earliest = earliest.astimezone(timezone.utc)
        return cls(max_bytes, _base64_length(max_bytes), limit, format_instant(limit)[:13], set(),
                   earliest, format_instant(earliest)[:13])


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
        # 65 levels take 130 bytes of brackets: shorter values need no count.
        if len(raw) > max_bytes or (len(raw) > 2 * MAX_DEPTH and raw.count(b"{") + raw.count(b"[") > MAX_DEPTH):
            raise ValueError("not for the fast path")
        event = orjson.loads(raw)
        spot_id = event["spot_id"]
        status = event["status"]
        stamp = event["timestamp"]
    except Exception:
        return _slow_path(value, validator)
    if type(spot_id) is not str or type(status) is not str or type(stamp) is not str:
        raise _field_error(event)

    if not 0 < len(spot_id) <= MAX_SPOT_ID_LENGTH or not spot_id.isprintable():
        _check_spot_id(spot_id)
    word = STATUS_WORDS.get(status) or STATUS_WORDS.get(status.lower())
    if word is None:
        raise InvalidEvent(Reason.UNKNOWN_STATUS, f"status {status[:40]!r} {_STATUS_PROBLEM}")

    hour = stamp[:13]
    if hour not in validator.known_hours or (
        stamp[13:] not in _MINUTE_SECOND_Z and not _canonical_millis(stamp)
    ):
        stamp = canonical_timestamp(stamp, validator.limit, validator.earliest)
        hour = stamp[:13]
        if validator.earliest_hour < hour < validator.limit_hour:
            validator.known_hours.add(hour)

    event["status"] = word
    event["timestamp"] = stamp
    line = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
    # Written as it came (compact, canonical): every number kept its text.
    if (len(line) != len(raw) + 1 or not line.startswith(raw)) and _may_respell(raw):
        return _slow_path(value, validator)
    return hour, line


def _may_respell(raw: bytes) -> bool:
    """Whether orjson might spell a number of ``raw`` differently: a conservative byte scan.

    orjson writes a float in its shortest round-trip form: a decimal of at
    most 15 significant digits without exponent, trailing fraction zeros
    (but ``.0``) or ``-0``, and not below 1e-5, comes back as it went in.
    Anything else, or anything that looks like it, is respelled.
    """
    digits = raw.translate(_DIGITS)
    if b"dddddddddddddddd" in digits or b"de" in digits or b"dE" in digits or b"0.00000" in raw:
        return True
    return _ZERO_END.search(raw) is not None and _TRAILING_ZERO.search(raw) is not None


def _slow_path(value: object, validator: Validator) -> tuple[str, bytes]:
    """Records the fast path cannot take exactly: diagnose, or parse keeping every number's text."""
    max_bytes = validator.max_bytes
    if value is None:
        raise InvalidEvent(Reason.NO_VALUE, "record has no value (null or absent)")
    if not isinstance(value, str):
        raise InvalidEvent(Reason.NOT_BASE64, f"value is a {type(value).__name__}, not base64 text")
    too_large = InvalidEvent(Reason.TOO_LARGE, f"value is larger than {max_bytes} bytes")
    if len(value) > validator.max_base64:
        raise too_large
    try:
        raw = a2b_base64(value, strict_mode=True)
    except (BinasciiError, ValueError):
        raise InvalidEvent(Reason.NOT_BASE64, "value is not valid base64") from None
    if len(raw) > max_bytes:
        raise too_large
    event = exact_loads(raw, replace_surrogates=False)
    surrogates = _SURROGATE_ESCAPE.search(raw.decode("utf-8")) is not None  # exact_loads proved it UTF-8
    if type(event) is not dict:
        raise InvalidEvent(Reason.NOT_OBJECT, f"value is a JSON {_json_type(event)}, not an object")
    spot_id, status, stamp = event.get("spot_id"), event.get("status"), event.get("timestamp")
    if type(spot_id) is not str or type(status) is not str or type(stamp) is not str:
        raise _field_error(event)
    if surrogates and _SURROGATE.search(spot_id):
        raise InvalidEvent(Reason.BAD_SPOT_ID, "spot_id holds a lone surrogate escape")
    _check_spot_id(spot_id)
    word = STATUS_WORDS.get(status) or STATUS_WORDS.get(status.lower())
    if word is None:
        raise InvalidEvent(Reason.UNKNOWN_STATUS, f"status {status[:40]!r} {_STATUS_PROBLEM}")
    hour = stamp[:13]
    if hour not in validator.known_hours or (
        stamp[13:] not in _MINUTE_SECOND_Z and not _canonical_millis(stamp)
    ):
        stamp = canonical_timestamp(stamp, validator.limit, validator.earliest)
    if surrogates:
        event = cast("dict[str, Any]", _replace_surrogates(event))  # a dict comes back a dict
    event["status"] = word
    event["timestamp"] = stamp
    return stamp[:13], orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)


def exact_loads(raw: bytes, replace_surrogates: bool = True) -> object:
    """Parse JSON keeping each number's source text; lone surrogates become U+FFFD.

    Numbers come back as :class:`orjson.Fragment` holding their text, so
    ``orjson.dumps`` writes them as they arrived. Raises :class:`InvalidEvent`
    (``not_utf8``, ``too_deep``, ``not_json``); METRICS.md section 1.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent(Reason.NOT_UTF8, "value is not UTF-8") from None
    if text.count("{") + text.count("[") > MAX_DEPTH:
        depth = _depth(text)
        if depth > MAX_DEPTH:
            raise InvalidEvent(Reason.TOO_DEEP, f"value is nested {depth} levels deep, more than {MAX_DEPTH}")
    try:
        event = json.loads(text, parse_float=orjson.Fragment, parse_int=orjson.Fragment,
                           parse_constant=_not_json_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent(Reason.NOT_JSON, f"value is not JSON: {str(exc)[:200]}") from None
    if replace_surrogates and _SURROGATE_ESCAPE.search(text):
        event = _replace_surrogates(event)
    return event


def _not_json_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _depth(text: str) -> int:
    """Deepest nesting of arrays and objects outside strings (unbalanced text counts what it opens)."""
    depth = deepest = 0
    for match in _BRACKET_OR_STRING.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > deepest:
                deepest = depth
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def _replace_surrogates(value: object) -> object:
    """Every lone surrogate in strings and keys replaced by U+FFFD (depth is at most MAX_DEPTH)."""
    if type(value) is str:
        return _SURROGATE.sub("\ufffd", value)
    if type(value) is list:
        return [_replace_surrogates(item) for item in value]
    if type(value) is dict:
        return {_SURROGATE.sub("\ufffd", key): _replace_surrogates(item) for key, item in value.items()}
    return value


def _canonical_millis(stamp: str) -> bool:
    """``...THH:MM:SS.fffZ`` with a non-zero millisecond: canonical as it stands."""
    return (
        len(stamp) == 24 and stamp[19] == "." and stamp[23] == "Z" and stamp[13:19] + "Z" in _MINUTE_SECOND_Z
        and stamp[20:23].isdigit() and stamp[20:23] != "000" and stamp[20:23].isascii()
    )


def canonical_timestamp(stamp: str, limit: datetime | None = None, earliest: datetime | None = None) -> str:
    """The stored spelling of an ISO-8601 timestamp with a zone, in UTC.

    Raises :class:`InvalidEvent` (``bad_timestamp``, ``no_zone``,
    ``impossible_date``, ``future_timestamp`` after ``limit``, ``too_early``
    before ``earliest``); METRICS.md section 1.
    """
    match = _TIMESTAMP.fullmatch(stamp)
    if match is None:
        raise InvalidEvent(Reason.BAD_TIMESTAMP, f"timestamp {stamp[:40]!r} {timestamp_problem(stamp)}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone is None:
        raise InvalidEvent(Reason.NO_ZONE, f"timestamp {stamp!r} has no zone (Z or +HH:MM)")
    micros = int((fraction or "0").ljust(6, "0")[:6])
    try:
        offset = timezone.utc if zone == "Z" else _offset(zone)
        instant = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, offset
        ).astimezone(timezone.utc)
    except ValueError as exc:
        raise _impossible(stamp, str(exc)) from None
    except OverflowError:
        raise _impossible(stamp, "it lies outside the years 1-9999 in UTC") from None
    if limit is not None and instant > limit:
        raise _future(stamp)
    if earliest is not None and instant < earliest:
        raise InvalidEvent(Reason.TOO_EARLY, f"timestamp {stamp!r} is before {format_instant(earliest)}")
    return format_instant(instant)


def timestamp_problem(stamp: str) -> str:
    """What keeps ``stamp`` from being an ISO-8601 timestamp as METRICS.md section 1 reads them.

    The first piece (date, ``T``, time, fraction, zone) that is missing or
    malformed, or the text left after a whole timestamp; for the quarantine detail.
    """
    position = 0
    zoned = False
    fraction = ""
    for pattern, missing in _TIMESTAMP_PIECES:
        match = pattern.match(stamp, position)
        if match is None:
            return missing
        zoned = pattern is _TIMESTAMP_PIECES[-1][0] and match.end() > position
        if pattern is _TIMESTAMP_PIECES[-2][0]:
            fraction = match.group()
        position = match.end()
    rest = stamp[position:]
    if zoned:
        return f"has {rest[:12]!r} after its zone"
    if rest[:1] in (".", ",") and fraction:
        return f"has {rest[:12]!r} after its fraction {fraction!r}: one fraction at most, then the zone"
    if rest[:1] in (".", ","):
        return f"has no digits after the {'full stop' if rest[0] == '.' else 'comma'} before the fraction"
    if rest[:1] in ("+", "-"):
        return f"has the zone {rest[:12]!r}: a zone is Z or +HH:MM (with the colon)"
    if rest[:1] == "z":
        return "has a lower-case 'z': the UTC zone is 'Z'"
    return f"has {rest[:12]!r} where the fraction or the zone (Z or +HH:MM) should be"


def format_instant(instant: datetime) -> str:
    """Canonical UTC text of an aware datetime: milliseconds truncated, omitted when zero."""
    utc = instant.astimezone(timezone.utc)
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    millis = utc.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def _offset(zone: str) -> timezone:
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes >= 60:
        raise ValueError(f"offset minutes must be in 0..59, got {minutes}")
    if hours >= 24:
        raise ValueError(f"offset hours must be in 0..23, got {hours}")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if zone[0] == "-" else delta)


def _base64_length(size: int) -> int:
    """Length of the base64 text of ``size`` bytes."""
    return (size + 2) // 3 * 4


def _check_spot_id(spot_id: str) -> None:
    """The spot-id rule (:mod:`parking.spot_ids`), as a reason to quarantine the event."""
    problem = length_problem(spot_id)
    if problem is not None:
        raise InvalidEvent(Reason.BAD_SPOT_ID, problem)
    if has_control(spot_id):
        raise InvalidEvent(Reason.BAD_SPOT_ID, "spot_id contains control characters")


def _impossible(stamp: str, why: str) -> InvalidEvent:
    return InvalidEvent(Reason.IMPOSSIBLE_DATE, f"timestamp {stamp!r} names an impossible date or time: {why}")


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
    if isinstance(value, (int, float, orjson.Fragment)):
        return "number"
    return {dict: "object", list: "array", str: "string", type(None): "null"}.get(type(value), "value")
