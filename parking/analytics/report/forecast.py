"""The forecast section: each zone's next hours after the window's end (METRICS.md section 8)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from parking.analytics.report.inputs import ReportInputs
from parking.analytics.report.page import Section
from parking.analytics.report.tables import group_table, time_cell


def forecast_section(inputs: ReportInputs) -> Section | None:
    """The next hours' occupancy per zone after the window's end, with the 80 % interval, fullest first.

    What an operator staffs and prices for (METRICS.md section 8, "Forecast");
    none when the lake holds too little history to forecast any zone.
    """
    frame = inputs.forecast
    if frame.empty or frame["occupancy_rate"].isna().all():
        return None
    hours = sorted(frame["hour"].unique())
    rows = []
    for group, part in frame.groupby("zone", dropna=False, sort=False):
        by_hour = {row.hour: row for row in part.itertuples()}
        rows.append({"zone": group, "peak": part["occupancy_rate"].max(),
                     **{f"h{k}": by_hour.get(hour) for k, hour in enumerate(hours)}})

    def cell(forecast: Any) -> str:
        if forecast is None or pd.isna(forecast.occupancy_rate):
            return "-"
        # whole percents, the interval on a line of its own: six hours side by side fit a phone's width
        return (f"{forecast.occupancy_rate * 100:.0f}\u00a0%\n"
                f"{forecast.low * 100:.0f}\u2013{forecast.high * 100:.0f}")

    columns = [(f"{pd.Timestamp(hour):%H:%M}", lambda row, k=k: cell(getattr(row, f"h{k}")))
               for k, hour in enumerate(hours)]
    table = group_table(pd.DataFrame(rows), "zone", columns, "peak", "fullest at their peak")
    start = time_cell(pd.Timestamp(hours[0]), inputs.tz)
    return Section(f"The next {len(hours)} hours by zone, from {start}", tables=(table,),
                   note="Forecast occupancy of each hour, and under it the 80 % interval the actual rate "
                        "falls in about 4 times in 5 (parking-cli forecast backtest measures it on this lake).")
