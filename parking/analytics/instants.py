"""The state of a spot at its instants, in Python: METRICS.md sections 3 and 6 for one spot.

The named queries compute this in SQL (``queries/_parts/instants.sql`` and
``steps.sql``); this module is the same rule for code that keeps state
outside a query (a current-state table kept up to date by the ingester).
Standard library only, so any Lambda can import it.

An **instant** is a distinct timestamp of one spot, holding ``occupied``,
``free`` or both (a **round trip**: one car left and the next came, or a car
came and went at once). A round trip holds the state of the spot's latest
earlier instant within the lookback that is not itself a round trip, and
``occupied`` when there is none. Times are integer epoch milliseconds.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

OCCUPIED, FREE = "occupied", "free"
ARRIVAL, DEPARTURE = "arrival", "departure"


@dataclass(frozen=True, slots=True)
class Instant:
    """One distinct instant of a spot: when, the state it holds, and whether it is a round trip."""

    ts_ms: int
    occupied: bool
    round_trip: bool


def instants_of(events: Iterable[tuple[int, str]]) -> dict[int, set[str]]:
    """A spot's ``(ts_ms, status)`` events gathered by instant; duplicates and repeats change nothing."""
    gathered: dict[int, set[str]] = {}
    for ts_ms, status in events:
        if status not in (OCCUPIED, FREE):
            raise ValueError(f"status must be {OCCUPIED!r} or {FREE!r}, got {status!r}")
        gathered.setdefault(ts_ms, set()).add(status)
    return gathered


def settle(statuses: Mapping[int, Collection[str]], lookback_ms: int) -> list[Instant]:
    """Each instant of one spot, in time order, with the state it holds (METRICS.md section 3).

    ``statuses`` maps each instant to the statuses seen at it (``occupied``,
    ``free`` or both). A round trip's state needs the instants of the lookback
    before it: pass them too (a query reads twice its lookback before its window).
    ``ValueError`` for an instant with no status or an unknown one.
    """
    if lookback_ms <= 0:
        raise ValueError(f"lookback_ms must be positive, got {lookback_ms}")
    settled: list[Instant] = []
    plain: list[Instant] = []  # the instants that are not round trips, in time order
    for ts_ms in sorted(statuses):
        seen = set(statuses[ts_ms])
        if not seen or not seen <= {OCCUPIED, FREE}:
            raise ValueError(f"instant {ts_ms}: statuses must be {OCCUPIED!r} and/or {FREE!r}, got {sorted(seen)}")
        if len(seen) == 1:
            instant = Instant(ts_ms, OCCUPIED in seen, round_trip=False)
            plain.append(instant)
        else:
            held = plain[-1] if plain and plain[-1].ts_ms >= ts_ms - lookback_ms else None
            instant = Instant(ts_ms, True if held is None else held.occupied, round_trip=True)
        settled.append(instant)
    return settled


def state_at(instants: Sequence[Instant], t_ms: int, lookback_ms: int) -> bool | None:
    """True (occupied), False (free) or None (unknown) at ``t_ms``: the state held by the latest
    instant in ``[t - lookback, t]``; ``instants`` in time order, as :func:`settle` gives them."""
    index = bisect_left([i.ts_ms for i in instants], t_ms + 1) - 1
    if index < 0 or instants[index].ts_ms < t_ms - lookback_ms:
        return None
    return instants[index].occupied


def transitions(instants: Sequence[Instant], lookback_ms: int) -> list[tuple[int, str]]:
    """``(ts_ms, 'arrival' | 'departure')`` in order (METRICS.md section 6).

    The state just before an instant is the previous instant's when that lies
    within the lookback, else unknown (no transition). A round trip after
    ``free`` is an arrival then a departure (a stay of zero minutes); after
    ``occupied``, a departure then an arrival (one stay ends, the next begins).
    """
    found: list[tuple[int, str]] = []
    for previous, instant in zip(instants, instants[1:], strict=False):
        if instant.ts_ms - previous.ts_ms > lookback_ms:
            continue
        if instant.round_trip:
            kinds = (ARRIVAL, DEPARTURE) if not previous.occupied else (DEPARTURE, ARRIVAL)
            found += [(instant.ts_ms, kind) for kind in kinds]
        elif instant.occupied and not previous.occupied:
            found.append((instant.ts_ms, ARRIVAL))
        elif previous.occupied and not instant.occupied:
            found.append((instant.ts_ms, DEPARTURE))
    return found


def run_start(instants: Sequence[Instant], lookback_ms: int) -> int | None:
    """``since`` of status (METRICS.md section 4): the earliest instant of the unbroken run of
    equal states ending at the latest instant; a gap over the lookback breaks a run and a
    round trip starts one. None when there is no instant."""
    if not instants:
        return None
    index = len(instants) - 1
    while index > 0 and not instants[index].round_trip:
        previous, current = instants[index - 1], instants[index]
        if current.ts_ms - previous.ts_ms > lookback_ms or previous.occupied != current.occupied:
            break
        index -= 1
    return instants[index].ts_ms
