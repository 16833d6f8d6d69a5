"""The sections by group (zone, level or bay type), fullest first: availability, occupancy, turnover, dwell."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from parking.analytics.report.inputs import ReportInputs
from parking.analytics.report.page import Section
from parking.analytics.report.tables import group_table, number_cell, percent_cell, time_cell
from parking.text import duration


def availability_section(by: str) -> Callable[[ReportInputs], Section | None]:
    """Bays occupied, free and unknown per ``by`` group at the window's end, fullest first (section 7)."""

    def section(inputs: ReportInputs) -> Section | None:
        frame = inputs.available(by)
        if frame.empty:
            return None
        frame = frame.rename(columns={frame.columns[0]: by})
        table = group_table(frame, by, (
            ("occupancy", lambda row: percent_cell(row.occupancy_rate)),
            ("bays", lambda row: f"{row.capacity:,}"),
            ("occupied", lambda row: f"{row.occupied:,}"),
            ("free", lambda row: f"{row.free:,}"),
            ("unknown", lambda row: f"{row.unknown:,}"),
        ), "occupancy_rate", "fullest")
        title = f"Availability by {by.replace('_', ' ')} at {time_cell(pd.Timestamp(inputs.end), inputs.tz)}"
        return Section(title, tables=(table,))

    return section


def window_by_section(
    query: str, title: str, by: str, columns: Sequence[tuple[str, Callable[[Any], str]]], order: str, what: str,
    note: str = "",
) -> Callable[[ReportInputs], Section | None]:
    """The window query ``query`` by ``by`` as a table of groups, largest ``order`` first (:func:`group_table`)."""

    def section(inputs: ReportInputs) -> Section | None:
        frame = inputs.grouped(query, by)
        if frame.empty:
            return None
        table = group_table(frame, by, columns, order, what)
        return Section(f"{title} by {by.replace('_', ' ')}", tables=(table,), note=note)

    return section


def occupancy_by_section(by: str) -> Callable[[ReportInputs], Section | None]:
    """Occupancy of each ``by`` group over the window, fullest first (section 7's grouped utilization)."""
    return window_by_section("utilization", "Occupancy", by, (
        ("occupancy", lambda row: percent_cell(row.utilization)),
        ("occupied bay-hours", lambda row: number_cell(row.occupied_seconds / 3600, 0)),
        ("observed bay-hours", lambda row: number_cell(row.observed_seconds / 3600, 0)),
    ), "utilization", "fullest", note="Occupancy: occupied over observed time of the group's bays over the window.")


def turnover_by_section(by: str) -> Callable[[ReportInputs], Section | None]:
    """Arrivals of each ``by`` group over the window, busiest first."""
    return window_by_section("turnover", "Turnover", by, (
        ("arrivals", lambda row: f"{row.arrivals:,}"),
        ("arrivals a bay a day", lambda row: number_cell(row.turnover_per_day, 2)),
    ), "turnover_per_day", "busiest")


def dwell_by_section(by: str) -> Callable[[ReportInputs], Section | None]:
    """Stays of each ``by`` group over the window, longest median first."""
    return window_by_section("dwell", "Dwell", by, (
        ("stays", lambda row: f"{row.sessions:,}"),
        ("median", lambda row: duration(row.median_minutes)),
        ("90th percentile", lambda row: duration(row.p90_minutes)),
        ("longest", lambda row: duration(row.max_minutes)),
    ), "median_minutes", "longest-staying")
