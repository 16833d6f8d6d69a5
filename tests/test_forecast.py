"""The forecast and its backtest (docs/METRICS.md section 8, "Forecast") against an independent reference.

A tiny hand-made lake: every spot reports at the start of (almost) every hour
and the lookback is one hour, so each hour's actual rate and each whole
hour's state follow from the events by rules short enough to write out here
in plain Python. The backtest's baselines are computed from those rules, its
forecast column from ``queries.forecast`` asked at each origin, and compared.
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from parking import queries
from parking.analytics import forecast as fc
from parking.analytics.catalog import CatalogStore, parse
from parking.analytics.engines import DuckDBEngine
from parking.cli.main import cli as parking_cli
from parking.errors import InvalidArgument
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
END = datetime(2024, 1, 31, tzinfo=timezone.utc)  # the backtest's E
HOUR = timedelta(hours=1)
CATALOG = "spot_id,zone\na1,north\na2,north\nb1,south\nc1,late\n"
LATE_START = datetime(2024, 1, 20, tzinfo=timezone.utc)  # zone "late": less than 14 days before every origin


def _status(spot: str, hour: datetime) -> str | None:
    """The hand lake: each spot's report at the start of ``hour`` (None: silent that hour)."""
    rng = random.Random(f"{spot}:{hour.isoformat()}")
    if spot == "c1" and hour < LATE_START:
        return None
    if spot == "u1" and hour >= LATE_START:
        return None  # uncatalogued, and silent for the last 11 days
    if spot == "b1" and datetime(2024, 1, 29, 5, tzinfo=timezone.utc) <= hour < datetime(2024, 1, 29, 9, tzinfo=timezone.utc):
        return None  # silent for 4 hours inside the backtest: null actual rates and a stale state
    if rng.random() < 0.05:
        return None
    busy = 0.75 if 8 <= hour.hour < 18 else 0.2
    return "occupied" if rng.random() < busy else "free"


SPOTS = {"a1": "north", "a2": "north", "b1": "south", "c1": "late", "u1": None}  # u1 is not in the catalog
HOURS = [START + k * HOUR for k in range(int((END - START) / HOUR))]


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> DuckDBEngine:
    root = tmp_path_factory.mktemp("forecast-lake")
    records = [json.dumps({"spot_id": spot, "status": status, "timestamp": f"{hour:%Y-%m-%dT%H:%M:%SZ}"}).encode()
               for hour in HOURS for spot in SPOTS if (status := _status(spot, hour)) is not None]
    totals = ingest_lines(iter(records), LocalSink(root), now=END + timedelta(days=1))
    assert totals.stored == len(records)
    CatalogStore(root).replace(parse(CATALOG))
    return DuckDBEngine(root, threads=1)


# The reference: with a lookback of one hour, a report at the start of an hour
# holds for that hour exactly; the state at a whole hour is its report, else
# the report one hour before (the lookback is inclusive), else unknown.
def actual(zone: str | None, hour: datetime) -> float | None:
    seen = [_status(spot, hour) for spot, z in SPOTS.items() if z == zone]
    seen = [s for s in seen if s is not None]
    return sum(s == "occupied" for s in seen) / len(seen) if seen else None


def state(zone: str | None, instant: datetime) -> float | None:
    known = []
    for spot, z in SPOTS.items():
        if z != zone:
            continue
        now_, before = _status(spot, instant), _status(spot, instant - HOUR)
        if now_ is not None or before is not None:
            known.append((now_ or before) == "occupied")
    return sum(known) / len(known) if known else None


def first_event(zone: str | None) -> datetime:
    return min(hour for hour in HOURS for spot, z in SPOTS.items() if z == zone and _status(spot, hour))


