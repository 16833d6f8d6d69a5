"""Occupancy forecasts for the next hours and their backtest (docs/METRICS.md section 8, "Forecast").

The history comes from one query per run, whatever the number of origins:
``queries/forecast_history.sql`` reads the window's events once and returns,
per group and whole UTC hour, how its observed and occupied milliseconds
change (summed here into its actual rate of every hour: section 7's
grouping, occupancy's figure) and how its occupied and free bays change
(summed into its availability rate at every whole hour: the persistence
baseline). Everything after that is numpy on an (hours x groups) grid.

The method (docs/CHOICES.md, "Forecast", has the numbers that chose it): for
origin ``t0`` and horizon ``h`` the forecast of the target hour is its
weekday-hour **profile** (the mean of the non-null actual rates of the same
hour of the garage's clock, ``tz``, 1 to :data:`PROFILE_WEEKS` weeks before:
:func:`local_weeks`) plus the group's current
deviation from its profile, weighted per horizon::

    forecast = profile(target) + c_h + a_h * (state(t0) - profile(t0))
                                     + b_h * (rate(hour before t0) - profile(hour before t0))

``a_h``, ``b_h``, ``c_h`` are least squares over every group's pairs whose
target hour ended by the midnight (UTC) starting ``t0``'s day, within
:data:`FIT_DAYS` days of it, so they decay with the horizon as the data
says; the 80 % interval adds the 10th and 90th percentiles of the same
pairs' residuals. The live forecast and the backtest share this rule, so a
backtest's forecast at ``t0`` is exactly what ``forecast --at t0`` said.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from parking.analytics.availability import check_grouping, grouping_params
from parking.analytics.registry import DEFAULT_GROUPING, GROUP_COLUMN, NamedQuery
from parking.analytics.windows import partition_params, to_ms
from parking.errors import InvalidArgument

if TYPE_CHECKING:
    from parking.analytics.engines import Engine

HOUR = timedelta(hours=1)
WEEK_HOURS = 168
MAX_HORIZON = 24  # section 8: horizons 1 to 24
BASELINE_WEEKS = 4  # the profile baseline: 7, 14, 21 and 28 days before (section 8)
PROFILE_WEEKS = 4  # the forecast's own profile (docs/CHOICES.md, "Forecast")
FIT_DAYS = 7  # days of pairs the coefficients and interval are fitted on (docs/CHOICES.md, "Forecast")
MIN_FIT_PAIRS = 50  # fewer: default coefficients and the interval [0, 1]
HOUR_WINDOW: int | None = None  # hours either side for weights per origin hour of day; None: one fit for all
DEFAULT_DECAY = 0.8  # a_h = DEFAULT_DECAY ** h when there is too little to fit on
GROUP_SCALE = True  # intervals scaled by each group's mean absolute residual (docs/CHOICES.md, "Forecast")
MIN_GROUP_PAIRS = 24  # a group with fewer fitted pairs takes the pooled scale
MIN_SCALE = 0.002  # a group that never changes still gets an interval
INTERVAL = (0.10, 0.90)  # the 80 % interval's residual quantiles
MIN_HISTORY = timedelta(days=14)  # section 8: an origin needs an event 14 days before it
MAX_BACKTEST_DAYS = 366
HISTORY = NamedQuery(
    "forecast_history",
    {GROUP_COLUMN: "string", "at_ms": "int64", "observed_count": "int64", "observed_offset_ms": "int64",
     "occupied_count": "int64", "occupied_offset_ms": "int64", "occupied_change": "int64", "free_change": "int64",
     "first_ms": "int64"},
)
HOUR_MS = 3_600_000
BACKTEST_COLUMNS = ("horizon", "origins", "mae_forecast", "mae_persistence", "mae_seasonal_naive", "mae_profile",
                    "coverage")


@dataclass(frozen=True)
class History:
    """The hourly grid of one run: ``start`` + k hours for k in 0..n-1 (UTC).

    ``rates[k, g]``: group g's actual rate of hour k (float64, NaN when
    nothing was observed or the hour has not ended); ``states[k, g]``: its
    availability occupancy rate at the instant hour k starts (NaN: no bay
    known); ``first_ms[g]``: its earliest event read (epoch ms, NaN: none).
    """

    start: datetime
    groups: list[str | None]
    rates: np.ndarray
    states: np.ndarray
    first_ms: np.ndarray

    def index(self, instant: datetime) -> int:
        """The grid index of a whole UTC hour."""
        return int((instant - self.start) / HOUR)


def check_hours(hours: int, argument: str = "hours") -> int:
    """A horizon count from 1 to 24 (section 8) given as ``argument``; :class:`InvalidArgument` otherwise."""
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_HORIZON:
        raise InvalidArgument(f"{{{argument}}} must be a whole number of hours from 1 to {MAX_HORIZON}, got {hours}",
                              argument)
    return hours


def check_days(days: int) -> int:
    """Backtest days from 1 to 366; :class:`InvalidArgument` otherwise."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_BACKTEST_DAYS:
        raise InvalidArgument(f"{{days}} must be a whole number of days from 1 to {MAX_BACKTEST_DAYS}, got {days}",
                              "days")
    return days


