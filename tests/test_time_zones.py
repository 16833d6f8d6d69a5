"""--tz: local days of 23, 24 or 25 hours, local weekdays and hours, zoned results."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from parking import queries
from parking.analytics.engines import DuckDBEngine
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> DuckDBEngine:
    """A spot occupied from 00:30 UTC every day of March, April, October and November 2024, free at 12:30."""
    lines = []
    for month, days in ((3, 31), (4, 30), (10, 31), (11, 30)):
        for day in range(1, days + 1):
            lines.append(f'{{"spot_id": "A", "status": "occupied", "timestamp": "2024-{month:02d}-{day:02d}T00:30:00Z"}}')
            lines.append(f'{{"spot_id": "A", "status": "free", "timestamp": "2024-{month:02d}-{day:02d}T12:30:00Z"}}')
    root = tmp_path_factory.mktemp("zones")
    ingest_lines((line.encode() for line in lines), LocalSink(root), now=NOW)
    return DuckDBEngine(root)


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Paris", "2024-03-31", 23),
        ("Europe/Paris", "2024-10-27", 25),
        ("Europe/Paris", "2024-03-30", 24),
        ("America/New_York", "2024-03-10", 23),
        ("America/New_York", "2024-11-03", 25),
        ("Asia/Kolkata", "2024-03-31", 24),
        ("UTC", "2024-03-31", 24),
    ],
)
def test_a_local_day_has_the_hours_of_its_clock(engine, zone: str, day: str, hours: int) -> None:
    frame = queries.occupancy(day, tz=zone, engine=engine, now=NOW)
    assert len(frame) == hours
    assert str(frame["hour"].dtype) == f"datetime64[ns, {zone}]"
    assert frame["hour"].iloc[0].isoformat().startswith(f"{day}T00:00:00")
    steps = frame["hour"].diff().dropna().dt.total_seconds()
    assert (steps == 3600).all(), "every row is one real hour"


def test_the_repeated_hour_of_autumn_appears_twice_with_its_offsets(engine) -> None:
    frame = queries.occupancy("2024-10-27", tz="Europe/Paris", engine=engine, now=NOW)
    stamps = [hour.isoformat() for hour in frame["hour"]]
    assert stamps[2:4] == ["2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00"]


def test_occupied_hours_follow_local_time(engine) -> None:
    # 00:30-12:30 UTC is 01:30-13:30 in Paris before the change and 02:30-14:30 after it.
    before = queries.occupancy("2024-03-30", tz="Europe/Paris", engine=engine, now=NOW)
    after = queries.occupancy("2024-04-01", tz="Europe/Paris", engine=engine, now=NOW)
    assert before.set_index(before["hour"].dt.hour)["occupancy_rate"].loc[[1, 2, 13, 14]].tolist() == [0.5, 1.0, 0.5, 0.0]
    assert after.set_index(after["hour"].dt.hour)["occupancy_rate"].loc[[2, 3, 14, 15]].tolist() == [0.5, 1.0, 0.5, 0.0]


def test_patterns_use_local_weekday_and_hour(engine) -> None:
    frame = queries.patterns("2024-11-04", "2024-11-10", tz="Asia/Kolkata", engine=engine, now=NOW)
    assert len(frame) == 7 * 24
    by_cell = frame.set_index(["day_of_week", "hour"])["occupancy_rate"]
    # 00:30 UTC is 06:00 in Kolkata: occupied from 06:00 local, free from 18:00 local.
    assert by_cell.loc[(1, 5)] == 0.0 and by_cell.loc[(1, 6)] == 1.0 and by_cell.loc[(1, 18)] == 0.0


def test_dwell_counts_sessions_inside_the_local_window(engine) -> None:
    # Los Angeles' 4 November is [08:00Z, 08:00Z next day): its arrival (00:30Z on the 5th)
    # departs at 12:30Z, after the window, so no session ends in it; in UTC one does.
    utc = queries.dwell("2024-11-04", "2024-11-04", tz="UTC", engine=engine, now=NOW)
    pacific = queries.dwell("2024-11-04", "2024-11-04", tz="America/Los_Angeles", engine=engine, now=NOW)
    assert (utc["sessions"].tolist(), utc["median_minutes"].tolist()) == ([1], [720.0])
    assert pacific.empty


def test_turnover_counts_arrivals_of_the_local_day(engine) -> None:
    frame = queries.turnover("2024-11-04", "2024-11-05", tz="America/Los_Angeles", engine=engine, now=NOW)
    assert frame[["arrivals", "observed_seconds", "turnover_per_day"]].values.tolist() == [[2, 172800.0, 1.0]]


@pytest.mark.parametrize("session_zone", ["Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"])
def test_no_session_time_zone_shifts_an_answer(engine, session_zone: str) -> None:
    """The SQL says UTC wherever it turns an instant into a time, so the session's zone is never read."""
    calls = {
        "status": lambda: queries.status("2024-11-03T06:00:00Z", engine=engine, now=NOW),
        "occupancy": lambda: queries.occupancy("2024-03-31", tz="Europe/Paris", engine=engine, now=NOW),
        "patterns": lambda: queries.patterns("2024-11-04", "2024-11-10", tz="Asia/Kolkata", engine=engine, now=NOW),
        "health": lambda: queries.health("2024-11-03T06:00:00Z", engine=engine, now=NOW),
    }
    in_utc = {name: call() for name, call in calls.items()}
    engine._connection.execute(f"SET TimeZone = '{session_zone}'")
    try:
        for name, call in calls.items():
            pd.testing.assert_frame_equal(call(), in_utc[name], obj=name)
    finally:
        engine._connection.execute("SET TimeZone = 'UTC'")


