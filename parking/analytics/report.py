"""The operator's report: one self-contained HTML page over a window of days.

The page is rendered from the Jinja2 template ``report.html.j2`` beside
this module (package data) with autoescaping; every picture is embedded as a ``data:``
URI, so the file opens anywhere, mailed on or offline. Figures follow
docs/METRICS.md sections 4, 6 and 7; times are shown in the report's zone.

It reads as an operator reads it: a summary first (the busiest hour, the
fullest zones, stays to enforce and sensors to check, kept apart as
METRICS.md section 7 says, and this week against the week before), then
the sections. Durations are written as people read them (``1 h 12 min``,
:func:`parking.text.duration`); every table of groups is sorted by fullness
and shows the :data:`GROUP_ROWS` fullest, saying how many more there are;
every window is of local days in the report's zone.

A report is a list of sections. Each section is one function of the
:class:`ReportInputs` (the window, the engine and the answers already asked,
so no query runs twice) that returns a :class:`Section`, or ``None`` when it
has nothing to show. :func:`frame_section` turns any query's answer into a
table section, so a section over another query is one call, for example::

    lambda inputs: frame_section("Health", queries.health(inputs.end, **inputs.options()), inputs.tz)

added to :data:`SECTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from jinja2 import Environment, StrictUndefined

from parking import queries
from parking.analytics import plots
from parking.analytics.windows import check_days, zone
from parking.text import duration, percent, plural

if TYPE_CHECKING:
    from parking.analytics.engines import Engine

TEMPLATE = "report.html.j2"  # package data beside this module
MAX_REPORT_DAYS = 92  # one occupancy query per day: a quarter at most
TOP_BAYS = 10
GROUP_ROWS = 10  # a table of zones (levels, bay types) shows the fullest this many
FULLEST_ZONES = 3  # named in the summary
UNCATALOGUED = "(uncatalogued)"  # the null group: spots that send events but are not in the catalog

FORECAST_HOURS = 6  # the report's forecast: the hours after the window's end
UNCALIBRATED_MARK = "\u00a0*"  # after an interval with too little history to calibrate it (the note says so)


@dataclass(frozen=True)
class Figure:
    """One picture, embedded: a ``data:`` URI and the text that stands for it."""

    alt: str
    uri: str


@dataclass(frozen=True)
class Table:
    """Rows already formatted for people; ``columns`` are the headers in order.

    ``more`` is the line under a table cut short (``and 30 more zones``).
    """

    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    more: str = ""


@dataclass(frozen=True)
class Section:
    """A heading, a few facts (label, value), pictures, tables and a note."""

    title: str
    facts: Sequence[tuple[str, str]] = ()
    figures: Sequence[Figure] = ()
    tables: Sequence[Table] = ()
    note: str = ""
    anchor: str = ""


@dataclass
class ReportInputs:
    """The window and engine of one report, and the answers asked so far (each asked once)."""

    first: date
    last: date
    tz: str
    lookback_hours: float | None  # None: the deployment's (PARKING_LOOKBACK_HOURS)
    engine: Engine | None
    now: datetime

    @property
    def window_text(self) -> str:
        return f"{self.first} to {self.last} ({self.tz})"

    def options(self) -> dict[str, Any]:
        """The keyword arguments every ``parking.queries`` function takes: lookback, engine, now."""
        return {"lookback_hours": self.lookback_hours, "engine": self.engine, "now": self.now}

    on_step: Callable[[str], None] | None = None
    _days: dict[date, pd.DataFrame] = field(default_factory=dict)
    _grouped: dict[str, pd.DataFrame] = field(default_factory=dict)

    def step(self, what: str) -> None:
        """Tell the caller what the report asks next (for progress)."""
        if self.on_step is not None:
            self.on_step(what)

    def day(self, day: date) -> pd.DataFrame:
        """``queries.occupancy`` of one local day, asked once."""
        if day not in self._days:
            self.step(f"occupancy of {day}")
            self._days[day] = queries.occupancy(day, tz=self.tz, **self.options())
        return self._days[day]

    def hourly_of(self, first: date, last: date) -> pd.DataFrame:
        """Hourly occupancy of the local days ``first`` to ``last``, in time order."""
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return pd.concat([self.day(day) for day in days], ignore_index=True)

    @cached_property
    def hourly(self) -> pd.DataFrame:
        """``queries.occupancy`` of every day of the window, one after the other."""
        return self.hourly_of(self.first, self.last)

    def grouped(self, name: str, by: str) -> pd.DataFrame:
        """A window query (utilization, turnover, dwell) by ``by``, over the report's local days, asked once."""
        key = f"{name}:{by}"
        if key not in self._grouped:
            self.step(f"{name} by {by.replace('_', ' ')}")
            query = getattr(queries, name)
            self._grouped[key] = query(self.first, self.last, by=by, tz=self.tz, **self.options())
        return self._grouped[key]

    def available(self, by: str) -> pd.DataFrame:
        """Availability by ``by`` at the window's end, asked once."""
        key = f"availability:{by}"
        if key not in self._grouped:
            self.step(f"availability by {by.replace('_', ' ')}")
            self._grouped[key] = queries.availability(self.end, by=by, **self.options())
        return self._grouped[key]


    @cached_property
    def last_day(self) -> pd.DataFrame:
        hourly = self.hourly
        return hourly[hourly["hour"].dt.date == self.last].reset_index(drop=True)

    @cached_property
    def patterns(self) -> pd.DataFrame:
        self.step("weekday by hour")
        return queries.patterns(self.first, self.last, tz=self.tz, **self.options())

    @cached_property
    def utilization(self) -> pd.DataFrame:
        """Per bay, over the report's local days (not UTC days: the rest of the page follows ``tz``)."""
        self.step("utilization of each bay")
        return queries.utilization(self.first, self.last, tz=self.tz, **self.options())

    @cached_property
    def turnover(self) -> pd.DataFrame:
        self.step("turnover")
        return queries.turnover(self.first, self.last, tz=self.tz, **self.options())

    @cached_property
    def dwell(self) -> pd.DataFrame:
        self.step("dwell")
        return queries.dwell(self.first, self.last, tz=self.tz, **self.options())

    @property
    def end(self) -> datetime:
        """The instant the questions asked about one instant are asked at: :attr:`health_at`."""
        return self.health_at

    @cached_property
    def health_at(self) -> datetime:
        """The end of the window, or now when the window has not ended."""
        end = datetime.combine(self.last + timedelta(days=1), datetime.min.time(), tzinfo=zone(self.tz))
        return min(end.astimezone(timezone.utc) - timedelta(milliseconds=1), self.now)

    @cached_property
    def forecast(self) -> pd.DataFrame:
        """The next :data:`FORECAST_HOURS` hours per zone from the window's end (METRICS.md section 8)."""
        self.step("forecast of the next hours")
        return queries.forecast(self.end, by="zone", hours=FORECAST_HOURS, tz=self.tz, **self.options())

    @cached_property
    def health(self) -> pd.DataFrame:
        self.step("sensor health")
        return queries.health(self.health_at, **self.options())

    @cached_property
    def overstays(self) -> pd.DataFrame:
        self.step("overstays")
        return queries.overstays(self.end, **self.options())

    @cached_property
    def flagged(self) -> pd.DataFrame:
        """The sensors with a health flag at the window's end: the ones to check."""
        health = self.health
        return health[health["flags"] != ""]