def reference(days: int, hours: int, engine: DuckDBEngine) -> pd.DataFrame:
    """The backtest table by hand: baselines from the rules above, the forecast from queries.forecast per origin."""
    origins = [END - timedelta(days=days) + k * HOUR for k in range(days * 24)]
    forecasts = {t0: queries.forecast(t0, hours=hours, lookback_hours=1, engine=engine, now=END) for t0 in origins}
    rows = []
    for h in range(1, hours + 1):
        errors: dict[str, list[float]] = {"f": [], "p": [], "s": [], "r": []}
        hits = []
        for t0 in origins:
            target = t0 + (h - 1) * HOUR
            if target + HOUR > END:
                continue
            for zone in ("late", "north", "south", None):
                if first_event(zone) > t0 - timedelta(days=14):
                    continue
                weeks = [actual(zone, target - timedelta(days=7 * k)) for k in (1, 2, 3, 4)]
                known = [w for w in weeks if w is not None]
                a, p, s = actual(zone, target), state(zone, t0), weeks[0]
                r = sum(known) / len(known) if known else None
                row = forecasts[t0]
                row = row[(row["zone"].isna() if zone is None else row["zone"] == zone).fillna(False).astype(bool)
                          & (row["hour"] == target)]
                f = float(row["occupancy_rate"].iloc[0]) if len(row) else math.nan
                if a is None or p is None or s is None or r is None or math.isnan(f):
                    continue
                errors["f"].append(abs(f - a))
                errors["p"].append(abs(p - a))
                errors["s"].append(abs(s - a))
                errors["r"].append(abs(r - a))
                hits.append(float(row["low"].iloc[0]) <= a <= float(row["high"].iloc[0]))
        mean = lambda values: sum(values) / len(values)  # noqa: E731
        rows.append((h, len(hits), mean(errors["f"]), mean(errors["p"]), mean(errors["s"]), mean(errors["r"]),
                     mean(hits)))
    return pd.DataFrame(rows, columns=list(fc.BACKTEST_COLUMNS))


def test_the_backtest_matches_the_hand_reference(engine: DuckDBEngine) -> None:
    got = queries.forecast_backtest(END + timedelta(minutes=59), days=1, hours=3, lookback_hours=1, engine=engine,
                                    now=END + timedelta(days=1))
    want = reference(1, 3, engine)
    assert list(got.columns) == list(fc.BACKTEST_COLUMNS)
    assert got["origins"].tolist() == want["origins"].tolist()
    # 24 origins of north and south, horizon h losing the h - 1 whose target ends after E,
    # and south's silent hours; "late" has no 14 days of history.
    assert got["origins"].iloc[0] < 48 and got["origins"].is_monotonic_decreasing
    assert np.isfinite(got.to_numpy(dtype=float)).all()
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-12)


def test_the_states_query_is_availability_at_every_whole_hour(tmp_path_factory, engine: DuckDBEngine) -> None:
    start, end = datetime(2024, 1, 29, 3, tzinfo=timezone.utc), datetime(2024, 1, 29, 11, tzinfo=timezone.utc)
    # 240 hours: the uncatalogued u1, silent since 2024-01-20, is within the lookback
    # but not seen in the 7 days availability counts uncatalogued spots over.
    for lookback in (timedelta(hours=1), timedelta(hours=24), timedelta(hours=240)):
        history = fc.load_history(engine, start, end, by="zone", lookback=lookback)
        assert (None in history.groups) is (lookback == timedelta(hours=240))
        for k in range(history.rates.shape[0]):
            at = start + k * HOUR
            frame = queries.availability(at, lookback_hours=lookback / HOUR, engine=engine, now=END)
            want = {None if pd.isna(z) else z: r for z, r in zip(frame["zone"], frame["occupancy_rate"], strict=True)}
            want.setdefault(None, math.nan)
            for column, zone in enumerate(history.groups):
                assert history.states[k, column] == pytest.approx(want[zone], nan_ok=True), (at, lookback, zone)


