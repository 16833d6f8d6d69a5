"""The sections that are a picture: occupancy over the window, weekday by hour, the last day."""

from __future__ import annotations

from parking.analytics import plots
from parking.analytics.report.inputs import ReportInputs
from parking.analytics.report.page import Figure, Section
from parking.analytics.report.tables import percent_cell


def occupancy_section(inputs: ReportInputs) -> Section | None:
    """Hour by hour over the window, with the mean and the busiest hour."""
    hourly, observed = inputs.hourly, inputs.observed
    if observed.empty:
        return None
    peak = inputs.peak
    figure = plots.occupancy_line(hourly, f"Hourly occupancy, {inputs.window_text}")
    return Section(
        "Occupancy over the window",
        facts=(
            ("mean of hourly occupancy", percent_cell(observed["occupancy_rate"].mean())),
            ("busiest hour", f"{peak['hour'].strftime('%a %Y-%m-%d %H:00')}, {percent_cell(peak['occupancy_rate'])}"),
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