@dataclass(frozen=True)
class ReportContent:
    """What the page shows; ``observed`` is false when no spot's state was known in the window."""

    title: str
    window: str
    generated: str
    observed: bool
    sections: Sequence[Section] = field(default_factory=tuple)
    footnotes: Sequence[str] = field(default_factory=tuple)


def _percent(value: float) -> str:
    return percent(value, "\u00a0")  # never a line between the number and its sign


def _number(value: float, digits: int = 1) -> str:
    return "-" if pd.isna(value) else f"{value:,.{digits}f}"


def _time(value: pd.Timestamp, tz: str) -> str:
    return "-" if pd.isna(value) else value.tz_convert(tz).strftime("%Y-%m-%d %H:%M")


def _group(value: Any) -> str:
    """A zone, level or bay type as a table shows it: the uncatalogued spots by name, an empty level as ""."""
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return UNCATALOGUED.replace("un", "un\u00ad", 1)  # a soft hyphen: a narrow screen may break it there
    return str(value) if str(value) else '""'


def _label(column: str) -> str:
    """A column's header: its name in words, without the unit its values now carry."""
    for unit in ("_seconds", "_minutes", "_hours"):
        if column.endswith(unit) and column != "max_stay_minutes":
            column = column.removesuffix(unit)
    return {"max_stay_minutes": "longest stay allowed", "group_value": "group"}.get(column, column).replace("_", " ")