# Section 6: rows start at every whole hour of the local clock and at every clock change.

LORD_HOWE = "Australia/Lord_Howe"  # clocks move by half an hour


@pytest.fixture(scope="module")
def lord_howe(tmp_path_factory) -> DuckDBEngine:
    """Issue 24's spot: occupied 09:00-09:30 local on Monday 8 April 2024, the day after the autumn change."""
    lines = [
        '{"spot_id": "LH1", "status": "free", "timestamp": "2024-04-08T00:00:00+10:30"}',
        '{"spot_id": "LH1", "status": "occupied", "timestamp": "2024-04-08T09:00:00+10:30"}',
        '{"spot_id": "LH1", "status": "free", "timestamp": "2024-04-08T09:30:00+10:30"}',
        '{"spot_id": "LH2", "status": "occupied", "timestamp": "2024-10-06T01:00:00+10:30"}',
        '{"spot_id": "LH2", "status": "free", "timestamp": "2024-10-06T03:00:00+11:00"}',
    ]
    root = tmp_path_factory.mktemp("lord_howe")
    ingest_lines((line.encode() for line in lines), LocalSink(root), now=NOW)
    return DuckDBEngine(root)


AUTUMN_ROWS = ["00:00+11:00", "01:00+11:00", "01:30+10:30", *(f"{h:02d}:00+10:30" for h in range(2, 24))]
SPRING_ROWS = ["00:00+10:30", "01:00+10:30", "02:30+11:00", *(f"{h:02d}:00+11:00" for h in range(3, 24))]


@pytest.mark.parametrize(("day", "rows"), [("2024-04-07", AUTUMN_ROWS), ("2024-10-06", SPRING_ROWS)])
def test_a_half_hour_change_makes_one_half_hour_row(lord_howe, day: str, rows: list[str]) -> None:
    frame = queries.occupancy(day, tz=LORD_HOWE, engine=lord_howe, now=NOW)
    assert [f"{hour:%H:%M}{hour.isoformat()[-6:]}" for hour in frame["hour"]] == rows


def test_an_hours_figure_is_the_same_whatever_window_asks_it(lord_howe) -> None:
    cells = [(1, 8), (1, 9)]
    two_days = queries.patterns("2024-04-07", "2024-04-08", tz=LORD_HOWE, engine=lord_howe, now=NOW)
    one_day = queries.patterns("2024-04-08", "2024-04-08", tz=LORD_HOWE, engine=lord_howe, now=NOW)
    for frame in (two_days, one_day):
        assert frame.set_index(["day_of_week", "hour"])["occupancy_rate"].loc[cells].tolist() == [0.0, 0.5]


def test_the_rows_of_a_spring_change_split_the_time_at_the_change(lord_howe) -> None:
    """01:00-02:00+10:30 is a whole hour; the next row starts at 02:30+11:00, the same instant."""
    frame = queries.occupancy("2024-10-06", tz=LORD_HOWE, engine=lord_howe, now=NOW)
    assert frame["occupancy_rate"].iloc[1:4].tolist() == [1.0, 1.0, 0.0]