def test_hourly_rates_are_the_occupancy_query(engine: DuckDBEngine) -> None:
    day = datetime(2024, 1, 29, tzinfo=timezone.utc)
    history = fc.load_history(engine, day - timedelta(days=2), day + timedelta(days=1), by="zone",
                              lookback=timedelta(hours=1))
    frame = queries.occupancy("2024-01-29", by="zone", lookback_hours=1, engine=engine, now=END)
    for column, zone in enumerate(history.groups):
        mine = frame["zone"].isna() if zone is None else (frame["zone"] == zone).fillna(False).astype(bool)
        rates = frame[mine]["occupancy_rate"].to_numpy()
        if zone is None:  # silent all day: occupancy has no row for an unobserved group
            assert len(rates) == 0 and np.isnan(history.rates[48:72, column]).all()
            continue
        np.testing.assert_allclose(history.rates[48:72, column], rates, equal_nan=True)
        assert all((actual(zone, day + k * HOUR) is None) == math.isnan(rates[k]) for k in range(24))


def test_a_forecast_has_one_row_per_group_and_hour_within_its_interval(engine: DuckDBEngine) -> None:
    frame = queries.forecast("2024-01-30T09:41:00Z", hours=4, tz="Europe/Paris", lookback_hours=1, engine=engine,
                             now=END)
    assert list(frame.columns) == ["zone", "hour", "occupancy_rate", "low", "high"]
    assert frame["zone"].tolist()[:12] == ["late"] * 4 + ["north"] * 4 + ["south"] * 4
    assert frame["zone"].iloc[12:].isna().tolist() == [True] * 4  # the uncatalogued spots, last
    assert str(frame["hour"].dtype) == "datetime64[ns, Europe/Paris]"
    first = pd.Timestamp("2024-01-30T09:00:00Z")
    assert frame["hour"].iloc[:4].tolist() == [first + k * pd.Timedelta(hours=1) for k in range(4)]
    assert ((frame["low"] <= frame["occupancy_rate"]) & (frame["occupancy_rate"] <= frame["high"])).all()
    assert frame[["occupancy_rate", "low", "high"]].stack().between(0, 1).all()


def test_a_forecast_reads_no_event_after_its_origin(engine: DuckDBEngine, tmp_path) -> None:
    """Adding events after t0 changes nothing: the forecast is made from events at or before t0 only."""
    t0 = datetime(2024, 1, 29, 14, tzinfo=timezone.utc)
    before = queries.forecast(t0, hours=3, lookback_hours=1, engine=engine, now=END)
    root = engine.data_dir
    extra = [json.dumps({"spot_id": s, "status": "occupied", "timestamp": f"{t0 + timedelta(seconds=1):%Y-%m-%dT%H:%M:%SZ}"}).encode()
             for s in SPOTS]
    copy = tmp_path / "lake"
    import shutil

    shutil.copytree(root, copy)
    ingest_lines(iter(extra), LocalSink(copy), now=END)
    after = queries.forecast(t0, hours=3, lookback_hours=1, engine=DuckDBEngine(copy, threads=1), now=END)
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.parametrize(("call", "message"), [
    (lambda e: queries.forecast(hours=0, engine=e), "hours must"),
    (lambda e: queries.forecast(hours=25, engine=e), "hours must"),
    (lambda e: queries.forecast(by="street", engine=e), "by must"),
    (lambda e: queries.forecast(zones=[""], engine=e), "zones must"),
    (lambda e: queries.forecast(tz="Mars/Olympus", engine=e), "Mars/Olympus"),
    (lambda e: queries.forecast(lookback_hours=0, engine=e), "lookback_hours must"),
    (lambda e: queries.forecast_backtest(days=0, engine=e), "days must"),
    (lambda e: queries.forecast_backtest(days=367, engine=e), "days must"),
    (lambda e: queries.forecast_backtest(hours=True, engine=e), "hours must"),
    (lambda e: queries.forecast_backtest(tz="Mars/Olympus", engine=e), "Mars/Olympus"),
    (lambda e: queries.alerts(ahead=30, engine=e), "ahead must"),
])
def test_a_bad_option_raises_before_any_query_runs(call, message: str) -> None:
    class NoQuery:
        name = "local"

        def run(self, sql, params):  # noqa: ANN001, ANN202
            raise AssertionError("a query ran")

    with pytest.raises(InvalidArgument, match=message) as raised:
        call(NoQuery())
    assert "--" not in str(raised.value), "the library names its arguments, the CLI its flags"