def frame_section(title: str, frame: pd.DataFrame, tz: str = "UTC", note: str = "", limit: int = 50) -> Section | None:
    """Any query's answer as a one-table section (``None`` when it has no rows), at most ``limit`` rows.

    Rates (``*_rate``, ``utilization``) as percentages, durations
    (``*_seconds``, ``*_minutes``, ``*_hours``) as people read them
    (``1 h 12 min``), other floats to two decimals, timestamps in ``tz``,
    a catalog group's null as "(uncatalogued)", other nulls as ``-``.
    """
    if frame.empty:
        return None
    columns, cells = [], []
    for column in frame.columns:
        values = frame[column].head(limit)
        columns.append(_label(column))
        if column.endswith("_rate") or column == "utilization":
            cells.append([_percent(v) for v in values])
        elif column.endswith("_seconds"):
            cells.append([duration(v / 60) for v in values])
        elif column.endswith("_minutes"):
            cells.append([duration(v) for v in values])
        elif column.endswith("_hours"):
            cells.append([duration(v * 60) for v in values])
        elif column in ("zone", "level", "bay_type"):
            cells.append([_group(v) for v in values])
        elif isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            cells.append([_time(v, tz) for v in values])
        elif pd.api.types.is_float_dtype(frame[column]):
            cells.append([_number(v, 2) for v in values])
        else:
            cells.append(["-" if _missing(v) else f"{v:,}" if isinstance(v, int) else str(v) for v in values])
    rows = [list(row) for row in zip(*cells, strict=True)]
    shown = f"the first {limit} of {len(frame):,} rows" if len(frame) > limit else plural(len(frame), "row")
    return Section(title, tables=(Table(shown, columns, rows),), note=note)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and pd.isna(value))


def group_table(frame: pd.DataFrame, by: str, columns: Sequence[tuple[str, Callable[[Any], str]]],
                order: str, what: str, limit: int = GROUP_ROWS) -> Table:
    """A table of groups (``by``: zone, level or bay type), largest ``order`` first, at most ``limit`` rows.

    ``columns`` are (header, cell of a row); the caption says how many groups
    there are, ``more`` how many were left out.
    """
    ordered = frame.assign(_key=frame[by].map(_group)).sort_values([order, "_key"], ascending=[False, True],
                                                                    na_position="last")
    shown = ordered.head(limit)
    noun = {"zone": "zone", "level": "level", "bay_type": "bay type"}[by]
    rows = [[_group(getattr(row, by))] + [cell(row) for _, cell in columns] for row in shown.itertuples()]
    if len(ordered) > limit:
        caption = f"The {len(shown)} {what} of {plural(len(ordered), noun)}"
    else:
        caption = f"{plural(len(ordered), noun)}, {what} first" if len(ordered) > 1 else plural(len(ordered), noun)
    more = f"and {plural(len(ordered) - len(shown), f'more {noun}')}" if len(ordered) > limit else ""
    return Table(caption, [noun, *(header for header, _ in columns)], rows, more)


