"""The forecast section: each zone's next hours after the window's end (METRICS.md section 8)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from parking.analytics.report.inputs import ReportInputs
from parking.analytics.report.page import Section
from parking.analytics.report.tables import group_table, time_cell

UNCALIBRATED_MARK = "\u00a0*"  # after an interval with too little history to calibrate it (the note says so)


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
    start = time_cell(pd.Timestamp(hours[0]), inputs.tz)
    note = uncalibrated_note(frame)
    return Section(f"The next {len(hours)} hours by zone, from {start}", tables=(table,),
                   note="Forecast occupancy of each hour, and under it the 80 % interval the actual rate "
                        "falls in about 4 times in 5 (parking-cli forecast backtest measures it on this lake)."
                        + (f" {UNCALIBRATED_MARK.strip()} {note}" if note else ""))
