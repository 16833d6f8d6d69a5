"""One spot's recent instants, and what the live answers read from them (METRICS.md sections 3, 4, 6, 7, 8).

Pure functions over plain integers: no I/O, no pandas, so the ingest Lambda
runs them. Times are epoch milliseconds (UTC). A spot's **instants** are its
distinct event timestamps, each with a status mask: :data:`FREE`,
:data:`OCCUPIED`, or both (:data:`ROUND_TRIP`, section 3). Merging two sets
of instants is a union of masks: commutative, associative and idempotent, so
redelivered, duplicated, late and out-of-order events, and concurrent writers
of different partitions, all end in the same instants.

A **view** is what one query reads of a spot at an instant ``at``: its
instants in ``(at - reach, at]`` (:func:`view`). Each view gives the latest
instant, the state it holds (a round trip holds the status of the latest
non-round-trip instant within the lookback before it, else occupied) and the
start of its current run (``since``).
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from parking.analytics.registry import FLAPPING_CHANGES, HEALTH_WINDOW, SEEN_WINDOW, STUCK_HOURS

FREE = 1
OCCUPIED = 2
ROUND_TRIP = FREE | OCCUPIED
MASKS = {"free": FREE, "occupied": OCCUPIED}

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# The queries' windows and section 6 defaults (overstays' sensor_flags use them), in ms: the registry's.
STATUS_WINDOW_MS = SEEN_WINDOW // timedelta(milliseconds=1)  # status, availability and overstays: (at - 7 d, at]
HEALTH_WINDOW_MS = HEALTH_WINDOW // timedelta(milliseconds=1)  # sensor health (overstays' sensor_flags)
STUCK_MS = round(STUCK_HOURS * HOUR_MS)
NEVER = 2**62  # "no such instant" / "valid for ever"
RETENTION_MARGIN_MS = HOUR_MS  # kept beyond what any view reaches: clocks of writers and readers differ


def status_reach(lookback: int) -> int:
    """What status and availability read before ``at``: their 7 days and twice the lookback (section 4)."""
    return STATUS_WINDOW_MS + 2 * lookback


def overstays_reach(lookback: int) -> int:
    """What overstays reads: ``(at - 7 days, at]`` (section 7: its ``since`` is over those 7 days)."""
    return STATUS_WINDOW_MS


def health_reach(lookback: int) -> int:
    """What sensor health reads: its 30 days and twice the lookback."""
    return HEALTH_WINDOW_MS + 2 * lookback


def retention(lookback: int) -> int:
    """How far back from the writer's clock a spot's instants are kept: every live view fits inside."""
    return status_reach(lookback) + RETENTION_MARGIN_MS


def merge(instants: dict[int, int], events: list[tuple[int, int]]) -> None:
    """Add ``(ms, mask)`` pairs to ``instants`` (ms -> mask) in place: a union of masks."""
    for ms, mask in events:
        instants[ms] = instants.get(ms, 0) | mask


@dataclass(frozen=True, slots=True)
class View:
    """A spot as one query reads it at ``at``: ``latest`` is None when it read nothing."""

    latest: int | None
    held: int  # FREE or OCCUPIED: the state the latest instant holds (0 when latest is None)
    since: int  # start of the current run (NEVER when latest is None)


def held_state(times: list[int], masks: list[int], index: int, first: int, lookback: int) -> int:
    """The state instant ``index`` holds, reading only instants from ``first`` on (section 3)."""
    mask = masks[index]
    if mask != ROUND_TRIP:
        return mask
    at = times[index]
    for before in range(index - 1, first - 1, -1):
        if at - times[before] > lookback:
            break
        if masks[before] != ROUND_TRIP:
            return masks[before]
    return OCCUPIED  # no plain instant within the lookback: never promise a bay that may be taken


def view(times: list[int], masks: list[int], at: int, reach: int, lookback: int) -> View:
    """The spot as read over ``(at - reach, at]``: latest instant, the state it holds, its run's start.

    The run walks back from the latest instant over instants holding the same
    state, each within ``lookback`` of the next; a round trip starts a run
    (METRICS.md section 4, status's ``since``).
    """
    last = bisect_right(times, at) - 1
    first = bisect_right(times, at - reach)
    if last < first:
        return View(None, 0, NEVER)
    state = held_state(times, masks, last, first, lookback)
    start = last
    while start > first and masks[start] != ROUND_TRIP:
        before = start - 1
        if times[start] - times[before] > lookback or held_state(times, masks, before, first, lookback) != state:
            break
        start = before
    return View(times[last], state, times[start])


def changes(times: list[int], masks: list[int], at: int, reach: int, lookback: int) -> list[int]:
    """The instants of arrivals and departures in ``(at - reach, at]``, one entry per change (section 6).

    A round trip after a known state is two changes at its instant; a change
    from unknown (no instant within the lookback before) is none.
    """
    last = bisect_right(times, at) - 1
    first = bisect_right(times, at - reach)
    found: list[int] = []
    for index in range(first + 1, last + 1):
        if times[index] - times[index - 1] > lookback:
            continue
        before = held_state(times, masks, index - 1, first, lookback)
        mask = masks[index]
        if mask == ROUND_TRIP:
            found += (times[index], times[index])
        elif mask != before:
            found.append(times[index])
    return found


#: computed_at, valid_until, then Live's fields in order (None stored as NEVER).
SUMMARY = struct.Struct("<qqqbqqbqqq")


class Live(NamedTuple):
    """What the live answers need of one spot at one instant (METRICS.md section 8).

    ``latest``: the latest instant read by status (None: none in its reach);
    ``held``/``since``: status's state and run start; ``over_latest``,
    ``over_held``, ``over_since``: the same as overstays reads them (7 days);
    ``stuck_since``: the run start sensor health computes (for ``stuck``);
    ``flapping_from``: the instant of the 20th latest change (NEVER-negative
    when fewer): the spot flaps at ``t`` when it lies after ``t - 24 h``.
    """

    latest: int | None
    held: int
    since: int
    over_latest: int | None
    over_held: int
    over_since: int
    stuck_since: int
    flapping_from: int


def live_at(times: list[int], masks: list[int], at: int, lookback: int) -> tuple[Live, int]:
    """The spot's :class:`Live` at ``at`` and the instant until which it holds unchanged (exclusive).

    It holds while no stored instant lies in ``(at, t]`` and each view still
    reads every instant its answer depends on (those from ``since - 2
    lookbacks`` on): past that, recompute from the instants. Sensor health
    (``stuck_since``, ``flapping_from``) is computed only for a spot that
    holds occupied, the only ones overstays lists; no instant is added
    while a summary holds, so the state it holds cannot change.
    """
    status = view(times, masks, at, status_reach(lookback), lookback)
    over = view(times, masks, at, overstays_reach(lookback), lookback)
    health, flapping_from = View(None, 0, NEVER), -NEVER
    if OCCUPIED in (status.held, over.held):  # sensor flags show only on overstays, which are occupied
        health = view(times, masks, at, health_reach(lookback), lookback)
        recent = changes(times, masks, at, DAY_MS + 2 * lookback, lookback)
        flapping_from = recent[-FLAPPING_CHANGES] if len(recent) >= FLAPPING_CHANGES else -NEVER
    following = bisect_right(times, at)
    valid = times[following] if following < len(times) else NEVER
    for result, reach in ((status, status_reach(lookback)), (over, overstays_reach(lookback)),
                          (health, health_reach(lookback))):
        if result.latest is not None:
            valid = min(valid, result.since - 2 * lookback + reach)
    live = Live(status.latest, status.held, status.since, over.latest, over.held, over.since, health.since,
                flapping_from)
    return live, valid


def pack_summary(live: Live, computed_at: int, valid_until: int) -> bytes:
    """A fixed-size record (:data:`SUMMARY`) of :class:`Live` and the span ``[computed_at, valid_until)`` it holds for."""
    return SUMMARY.pack(
        computed_at, valid_until, NEVER if live.latest is None else live.latest, live.held, live.since,
        NEVER if live.over_latest is None else live.over_latest, live.over_held, live.over_since,
        live.stuck_since, live.flapping_from,
    )


def unpack_summary(blob: bytes) -> tuple[int, int, Live]:
    """``(computed_at, valid_until, live)`` from :func:`pack_summary`'s bytes."""
    computed_at, valid_until, latest, held, since, over_latest, over_held, over_since, stuck, flapping = (
        SUMMARY.unpack_from(blob))
    live = Live(None if latest == NEVER else latest, held, since, None if over_latest == NEVER else over_latest,
                over_held, over_since, stuck, flapping)
    return computed_at, valid_until, live


_WIDE, _NARROW = b"\x00", b"\x01"
_NARROW_SPAN = 2**32  # ms: offsets from the first instant fit in 4 bytes within 49.7 days


def pack_instants(times: list[int], masks: list[int]) -> bytes:
    """Instants sorted by time as bytes: 5 a instant (an offset from the first, in ms, and the mask).

    The first byte says the format: ``\x01`` then the first instant (int64),
    the offsets (uint32 each) and the masks (a byte each), all little-endian;
    ``\x00`` then ``ms << 2 | mask`` as int64 each, when the instants span
    49.7 days or more (a lookback of three weeks or more). The table's scans
    are billed by the byte (README, "Live answers").
    """
    if not times or times[-1] - times[0] < _NARROW_SPAN:
        first = times[0] if times else 0
        offsets = array("I", [ms - first for ms in times])
        if offsets.itemsize != 4:  # pragma: no cover - every CPython platform has a 4-byte unsigned int
            raise RuntimeError("array('I') is not 4 bytes")
        if sys.byteorder != "little":  # pragma: no cover
            offsets.byteswap()
        return _NARROW + struct.pack("<q", first) + offsets.tobytes() + bytes(masks)
    packed = array("q", [(ms << 2) | mask for ms, mask in zip(times, masks, strict=True)])
    if sys.byteorder != "little":  # pragma: no cover
        packed.byteswap()
    return _WIDE + packed.tobytes()


def unpack_instants(blob: bytes) -> tuple[list[int], list[int]]:
    """``(times, masks)``, sorted by time, from :func:`pack_instants`' bytes."""
    if blob[:1] == _NARROW:
        (first,) = struct.unpack_from("<q", blob, 1)
        count = (len(blob) - 9) // 5
        offsets = array("I")
        offsets.frombytes(blob[9:9 + 4 * count])
        if sys.byteorder != "little":  # pragma: no cover
            offsets.byteswap()
        return [first + offset for offset in offsets], list(blob[9 + 4 * count:])
    packed = array("q")
    packed.frombytes(blob[1:])
    if sys.byteorder != "little":  # pragma: no cover
        packed.byteswap()
    return [value >> 2 for value in packed], [value & 3 for value in packed]