def summary_section(inputs: ReportInputs) -> Section | None:
    """What an operator reads first: the busiest hour, the fullest zones, what needs a visit, the week's trend."""
    hourly = inputs.hourly
    observed = hourly.dropna(subset=["occupancy_rate"])
    if observed.empty:
        return None
    peak = observed.loc[observed["occupancy_rate"].idxmax()]
    facts = [
        ("busiest hour", f"{peak['hour'].strftime('%a %d %b %H:00')}, {_percent(peak['occupancy_rate'])}"),
        ("mean occupancy", _percent(observed["occupancy_rate"].mean())),
    ]
    zones = inputs.grouped("utilization", "zone").dropna(subset=["utilization"])
    zones = zones[zones["zone"].notna()].sort_values(["utilization", "zone"], ascending=[False, True])
    if not zones.empty:
        fullest = "\n".join(f"{row.zone}: {_percent(row.utilization)}" for row in zones.head(FULLEST_ZONES).itertuples())
        facts.append(("fullest zones" if len(zones) > 1 else "zone", fullest))
    checks = set(inputs.flagged["spot_id"])
    overstays = inputs.overstays
    enforce = overstays[~overstays["spot_id"].isin(checks)]
    facts.append(("stays to enforce", f"{len(enforce):,}"))
    facts.append(("sensors to check", f"{len(checks):,}"))
    week = week_comparison(inputs)
    if week is not None:
        this, last = week
        change = "" if pd.isna(this) or pd.isna(last) else f" ({(this - last) * 100:+.1f} pts)"
        facts.append(("last 7 days vs the 7 before", f"{_percent(this)} vs {_percent(last)}{change}"))
    at = _time(pd.Timestamp(inputs.end), inputs.tz)
    return Section(
        "Summary",
        facts=tuple(facts),
        note=f"Stays to enforce: cars over their bay's maximum stay at {at} whose sensor looks healthy, worth an "
             "officer's visit. Sensors to check: sensors with a health flag (silent, flapping or stuck), worth a "
             "technician's visit; an overstay on such a sensor may be its fault and is counted here, not there.",
        anchor="summary",
    )


def _week_days(inputs: ReportInputs) -> tuple[date, date]:
    """The first day of the last 7 days of the window, and of the 7 days before them."""
    this_week = inputs.last - timedelta(days=6)
    return this_week, this_week - timedelta(days=7)


def _mean_rate(frame: pd.DataFrame) -> float:
    rates = frame["occupancy_rate"].dropna()
    return float(rates.mean()) if len(rates) else float("nan")


def week_comparison(inputs: ReportInputs) -> tuple[float, float] | None:
    """Mean hourly occupancy of the window's last 7 days and of the 7 days before (asked when outside the window)."""
    this_week, last_week = _week_days(inputs)
    this = _mean_rate(inputs.hourly_of(this_week, inputs.last))
    last = _mean_rate(inputs.hourly_of(last_week, this_week - timedelta(days=1)))
    return None if pd.isna(this) and pd.isna(last) else (this, last)


def week_section(inputs: ReportInputs) -> Section | None:
    """Each of the last 7 days against the same weekday a week before."""
    this_week, last_week = _week_days(inputs)
    rows, this_rates, last_rates = [], [], []
    for offset in range(7):
        day, before = this_week + timedelta(days=offset), last_week + timedelta(days=offset)
        now_rate, then_rate = _mean_rate(inputs.day(day)), _mean_rate(inputs.day(before))
        this_rates.append(now_rate)
        last_rates.append(then_rate)
        change = "-" if pd.isna(now_rate) or pd.isna(then_rate) else f"{(now_rate - then_rate) * 100:+.1f} pts"
        rows.append([f"{day:%a %d %b}", _percent(now_rate), f"{before:%a %d %b}", _percent(then_rate), change])
    if all(pd.isna(rate) for rate in this_rates + last_rates):
        return None
    figure = plots.week_over_week(inputs.hourly_of(this_week, inputs.last),
                                  inputs.hourly_of(last_week, this_week - timedelta(days=1)),
                                  f"This week against last week ({inputs.tz})")
    return Section(
        "This week against last week",
        figures=(Figure("hourly occupancy of the last 7 days and of the 7 days before", plots.data_uri(figure)),),
        tables=(Table("Mean hourly occupancy of each day and of the same weekday a week before",
                      ("day", "occupancy", "a week before", "occupancy then", "change"), rows),),
        note="A change in percentage points (pts). Days before the window are asked for this comparison only.",
    )