@pytest.mark.parametrize(("args", "option"), [
    (["forecast", "--hours", "0"], "--hours"),
    (["forecast", "--hours", "x"], "--hours"),
    (["forecast", "--by", "street"], "--by"),
    (["forecast", "--at", "yesterday"], "--at"),
    (["forecast", "--tz", "Mars/Olympus"], "--tz"),
    (["forecast", "backtest", "--days", "0"], "--days"),
    (["forecast", "backtest", "--hours", "25"], "--hours"),
    (["forecast", "backtest", "--by", "street"], "--by"),
    (["forecast", "backtest", "--tz", "Mars/Olympus"], "--tz"),
    (["alerts", "--ahead", "0"], "--ahead"),
    (["alerts", "--ahead", "25"], "--ahead"),
])
def test_a_bad_cli_argument_is_one_line_and_exit_2(args: list[str], option: str, tmp_path) -> None:
    result = CliRunner().invoke(parking_cli, ["--data-dir", str(tmp_path / "none"), *args])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and option in line and "Traceback" not in result.output


@pytest.mark.parametrize("output_format", ["csv", "json", "table"])
def test_the_backtest_prints_every_column_in_every_format(engine: DuckDBEngine, output_format: str,
                                                          monkeypatch) -> None:
    monkeypatch.setattr("parking.cli.context.clock", lambda: END + timedelta(days=1))
    result = CliRunner().invoke(parking_cli, [
        "--data-dir", str(engine.data_dir), "forecast", "backtest", "--at", "2024-01-31T00:30:00Z", "--days", "1",
        "--hours", "2", "--lookback", "1", "--format", output_format])
    assert result.exit_code == 0, result.output
    want = queries.forecast_backtest(END, days=1, hours=2, lookback_hours=1, engine=engine, now=END)
    if output_format == "csv":
        import io

        got = pd.read_csv(io.StringIO(result.stdout))
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    elif output_format == "json":
        got = pd.DataFrame(json.loads(result.stdout))
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    else:
        header, *lines = result.stdout.splitlines()
        assert header.split() == list(fc.BACKTEST_COLUMNS) and len(lines) == 2
        assert lines[0].split()[:2] == ["1", str(want["origins"].iloc[0])]


def test_the_forecast_command_prints_the_library_rows(engine: DuckDBEngine, monkeypatch) -> None:
    monkeypatch.setattr("parking.cli.context.clock", lambda: END)
    result = CliRunner().invoke(parking_cli, [
        "--data-dir", str(engine.data_dir), "forecast", "--at", "2024-01-30T10:00:00Z", "--hours", "2",
        "--zone", "north", "--lookback", "1", "--format", "json"])
    assert result.exit_code == 0, result.output
    want = queries.forecast("2024-01-30T10:00:00Z", hours=2, zones=["north"], lookback_hours=1, engine=engine, now=END)
    rows = json.loads(result.stdout)
    assert [row["zone"] for row in rows] == ["north", "north"]
    assert [row["hour"] for row in rows] == ["2024-01-30T10:00:00.000Z", "2024-01-30T11:00:00.000Z"]
    assert [row["occupancy_rate"] for row in rows] == pytest.approx(want["occupancy_rate"].tolist())


@pytest.mark.parametrize(("threshold", "ahead"), [(0.5, 1), (0.5, 6), (0.8, 3), (0.99, 24), (0.0, 2)])
def test_alerts_ahead_are_the_groups_full_now_or_forecast_to_be(engine: DuckDBEngine, threshold: float,
                                                                 ahead: int) -> None:
    at = datetime(2024, 1, 30, 6, tzinfo=timezone.utc)
    got = queries.alerts(at, threshold=threshold, ahead=ahead, lookback_hours=1, engine=engine, now=END)
    now_rows = queries.alerts(at, threshold=threshold, lookback_hours=1, engine=engine, now=END)
    predicted = queries.forecast(at, hours=ahead, lookback_hours=1, engine=engine, now=END)
    soon = predicted[predicted["occupancy_rate"] >= threshold].groupby("zone")["hour"].min()
    want = sorted(set(now_rows["zone"]) | set(soon.index))
    assert got["zone"].tolist() == want
    for zone, reaches in zip(got["zone"], got["reaches"], strict=True):
        assert (reaches is pd.NaT) == (zone in set(now_rows["zone"]))
        if reaches is not pd.NaT:
            assert reaches == soon[zone]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 800), st.integers(1, 3)),
              elements=st.one_of(st.just(np.nan), st.floats(0, 1))), st.integers(1, 5))
