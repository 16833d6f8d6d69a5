"""The operator's report: one self-contained HTML page over a window of days.

The page is rendered from the Jinja2 template ``report.html.j2`` beside
this module (package data) with autoescaping; every picture is embedded as a ``data:``
URI, so the file opens anywhere, mailed on or offline. Figures follow
docs/METRICS.md sections 4, 6 and 7; times are shown in the report's zone.

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

if TYPE_CHECKING:
    from parking.analytics.engines import Engine

TEMPLATE = "report.html.j2"  # package data beside this module
MAX_REPORT_DAYS = 92  # one occupancy query per day: a quarter at most
TOP_BAYS = 10


@dataclass(frozen=True)
class Figure:
    """One picture, embedded: a ``data:`` URI and the text that stands for it."""

    alt: str
    uri: str


@dataclass(frozen=True)
class Table:
    """Rows already formatted for people; ``columns`` are the headers in order."""

    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Section:
    """A heading, a few facts (label, value), pictures, tables and a note."""

    title: str
    facts: Sequence[tuple[str, str]] = ()
    figures: Sequence[Figure] = ()
    tables: Sequence[Table] = ()
    note: str = ""


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

    @cached_property
    def hourly(self) -> pd.DataFrame:
        """``queries.occupancy`` of every day of the window, one after the other."""
        days = [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]
        frames = [queries.occupancy(day, tz=self.tz, **self.options()) for day in days]
        return pd.concat(frames, ignore_index=True)

    @cached_property
    def last_day(self) -> pd.DataFrame:
        hourly = self.hourly
        return hourly[hourly["hour"].dt.date == self.last].reset_index(drop=True)

    @cached_property
    def patterns(self) -> pd.DataFrame:
        return queries.patterns(self.first, self.last, tz=self.tz, **self.options())

    @cached_property
    def utilization(self) -> pd.DataFrame:
        return queries.utilization(self.first, self.last, **self.options())

    @cached_property
    def turnover(self) -> pd.DataFrame:
        return queries.turnover(self.first, self.last, tz=self.tz, **self.options())

    @cached_property
    def dwell(self) -> pd.DataFrame:
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
    def health(self) -> pd.DataFrame:
        return queries.health(self.health_at, **self.options())


@dataclass(frozen=True)
class ReportContent:
    """What the page shows; ``observed`` is false when no spot's state was known in the window."""

    title: str
    window: str
    generated: str
    observed: bool
    sections: Sequence[Section] = field(default_factory=tuple)


def _percent(value: float) -> str:
    return "-" if pd.isna(value) else f"{value * 100:.1f} %"


def _number(value: float, digits: int = 1) -> str:
    return "-" if pd.isna(value) else f"{value:,.{digits}f}"


def _time(value: pd.Timestamp, tz: str) -> str:
    return "-" if pd.isna(value) else value.tz_convert(tz).strftime("%Y-%m-%d %H:%M")


def frame_section(title: str, frame: pd.DataFrame, tz: str = "UTC", note: str = "", limit: int = 50) -> Section | None:
    """Any query's answer as a one-table section (``None`` when it has no rows), at most ``limit`` rows.

    Rates (``*_rate``, ``utilization``) as percentages, ``*_seconds`` as hours,
    other floats to two decimals, timestamps in ``tz``, nulls as ``-``.
    """
    if frame.empty:
        return None
    columns, cells = [], []
    for column in frame.columns:
        values = frame[column].head(limit)
        if column.endswith("_rate") or column == "utilization":
            columns.append(column.replace("_", " "))
            cells.append([_percent(v) for v in values])
        elif column.endswith("_seconds"):
            columns.append(column.removesuffix("_seconds").replace("_", " ") + " (h)")
            cells.append([_number(v / 3600, 2) for v in values])
        elif isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            columns.append(column.replace("_", " "))
            cells.append([_time(v, tz) for v in values])
        elif pd.api.types.is_float_dtype(frame[column]):
            columns.append(column.replace("_", " "))
            cells.append([_number(v, 2) for v in values])
        else:
            columns.append(column.replace("_", " "))
            cells.append(["-" if pd.isna(v) else f"{v:,}" if isinstance(v, int) else str(v) for v in values])
    rows = [list(row) for row in zip(*cells, strict=True)]
    shown = f"the first {limit} of {len(frame):,} rows" if len(frame) > limit else f"{len(frame):,} rows"
    return Section(title, tables=(Table(shown, columns, rows),), note=note)


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
    """The ten best- and worst-used bays by utilization."""
    frame = inputs.utilization.dropna(subset=["utilization"])
    if frame.empty:
        return None
    ordered = frame.sort_values(["utilization", "spot_id"], ascending=[False, True])
    columns = ("bay", "utilization", "occupied hours", "observed hours")

    def rows(part: pd.DataFrame) -> list[list[str]]:
        return [
            [row.spot_id, _percent(row.utilization), _number(row.occupied_seconds / 3600),
             _number(row.observed_seconds / 3600)]
            for row in part.itertuples()
        ]

    worst = ordered.tail(TOP_BAYS).iloc[::-1]
    return Section(
        "Best- and worst-used bays",
        tables=(
            Table(f"The {min(TOP_BAYS, len(ordered))} best-used", columns, rows(ordered.head(TOP_BAYS))),
            Table(f"The {min(TOP_BAYS, len(ordered))} least-used", columns, rows(worst)),
        ),
        note=f"Utilization: occupied over observed time of each bay, UTC days {inputs.first} to {inputs.last}.",
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
            ("arrivals per bay per observed day", _number(arrivals / observed_days if observed_days else float("nan"), 2)),
        ),
        tables=(Table(f"The {len(busiest)} bays with the most arrivals per day", ("bay", "arrivals", "per day"),
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
            ("complete sessions", f"{sessions:,}"),
            ("mean stay", f"{_number(mean / 60, 2)} h"),
            ("longest stay", f"{_number(frame['max_minutes'].max() / 60, 2)} h"),
        ),
        tables=(Table(f"The {len(longest)} bays with the longest median stay",
                      ("bay", "sessions", "median (h)", "90th percentile (h)", "longest (h)"),
                      [[row.spot_id, f"{row.sessions:,}", _number(row.median_minutes / 60, 2),
                        _number(row.p90_minutes / 60, 2), _number(row.max_minutes / 60, 2)]
                       for row in longest.itertuples()]),),
        note="A session runs from an arrival to the departure that ends it; stays whose end nobody saw "
             "are not counted.",
    )