def occupancy_section(inputs: ReportInputs) -> Section | None:
    """Hour by hour over the window, with the mean and the busiest hour."""
    hourly = inputs.hourly
    observed = hourly.dropna(subset=["occupancy_rate"])
    if observed.empty:
        return None
    peak = observed.loc[observed["occupancy_rate"].idxmax()]
    figure = plots.occupancy_line(hourly, f"Hourly occupancy, {inputs.window_text}")
    return Section(
        "Occupancy over the window",
        facts=(
            ("mean of hourly occupancy", _percent(observed["occupancy_rate"].mean())),
            ("busiest hour", f"{peak['hour'].strftime('%a %Y-%m-%d %H:00')}, {_percent(peak['occupancy_rate'])}"),
            ("hours observed", f"{len(observed):,} of {len(hourly):,}"),
        ),
        figures=(Figure(f"hourly occupancy, {inputs.window_text}", plots.data_uri(figure)),),
        note="Occupancy: the share of observed spot-time that was occupied in each hour. Gaps are hours "
             "in which no sensor's state was known.",
    )


def patterns_section(inputs: ReportInputs) -> Section | None:
    """The weekday x hour heatmap of the window."""
    frame = inputs.patterns
    if frame["occupancy_rate"].isna().all():
        return None
    figure = plots.patterns_heatmap(frame, f"Occupancy by weekday and hour, {inputs.window_text}")
    return Section(
        "Weekday by hour",
        figures=(Figure("occupancy by weekday and hour", plots.data_uri(figure)),),
        note="Each cell: occupied over observed spot-time in every hour of the window with that weekday "
             "and local hour. Blank cells: not in the window, or nothing observed.",
    )


def last_day_section(inputs: ReportInputs) -> Section | None:
    """The window's last day, hour by hour."""
    frame = inputs.last_day
    if frame["occupancy_rate"].isna().all():
        return None
    figure = plots.occupancy_bars(frame, f"Hourly occupancy, {inputs.last} ({inputs.tz})")
    return Section(f"The last day, {inputs.last}",
                   figures=(Figure(f"hourly occupancy on {inputs.last}", plots.data_uri(figure)),))


def bays_section(inputs: ReportInputs) -> Section | None:
    """The ten best- and worst-used bays by utilization, over the report's local days."""
    frame = inputs.utilization.dropna(subset=["utilization"])
    if frame.empty:
        return None
    ordered = frame.sort_values(["utilization", "spot_id"], ascending=[False, True])
    columns = ("bay", "occupancy", "occupied", "observed")

    def rows(part: pd.DataFrame) -> list[list[str]]:
        return [
            [row.spot_id, _percent(row.utilization), duration(row.occupied_seconds / 60),
             duration(row.observed_seconds / 60)]
            for row in part.itertuples()
        ]

    worst = ordered.tail(TOP_BAYS).iloc[::-1]
    return Section(
        "Best- and worst-used bays",
        tables=(
            Table(f"The {min(TOP_BAYS, len(ordered))} best-used", columns, rows(ordered.head(TOP_BAYS))),
            Table(f"The {min(TOP_BAYS, len(ordered))} least-used", columns, rows(worst)),
        ),
        note=f"Occupancy: occupied over observed time of each bay, {inputs.window_text}.",
    )


def turnover_section(inputs: ReportInputs) -> Section | None:
    """Arrivals over the window, overall and for the busiest bays."""
    frame = inputs.turnover
    if frame.empty:
        return None
    arrivals = int(frame["arrivals"].sum())
    observed_days = frame["observed_seconds"].sum() / 86400
    busiest = frame.sort_values(["turnover_per_day", "spot_id"], ascending=[False, True]).head(TOP_BAYS)
    return Section(
        "Turnover",
        facts=(
            ("arrivals", f"{arrivals:,}"),
            ("bays observed", f"{len(frame):,}"),
            ("arrivals a bay a day", _number(arrivals / observed_days if observed_days else float("nan"), 2)),
        ),
        tables=(Table(f"The {plural(len(busiest), 'bay')} with the most arrivals a day",
                      ("bay", "arrivals", "a day"),
                      [[row.spot_id, f"{row.arrivals:,}", _number(row.turnover_per_day, 2)]
                       for row in busiest.itertuples()]),),
    )


