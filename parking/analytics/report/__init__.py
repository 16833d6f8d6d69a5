"""The operator's report: one self-contained HTML page over a window of days.

The page is rendered from the Jinja2 template ``report.html.j2`` (package
data of :mod:`parking.analytics`) with autoescaping; every picture is
embedded as a ``data:`` URI, so the file opens anywhere, mailed on or
offline. Figures follow docs/METRICS.md sections 4, 6 and 7; times are
shown in the report's zone.

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

One module a job, each importable on its own; this package re-exports their
public names:

- :mod:`.page`: what a page is made of (:class:`Section`, :class:`Table`, :class:`Figure`, :class:`ReportContent`);
- :mod:`.inputs`: the questions asked of the engine, each once (:class:`ReportInputs`);
- :mod:`.tables`: values and tables as people read them (:func:`frame_section`, :func:`group_table`);
- :mod:`.summary`, :mod:`.pictures`, :mod:`.groups`, :mod:`.bays`, :mod:`.visits`, :mod:`.forecast`: the sections;
- :mod:`.build`: the sections in page order and :func:`build_report`;
- :mod:`.html`: the page as HTML (:func:`render_html`, :func:`write_report`).
"""

from parking.analytics.report.bays import TOP_BAYS, bays_section, dwell_section, turnover_section
from parking.analytics.report.build import CATALOG_NOTE, MAX_REPORT_DAYS, SECTIONS, build_report, check_report_window
from parking.analytics.report.forecast import forecast_section
from parking.analytics.report.groups import (
    availability_section,
    dwell_by_section,
    occupancy_by_section,
    turnover_by_section,
    window_by_section,
)
from parking.analytics.report.html import TEMPLATE, render_html, write_report
from parking.analytics.report.inputs import FORECAST_HOURS, ReportInputs
from parking.analytics.report.page import Figure, ReportContent, Section, Table
from parking.analytics.report.pictures import last_day_section, occupancy_section, patterns_section
from parking.analytics.report.summary import FULLEST_ZONES, summary_section, week_comparison, week_section
from parking.analytics.report.tables import GROUP_ROWS, UNCATALOGUED, frame_section, group_table
from parking.analytics.report.visits import health_section, overstays_section

__all__ = [
    "CATALOG_NOTE", "FORECAST_HOURS", "FULLEST_ZONES", "GROUP_ROWS", "MAX_REPORT_DAYS", "SECTIONS", "TEMPLATE",
    "TOP_BAYS", "UNCATALOGUED", "Figure", "ReportContent", "ReportInputs", "Section", "Table",
    "availability_section", "bays_section", "build_report", "check_report_window", "dwell_by_section",
    "dwell_section", "forecast_section", "frame_section", "group_table", "health_section", "last_day_section",
    "occupancy_by_section", "occupancy_section", "overstays_section", "patterns_section", "render_html",
    "summary_section", "turnover_by_section", "turnover_section", "week_comparison", "week_section",
    "window_by_section", "write_report",
]