def floor_hour(instant: datetime) -> datetime:
    """``instant`` in UTC, taken down to its whole hour."""
    return instant.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def load_history(
    engine: Engine,
    start: datetime,
    end: datetime,
    *,
    by: str,
    zones: Sequence[str] = (),
    lookback: timedelta,
    pad_hours: int = 0,
    states_from: datetime | None = None,
) -> History:
    """Actual rates of the hours in ``[start, end)`` and states at the hours in ``[states_from, end]``: one query.

    ``start``, ``end`` and ``states_from`` (default ``start``) are whole UTC
    hours; the grid runs ``pad_hours`` past ``end`` (rates NaN there: the
    hours to forecast); states before ``states_from`` are NaN (not asked).
    """
    grouping = grouping_params(check_grouping(by), zones)
    params = {
        "start_ms": to_ms(start), "end_ms": to_ms(end), "states_from_ms": to_ms(max(states_from or start, start)),
        "lookback_ms": _ms(lookback),
        # a round trip looks one lookback further back (METRICS.md section 4)
        **partition_params(start - 2 * lookback, end), **grouping,
    }
    return _history(start, end, pad_hours, engine.run(HISTORY.sql, _wanted(HISTORY, params)))


def _history(start: datetime, end: datetime, pad_hours: int, rows: pd.DataFrame) -> History:
    """The query's changes summed on the grid: rate ``occupied / observed`` ms of each hour, state of each instant."""
    hours = int((end - start) / HOUR) + pad_hours + 1
    last = int((end - start) / HOUR)  # rates of the hours before it; no state is asked after it
    codes, uniques = pd.factorize(rows[GROUP_COLUMN].astype("string"), use_na_sentinel=True)
    names = sorted(str(value) for value in uniques)  # then the null group, last
    groups: list[str | None] = [*names, *([None] if (codes < 0).any() else [])]
    position = {name: n for n, name in enumerate(names)}
    remap = np.array([position[str(value)] for value in uniques] + [len(names)], dtype=np.int64)
    cols = remap[codes]  # code -1 (null) takes the last entry: the null group's column
    at = pd.to_numeric(rows["at_ms"]).to_numpy(dtype=np.int64)
    flat = ((at - to_ms(start)) // HOUR_MS) * len(groups) + cols

    def summed(column: str) -> np.ndarray:
        """The column's values added up per grid cell, (hours x groups)."""
        values = pd.to_numeric(rows[column]).to_numpy(dtype=np.int64)
        return np.bincount(flat, weights=values, minlength=hours * len(groups)).reshape(hours, len(groups))

    rates = np.full((hours, len(groups)), np.nan)
    states = np.full((hours, len(groups)), np.nan)
    first = np.full(len(groups), np.nan)
    if len(rows):
        observed = HOUR_MS * np.cumsum(summed("observed_count"), axis=0) - summed("observed_offset_ms")
        occupied = HOUR_MS * np.cumsum(summed("occupied_count"), axis=0) - summed("occupied_offset_ms")
        with np.errstate(invalid="ignore", divide="ignore"):
            rates[:last] = np.where(observed > 0, occupied / np.where(observed > 0, observed, 1), np.nan)[:last]
            occupied_bays = np.cumsum(summed("occupied_change"), axis=0)
            known = np.cumsum(summed("occupied_change") + summed("free_change"), axis=0)
            states[: last + 1] = np.where(known > 0.5, occupied_bays / np.maximum(known, 1), np.nan)[: last + 1]
        np.fmin.at(first, cols, pd.to_numeric(rows["first_ms"]).to_numpy(dtype=float))
    return History(start, groups, rates, states, first)


def _wanted(query: NamedQuery, params: dict) -> dict:
    wanted = query.placeholders()
    return {key: value for key, value in params.items() if key in wanted}


def _ms(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)


def _lagged(values: np.ndarray, hours: int) -> np.ndarray:
    """``values`` moved ``hours`` later along the grid (row k holds row k - hours), NaN before."""
    out = np.full_like(values, np.nan)
    if hours < len(values):
        out[hours:] = values[: len(values) - hours]
    return out


def profile(rates: np.ndarray, weeks: int, sources: np.ndarray | None = None) -> np.ndarray:
    """Per grid hour and group, the mean of the non-null rates 1..``weeks`` weeks before (NaN when none).

    ``sources[w - 1, k]`` is the grid row taken for row k, ``w`` weeks before
    (:func:`local_weeks`: the same hour of a local clock); by default
    ``k - 168 w``, the same UTC hour. A row off the grid is NaN.
    """
    if sources is None:
        return _nanmean(np.stack([_lagged(rates, WEEK_HOURS * k) for k in range(1, weeks + 1)]))
    stack = np.full((weeks, *rates.shape), np.nan)
    for week in range(weeks):
        rows = sources[week]
        on_grid = (rows >= 0) & (rows < len(rates))
        stack[week, on_grid] = rates[rows[on_grid]]
    return _nanmean(stack)


def local_weeks(start: datetime, rows: int, tz: str, weeks: int) -> np.ndarray | None:
    """For grid rows 0..``rows - 1`` from ``start``, the rows 1..``weeks`` weeks before by ``tz``'s clock, (weeks x rows).

    Row k - 168 w moved by the whole hours the zone's UTC offset changed
    between the two (a change of half an hour, Lord Howe's, moves nothing);
    None for UTC, whose weeks are 168 rows.
    """
    if tz == "UTC":
        return None
    before = WEEK_HOURS * weeks
    instants = pd.date_range(start - timedelta(hours=before), periods=rows + before, freq="h", tz="UTC")
    offsets = ((instants.tz_convert(tz).tz_localize(None) - instants.tz_localize(None)) / pd.Timedelta(hours=1))
    offset = np.asarray(offsets, dtype=float)
    k = np.arange(rows)
    naive = np.stack([k - WEEK_HOURS * week for week in range(1, weeks + 1)])
    return (naive + np.round(offset[k + before] - offset[naive + before])).astype(np.int64)


def _nanmean(stack: np.ndarray) -> np.ndarray:
    """The mean over the first axis of the non-NaN values; NaN where there is none (no warning)."""
    counts = np.sum(~np.isnan(stack), axis=0)
    return np.where(counts > 0, np.nansum(stack, axis=0) / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True)
class Features:
    """For origins at grid rows ``origins`` and one horizon: every term of the model, (origins x groups)."""

    profile: np.ndarray
    state_deviation: np.ndarray
    last_deviation: np.ndarray
    fallback: np.ndarray


class Model:
    """The method on one run's grid: features for any origins, fitted per day (module docstring)."""

    def __init__(self, history: History, tz: str = "UTC") -> None:
        """``tz``: the clock whose weekday and hour the profile follows (docs/CHOICES.md, "Forecast")."""
        self.history = history
        sources = local_weeks(history.start, len(history.rates), tz, PROFILE_WEEKS)
        self.profile = profile(history.rates, PROFILE_WEEKS, sources)
        now_profile = _nanmean(np.stack([self.profile, _lagged(self.profile, 1)]))
        self.state_deviation = history.states - now_profile
        self.last_rates = _lagged(history.rates, 1)
        self.last_deviation = self.last_rates - _lagged(self.profile, 1)
        self._fits: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._calibrated: dict[tuple[int, int], bool] = {}

    def features(self, origins: np.ndarray, horizon: int) -> Features:
        """Row ``i`` of ``origins`` is the origin at grid row i: the target is row i + horizon - 1."""
        target = origins + horizon - 1
        fallback = np.where(np.isnan(self.history.states[origins]), self.last_rates[origins],
                            self.history.states[origins])
        return Features(self.profile[target], self.state_deviation[origins], self.last_deviation[origins], fallback)

    def hour_of_day(self, rows: np.ndarray) -> np.ndarray:
        """The UTC hour of day (0-23) of grid rows."""
        return (rows + self.history.start.hour) % 24

    @staticmethod
    def combine(f: Features, coefficients: np.ndarray) -> np.ndarray:
        """The point forecast, (origins x groups); ``coefficients`` is (c, a, b) or one (c, a, b) row per origin."""
        c, a, b = (np.asarray(coefficients, dtype=float).reshape(-1, 3).T[:, :, np.newaxis])
        correction = c + a * np.nan_to_num(f.state_deviation) + b * np.nan_to_num(f.last_deviation)
        return np.where(np.isnan(f.profile), f.fallback, f.profile + correction)

    def predict(self, origins: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(forecast, low, high) for origins at grid rows ``origins`` (any days), each (origins x groups) in [0, 1]."""
        shape = (len(origins), len(self.history.groups))
        estimate, low, high = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
        days = origins - self.hour_of_day(origins)
        for day in np.unique(days):
            chosen = days == day
            coefficients, lows, highs, scale = self.fit(int(day), horizon)
            hours = self.hour_of_day(origins[chosen])
            point = self.combine(self.features(origins[chosen], horizon), coefficients[hours])
            estimate[chosen] = np.clip(point, 0, 1)
            if self._calibrated[(int(day), horizon)]:
                low[chosen] = np.clip(point + lows[hours][:, np.newaxis] * scale, 0, 1)
                high[chosen] = np.clip(point + highs[hours][:, np.newaxis] * scale, 0, 1)
            else:  # nothing to calibrate it on: an interval that claims nothing (NaN where nothing is known)
                low[chosen] = np.where(np.isnan(point), np.nan, 0.0)
                high[chosen] = np.where(np.isnan(point), np.nan, 1.0)
        return estimate, low, high

    def calibrated(self, day: int, horizon: int) -> bool:
        """Whether :meth:`fit` had the :data:`MIN_FIT_PAIRS` pairs it needs: else the interval is [0, 1]."""
        self.fit(day, horizon)
        return self._calibrated[(day, horizon)]

    def fit(self, day: int, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per UTC hour of day of the origin: (c, a, b), (24, 3), and the residual quantiles, (24,) each,
        in units of each group's scale, (groups,): its mean absolute residual (:data:`GROUP_SCALE`).

        For origins of the day starting at grid row ``day``, from the pairs whose
        target hour ended by that midnight, with origins in the :data:`FIT_DAYS`
        days before it (data at or before every such origin) and an origin hour
        within :data:`HOUR_WINDOW` of the hour fitted (all hours when that
        leaves fewer than :data:`MIN_FIT_PAIRS`; defaults when all hours do).
        """
        key = (day, horizon)
        if key in self._fits:
            return self._fits[key]
        self._calibrated[key] = False
        coefficients = np.tile([0.0, DEFAULT_DECAY**horizon, 0.0], (24, 1))
        lows, highs = np.full(24, -1.0), np.full(24, 1.0)
        scale = np.ones(len(self.history.groups))
        first = max(day - FIT_DAYS * 24, 1)
        origins = np.arange(first, max(day - horizon + 1, first))
        if len(origins):
            f = self.features(origins, horizon)
            actual = self.history.rates[origins + horizon - 1]
            usable = ~np.isnan(f.profile) & ~np.isnan(actual) & ~np.isnan(f.state_deviation)
            usable &= ~np.isnan(f.last_deviation)
            distance = np.abs(self.hour_of_day(origins)[:, np.newaxis] - np.arange(24)[np.newaxis, :])
            near = np.minimum(distance, 24 - distance) <= HOUR_WINDOW if HOUR_WINDOW is not None \
                else np.ones((len(origins), 24), dtype=bool)
            pooled = _least_squares(f, actual, usable)
            self._calibrated[key] = pooled is not None
            if pooled is not None and GROUP_SCALE:
                scale = _scales(actual - np.clip(self.combine(f, pooled), 0, 1), usable)
            for hour in range(24 if HOUR_WINDOW is not None else 1):
                chosen = usable & near[:, hour][:, np.newaxis]
                fitted = _least_squares(f, actual, chosen) if chosen.sum() >= MIN_FIT_PAIRS else pooled
                if fitted is None:
                    continue
                coefficients[hour] = fitted
                point = np.clip(self.combine(f, fitted), 0, 1)
                residuals = ((actual - point) / scale)[chosen if chosen.sum() >= MIN_FIT_PAIRS else usable]
                lows[hour], highs[hour] = np.quantile(residuals, INTERVAL)
            if HOUR_WINDOW is None:  # one fit for every hour of day
                coefficients[:], lows[:], highs[:] = coefficients[0], lows[0], highs[0]
        self._fits[key] = (coefficients, lows, highs, scale)
        return self._fits[key]


def _scales(residuals: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Each group's mean absolute residual (pairs x groups in); the pooled one for a group with few pairs."""
    absolute = np.where(usable, np.abs(residuals), 0.0)
    counts = usable.sum(axis=0)
    pooled = absolute.sum() / max(int(counts.sum()), 1)
    own = absolute.sum(axis=0) / np.maximum(counts, 1)
    return np.maximum(np.where(counts >= MIN_GROUP_PAIRS, own, pooled), MIN_SCALE)


def _least_squares(f: Features, actual: np.ndarray, chosen: np.ndarray) -> np.ndarray | None:
    """(c, a, b) minimising the squared error of the chosen pairs; None with fewer than MIN_FIT_PAIRS."""
    if chosen.sum() < MIN_FIT_PAIRS:
        return None
    design = np.column_stack([np.ones(chosen.sum()), f.state_deviation[chosen], f.last_deviation[chosen]])
    return np.linalg.lstsq(design, actual[chosen] - f.profile[chosen], rcond=None)[0]


def forecast(
    engine: Engine,
    at: datetime,
    *,
    by: str = DEFAULT_GROUPING,
    zones: Sequence[str] = (),
    hours: int = 6,
    lookback: timedelta,
    tz: str = "UTC",
) -> pd.DataFrame:
    """The next ``hours`` hours per group from the origin ``at`` floored to its UTC hour (section 8).

    One row per group (observed in the history, ``zones`` kept) and horizon:
    ``<by>`` (string, null for uncatalogued spots), ``hour`` (the target hour's
    start, ``datetime64[ns, tz]``), ``occupancy_rate``, ``low``, ``high``
    (float64 in [0, 1], NaN when nothing is known: the 80 % interval). The
    weekday-hour profile follows ``tz``'s clock: after the clocks change, a
    garage's morning is still its morning.

    With too little history to calibrate the interval of an hour (fewer than
    :data:`MIN_FIT_PAIRS` past forecasts of that horizon to check against
    their actual rates: a lake with under 8 to 10 days of events), that hour's
    ``low`` is 0 and ``high`` 1 for every group, and
    ``frame.attrs["uncalibrated_hours"]`` lists those hours (as in the
    ``hour`` column; empty when every interval is calibrated).
    """
    hours = check_hours(hours)
    origin = floor_hour(at)
    midnight = origin.replace(hour=0)
    start = midnight - timedelta(days=FIT_DAYS + 7 * max(PROFILE_WEEKS, 1)) - HOUR - _clock_margin(tz)
    history = load_history(engine, start, origin, by=by, zones=zones, lookback=lookback, pad_hours=hours,
                           states_from=midnight - timedelta(days=FIT_DAYS))  # the fit's first origin
    model = Model(history, tz)
    row = history.index(origin)
    frames = []
    day = row - int(model.hour_of_day(np.array([row]))[0])
    uncalibrated = [pd.Timestamp(origin + (h - 1) * HOUR).tz_convert(tz) for h in range(1, hours + 1)
                    if not model.calibrated(day, h)]
    for horizon in range(1, hours + 1):
        estimate, low, high = (values[0] for values in model.predict(np.array([row]), horizon))
        frames.append(pd.DataFrame({
            by: pd.array(history.groups, dtype="string"),
            "hour": pd.Timestamp(origin + (horizon - 1) * HOUR),
            "occupancy_rate": estimate,
            "low": low,
            "high": high,
            "_order": np.arange(len(history.groups)),
        }))
    if not frames or not history.groups:
        return empty_forecast(by, tz)
    frame = pd.concat(frames).sort_values(["_order", "hour"], kind="stable").drop(columns="_order")
    frame["hour"] = frame["hour"].dt.tz_convert(tz).astype(f"datetime64[ns, {tz}]")
    frame = frame.reset_index(drop=True)
    frame.attrs["uncalibrated_hours"] = uncalibrated
    return frame


def empty_forecast(by: str, tz: str = "UTC") -> pd.DataFrame:
    """No rows, with the forecast's columns and dtypes."""
    frame = pd.DataFrame({
        by: pd.array([], dtype="string"), "hour": pd.Series([], dtype=f"datetime64[ns, {tz}]"),
        "occupancy_rate": pd.Series([], dtype="float64"), "low": pd.Series([], dtype="float64"),
        "high": pd.Series([], dtype="float64"),
    })
    frame.attrs["uncalibrated_hours"] = []
    return frame


UNCALIBRATED = "too little history to calibrate it yet (it takes 8 to 10 days of events)"


def uncalibrated_note(frame: pd.DataFrame) -> str | None:
    """The line that says a forecast's interval is 0-100 % at some hours, and why; None when it is not."""
    hours = frame.attrs.get("uncalibrated_hours") or []
    if frame.empty or not hours:
        return None
    shown = frame["hour"].nunique()
    which = "every hour" if len(hours) >= shown else f"{len(hours)} of the {shown} hours"
    return f"The 80 % interval is 0-100 % at {which}: {UNCALIBRATED}."


def backtest(
    engine: Engine,
    end: datetime,
    *,
    days: int = 28,
    by: str = DEFAULT_GROUPING,
    zones: Sequence[str] = (),
    hours: int = 6,
    lookback: timedelta,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Per horizon 1..``hours``, the forecast's and the three baselines' errors over ``days`` days (section 8).

    ``end`` is floored to its UTC hour (E); ``tz`` is the clock the
    forecast's profile follows, as in :func:`forecast` (the baselines are
    section 8's, in UTC hours). Columns: ``horizon``, ``origins`` (int64:
    counted origin-group pairs), ``mae_forecast``, ``mae_persistence``,
    ``mae_seasonal_naive``, ``mae_profile``, ``coverage`` (float64, NaN when
    no pair counts).
    """
    days, hours = check_days(days), check_hours(hours)
    e = floor_hour(end)
    first_origin = e - timedelta(days=days)
    start = first_origin.replace(hour=0) - timedelta(days=FIT_DAYS + 7 * max(PROFILE_WEEKS, BASELINE_WEEKS)) - HOUR
    history = load_history(engine, start - _clock_margin(tz), e, by=by, zones=zones, lookback=lookback,
                           states_from=first_origin.replace(hour=0) - timedelta(days=FIT_DAYS))  # the first fit's
    return evaluate(history, first_origin, e, hours, tz)


def _clock_margin(tz: str) -> timedelta:
    """History read before the profile's 4 weeks: a local week can be an hour longer (autumn), or more."""
    return timedelta(0) if tz == "UTC" else timedelta(days=1)


def evaluate(history: History, first_origin: datetime, end: datetime, hours: int, tz: str = "UTC") -> pd.DataFrame:
    """The backtest's table on a loaded history: origins in ``[first_origin, end)``, targets ending by ``end``."""
    model = Model(history, tz)
    baseline_profile = profile(history.rates, BASELINE_WEEKS)
    seasonal = _lagged(history.rates, WEEK_HOURS)
    e = history.index(end)
    origins = np.arange(history.index(first_origin), e)
    first_ok = history.first_ms[np.newaxis, :]
    rows = []
    for horizon in range(1, hours + 1):
        errors: dict[str, list[np.ndarray]] = {name: [] for name in ("forecast", "persistence", "seasonal", "profile")}
        covered: list[np.ndarray] = []
        kept = origins[origins + horizon <= e]
        for day in np.unique(kept - model.hour_of_day(kept)):
            chunk = kept[(kept >= day) & (kept < day + 24)]
            forecast_, lower, upper = model.predict(chunk, horizon)
            target = chunk + horizon - 1
            actual = history.rates[target]
            persistence = history.states[chunk]
            naive, prof = seasonal[target], baseline_profile[target]
            origin_ms = np.array([to_ms(history.start) + int(row) * 3_600_000 for row in chunk])[:, np.newaxis]
            eligible = first_ok <= origin_ms - MIN_HISTORY.total_seconds() * 1000
            counted = eligible & ~np.isnan(actual) & ~np.isnan(forecast_) & ~np.isnan(persistence)
            counted &= ~np.isnan(naive) & ~np.isnan(prof)
            a = actual[counted]
            errors["forecast"].append(np.abs(forecast_[counted] - a))
            errors["persistence"].append(np.abs(persistence[counted] - a))
            errors["seasonal"].append(np.abs(naive[counted] - a))
            errors["profile"].append(np.abs(prof[counted] - a))
            covered.append((lower[counted] <= a) & (a <= upper[counted]))
        joined = {name: np.concatenate(parts) if parts else np.array([]) for name, parts in errors.items()}
        hits = np.concatenate(covered) if covered else np.array([], dtype=bool)
        rows.append({
            "horizon": horizon, "origins": len(hits),
            "mae_forecast": _mean(joined["forecast"]), "mae_persistence": _mean(joined["persistence"]),
            "mae_seasonal_naive": _mean(joined["seasonal"]), "mae_profile": _mean(joined["profile"]),
            "coverage": _mean(hits.astype(float)),
        })
    frame = pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS))
    return frame.astype({"horizon": "int64", "origins": "int64", **{c: "float64" for c in BACKTEST_COLUMNS[2:]}})


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def alerts_ahead(availability: pd.DataFrame, predicted: pd.DataFrame, by: str, threshold: float) -> pd.DataFrame:
    """Alerts with ``--ahead``: availability rows at or above ``threshold`` now or forecast to be (section 8).

    ``availability`` is section 7's answer, ``predicted`` :func:`forecast`'s
    for the hours ahead. Adds ``reaches`` (``datetime64[ns, UTC]``): the
    start of the first hour forecast at or above the threshold, NaT for a
    group already there. Ordered as availability (group, nulls last).
    """
    hot = predicted[(predicted["occupancy_rate"] >= threshold).fillna(False).astype(bool)]
    first: dict[str | None, Any] = {}  # group key -> first hot hour (a pandas Timestamp)
    for group, hour in zip(hot[by], hot["hour"].dt.tz_convert("UTC"), strict=True):
        first.setdefault(_key(group), hour)  # forecast rows are in hour order within a group
    now_full = (availability["occupancy_rate"] >= threshold).fillna(False).astype(bool).to_numpy()
    reaches = pd.Series(pd.to_datetime([first.get(_key(g), pd.NaT) for g in availability[by]], utc=True),
                        index=availability.index).astype("datetime64[ns, UTC]")
    rows = availability.assign(reaches=reaches.where(~now_full))
    return rows[now_full | reaches.notna().to_numpy()].reset_index(drop=True)


def _key(group: object) -> str | None:
    return None if pd.isna(group) else str(group)
