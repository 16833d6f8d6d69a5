"""The sections about bays: the best- and worst-used, turnover and dwell, over the window."""

from __future__ import annotations

import pandas as pd

from parking.analytics.report.inputs import ReportInputs
from parking.analytics.report.page import Section, Table
from parking.analytics.report.tables import number_cell, percent_cell
from parking.text import duration, plural

TOP_BAYS = 10


def bays_section(inputs: ReportInputs) -> Section | None:
    """The ten best- and worst-used bays by utilization, over the report's local days."""
    frame = inputs.utilization.dropna(subset=["utilization"])
    if frame.empty:
        return None
    ordered = frame.sort_values(["utilization", "spot_id"], ascending=[False, True])
    columns = ("bay", "occupancy", "occupied", "observed")

    def rows(part: pd.DataFrame) -> list[list[str]]:
        return [
            [row.spot_id, percent_cell(row.utilization), duration(row.occupied_seconds / 60),
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
            ("arrivals a bay a day", number_cell(arrivals / observed_days if observed_days else float("nan"), 2)),
        ),
        tables=(Table(f"The {plural(len(busiest), 'bay')} with the most arrivals a day",
                      ("bay", "arrivals", "a day"),
                      [[row.spot_id, f"{row.arrivals:,}", number_cell(row.turnover_per_day, 2)]
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
