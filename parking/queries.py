"""The named queries as Python functions that return typed DataFrames.

Each function turns dates, zones and options into a UTC window, binds the
parameters of one ``queries/<name>.sql`` and runs it on an engine (the
settings' engine by default). ``now`` is captured once per call, so every
figure of one answer agrees on it. docs/METRICS.md defines every column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pandas as pd

from parking.analytics.availability import check_grouping, check_threshold, grouping_params, instant_params
from parking.analytics.registry import (
    DEFAULT_GROUPING,
    DEFAULT_THRESHOLD,
    FLAPPING_CHANGES,
    GROUP_COLUMN,
    LOCAL_TIME,
    STUCK_HOURS,
    UTC_TIME,
    NamedQuery,
    named,
)
from parking.analytics.registry import (
    DEFAULT_LOOKBACK_HOURS as DEFAULT_LOOKBACK_HOURS,  # re-exported: the library default, before the environment
)
from parking.analytics.windows import (
    Window,
    days_window,
    instant_window,
    parse_date,
    parse_instant,
    partition_params,
    to_ms,
    zone,
)
from parking.config import Settings, lookback_hours_from_env
from parking.errors import InvalidArgument

if TYPE_CHECKING:
    from parking.analytics.engines import Engine

# The at-instant windows, from the registry (kept by these names for callers).
STATUS_WINDOW: timedelta = named("status").window or timedelta(0)
HEALTH_WINDOW: timedelta = named("health").window or timedelta(0)


def status(
    at: datetime | str | None = None,
    *,
    lookback_hours: float | None = None,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Each spot seen in the 7 days up to ``at`` (default now): its status and since when."""
    lookback = _lookback(lookback_hours)
    window = instant_window(_at(at, now), STATUS_WINDOW)
    params = {"at_ms": to_ms(window.end), "window_ms": to_ms_delta(STATUS_WINDOW)}
    return _run("status", window, lookback, params, engine)