def dwell_section(inputs: ReportInputs) -> Section | None:
    """How long cars stayed: sessions, mean, longest, and the bays where they stay longest."""
    frame = inputs.dwell
    if frame.empty:
        return None
    sessions = int(frame["sessions"].sum())
    mean = (frame["mean_minutes"] * frame["sessions"]).sum() / sessions
    longest = frame.sort_values(["median_minutes", "spot_id"], ascending=[False, True]).head(TOP_BAYS)
    return Section(
        "Dwell",
        facts=(
            ("complete stays", f"{sessions:,}"),
            ("mean stay", duration(mean)),
            ("longest stay", duration(frame["max_minutes"].max())),
        ),
        tables=(Table(f"The {plural(len(longest), 'bay')} with the longest median stay",
                      ("bay", "stays", "median", "90th percentile", "longest"),
                      [[row.spot_id, f"{row.sessions:,}", duration(row.median_minutes), duration(row.p90_minutes),
                        duration(row.max_minutes)]
                       for row in longest.itertuples()]),),
        note="A stay runs from an arrival to the departure that ends it; stays whose end nobody saw "
             "are not counted.",
    )


def health_section(inputs: ReportInputs) -> Section | None:
    """The sensors with a flag at the window's end: the ones that need a visit."""
    frame = inputs.health
    if frame.empty:
        return None
    flagged = inputs.flagged.sort_values(["flags", "spot_id"])
    at = pd.Timestamp(inputs.health_at)
    rows = [
        [row.spot_id, row.flags, _time(row.last_event, inputs.tz), duration(row.silent_hours * 60),
         f"{row.changes_24h:,}", duration(row.state_hours * 60)]
        for row in flagged.itertuples()
    ]
    return Section(
        "Sensors to check",
        facts=(("sensors seen in the 30 days before", f"{len(frame):,}"), ("with a flag", f"{len(flagged):,}")),
        tables=(Table(f"Flagged at {_time(at, inputs.tz)} ({inputs.tz})",
                      ("bay", "flags", "last event", "silent for", "changes in 24 h", "in this state for"), rows),)
        if rows else (),
        note="silent: no event for longer than the lookback; flapping: 20 or more changes in 24 hours; "
             "stuck: occupied without a break for more than 72 hours.",
    )


def availability_section(by: str) -> Callable[[ReportInputs], Section | None]:
    """Bays occupied, free and unknown per ``by`` group at the window's end, fullest first (section 7)."""

    def section(inputs: ReportInputs) -> Section | None:
        frame = inputs.available(by)
        if frame.empty:
            return None
        frame = frame.rename(columns={frame.columns[0]: by})
        table = group_table(frame, by, (
            ("occupancy", lambda row: _percent(row.occupancy_rate)),
            ("bays", lambda row: f"{row.capacity:,}"),
            ("occupied", lambda row: f"{row.occupied:,}"),
            ("free", lambda row: f"{row.free:,}"),
            ("unknown", lambda row: f"{row.unknown:,}"),
        ), "occupancy_rate", "fullest")
        title = f"Availability by {by.replace('_', ' ')} at {_time(pd.Timestamp(inputs.end), inputs.tz)}"
        return Section(title, tables=(table,))

    return section


