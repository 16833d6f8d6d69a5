"""Pictures of the query results, drawn headless.

Figures are built with matplotlib's object API on the Agg canvas, never
pyplot, so no display or GUI backend is involved (servers, CI). The Lambda
never imports this module.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from parking.errors import InvalidArgument

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DPI = 100
# What save() writes, by the file's suffix; matplotlib's own writers, no extra library.
FORMATS = ("png", "svg", "pdf")
MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


def patterns_heatmap(frame: pd.DataFrame, title: str) -> Figure:
    """Weekday (Monday on top) by hour of day, coloured by occupancy in percent."""
    grid = np.full((7, 24), np.nan)
    for row in frame.itertuples():
        grid[row.day_of_week - 1, row.hour] = row.occupancy_rate * 100
    figure = Figure(figsize=(12, 4.2), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap="YlOrRd", vmin=0, vmax=100)
    axes.set_xticks(range(24), [f"{hour:02d}" for hour in range(24)])
    axes.set_yticks(range(7), WEEKDAYS)
    axes.set_xlabel("hour of day")
    axes.set_title(title)
    colorbar = figure.colorbar(image, ax=axes)
    colorbar.set_label("occupancy (%)")
    return figure


def occupancy_bars(frame: pd.DataFrame, title: str) -> Figure:
    """The day's hourly occupancy as bars on a 0-100 % scale; hours without data are gaps."""
    figure = Figure(figsize=(12, 4.2), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rates = frame["occupancy_rate"].to_numpy(dtype=float) * 100
    positions = np.arange(len(frame))
    axes.bar(positions, np.nan_to_num(rates), color="#d95f02", width=0.8)
    labels = [f"{hour:%H}" for hour in frame["hour"]]
    axes.set_xticks(positions, labels)
    axes.set_ylim(0, 100)
    axes.set_ylabel("occupancy (%)")
    axes.set_xlabel(f"hour ({frame['hour'].dt.tz})" if len(frame) else "hour")
    axes.set_title(title)
    axes.grid(axis="y", alpha=0.3)
    return figure


def occupancy_line(frame: pd.DataFrame, title: str) -> Figure:
    """Hourly occupancy over a window of days as one line, 0-100 %; unobserved hours are gaps.

    ``frame`` has the columns of ``queries.occupancy`` (``hour``, ``occupancy_rate``),
    any number of days, in time order.
    """
    figure = Figure(figsize=(12, 3.6), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(frame["hour"].dt.tz_localize(None), frame["occupancy_rate"].to_numpy(dtype=float) * 100,
              color="#d95f02", linewidth=1.4)
    _date_axis(axes)
    axes.set_ylim(0, 100)
    axes.set_ylabel("occupancy (%)")
    axes.set_xlabel(f"local time ({frame['hour'].dt.tz})" if len(frame) else "time")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    return figure


def _date_axis(axes: Any, most: int = 10) -> None:
    """Dates on the x axis that never overlap: at most ``most`` ticks, each labelled once, concisely."""
    locator = mdates.AutoDateLocator(minticks=3, maxticks=most)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def week_over_week(this_week: pd.DataFrame, last_week: pd.DataFrame, title: str) -> Figure:
    """Hourly occupancy of the last 7 days over that of the 7 days before, weekday on weekday.

    Both frames have the columns of ``queries.occupancy``; the earlier week is
    drawn shifted by 7 days, grey and dashed.
    """
    figure = Figure(figsize=(12, 3.6), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if len(last_week):
        axes.plot(last_week["hour"].dt.tz_localize(None) + pd.Timedelta(days=7),  # wall clock on wall clock
                  last_week["occupancy_rate"].to_numpy(dtype=float) * 100, color="#7f7f7f", linewidth=1.2,
                  linestyle="--", label="the week before")
    axes.plot(this_week["hour"].dt.tz_localize(None), this_week["occupancy_rate"].to_numpy(dtype=float) * 100,
              color="#d95f02", linewidth=1.4, label="the last 7 days")
    _date_axis(axes)
    axes.set_ylim(0, 100)
    axes.set_ylabel("occupancy (%)")
    axes.set_title(title)
    axes.legend(loc="upper right")
    axes.grid(alpha=0.3)
    return figure


def format_of(out: Path | str) -> str:
    """The picture format a file name asks for (its suffix), or :class:`InvalidArgument`."""
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise InvalidArgument(f"cannot write {Path(out).name!r}: a picture ends in " + ", ".join(f".{f}" for f in FORMATS))
    return suffix


def save(figure: Figure, out: Path | str) -> Path:
    """Write the figure in the format its suffix names (.png, .svg or .pdf); the folder must exist.

    Raises :class:`InvalidArgument` for another suffix and ``OSError`` when the file cannot be written.
    """
    path = Path(out)
    figure.savefig(path, format=format_of(path), dpi=DPI)
    return path


def data_uri(figure: Figure, picture_format: str = "png") -> str:
    """The figure as a ``data:`` URI, for a page that must show it with no other file."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=picture_format, dpi=DPI)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:{MEDIA_TYPES[picture_format]};base64,{encoded}"


AVAILABILITY_COLOURS = {"occupied": "#d95f02", "free": "#1b9e77", "unknown": "#bdbdbd"}


def availability_bars(frame: pd.DataFrame, by: str, title: str) -> Figure:
    """One stacked bar per group of an availability answer: occupied, free and unknown bays.

    ``frame`` is :func:`parking.queries.availability`'s answer grouped by ``by``;
    the null group (uncatalogued spots) is labelled "(uncatalogued)", an empty
    level '""'.
    """
    figure = Figure(figsize=(max(6.0, 1.0 + 0.7 * len(frame)), 4.5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = np.arange(len(frame))
    bottom = np.zeros(len(frame))
    for column, colour in AVAILABILITY_COLOURS.items():
        counts = frame[column].to_numpy(dtype=float)
        bars = axes.bar(positions, counts, bottom=bottom, color=colour, width=0.7, label=column)
        axes.bar_label(bars, labels=[f"{int(n)}" if n else "" for n in counts], label_type="center", fontsize=8)
        bottom += counts
    labels = ["(uncatalogued)" if pd.isna(value) else (value or '""') for value in frame[by]]
    axes.set_xticks(positions, labels, rotation=30 if len(frame) > 8 else 0, ha="right" if len(frame) > 8 else "center")
    axes.set_ylabel("bays")
    axes.set_xlabel(by.replace("_", " "))
    axes.set_title(title)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.grid(axis="y", alpha=0.3)
    return figure
