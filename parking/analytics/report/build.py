"""A report's sections in page order, and the build that asks their questions of one window."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from parking import queries
from parking.analytics.report.bays import bays_section, dwell_section, turnover_section
from parking.analytics.report.forecast import forecast_section
from parking.analytics.report.groups import (
    availability_section,
    dwell_by_section,
    occupancy_by_section,
    turnover_by_section,
)
from parking.analytics.report.inputs import ReportInputs
from parking.analytics.report.page import ReportContent, Section
from parking.analytics.report.pictures import last_day_section, occupancy_section, patterns_section
from parking.analytics.report.summary import summary_section, week_section
from parking.analytics.report.tables import UNCATALOGUED
from parking.analytics.report.visits import health_section, overstays_section
from parking.analytics.windows import check_days, zone

if TYPE_CHECKING:
    from parking.analytics.engines import Engine


MAX_REPORT_DAYS = 92  # one occupancy query per day: a quarter at most


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
    observed = not inputs.observed.empty
    shown = [section for section in (build(inputs) for build in sections) if section is not None] if observed else []
    return ReportContent(
        title="Parking report",
        window=inputs.window_text,
        generated=current.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M %Z"),
        observed=observed,
        sections=tuple(shown),
        footnotes=(CATALOG_NOTE,) if observed else (),
    )