def health_section(inputs: ReportInputs) -> Section | None:
    """The sensors with a flag at the window's end: the ones that need a visit."""
    frame = inputs.health
    if frame.empty:
        return None
    flagged = frame[frame["flags"] != ""].sort_values(["flags", "spot_id"])
    at = pd.Timestamp(inputs.health_at)
    rows = [
        [row.spot_id, row.flags, _time(row.last_event, inputs.tz), _number(row.silent_hours),
         f"{row.changes_24h:,}", _number(row.state_hours)]
        for row in flagged.itertuples()
    ]
    return Section(
        "Sensors that need a visit",
        facts=(("sensors seen in the 30 days before", f"{len(frame):,}"), ("with a flag", f"{len(flagged):,}")),
        tables=(Table(f"Flagged at {_time(at, inputs.tz)} ({inputs.tz})",
                      ("bay", "flags", "last event", "silent (h)", "changes in 24 h", "in this state (h)"), rows),)
        if rows else (),
        note="silent: no event for longer than the lookback; flapping: 20 or more changes in 24 hours; "
             "stuck: occupied without a break for more than 72 hours.",
    )


def availability_section(by: str) -> Callable[[ReportInputs], Section | None]:
    """Bays occupied, free and unknown per ``by`` group at the window's end (docs/METRICS.md section 7)."""

    def section(inputs: ReportInputs) -> Section | None:
        frame = queries.availability(inputs.end, by=by, **inputs.options())
        title = f"Availability by {by.replace('_', ' ')} at {_time(pd.Timestamp(inputs.end), inputs.tz)}"
        return frame_section(title, frame, inputs.tz, note=CATALOG_NOTE)

    return section


def grouped_section(name: str, by: str, title: str) -> Callable[[ReportInputs], Section | None]:
    """One window query (utilization, turnover, dwell) with one row per ``by`` group (section 7)."""

    def section(inputs: ReportInputs) -> Section | None:
        query = getattr(queries, name)
        zoned = {} if name == "utilization" else {"tz": inputs.tz}  # utilization counts UTC days
        frame = query(inputs.first, inputs.last, by=by, **zoned, **inputs.options())
        return frame_section(title, frame, inputs.tz, note=CATALOG_NOTE)

    return section


def overstays_section(inputs: ReportInputs) -> Section:
    """The overstays at the window's end, in two tables kept apart (docs/METRICS.md section 7's
    ``sensor_flags``): to enforce (the sensor looks healthy) and to check the sensor; says so
    when nobody overstayed."""
    frame = queries.overstays(inputs.end, **inputs.options())
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


CATALOG_NOTE = "Groups come from the spot catalog in force (parking-cli spots load); '-' is the uncatalogued spots."

SECTIONS: tuple[Callable[[ReportInputs], Section | None], ...] = (
    availability_section("zone"),
    availability_section("level"),
    occupancy_section,
    grouped_section("utilization", "zone", "Occupancy by zone"),
    grouped_section("utilization", "level", "Occupancy by level"),
    patterns_section,
    last_day_section,
    bays_section,
    turnover_section,
    grouped_section("turnover", "zone", "Turnover by zone"),
    dwell_section,
    grouped_section("dwell", "zone", "Dwell by zone"),
    overstays_section,
    health_section,
)


def build_report(
    first: date,
    last: date,
    *,
    tz: str = "UTC",
    lookback_hours: float | None = None,
    engine: Engine | None = None,
    now: datetime | None = None,
    sections: Sequence[Callable[[ReportInputs], Section | None]] = SECTIONS,
) -> ReportContent:
    """Ask every section's questions of the window ``first`` to ``last`` (local days in ``tz``, both included).

    Raises :class:`~parking.errors.InvalidArgument` for a bad window or zone
    (at most :data:`MAX_REPORT_DAYS` days; a zone the engine has no name for,
    as the weekday x hour heatmap sends it) before any query runs, and what the
    engine raises.
    """
    check_days(first, last)
    zone(tz)
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        from parking.errors import InvalidArgument

        raise InvalidArgument(f"a report covers at most {MAX_REPORT_DAYS} days, got {(last - first).days + 1}")
    engine = queries.engine_or_default(engine)
    queries.check_zone(tz, engine)  # the heatmap sends the zone to the engine: refused before any query
    current = now or datetime.now(timezone.utc)
    inputs = ReportInputs(first, last, tz, lookback_hours, engine, current)
    observed = bool(inputs.hourly["occupancy_rate"].notna().any())
    shown = [section for section in (build(inputs) for build in sections) if section is not None] if observed else []
    return ReportContent(
        title="Parking report",
        window=inputs.window_text,
        generated=current.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M %Z"),
        observed=observed,
        sections=tuple(shown),
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