def forecast_section(inputs: ReportInputs) -> Section | None:
    """The next hours' occupancy per zone after the window's end, with the 80 % interval, fullest first.

    What an operator staffs and prices for (METRICS.md section 8, "Forecast");
    none when the lake holds too little history to forecast any zone.
    """
    from parking.analytics.forecast import uncalibrated_note

    frame = inputs.forecast
    if frame.empty or frame["occupancy_rate"].isna().all():
        return None
    hours = sorted(frame["hour"].unique())
    uncalibrated = {pd.Timestamp(hour) for hour in frame.attrs.get("uncalibrated_hours", [])}
    rows = []
    for group, part in frame.groupby("zone", dropna=False, sort=False):
        by_hour = {row.hour: row for row in part.itertuples()}
        rows.append({"zone": group, "peak": part["occupancy_rate"].max(),
                     **{f"h{k}": by_hour.get(hour) for k, hour in enumerate(hours)}})

    def cell(forecast: Any) -> str:
        if forecast is None or pd.isna(forecast.occupancy_rate):
            return "-"
        # whole percents, the interval on a line of its own: six hours side by side fit a phone's width;
        # an interval not calibrated is marked, the note says why
        return (f"{forecast.occupancy_rate * 100:.0f}\u00a0%\n"
                f"{forecast.low * 100:.0f}\u2013{forecast.high * 100:.0f}"
                f"{UNCALIBRATED_MARK if pd.Timestamp(forecast.hour) in uncalibrated else ''}")

    columns = [(f"{pd.Timestamp(hour):%H:%M}", lambda row, k=k: cell(getattr(row, f"h{k}")))
               for k, hour in enumerate(hours)]
    table = group_table(pd.DataFrame(rows), "zone", columns, "peak", "fullest at their peak")
    start = _time(pd.Timestamp(hours[0]), inputs.tz)
    note = uncalibrated_note(frame)
    return Section(f"The next {len(hours)} hours by zone, from {start}", tables=(table,),
                   note="Forecast occupancy of each hour, and under it the 80 % interval the actual rate "
                        "falls in about 4 times in 5 (parking-cli forecast backtest measures it on this lake)."
                        + (f" {UNCALIBRATED_MARK.strip()} {note}" if note else ""))


def occupancy_by_section(by: str) -> Callable[[ReportInputs], Section | None]:
    """Occupancy of each ``by`` group over the window, fullest first (section 7's grouped utilization)."""

    def section(inputs: ReportInputs) -> Section | None:
        frame = inputs.grouped("utilization", by)
        if frame.empty:
            return None
        table = group_table(frame, by, (
            ("occupancy", lambda row: _percent(row.utilization)),
            ("occupied bay-hours", lambda row: _number(row.occupied_seconds / 3600, 0)),
            ("observed bay-hours", lambda row: _number(row.observed_seconds / 3600, 0)),
        ), "utilization", "fullest")
        return Section(f"Occupancy by {by.replace('_', ' ')}", tables=(table,),
                       note="Occupancy: occupied over observed time of the group's bays over the window.")

    return section


def turnover_by_section(by: str) -> Callable[[ReportInputs], Section | None]:
    def section(inputs: ReportInputs) -> Section | None:
        frame = inputs.grouped("turnover", by)
        if frame.empty:
            return None
        table = group_table(frame, by, (
            ("arrivals", lambda row: f"{row.arrivals:,}"),
            ("arrivals a bay a day", lambda row: _number(row.turnover_per_day, 2)),
        ), "turnover_per_day", "busiest")
        return Section(f"Turnover by {by.replace('_', ' ')}", tables=(table,))

    return section


def dwell_by_section(by: str) -> Callable[[ReportInputs], Section | None]:
    def section(inputs: ReportInputs) -> Section | None:
        frame = inputs.grouped("dwell", by)
        if frame.empty:
            return None
        table = group_table(frame, by, (
            ("stays", lambda row: f"{row.sessions:,}"),
            ("median", lambda row: duration(row.median_minutes)),
            ("90th percentile", lambda row: duration(row.p90_minutes)),
            ("longest", lambda row: duration(row.max_minutes)),
        ), "median_minutes", "longest-staying")
        return Section(f"Dwell by {by.replace('_', ' ')}", tables=(table,))

    return section


