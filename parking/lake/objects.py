"""What a stored object is: the one validator ``lake check`` and ``compact`` share (docs/METRICS.md section 2).

An object under the data prefix (or kept under ``parking-compacted-sources/``
after compaction, with the same layout below its prefix) is what the ingester
writes when, and only when, :func:`inspect_object` finds nothing: a name the
ingester gives in an hour partition, gzip bytes that read to the end, and
lines each of which is a valid event, in its own UTC hour, stored byte for
byte as the ingester stores it (compact JSON, ``\\n`` after every line, no
blank line). ``lake check`` reports each problem and ``--repair`` mends it;
``compact`` folds in only objects with none, and leaves the others where
they are for ``lake check --repair``.
"""

from __future__ import annotations

import re
import zlib
from binascii import b2a_base64
from dataclasses import dataclass, field
from datetime import datetime

from parking.config import Settings
from parking.errors import InvalidEvent
from parking.ingest.events import Validator, parse_value
from parking.layout import OBJECT_SUFFIX, parse_name
from parking.text import plural

# [0-9], never \d, which matches every script's digits (int() then reads 'hour=1\u0663' as 13).
PARTITION_PATH = re.compile(
    r"year=(?P<year>[0-9]{4})/month=(?P<month>0[1-9]|1[0-2])/day=(?P<day>0[1-9]|[12][0-9]|3[01])/"
    r"hour=(?P<hour>[01][0-9]|2[0-3])/"
)
EMPTY, UNREADABLE, INVALID_LINES, WRONG_HOUR, BAD_NAME = "empty", "unreadable", "invalid_lines", "wrong_hour", "bad_name"
NOT_AS_STORED = "not_as_stored"
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem of one object: a stored object, a kept source, a compacted day file (or a day's folder)."""

    key: str
    problem: str
    detail: str


@dataclass
class Contents:
    """An object's lines and what could not be read of it."""

    lines: list[bytes]
    unreadable: str | None
    last_line_open: bool = False  # the body's last line has no newline after it
    rest: bytes = b""  # the bytes not read as lines: a gzip stream from the member that breaks on


@dataclass
class Inspection:
    """One stored object: its problems (``(problem, detail)``, none when it is what the ingester writes) and lines.

    ``valid`` and ``invalid`` hold ``(line number, line)`` (and the
    :class:`InvalidEvent`), numbered from 1 as the object holds them; a
    valid first line is held without the byte order mark before it.
    """

    key: str
    body: bytes
    parts: dict[str, str] | None
    problems: list[tuple[str, str]] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    unreadable: str | None = None
    rest: bytes = b""  # what could not be read as lines (:class:`Contents`)
    limit: int = 0  # the value size limit its lines were judged by
    valid: list[tuple[int, bytes]] = field(default_factory=list)
    invalid: list[tuple[int, bytes, InvalidEvent]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems

    def first_problem(self) -> str:
        problem, detail = self.problems[0]
        return f"{problem} ({detail})"


def inspect_object(key: str, body: bytes, prefix: str, settings: Settings, now: datetime) -> Inspection:
    """Everything ``lake check`` would report of the object ``key`` (under ``prefix``) holding ``body``."""
    relative = key[len(prefix):]
    path = PARTITION_PATH.match(relative)
    name = relative[path.end():] if path else relative.rsplit("/", 1)[-1]
    parts = parse_name(name) if path and "/" not in name else None
    found = Inspection(key, body, parts)
    if parts is None or parts["suffix"] != OBJECT_SUFFIX:
        found.problems.append((BAD_NAME, "not an hour partition and object name the ingester writes"))
    if not body:
        found.problems.append((EMPTY, "holds no bytes"))
        return found
    contents = read_lines(body)
    found.lines, found.unreadable, found.rest = contents.lines, contents.unreadable, contents.rest
    if contents.unreadable:
        found.problems.append((UNREADABLE, contents.unreadable))
    expected_hour = f"{path['year']}-{path['month']}-{path['day']}T{path['hour']}" if path else None
    # A stored line is judged by what was stored, not by today's size limit: the
    # limit in force when it was ingested (a replay with a raised one) let it in.
    found.limit = max([settings.max_value_bytes, *map(len, contents.lines)])
    validator = Validator.at(now, found.limit, settings.earliest_event)
    misfiled = restyled = 0
    for number, line in enumerate(contents.lines, start=1):
        # A byte order mark before the first line is how a text tool saved the object, not
        # part of the event (every query reads past it): the event is valid, not as stored.
        value = line.removeprefix(BOM) if number == 1 else line
        try:  # a blank line is not an event either: the ingester never writes one
            hour, stored = parse_value(b2a_base64(value, newline=False).decode(), validator)
        except InvalidEvent as error:
            found.invalid.append((number, line, error))
            continue
        found.valid.append((number, value))
        if hour != expected_hour:
            misfiled += 1
        elif stored != line + b"\n":
            restyled += 1
    if found.invalid:
        reasons = sorted({error.reason for _, _, error in found.invalid})
        total = len(found.invalid) + len(found.valid)
        found.problems.append((INVALID_LINES, f"{len(found.invalid)} of {total} lines are not valid events "
                                              f"({', '.join(reasons)})"))
    if misfiled:
        found.problems.append((WRONG_HOUR, f"{plural(misfiled, 'event is', 'events are')} not where the ingester files them (their UTC hour)"))
    if restyled or (contents.last_line_open and not contents.unreadable):
        what = f"{plural(restyled, 'event is', 'events are')} not" if restyled else "its last line is not"
        found.problems.append((NOT_AS_STORED, f"{what} stored byte for byte as the ingester stores them "
                                              "(compact JSON, a newline after every line)"))
    return found


def read_lines(body: bytes) -> Contents:
    """The lines of a gzip body (every member), why the rest cannot be read, and that rest.

    A body that is not gzip at all is read as plain lines (and still
    reported); a truncated stream's cut last line is a line (it is checked
    like any other); the rest is the compressed bytes from the member where
    the stream breaks on, which no reader can turn into lines.
    """
    if body[:2] != b"\x1f\x8b":
        plain = body.split(b"\n")
        if plain and not plain[-1]:
            plain.pop()
        return Contents(plain, "not gzip: plain bytes")
    out = bytearray()
    rest = body
    problem = None
    unread = b""
    try:
        while rest:
            inflater = zlib.decompressobj(wbits=31)
            out += inflater.decompress(rest)
            if not inflater.eof:
                problem = "gzip stream is truncated"
                break
            rest = inflater.unused_data
    except zlib.error as error:
        problem = f"not readable as gzip: {error}"
        unread = rest
    lines = bytes(out).split(b"\n")
    tail = lines.pop()  # after the last newline: empty when the body ends cleanly
    if tail:
        lines.append(tail)  # a last line without its newline still reads; a cut one is checked like any
        if problem is not None:
            problem += "; its last line is cut"
    return Contents(lines, problem, last_line_open=bool(tail), rest=unread)
