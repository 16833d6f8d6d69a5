"""The event contract of docs/METRICS.md section 1, one record at a time."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parking.errors import InvalidEvent
from parking.ingest.events import Reason, Validator, canonical_timestamp, parse_value
from parking.layout import HourPartition
from tests.conftest import NOW, event

MAX_BYTES = 65536


def encode(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.b64encode(raw).decode()


def parse(value: object) -> tuple[str, dict]:
    hour, line = parse_value(value, Validator.at(NOW, MAX_BYTES))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    return hour, json.loads(line)


def reason_of(value: object) -> str:
    with pytest.raises(InvalidEvent) as caught:
        parse_value(value, Validator.at(NOW, MAX_BYTES))
    assert caught.value.detail, "every rejection explains itself"
    return caught.value.reason


BAD_INPUTS = [
    ("null value", None, Reason.NO_VALUE),
    ("not base64", "not base64!!", Reason.NOT_BASE64),
    ("base64 without padding", "eyJhIjoxfQ", Reason.NOT_BASE64),
    ("base64 with whitespace", "eyJh IjoxfQ==", Reason.NOT_BASE64),
    ("value is a number", 42, Reason.NOT_BASE64),
    ("value is a list", [1, 2], Reason.NOT_BASE64),
    ("not UTF-8", encode(b"\xff\xfe{}"), Reason.NOT_UTF8),
    ("broken UTF-8 in a string", encode(b'{"spot_id": "\xc3\x28"}'), Reason.NOT_UTF8),
    ("plain text", encode(b"Hello, this is a test."), Reason.NOT_JSON),
    ("empty value", encode(b""), Reason.NOT_JSON),
    ("truncated JSON", encode(b'{"spot_id": "A1",'), Reason.NOT_JSON),
    ("NaN literal", encode(b'{"spot_id": NaN}'), Reason.NOT_JSON),
    ("Infinity literal", encode(b'{"spot_id": "A1", "x": Infinity}'), Reason.NOT_JSON),
    ("lone surrogate in spot_id", encode(b'{"spot_id": "A\\ud83d", "status": "free", "timestamp": "2024-03-20T10:00:00Z"}'),
     Reason.BAD_SPOT_ID),
    ("65 levels deep", encode(event(x=json.loads("[" * 64 + "]" * 64))), Reason.TOO_DEEP),
    ("254 levels deep (the issue's case)", encode(event(x=json.loads("[" * 254 + "]" * 254))), Reason.TOO_DEEP),
    ("2,000 levels deep", encode(b'{"x": ' + b"[" * 2000 + b"]" * 2000 + b"}"), Reason.TOO_DEEP),
    ("2,000 levels, unclosed", encode(b'{"x": ' + b"[" * 2000), Reason.TOO_DEEP),
    ("a reset clock: 1970", encode(event(timestamp="1970-01-01T00:00:00Z")), Reason.TOO_EARLY),
    ("year 0001", encode(event(timestamp="0001-01-01T00:00:00Z")), Reason.TOO_EARLY),
    ("a millisecond before 2000", encode(event(timestamp="1999-12-31T23:59:59.999Z")), Reason.TOO_EARLY),
    ("2000 in UTC+01:00 is 1999 in UTC", encode(event(timestamp="2000-01-01T00:30:00+01:00")), Reason.TOO_EARLY),
    ("byte order mark", encode(b'\xef\xbb\xbf{"spot_id": "A1"}'), Reason.NOT_JSON),
    ("JSON array", encode([event()]), Reason.NOT_OBJECT),
    ("JSON null", encode(None), Reason.NOT_OBJECT),
    ("JSON string", encode("A1 occupied"), Reason.NOT_OBJECT),
    ("JSON number", encode(42), Reason.NOT_OBJECT),
    ("spot_id missing", encode({"status": "free", "timestamp": "2024-03-20T10:00:00Z"}), Reason.MISSING_FIELD),
    ("status missing", encode({"spot_id": "A1", "timestamp": "2024-03-20T10:00:00Z"}), Reason.MISSING_FIELD),
    ("timestamp missing", encode({"spot_id": "A1", "status": "free"}), Reason.MISSING_FIELD),
    ("spot_id null", encode(event(spot=None)), Reason.NULL_FIELD),
    ("status null", encode(event(status=None)), Reason.NULL_FIELD),
    ("timestamp null", encode(event(timestamp=None)), Reason.NULL_FIELD),
    ("spot_id a number", encode(event(spot=17)), Reason.WRONG_TYPE),
    ("status a boolean", encode(event(status=True)), Reason.WRONG_TYPE),
    ("timestamp epoch seconds", encode(event(timestamp=1710928800)), Reason.WRONG_TYPE),
    ("status an object", encode(event(status={"value": "free"})), Reason.WRONG_TYPE),
    ("spot_id empty", encode(event(spot="")), Reason.BAD_SPOT_ID),
    ("spot_id 129 characters", encode(event(spot="x" * 129)), Reason.BAD_SPOT_ID),
    ("spot_id with newline", encode(event(spot="A\n1")), Reason.BAD_SPOT_ID),
    ("spot_id with NUL", encode(event(spot="A\x001")), Reason.BAD_SPOT_ID),
    ("spot_id with DEL", encode(event(spot="A\x7f")), Reason.BAD_SPOT_ID),
    ("spot_id with C1 control", encode(event(spot="A\x85")), Reason.BAD_SPOT_ID),
    ("unknown status", encode(event(status="parked")), Reason.UNKNOWN_STATUS),
    ("empty status", encode(event(status="")), Reason.UNKNOWN_STATUS),
    ("status with spaces", encode(event(status=" free")), Reason.UNKNOWN_STATUS),
    ("timestamp words", encode(event(timestamp="yesterday")), Reason.BAD_TIMESTAMP),
    ("date only", encode(event(timestamp="2024-03-20")), Reason.BAD_TIMESTAMP),
    ("space separator", encode(event(timestamp="2024-03-20 10:00:00Z")), Reason.BAD_TIMESTAMP),
    ("offset without colon", encode(event(timestamp="2024-03-20T10:00:00+0200")), Reason.BAD_TIMESTAMP),
    ("no seconds", encode(event(timestamp="2024-03-20T10:00Z")), Reason.BAD_TIMESTAMP),
    ("lower-case z", encode(event(timestamp="2024-03-20T10:00:00z")), Reason.BAD_TIMESTAMP),
    ("ISO week date", encode(event(timestamp="2024-W12-3T10:00:00Z")), Reason.BAD_TIMESTAMP),
    ("no zone", encode(event(timestamp="2024-03-20T10:00:00")), Reason.NO_ZONE),
    ("no zone, fraction", encode(event(timestamp="2024-03-20T10:00:00.5")), Reason.NO_ZONE),
    ("30 February", encode(event(timestamp="2024-02-30T10:00:00Z")), Reason.IMPOSSIBLE_DATE),
    ("29 February, not leap", encode(event(timestamp="2023-02-29T00:00:00Z")), Reason.IMPOSSIBLE_DATE),
    ("month 13", encode(event(timestamp="2024-13-01T00:00:00Z")), Reason.IMPOSSIBLE_DATE),
    ("hour 24", encode(event(timestamp="2024-03-20T24:00:00Z")), Reason.IMPOSSIBLE_DATE),
    ("minute 60", encode(event(timestamp="2024-03-20T10:60:00Z")), Reason.IMPOSSIBLE_DATE),
    ("leap second", encode(event(timestamp="2016-12-31T23:59:60Z")), Reason.IMPOSSIBLE_DATE),
    ("offset 24 hours", encode(event(timestamp="2024-03-20T10:00:00+24:00")), Reason.IMPOSSIBLE_DATE),
    ("offset minutes 60", encode(event(timestamp="2024-03-20T10:00:00+01:60")), Reason.IMPOSSIBLE_DATE),
    ("year zero", encode(event(timestamp="0000-01-01T00:00:00Z")), Reason.IMPOSSIBLE_DATE),
    ("before year 1 in UTC", encode(event(timestamp="0001-01-01T00:30:00+01:00")), Reason.IMPOSSIBLE_DATE),
    ("25 hours ahead", encode(event(timestamp="2024-03-21T13:00:00Z")), Reason.FUTURE_TIMESTAMP),
    ("a millisecond past the limit", encode(event(timestamp="2024-03-21T12:00:00.001Z")), Reason.FUTURE_TIMESTAMP),
    ("far future", encode(event(timestamp="9999-12-31T23:59:59Z")), Reason.FUTURE_TIMESTAMP),
    ("oversized value", encode(event(padding="x" * MAX_BYTES)), Reason.TOO_LARGE),
]


@pytest.mark.parametrize(("value", "reason"), [case[1:] for case in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_rejected_with_its_reason(value: object, reason: Reason) -> None:
    assert reason_of(value) == reason


TIMESTAMP_DETAILS = [
    ("yesterday", "does not start with a date YYYY-MM-DD"),
    ("2024-W12-3T10:00:00Z", "does not start with a date YYYY-MM-DD"),
    ("2024-03-20", "has no 'T' between the date and the time"),
    ("2024-03-20 10:00:00Z", "has no 'T' between the date and the time"),
    ("2024-03-20T10:00Z", "has no time HH:MM:SS after the 'T'"),
    ("2024-03-20T10:00:00.Z", "has no digits after the full stop before the fraction"),
    ("2024-03-20T10:00:00,Z", "has no digits after the comma before the fraction"),
    ("2021-04-23T09:17:28.5,5Z", "has ',5Z' after its fraction '.5': one fraction at most, then the zone"),
    ("2021-04-23T09:17:28,5.Z", "has '.Z' after its fraction ',5': one fraction at most, then the zone"),
    ("2024-03-20T10:00:00+0200", "has the zone '+0200': a zone is Z or +HH:MM (with the colon)"),
    ("2024-03-20T10:00:00z", "has a lower-case 'z': the UTC zone is 'Z'"),
    ("2024-03-20T10:00:00Zjunk", "has 'junk' after its zone"),
    ("2024-03-20T10:00:00 Z", "has ' Z' where the fraction or the zone (Z or +HH:MM) should be"),
    ("2024-02-30T10:00:00Z", "names an impossible date or time: day is out of range for month"),
    ("2024-03-20T24:00:00Z", "names an impossible date or time: hour must be in 0..23"),
    ("2024-03-20T10:00:00+24:00", "names an impossible date or time: offset hours must be in 0..23, got 24"),
    ("2024-03-20T10:00:00+01:60", "names an impossible date or time: offset minutes must be in 0..59, got 60"),
    ("0001-01-01T00:30:00+01:00", "names an impossible date or time: it lies outside the years 1-9999 in UTC"),
    ("2024-03-20T10:00:00", "has no zone (Z or +HH:MM)"),
]


@pytest.mark.parametrize("status", ["parked", "FREEE", ""])
def test_an_unknown_status_is_named_with_the_words_that_are_statuses(status: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_value(encode(event(status=status)), Validator.at(NOW, MAX_BYTES))
    assert (caught.value.reason, caught.value.detail) == (
        Reason.UNKNOWN_STATUS, f"status {status!r} is not a status word: occupied, or free, vacant, available, empty (any case)")


@pytest.mark.parametrize(("stamp", "says"), TIMESTAMP_DETAILS, ids=[case[0] for case in TIMESTAMP_DETAILS])
def test_a_bad_timestamps_detail_says_what_is_wrong_with_it(stamp: str, says: str) -> None:
    """Section 1: the quarantine detail names the piece that is wrong, never a blanket "not ISO-8601"."""
    with pytest.raises(InvalidEvent) as caught:
        parse_value(encode(event(timestamp=stamp)), Validator.at(NOW, MAX_BYTES))
    assert caught.value.detail == f"timestamp {stamp!r} {says}"


@pytest.mark.parametrize(
    ("given_stamp", "stored"),
    [
        ("2024-03-20T10:00:00Z", "2024-03-20T10:00:00Z"),
        ("2024-03-20T12:00:00+02:00", "2024-03-20T10:00:00Z"),
        ("2024-03-20T05:30:00-04:30", "2024-03-20T10:00:00Z"),
        ("2024-03-20T10:00:00-00:00", "2024-03-20T10:00:00Z"),
        ("2024-03-20T10:00:00.123456Z", "2024-03-20T10:00:00.123Z"),
        ("2024-03-20T10:00:00.5Z", "2024-03-20T10:00:00.500Z"),
        ("2024-03-20T10:00:00.000Z", "2024-03-20T10:00:00Z"),
        ("2024-03-20T10:59:59.999999999Z", "2024-03-20T10:59:59.999Z"),
        ("2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00Z"),
        ("2024-02-29T23:00:00-02:00", "2024-03-01T01:00:00Z"),
        ("2024-03-21T12:00:00Z", "2024-03-21T12:00:00Z"),
        # Section 1: a comma before the fraction, as GNU date --iso-8601=ns writes it.
        ("2021-04-23T09:17:28,235575783+08:00", "2021-04-23T01:17:28.235Z"),
        ("2024-03-20T10:00:00,5Z", "2024-03-20T10:00:00.500Z"),
        ("2024-03-20T10:00:00,000Z", "2024-03-20T10:00:00Z"),
        ("2024-03-20T10:00:00.1234567891234Z", "2024-03-20T10:00:00.123Z"),
    ],
)
def test_timestamp_is_stored_in_canonical_utc(given_stamp: str, stored: str) -> None:
    hour, line = parse(encode(event(timestamp=given_stamp)))
    assert line["timestamp"] == stored
    assert hour == stored[:13]


@pytest.mark.parametrize(
    ("word", "stored"),
    [("occupied", "occupied"), ("OCCUPIED", "occupied"), ("Occupied", "occupied"), ("free", "free"),
     ("FREE", "free"), ("vacant", "free"), ("Available", "free"), ("EMPTY", "free")],
)
def test_status_words_are_normalized(word: str, stored: str) -> None:
    assert parse(encode(event(status=word)))[1]["status"] == stored


def test_other_fields_and_spot_id_pass_through_unchanged() -> None:
    given_event = event(spot="Level 2 / Bay 17 ✓", battery=3.31, tags=["ev", None], nested={"a": {"b": 1}})
    stored = parse(encode(given_event))[1]
    assert stored == given_event
    assert list(stored) == list(given_event), "key order is kept"


def test_value_at_the_size_limit_is_accepted() -> None:
    base = json.dumps(event(padding="")).encode()
    value = json.dumps(event(padding="x" * (MAX_BYTES - len(base)))).encode()
    assert len(value) == MAX_BYTES
    assert parse(encode(value))[1]["padding"].startswith("x")


def test_a_hour_seen_once_is_still_checked_for_the_future_limit() -> None:
    validator = Validator.at(NOW, MAX_BYTES)
    parse_value(encode(event(timestamp="2024-03-21T11:00:00Z")), validator)
    with pytest.raises(InvalidEvent) as caught:
        parse_value(encode(event(timestamp="2024-03-21T12:00:01Z")), validator)
    assert caught.value.reason == Reason.FUTURE_TIMESTAMP


aware_instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))


def spelled(instant: datetime, offset: timedelta, digits: int, separator: str = ".") -> str:
    local = instant.astimezone(timezone(offset))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += separator + f"{local.microsecond:06d}".ljust(9, "0")[:digits]
    if offset == timedelta(0):
        return text + "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@given(aware_instants, offsets, st.integers(min_value=0, max_value=9), st.sampled_from(".,"))
def test_any_spelling_of_an_instant_is_stored_as_that_instant_in_utc(instant, offset, digits, separator) -> None:
    stored = canonical_timestamp(spelled(instant, offset, digits, separator))
    expected = instant.replace(microsecond=instant.microsecond // 1000 * 1000 if digits >= 3 else 0)
    if digits in (1, 2):
        step = 10 ** (6 - digits)
        expected = instant.replace(microsecond=instant.microsecond // step * step)
    assert datetime.fromisoformat(stored) == expected
    assert canonical_timestamp(stored) == stored, "canonical text is a fixed point"


@given(aware_instants, offsets)
def test_partition_is_the_utc_hour_of_the_event(instant, offset) -> None:
    stored = canonical_timestamp(spelled(instant, offset, 3))
    assert HourPartition.from_iso(stored).path == instant.strftime("year=%Y/month=%m/day=%d/hour=%H/")


def raw_line(value: bytes) -> bytes:
    return parse_value(encode(value), Validator.at(NOW, MAX_BYTES))[1]


EVENT_HEAD = b'{"spot_id":"A1","status":"free","timestamp":"2024-03-20T10:00:00Z"'


@pytest.mark.parametrize(
    "number",
    ["-80241446968629135069", "1E2", "1e400", "-1e400", "1e-400", "1.50", "1.00", "-0", "-0.0", "0.000001",
     "10000000000000000.0", "123456789012345678901234567890.123456789", "18446744073709551616", "2.5e+3", "0",
     "3.1", "-9223372036854775809", "1" * 400],
)
def test_a_pass_through_number_keeps_its_text(number: str) -> None:
    value = EVENT_HEAD + b',"x":' + number.encode() + b',"y":[' + number.encode() + b"]}"
    assert raw_line(value) == value + b"\n"


@pytest.mark.parametrize(
    ("text", "stored"),
    [("blocked \\ud83d", "blocked \ufffd"), ("\\udc00 alone", "\ufffd alone"), ("\\ud83d\\ude00 a pair", "\U0001f600 a pair"),
     ("\\ud83d\\ud83d", "\ufffd\ufffd")],
)
def test_a_lone_surrogate_escape_in_a_string_becomes_the_replacement_character(text: str, stored: str) -> None:
    value = EVENT_HEAD + b',"note":"' + text.encode() + b'","n":{"k\\udfff":["' + text.encode() + b'"]}}'
    line = json.loads(raw_line(value))
    assert line["note"] == stored
    assert line["n"] == {"k\ufffd": [stored]}


def test_nesting_of_64_levels_is_accepted() -> None:
    deepest = event(x=json.loads("[" * 63 + "]" * 63))
    assert parse(encode(deepest))[1] == deepest


def test_the_earliest_accepted_instant_is_a_setting() -> None:
    from parking.config import EARLIEST_EVENT, Settings

    assert EARLIEST_EVENT == datetime(2000, 1, 1, tzinfo=timezone.utc)
    later = Settings.from_env({"PARKING_EARLIEST_EVENT": "2020-01-01T00:00:00Z"}).earliest_event
    validator = Validator.at(NOW, MAX_BYTES, later)
    parse_value(encode(event(timestamp="2020-01-01T00:00:00Z")), validator)
    with pytest.raises(InvalidEvent) as caught:
        parse_value(encode(event(timestamp="2019-12-31T23:59:59Z")), validator)
    assert caught.value.reason == Reason.TOO_EARLY


def test_an_hour_seen_once_is_still_checked_for_the_earliest_instant() -> None:
    validator = Validator.at(NOW, MAX_BYTES, datetime(2020, 1, 1, 0, 30, tzinfo=timezone.utc))
    parse_value(encode(event(timestamp="2020-01-01T00:45:00Z")), validator)
    with pytest.raises(InvalidEvent) as caught:
        parse_value(encode(event(timestamp="2020-01-01T00:15:00Z")), validator)
    assert caught.value.reason == Reason.TOO_EARLY


# JSON numbers as text: the grammar of RFC 8259, section 6.
json_numbers = st.from_regex(r"\A-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,4})?\Z")


@given(st.lists(json_numbers, min_size=1, max_size=4))
def test_any_json_number_keeps_its_text(numbers: list[str]) -> None:
    value = EVENT_HEAD + b"".join(b',"n%d":%s' % (i, n.encode()) for i, n in enumerate(numbers)) + b"}"
    assert raw_line(value) == value + b"\n"


@pytest.mark.parametrize(
    ("value", "slow"),
    [
        (EVENT_HEAD + b',"battery":3.31,"level":-2,"ok":true,"tags":["ev",null]}', False),
        (b'{"spot_id": "A1", "status": "FREE", "timestamp": "2024-03-20T11:00:00+01:00", "battery": 3.31}', False),
        (EVENT_HEAD + b',"reading":1E2}', True),
        (EVENT_HEAD + b',"id":12345678901234567890}', False),  # within 64 bits: orjson keeps it exactly
        (EVENT_HEAD + b',"id":123456789012345678901}', True),
        (EVENT_HEAD + b',"note":"\\ud83d"}', True),
        (EVENT_HEAD + b',"x":' + b"[" * 40 + b"]" * 40 + b"}", False),
        (EVENT_HEAD + b',"x":' + b"[" * 70 + b"]" * 70 + b"}", True),
    ],
    ids=["canonical", "spaced, upper-case, offset", "exponent", "20 digits", "21 digits", "lone surrogate",
         "40 deep", "70 deep"],
)
def test_only_records_the_fast_path_cannot_take_exactly_take_the_slow_path(monkeypatch, value: bytes, slow: bool) -> None:
    from parking.ingest import events

    calls = []
    real = events._slow_path
    monkeypatch.setattr(events, "_slow_path", lambda *args: calls.append(args) or real(*args))
    try:
        parse_value(encode(value), Validator.at(NOW, MAX_BYTES))
    except InvalidEvent:
        pass
    assert bool(calls) is slow
