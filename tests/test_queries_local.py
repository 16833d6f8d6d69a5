"""Every named query on the local engine against the independent reference.

Each seed builds a scenario (tests/scenarios.py), ingests it through the
Lambda's own path into a Hive layout on disk, queries it with DuckDB running
the Athena SQL, and compares every figure with tests/reference.py to 1e-9.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from parking import queries
from parking.analytics.engines import DuckDBEngine
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from tests import reference
from tests.scenarios import scenario

SEEDS = range(40)
TOLERANCE = 1e-9


@pytest.fixture(scope="module", params=SEEDS, ids=lambda seed: f"seed{seed}")
def lake(request, tmp_path_factory):
    case = scenario(request.param)
    root = tmp_path_factory.mktemp(f"lake{request.param}")
    totals = ingest_lines(case.lines, LocalSink(root), batch_size=50, now=case.ingested_at)
    assert totals.stored == len(case.lines), "every generated line is valid"
    return case, DuckDBEngine(root, threads=1)


def close(actual: float | None, expected: float | None) -> bool:
    if expected is None or actual is None or (isinstance(actual, float) and math.isnan(actual)):
        return (expected is None) == (actual is None or math.isnan(actual))
    return math.isclose(actual, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def utc_ms(value: pd.Timestamp) -> int:
    return int(value.tz_convert("UTC").value // 1_000_000)


def test_occupancy(lake) -> None:
    case, engine = lake
    frame = queries.occupancy(case.day, tz=case.zone, lookback_hours=case.lookback_hours, engine=engine, now=case.now)
    expected = reference.occupancy(case.events, case.day, case.zone, case.lookback_ms, case.now_ms)
    assert [utc_ms(hour) for hour in frame["hour"]] == [hour for hour, _ in expected]
    assert all(close(a, e) for a, (_, e) in zip(frame["occupancy_rate"], expected, strict=True)), frame
    assert str(frame["hour"].dtype) == f"datetime64[ns, {case.zone}]"


def test_utilization(lake) -> None:
    case, engine = lake
    frame = queries.utilization(case.first, case.last, lookback_hours=case.lookback_hours, engine=engine, now=case.now)
    expected = reference.utilization(case.events, case.first, case.last, case.lookback_ms, case.now_ms)
    assert list(frame["spot_id"]) == sorted(expected)
    for row in frame.itertuples():
        utilization, occupied, observed = expected[row.spot_id]
        assert close(row.utilization, utilization) and close(row.occupied_seconds, occupied)
        assert close(row.observed_seconds, observed)


def test_patterns(lake) -> None:
    case, engine = lake
    frame = queries.patterns(
        case.first, case.last, tz=case.zone, lookback_hours=case.lookback_hours, engine=engine, now=case.now
    )
    expected = reference.patterns(case.events, case.first, case.last, case.zone, case.lookback_ms, case.now_ms)
    assert list(zip(frame["day_of_week"], frame["hour"], strict=True)) == sorted(expected)
    for row in frame.itertuples():
        assert close(row.occupancy_rate, expected[(row.day_of_week, row.hour)]), row


def test_status(lake) -> None:
    case, engine = lake
    at = case.status_at
    frame = queries.status(reference.utc(at), lookback_hours=case.lookback_hours, engine=engine, now=case.now)
    expected = reference.status(case.events, at, case.lookback_ms)
    assert list(frame["spot_id"]) == sorted(expected)
    for row in frame.itertuples():
        status, since, last, stale = expected[row.spot_id]
        assert (row.status, utc_ms(row.since), utc_ms(row.last_event), row.stale) == (status, since, last, stale)


def test_turnover(lake) -> None:
    case, engine = lake
    frame = queries.turnover(
        case.first, case.last, tz=case.zone, lookback_hours=case.lookback_hours, engine=engine, now=case.now
    )
    expected = reference.turnover(case.events, case.first, case.last, case.zone, case.lookback_ms, case.now_ms)
    assert list(frame["spot_id"]) == sorted(expected)
    for row in frame.itertuples():
        arrivals, observed, per_day = expected[row.spot_id]
        assert row.arrivals == arrivals and close(row.observed_seconds, observed)
        assert close(row.turnover_per_day, per_day)


def test_dwell(lake) -> None:
    case, engine = lake
    frame = queries.dwell(
        case.first, case.last, tz=case.zone, lookback_hours=case.lookback_hours, engine=engine, now=case.now
    )
    expected = reference.dwell(case.events, case.first, case.last, case.zone, case.lookback_ms, case.now_ms)
    assert list(frame["spot_id"]) == sorted(expected)
    for row in frame.itertuples():
        sessions, mean, median, p90, longest = expected[row.spot_id]
        assert row.sessions == sessions
        for actual, wanted in zip((row.mean_minutes, row.median_minutes, row.p90_minutes, row.max_minutes),
                                  (mean, median, p90, longest), strict=True):
            assert close(actual, wanted), (row, expected[row.spot_id])


def test_health(lake) -> None:
    case, engine = lake
    at = case.health_at
    frame = queries.health(
        reference.utc(at), lookback_hours=case.lookback_hours, flapping_changes=10, stuck_hours=48,
        engine=engine, now=case.now,
    )
    expected = reference.health(
        case.events, at, case.lookback_ms, case.lookback_ms, 10, 48 * reference.HOUR_MS
    )
    assert list(frame["spot_id"]) == sorted(expected)
    for row in frame.itertuples():
        last, silent, changes, state, flags = expected[row.spot_id]
        assert (utc_ms(row.last_event), row.changes_24h, row.flags) == (last, changes, flags), row
        assert close(row.silent_hours, silent) and close(row.state_hours, state)
