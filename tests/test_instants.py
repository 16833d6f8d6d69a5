"""parking.analytics.instants (the round-trip rule in Python) against the independent reference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parking.analytics.instants import Instant, instants_of, run_start, settle, state_at, transitions
from tests.reference import Event, Spot

HOUR = 3_600_000
LOOKBACK = 24 * HOUR

histories = st.lists(
    st.tuples(st.integers(0, 200).map(lambda quarter: quarter * 15 * 60_000), st.sampled_from(["occupied", "free"])),
    max_size=40,
)
lookbacks = st.sampled_from([HOUR, 6 * HOUR, LOOKBACK])


def reference(events, lookback: int) -> Spot:
    return Spot([Event("S", status, ts) for ts, status in events], lookback)


@settings(max_examples=300, deadline=None)
@given(histories, lookbacks)
def test_each_instant_holds_the_references_state(events, lookback) -> None:
    spot = reference(events, lookback)
    settled = settle(instants_of(events), lookback)
    assert [(i.ts_ms, "occupied" if i.occupied else "free") for i in settled] == [(t, spot.status[t]) for t in spot.instants]
    assert {i.ts_ms for i in settled if i.round_trip} == spot.round_trips


@settings(max_examples=300, deadline=None)
@given(histories, lookbacks)
def test_transitions_and_since_are_the_references(events, lookback) -> None:
    spot = reference(events, lookback)
    settled = settle(instants_of(events), lookback)
    assert transitions(settled, lookback) == spot.transitions(lookback)
    assert run_start(settled, lookback) == (spot.run_start(lookback) if spot.instants else None)


@settings(max_examples=200, deadline=None)
@given(histories, lookbacks, st.integers(-HOUR, 60 * HOUR))
def test_the_state_at_any_instant_is_the_references(events, lookback, t) -> None:
    spot = reference(events, lookback)
    state = state_at(settle(instants_of(events), lookback), t, lookback)
    assert state == {None: None, "occupied": True, "free": False}[spot.state(t, lookback)]


ISSUE_CASES = [
    # A zero-length stay after free: the spot stays free, one arrival and one departure.
    ("zero-length stay", [(0, "free"), (HOUR, "occupied"), (HOUR, "free")], [False, False], ["arrival", "departure"]),
    # Back-to-back stays: a departure and an arrival at the round trip, the spot stays occupied.
    ("back to back", [(0, "free"), (HOUR, "occupied"), (5 * HOUR, "free"), (5 * HOUR, "occupied"), (7 * HOUR, "free")],
     [False, True, True, False], ["arrival", "departure", "arrival", "departure"]),
    # Nothing before it: occupied (a sign must not promise a bay that may be taken); nothing known before, no transition.
    ("alone", [(0, "free"), (0, "occupied")], [True], []),
]


@pytest.mark.parametrize(("events", "states", "kinds"), [case[1:] for case in ISSUE_CASES],
                         ids=[case[0] for case in ISSUE_CASES])
def test_issue_24s_round_trips(events, states, kinds) -> None:
    settled = settle(instants_of(events), LOOKBACK)
    assert [i.occupied for i in settled] == states
    assert [kind for _, kind in transitions(settled, LOOKBACK)] == kinds


def test_a_round_trip_beyond_the_lookback_of_any_plain_instant_holds_occupied() -> None:
    settled = settle(instants_of([(0, "free"), (25 * HOUR, "free"), (25 * HOUR, "occupied")]), LOOKBACK)
    assert settled[-1] == Instant(25 * HOUR, True, True)


@pytest.mark.parametrize(("statuses", "lookback"), [({0: {"parked"}}, HOUR), ({0: set()}, HOUR), ({0: {"free"}}, 0)])
def test_bad_input_is_refused(statuses, lookback) -> None:
    with pytest.raises(ValueError):
        settle(statuses, lookback)