def test_the_profile_is_the_mean_of_the_same_hour_in_earlier_weeks(rates: np.ndarray, weeks: int) -> None:
    got = fc.profile(rates, weeks)
    for k in range(rates.shape[0]):
        for g in range(rates.shape[1]):
            earlier = [rates[k - 168 * w, g] for w in range(1, weeks + 1) if k - 168 * w >= 0]
            known = [v for v in earlier if not math.isnan(v)]
            assert got[k, g] == pytest.approx(sum(known) / len(known)) if known else math.isnan(got[k, g])


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
                                "Pacific/Apia"])
def test_a_local_week_before_is_the_same_wall_clock_hour_seven_days_earlier(tz: str) -> None:
    """Where that hour exists once on the clock; Apia skipped 2011-12-30, so one of its weeks is 6 days of UTC."""
    from zoneinfo import ZoneInfo

    clock = ZoneInfo(tz)
    start = datetime(2011, 1, 1, tzinfo=timezone.utc)
    rows = 366 * 24
    sources = fc.local_weeks(start, rows, tz, 2)
    assert sources is not None
    checked = 0
    for k in range(0, rows, 7):
        for week in (1, 2):
            wall = (start + k * HOUR).astimezone(clock).replace(tzinfo=None) - timedelta(days=7 * week)
            earlier, later = (wall.replace(tzinfo=clock, fold=fold) for fold in (0, 1))
            if earlier.utcoffset() != later.utcoffset() or earlier.astimezone(clock).replace(tzinfo=None) != wall:
                continue  # that wall-clock hour happened twice, or never
            assert sources[week - 1, k] == (earlier - start) / HOUR, (tz, start + k * HOUR, week)
            checked += 1
    assert checked > 2 * rows / 7 * 0.99


def test_a_half_hour_clock_change_leaves_the_weeks_in_utc_and_utc_has_none() -> None:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    sources = fc.local_weeks(start, 366 * 24, "Australia/Lord_Howe", 4)  # +11 in summer, +10:30 in winter
    naive = np.stack([np.arange(366 * 24) - 168 * week for week in range(1, 5)])
    assert sources is not None and (sources == naive).all()
    assert fc.local_weeks(start, 100, "UTC", 4) is None


def test_the_states_query_is_athena_sql_with_an_equality_in_every_join() -> None:
    from parking.analytics.engines import bind
    from parking.analytics.windows import partition_params, to_ms
    from tests.sql_shape import (
        parse_sqlglot,
        parse_trino,
        sqlglot_joins_without_equality,
        trino_joins_without_equality,
    )

    start, end = datetime(2024, 3, 18, tzinfo=timezone.utc), datetime(2024, 3, 21, tzinfo=timezone.utc)
    params = {"start_ms": to_ms(start), "end_ms": to_ms(end), "states_from_ms": to_ms(start), "lookback_ms": 86_400_000,
              "group_by": "zone",
              "filter_zones": 1, "zones": ["North", "O'Hare"], **partition_params(start - timedelta(days=1), end)}
    sql = bind(fc.HISTORY.sql, {key: value for key, value in params.items() if key in fc.HISTORY.placeholders()})
    assert trino_joins_without_equality(parse_trino(sql)) == []
    assert sqlglot_joins_without_equality(parse_sqlglot(sql)) == []


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(1, 6), st.integers(0, 23),
       st.floats(0.0, 0.6))
