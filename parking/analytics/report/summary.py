"""What an operator reads first: the summary, and the window's last 7 days against the 7 before."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from parking.analytics import plots
from parking.analytics.report.inputs import ReportInputs
from parking.analytics.report.page import Figure, Section, Table
from parking.analytics.report.tables import percent_cell, time_cell

FULLEST_ZONES = 3  # named in the summary


def summary_section(inputs: ReportInputs) -> Section | None:
    """What an operator reads first: the busiest hour, the fullest zones, what needs a visit, the week's trend."""
    observed = inputs.observed
    if observed.empty:
        return None
    peak = inputs.peak
    facts = [
        ("busiest hour", f"{peak['hour'].strftime('%a %d %b %H:00')}, {percent_cell(peak['occupancy_rate'])}"),
        ("mean occupancy", percent_cell(observed["occupancy_rate"].mean())),
    ]
    zones = inputs.grouped("utilization", "zone").dropna(subset=["utilization"])
    zones = zones[zones["zone"].notna()].sort_values(["utilization", "zone"], ascending=[False, True])
    if not zones.empty:
        fullest = "\n".join(f"{row.zone}: {percent_cell(row.utilization)}"
                            for row in zones.head(FULLEST_ZONES).itertuples())
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
        facts.append(("last 7 days vs the 7 before", f"{percent_cell(this)} vs {percent_cell(last)}{change}"))
    at = time_cell(pd.Timestamp(inputs.end), inputs.tz)
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
        rows.append([f"{day:%a %d %b}", percent_cell(now_rate), f"{before:%a %d %b}", percent_cell(then_rate), change])
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