def overstays_section(inputs: ReportInputs) -> Section:
    """The overstays at the window's end, in two tables kept apart (docs/METRICS.md section 7's
    ``sensor_flags``): to enforce (the sensor looks healthy) and to check the sensor; says so
    when nobody overstayed."""
    frame = inputs.overstays
    at = _time(pd.Timestamp(inputs.end), inputs.tz)
    if frame.empty:
        return Section(f"Overstays at {at}",
                       note="No car had stayed longer than its bay allows (bays with a maximum stay only).")
    enforce, check = queries.to_enforce(frame), queries.to_check(frame)
    tables = []
    for caption, rows in (("To enforce (the sensor looks healthy)", enforce.drop(columns="sensor_flags")),
                          ("To check the sensor (sensor health flags it)", check)):
        section = frame_section(caption, rows, inputs.tz)
        if section is not None:
            tables += [Table(f"{caption}: {table.caption}", table.columns, table.rows) for table in section.tables]
    return Section(f"Overstays at {at}",
                   facts=(("To enforce", f"{len(enforce):,}"), ("To check the sensor", f"{len(check):,}")),
                   tables=tables, note="A stay whose sensor health flags it (stuck, flapping, silent) may be the "
                                       "sensor's fault: a technician's visit before an officer's.")


CATALOG_NOTE = ("Zones, levels and bay types come from the spot catalog in force (parking-cli spots load); "
                f"{UNCATALOGUED} is the spots that send events but are not in it.")

SECTIONS: tuple[Callable[[ReportInputs], Section | None], ...] = (
    summary_section,
    availability_section("zone"),
    availability_section("level"),
    forecast_section,
    occupancy_section,
    week_section,
    occupancy_by_section("zone"),
    occupancy_by_section("level"),
    patterns_section,
    last_day_section,
    bays_section,
    turnover_section,
    turnover_by_section("zone"),
    dwell_section,
    dwell_by_section("zone"),
    overstays_section,
    health_section,
)


def check_report_window(first: date, last: date) -> None:
    """A window a report can cover: ``first`` not after ``last``, at most :data:`MAX_REPORT_DAYS` days.

    One query runs per day, so a longer window is refused before any runs
    (:class:`~parking.errors.InvalidArgument`).
    """
    check_days(first, last)
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        from parking.errors import InvalidArgument

        raise InvalidArgument(f"a report covers at most {MAX_REPORT_DAYS} days, got {(last - first).days + 1}")


def build_report(
    first: date,
    last: date,
    *,
    tz: str = "UTC",
    lookback_hours: float | None = None,
    engine: Engine | None = None,
    now: datetime | None = None,
    sections: Sequence[Callable[[ReportInputs], Section | None]] = SECTIONS,
    on_step: Callable[[str, int, int], None] | None = None,
) -> ReportContent:
    """Ask every section's questions of the window ``first`` to ``last`` (local days in ``tz``, both included).

    Raises :class:`~parking.errors.InvalidArgument` for a bad window or zone
    (at most :data:`MAX_REPORT_DAYS` days; a zone the engine has no name for,
    as the weekday x hour heatmap sends it) before any query runs, and what the
    engine raises.
    """
    check_report_window(first, last)
    zone(tz)
    engine = queries.engine_or_default(engine)
    queries.check_zone(tz, engine)  # the heatmap sends the zone to the engine: refused before any query
    current = now or datetime.now(timezone.utc)
    # Progress counts the days of the window and of the week before its last 7, then the other questions.
    questions = (last - first).days + 1 + max(0, 7 - max(0, (last - first).days - 6)) + 17
    asked = [0]

    def step(what: str) -> None:
        if on_step is not None:
            on_step(what, min(asked[0], questions - 1), questions)
        asked[0] += 1

    inputs = ReportInputs(first, last, tz, lookback_hours, engine, current, on_step=step)
    observed = bool(inputs.hourly["occupancy_rate"].notna().any())
    shown = [section for section in (build(inputs) for build in sections) if section is not None] if observed else []
    return ReportContent(
        title="Parking report",
        window=inputs.window_text,
        generated=current.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M %Z"),
        observed=observed,
        sections=tuple(shown),
        footnotes=(CATALOG_NOTE,) if observed else (),
    )


def render_html(content: ReportContent) -> str:
    """The page as HTML text (Jinja2, autoescaped)."""
    environment = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = resources.files("parking.analytics").joinpath(TEMPLATE).read_text(encoding="utf-8")
    return environment.from_string(template).render(report=content)


def write_report(content: ReportContent, out: Path | str) -> Path:
    """Write the page to ``out`` (UTF-8); ``OSError`` when it cannot be written."""
    path = Path(out)
    path.write_text(render_html(content), encoding="utf-8")
    return path