def occupancy(
    day: date | str,
    *,
    tz: str = "UTC",
    lookback_hours: float | None = None,
    by: str | None = None,
    zones: Sequence[str] = (),
    engine: Engine | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """One row per hour of a (local) day: the share of observed spot-time occupied.

    With ``by`` (``zone``, ``level`` or ``bay_type``), one row per group and hour,
    the group column first (string, null for uncatalogued spots); ``zones``
    keeps only the catalog's spots of those zones (docs/METRICS.md section 7).
    """
    lookback, zone_info = _lookback(lookback_hours), zone(tz)
    the_day = _date(day)
    window = days_window(the_day, the_day, zone_info, _now(now))
    engine = engine_or_default(engine)
    # The zone's clock makes the day's rows (section 6): by the name the engine knows, or refused now.
    params = {"day_end_ms": to_ms(window.nominal_end), "time_zone": engine.zone_name(tz), **grouping_params(by, zones)}
    return _run("occupancy", window, lookback, params, engine, tz=tz, by=by)


def utilization(
    first: date | str,
    last: date | str,
    *,
    lookback_hours: float | None = None,
    by: str | None = None,
    zones: Sequence[str] = (),
    engine: Engine | None = None,
    now: datetime | None = None,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Per spot observed from ``first`` to ``last`` (UTC days, both included): share occupied.

    With ``by``, one row per group instead of per spot (sums over its spots);
    ``zones`` keeps only the catalog's spots of those zones (section 7).
    ``tz`` makes the days local days of that zone (the report's), as the
    other window queries count them; the CLI's ``utilization`` keeps UTC days.
    """
    return _over_days("utilization", first, last, tz, lookback_hours, engine, now, by=by, zones=zones)


def patterns(
    first: date | str,
    last: date | str,
    *,
    tz: str = "UTC",
    lookback_hours: float | None = None,
    by: str | None = None,
    zones: Sequence[str] = (),
    engine: Engine | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Occupancy by (ISO weekday, hour of day), local to ``tz``, over every hour of the window.

    ``by`` and ``zones`` as in :func:`occupancy` (section 7). The only query
    that sends ``tz`` to the engine: :class:`InvalidArgument`, before it runs,
    for a zone the engine has no name for (:func:`check_zone`).
    """
    return _over_days("patterns", first, last, tz, lookback_hours, engine, now, {"time_zone": tz}, by=by, zones=zones)


def turnover(
    first: date | str,
    last: date | str,
    *,
    tz: str = "UTC",
    lookback_hours: float | None = None,
    by: str | None = None,
    zones: Sequence[str] = (),
    engine: Engine | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Per spot observed in the window: arrivals, and arrivals per observed day.

    ``by`` and ``zones`` as in :func:`utilization` (section 7).
    """
    return _over_days("turnover", first, last, tz, lookback_hours, engine, now, by=by, zones=zones)


def dwell(
    first: date | str,
    last: date | str,
    *,
    tz: str = "UTC",
    lookback_hours: float | None = None,
    by: str | None = None,
    zones: Sequence[str] = (),
    engine: Engine | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Per spot with complete sessions in the window: how long cars stayed, in minutes.

    With ``by``, the figures are over all sessions of each group's spots (section 7).
    """
    return _over_days("dwell", first, last, tz, lookback_hours, engine, now, by=by, zones=zones)


def health(
    at: datetime | str | None = None,
    *,
    lookback_hours: float | None = None,
    silent_hours: float | None = None,
    flapping_changes: int = FLAPPING_CHANGES,
    stuck_hours: float = STUCK_HOURS,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Each spot seen in the 30 days up to ``at``: silence, changes, state age and flags.

    ``silent_hours`` defaults to the lookback: a sensor silent for longer is no
    longer trusted, which is what the flag reports.
    """
    lookback = _lookback(lookback_hours)
    silent = lookback if silent_hours is None else _hours("silent_hours", silent_hours)
    stuck = _hours("stuck_hours", stuck_hours)
    if flapping_changes < 1:
        raise InvalidArgument(f"{{flapping_changes}} must be at least 1, got {flapping_changes}", "flapping_changes")
    window = instant_window(_at(at, now), HEALTH_WINDOW)
    params = {
        "at_ms": to_ms(window.end),
        "window_ms": to_ms_delta(HEALTH_WINDOW),
        "silent_ms": to_ms_delta(silent),
        "flapping_changes": int(flapping_changes),
        "stuck_ms": to_ms_delta(stuck),
    }
    return _run("health", window, lookback, params, engine)


def availability(
    at: datetime | str | None = None,
    *,
    by: str = DEFAULT_GROUPING,
    lookback_hours: float | None = None,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Bays occupied, free and unknown at ``at`` (default now) per catalog group (section 7).

    One row per ``by`` group (``zone``, ``level`` or ``bay_type``) of the catalog
    in force, plus the null group for uncatalogued spots seen in the 7 days up
    to ``at``. Columns: ``<by>`` (string, null for uncatalogued), ``capacity``,
    ``occupied``, ``free``, ``unknown`` (int64), ``occupancy_rate`` (float64,
    NaN when nothing is known). Raises :class:`InvalidArgument` for a bad ``by``.
    """
    by = check_grouping(by)
    return _at_instant("availability", at, lookback_hours, engine, now, by=by, group_by=by)


def alerts(
    at: datetime | str | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    by: str = DEFAULT_GROUPING,
    ahead: int = 0,
    lookback_hours: float | None = None,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """The :func:`availability` rows whose ``occupancy_rate >= threshold`` (0-1), section 7.

    With ``ahead`` (1-24 hours), also the groups :func:`forecast` says reach the
    threshold within that many hours, and a ``reaches`` column: the start of the
    first such hour (NaT for a group at the threshold now); section 8.
    """
    by, threshold = check_grouping(by), check_threshold(threshold)
    if ahead:
        from parking.analytics.forecast import alerts_ahead, check_hours

        check_hours(ahead, "ahead")
        rows = _at_instant("availability", at, lookback_hours, engine, now, by=by, group_by=by)
        predicted = forecast(at, by=by, hours=ahead, lookback_hours=lookback_hours, engine=engine, now=now)
        return alerts_ahead(rows, predicted, by, threshold)
    return _at_instant("alerts", at, lookback_hours, engine, now, by=by, group_by=by, threshold=threshold)


def forecast(
    at: datetime | str | None = None,
    *,
    by: str = DEFAULT_GROUPING,
    zones: Sequence[str] = (),
    hours: int = 6,
    tz: str = "UTC",
    lookback_hours: float | None = None,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """The next ``hours`` (1-24) hours' occupancy per group from ``at`` (default now) floored to its hour.

    docs/METRICS.md section 8, "Forecast": one row per group and hour ahead,
    ``<by>`` (string, null for uncatalogued), ``hour`` (the hour's start in
    ``tz``), ``occupancy_rate``, ``low``, ``high`` (float64 in [0, 1], the 80 %
    interval; NaN when nothing is known). The weekday-hour profile follows
    ``tz``'s clock (docs/CHOICES.md, "Forecast"). :class:`InvalidArgument` for a bad
    ``by``, ``zones``, ``hours`` or ``tz``, before any query runs.

    An hour whose interval had nothing to calibrate it on (a lake with under 8
    to 10 days of events) has ``low`` 0 and ``high`` 1 in every row, and is
    listed in ``frame.attrs["uncalibrated_hours"]`` (empty when none is): the
    rows alone cannot tell, since a calibrated interval of a zone of a bay or
    two can be 0-100 % too.
    """
    from parking.analytics.forecast import check_hours
    from parking.analytics.forecast import forecast as predict

    by, lookback, hours = check_grouping(by), _lookback(lookback_hours), check_hours(hours)
    zone(tz)
    grouping_params(by, zones)
    instant = _at(at, now)
    return predict(engine_or_default(engine), instant, by=by, zones=zones, hours=hours, lookback=lookback, tz=tz)


def forecast_backtest(
    at: datetime | str | None = None,
    *,
    days: int = 28,
    by: str = DEFAULT_GROUPING,
    zones: Sequence[str] = (),
    hours: int = 6,
    tz: str = "UTC",
    lookback_hours: float | None = None,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """The forecast's backtest ending at ``at`` (default now) floored to its hour: one row per horizon 1..``hours``.

    docs/METRICS.md section 8: ``horizon``, ``origins`` (int64), ``mae_forecast``,
    ``mae_persistence``, ``mae_seasonal_naive``, ``mae_profile``, ``coverage``
    (float64). ``tz`` is the clock the forecast's profile follows, as in
    :func:`forecast`. :class:`InvalidArgument` for a bad option, before any query runs.
    """
    from parking.analytics.forecast import backtest, check_days, check_hours

    by, lookback = check_grouping(by), _lookback(lookback_hours)
    days, hours = check_days(days), check_hours(hours)
    zone(tz)
    grouping_params(by, zones)
    return backtest(engine_or_default(engine), _at(at, now), days=days, by=by, zones=zones, hours=hours,
                    lookback=lookback, tz=tz)


def overstays(
    at: datetime | str | None = None,
    *,
    lookback_hours: float | None = None,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """The enforcement list at ``at`` (default now), section 7.

    One row per spot occupied at ``at`` whose catalog row has a maximum stay
    that its stay exceeds: ``spot_id``, ``zone`` (string), ``since`` (UTC),
    ``stay_minutes`` (float64), ``max_stay_minutes`` (int64), ``over_minutes``
    (float64), ``sensor_flags`` (string: :func:`health`'s flags at ``at`` with
    its default thresholds; empty when the sensor looks healthy, so the stay is
    worth an officer's visit, see :func:`to_enforce`); largest ``over_minutes``
    first, ties by ``spot_id``.
    """
    return _at_instant("overstays", at, lookback_hours, engine, now)


def to_enforce(stays: pd.DataFrame) -> pd.DataFrame:
    """The :func:`overstays` rows whose sensor looks healthy (empty ``sensor_flags``): worth an officer's visit."""
    return stays[stays["sensor_flags"] == ""].reset_index(drop=True)


def to_check(stays: pd.DataFrame) -> pd.DataFrame:
    """The :func:`overstays` rows whose sensor is flagged: the stay may be the sensor's fault, worth a technician's visit."""
    return stays[stays["sensor_flags"] != ""].reset_index(drop=True)


def flagged(health_rows: pd.DataFrame) -> pd.DataFrame:
    """The :func:`health` rows with a flag: the sensors that need a visit."""
    return health_rows[health_rows["flags"] != ""].reset_index(drop=True)


def _at_instant(
    name: str,
    at: datetime | str | None,
    lookback_hours: float | None,
    engine: Engine | None,
    now: datetime | None,
    *,
    by: str | None = None,
    **extra: Any,
) -> pd.DataFrame:
    """Run one of the section 7 instant queries and name its group column after ``by``."""
    lookback = _lookback(lookback_hours)
    instant = _at(at, now)
    query = named(name)
    engine = engine_or_default(engine)
    frame = typed(engine.run(query.sql, instant_params(name, instant, lookback, **extra)), query)
    return frame.rename(columns={GROUP_COLUMN: by}) if by else frame


def query_params(
    query: NamedQuery, window: Window, lookback: timedelta, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """Every parameter of a named query: the window, lookback, partitions and its own."""
    read_end = window.end if query.at_instant else window.end - timedelta(milliseconds=1)
    params = {
        "start_ms": to_ms(window.start),
        "end_ms": to_ms(max(window.end, window.start)),
        "lookback_ms": to_ms_delta(lookback),
        # A round trip looks one lookback further back (METRICS.md sections 3-4).
        **partition_params(window.start - 2 * lookback, read_end),
        **extra,
    }
    wanted = query.placeholders()
    return {key: value for key, value in params.items() if key in wanted}


def empty_frame(query: NamedQuery, tz: str = "UTC") -> pd.DataFrame:
    """No rows, with the query's columns and dtypes."""
    return typed(pd.DataFrame({column: [] for column in query.columns}), query, tz)


def typed(frame: pd.DataFrame, query: NamedQuery, tz: str = "UTC") -> pd.DataFrame:
    """Give the engine's rows the documented dtypes, whichever engine made them."""
    frame = frame.reset_index(drop=True)
    for column, dtype in query.columns.items():
        if dtype in (UTC_TIME, LOCAL_TIME):
            values = pd.to_datetime(frame[column], utc=True, format="ISO8601")
            frame[column] = values.dt.tz_convert(tz if dtype == LOCAL_TIME else "UTC").astype(
                f"datetime64[ns, {tz if dtype == LOCAL_TIME else 'UTC'}]"
            )
        elif dtype == "float64":
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        elif dtype == "bool":
            if frame[column].dtype != "bool":  # the live answers' are bool already: no map over 10,000 rows
                frame[column] = frame[column].map(_as_bool).astype("bool")
        elif column in query.never_null:
            frame[column] = frame[column].fillna("").astype(dtype)
        else:
            frame[column] = frame[column].astype(dtype)
    return frame[list(query.columns)]


def to_ms_delta(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _over_days(
    name: str,
    first: date | str,
    last: date | str,
    tz: str,
    lookback_hours: float | None,
    engine: Engine | None,
    now: datetime | None,
    extra: Mapping[str, Any] | None = None,
    *,
    by: str | None = None,
    zones: Sequence[str] = (),
) -> pd.DataFrame:
    """A query over whole local days ``first`` to ``last``, both included, grouped by ``by``."""
    lookback, zone_info = _lookback(lookback_hours), zone(tz)
    params = {**(extra or {}), **grouping_params(by, zones)}
    window = days_window(_date(first), _date(last), zone_info, _now(now))
    engine = engine_or_default(engine)
    if "time_zone" in params:  # the zone goes into the SQL: by the name the engine knows, or refused now
        params["time_zone"] = engine.zone_name(params["time_zone"])
    return _run(name, window, lookback, params, engine, by=by)


def engine_or_default(engine: Engine | None) -> Engine:
    """``engine``, or the one the settings name (PARKING_ENGINE and the rest)."""
    if engine is not None:
        return engine
    from parking.analytics.engines import engine_from_settings

    return engine_from_settings(Settings.from_environment())


def check_zone(tz: str, engine: Engine | None = None) -> str:
    """The name ``engine`` knows ``tz`` by, for a run whose queries send the zone to it (docs/CHOICES.md).

    Raises :class:`InvalidArgument` for a zone Python does not know, or one the
    engine has no name for (``America/Ciudad_Juarez`` on Athena): call it before
    the first query of a run, so a refused zone runs no query at all.
    """
    zone(tz)
    return engine_or_default(engine).zone_name(tz)


def _run(
    name: str,
    window: Window,
    lookback: timedelta,
    extra: Mapping[str, Any],
    engine: Engine | None,
    tz: str = "UTC",
    by: str | None = None,
) -> pd.DataFrame:
    query = named(name)
    shape = grouped(query, by)
    if window.is_future and not query.future_rows:
        return empty_frame(shape, tz).rename(columns={GROUP_COLUMN: by})
    engine = engine_or_default(engine)
    frame = engine.run(query.sql, query_params(query, window, lookback, extra))
    if by is None:
        frame = frame.drop(columns=[GROUP_COLUMN], errors="ignore")
    return typed(frame, shape, tz).rename(columns={GROUP_COLUMN: by} if by else {})


def grouped(query: NamedQuery, by: str | None) -> NamedQuery:
    """The query's columns with ``--by``: the group column first, no ``spot_id`` (METRICS.md section 7)."""
    if by is None:
        return query
    columns = {GROUP_COLUMN: "string", **{c: t for c, t in query.columns.items() if c != "spot_id"}}
    return replace(query, columns=columns, never_null=query.never_null - {"spot_id"})


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def default_lookback_hours() -> float:
    """The deployment's default lookback: ``PARKING_LOOKBACK_HOURS``, else 24 (METRICS.md section 3)."""
    return lookback_hours_from_env()


def _lookback(hours: float | None) -> timedelta:
    """``hours`` as a lookback; None is the deployment's default (:func:`default_lookback_hours`)."""
    return _hours("lookback_hours", default_lookback_hours() if hours is None else hours)


def _hours(argument: str, hours: float) -> timedelta:
    """``hours`` of the parameter ``argument`` as a duration: above 0 and at most a leap year."""
    if not hours > 0 or hours > 24 * 366:
        raise InvalidArgument(f"{{{argument}}} must be a number of hours above 0 and at most 8784, got {hours}",
                              argument)
    return timedelta(hours=hours)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise InvalidArgument("now must be timezone-aware")
    return now.astimezone(timezone.utc)


def _at(at: datetime | str | None, now: datetime | None) -> datetime:
    """The instant asked about, never after now (docs/METRICS.md: a window ends at now)."""
    current = _now(now)
    if at is None:
        return current
    instant = parse_instant(at) if isinstance(at, str) else _now(at)
    return min(instant, current)


def _date(value: date | str) -> date:
    if isinstance(value, datetime):
        raise InvalidArgument(f"expected a date, got the datetime {value.isoformat()}")
    return parse_date(value) if isinstance(value, str) else value