def test_the_backtests_baselines_and_counts_on_any_history(seed: int, groups: int, hours: int, start_hour: int,
                                                          missing: float) -> None:
    """On a random grid with holes, the backtest's counts and baseline errors are those of a plain loop (section 8)."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, start_hour, tzinfo=timezone.utc)
    n = 24 * 40
    rates = np.where(rng.random((n, groups)) < missing, np.nan, rng.random((n, groups)))
    states = np.where(rng.random((n, groups)) < missing, np.nan, rng.random((n, groups)))
    first_ms = np.array([fc.to_ms(start) + int(rng.integers(0, 24 * 30)) * 3_600_000 for _ in range(groups)], float)
    history = fc.History(start, [f"z{g}" for g in range(groups)], rates, states, first_ms)
    end = start + timedelta(hours=n - 1 - int(rng.integers(0, 24)))
    first_origin = end - timedelta(days=3)
    got = fc.evaluate(history, first_origin, end, hours)
    model, e = fc.Model(history), history.index(end)
    estimates = {h: model.predict(np.arange(history.index(first_origin), e - h + 1), h) for h in range(1, hours + 1)}
    for h in range(1, hours + 1):
        errors: dict[str, list[float]] = {"f": [], "p": [], "s": [], "r": []}
        for i in range(history.index(first_origin), history.index(end)):
            if i + h > history.index(end):
                continue
            t0_ms = fc.to_ms(start) + i * 3_600_000
            for g in range(groups):
                if first_ms[g] > t0_ms - 14 * 86_400_000:
                    continue
                j = i + h - 1
                weeks = [rates[j - 168 * k, g] for k in (1, 2, 3, 4) if j - 168 * k >= 0]
                known = [w for w in weeks if not math.isnan(w)]
                f = estimates[h][0][i - history.index(first_origin), g]
                values = (rates[j, g], states[i, g], rates[j - 168, g] if j >= 168 else math.nan,
                          sum(known) / len(known) if known else math.nan, f)
                if any(math.isnan(v) for v in values):
                    continue
                a, p, s, r, f = values
                errors["f"].append(abs(f - a))
                errors["p"].append(abs(p - a))
                errors["s"].append(abs(s - a))
                errors["r"].append(abs(r - a))
        row = got[got["horizon"] == h].iloc[0]
        assert row["origins"] == len(errors["p"])
        for column, key in (("mae_forecast", "f"), ("mae_persistence", "p"), ("mae_seasonal_naive", "s"),
                            ("mae_profile", "r")):
            want = sum(errors[key]) / len(errors[key]) if errors[key] else math.nan
            assert row[column] == pytest.approx(want, nan_ok=True)


def test_with_under_a_week_of_history_the_forecast_is_persistence_with_no_claim(engine: DuckDBEngine) -> None:
    """No profile yet: the state at t0, and the interval [0, 1] (nothing to calibrate it on)."""
    t0 = datetime(2024, 1, 3, 10, tzinfo=timezone.utc)
    frame = queries.forecast(t0, hours=3, lookback_hours=1, engine=engine, now=END)
    for zone in ("north", "south"):
        rows = frame[frame["zone"] == zone]
        assert rows["occupancy_rate"].tolist() == pytest.approx([state(zone, t0)] * 3)
        assert rows["low"].tolist() == [0.0] * 3 and rows["high"].tolist() == [1.0] * 3


EVERY_HOUR = f"The 80 % interval is 0-100 % at every hour: {fc.UNCALIBRATED}."
CALIBRATION = [  # (origin, hours ahead whose interval had nothing to calibrate it on, the CLI's line on stderr)
    ("2024-01-03T10:00:00Z", 6, EVERY_HOUR),  # under a week of history: no forecast to check yet
    # 8 days: enough past forecasts (50) for horizons 1-5, not yet for 6 (its origins end 5 hours earlier)
    ("2024-01-09T12:00:00Z", 1, f"The 80 % interval is 0-100 % at 1 of the 6 hours: {fc.UNCALIBRATED}."),
    ("2024-01-30T10:00:00Z", 0, None),
]


@pytest.mark.parametrize(("at", "uncalibrated", "line"), CALIBRATION)
def test_an_interval_with_nothing_to_calibrate_it_on_is_0_to_100_and_the_frame_says_at_which_hours(
        engine: DuckDBEngine, at: str, uncalibrated: int, line: str | None) -> None:
    """The rows alone cannot tell: a calibrated interval of a zone of one or two bays can be 0-100 % too."""
    frame = queries.forecast(at, hours=6, tz="Europe/Paris", lookback_hours=1, engine=engine, now=END)
    hours = sorted(frame["hour"].unique())
    assert frame.attrs["uncalibrated_hours"] == hours[len(hours) - uncalibrated:]
    flagged = frame[frame["hour"].isin(frame.attrs["uncalibrated_hours"])]
    assert flagged["low"].eq(0).all() and flagged["high"].eq(1).all()
    assert fc.uncalibrated_note(frame) == line


@pytest.mark.parametrize(("at", "uncalibrated", "line"), CALIBRATION)
def test_the_cli_says_on_stderr_when_the_interval_is_not_calibrated(engine: DuckDBEngine, monkeypatch, at: str,
                                                                    uncalibrated: int, line: str | None) -> None:
    monkeypatch.setattr("parking.cli.context.clock", lambda: END)
    result = CliRunner().invoke(parking_cli, ["--data-dir", str(engine.data_dir), "forecast", "--at", at,
                                              "--lookback", "1", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == ([line] if line else [])
    assert result.stdout.splitlines()[0] == "zone,hour,occupancy_rate,low,high"  # stdout keeps only the rows


@pytest.mark.parametrize(("command", "said"), [(["forecast"], "the forecast starts from"),
                                               (["forecast", "backtest", "--days", "1"], "the backtest ends at")])
@pytest.mark.parametrize(("at", "after_now"), [("2024-01-31T09:00:00Z", True), ("2024-01-30T08:00:00Z", False)])
def test_an_at_after_now_is_answered_from_now_and_said_so(engine: DuckDBEngine, monkeypatch, command: list[str],
                                                           said: str, at: str, after_now: bool) -> None:
    monkeypatch.setattr("parking.cli.context.clock", lambda: END)
    args = ["--data-dir", str(engine.data_dir), *command, "--at", at, "--hours", "1", "--lookback", "1",
            "--format", "csv"]
    result = CliRunner().invoke(parking_cli, args)
    assert result.exit_code == 0, result.output
    note = f"Note: --at {at} is after now ({END:%Y-%m-%dT%H:%M:%SZ}); {said} now's hour, {END:%Y-%m-%dT%H:00Z}."
    assert (note in result.stderr.splitlines()) is after_now, result.stderr
    if after_now:  # the same rows as asked at now
        at_now = CliRunner().invoke(parking_cli, [*args[:args.index("--at")], *args[args.index("--at") + 2:]])
        assert result.stdout == at_now.stdout


@pytest.mark.parametrize(("before", "named"), [
    (["--data-dir", "/nonexistent"], "--data-dir"), (["--engine", "athena"], "--engine"), (["--format", "csv"], "--format"),
    (["--at", "2024-01-30T10:00:00Z"], "--at"), (["--zone", "north"], "--zone"), (["--by", "level"], "--by"),
    (["--hours", "2"], "--hours"), (["--tz", "Europe/Paris"], "--tz"), (["--lookback", "2"], "--lookback"),
    (["--hours", "2", "--format", "csv"], "--hours, --format go after"),
])
def test_an_option_typed_before_backtest_is_refused_not_dropped(engine: DuckDBEngine, before: list[str],
                                                                 named: str) -> None:
    result = CliRunner().invoke(parking_cli, ["--data-dir", str(engine.data_dir), "forecast", *before, "backtest",
                                              "--days", "1", "--hours", "1"])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert named in line and "after `backtest`" in line, line
    assert result.stdout == ""


def test_the_cli_bounds_are_the_librarys() -> None:
    from parking.cli import forecast as command

    assert (command.MAX_HORIZON, command.MAX_DAYS) == (fc.MAX_HORIZON, fc.MAX_BACKTEST_DAYS)
