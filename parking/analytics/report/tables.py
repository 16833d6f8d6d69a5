"""How a report shows values and tables: percentages, durations, times and groups as people read them.

:func:`frame_section` makes any query's answer a table section;
:func:`group_table` shows groups (zones, levels, bay types) fullest first,
at most :data:`GROUP_ROWS` of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from parking.analytics.report.page import Section, Table
from parking.text import duration, percent, plural

GROUP_ROWS = 10  # a table of zones (levels, bay types) shows the fullest this many
UNCATALOGUED = "(uncatalogued)"  # the null group: spots that send events but are not in the catalog


def percent_cell(value: float) -> str:
    return percent(value, "\u00a0")  # never a line between the number and its sign


def number_cell(value: float, digits: int = 1) -> str:
    return "-" if pd.isna(value) else f"{value:,.{digits}f}"


def time_cell(value: pd.Timestamp, tz: str) -> str:
    return "-" if pd.isna(value) else value.tz_convert(tz).strftime("%Y-%m-%d %H:%M")


def group_cell(value: Any) -> str:
    """A zone, level or bay type as a table shows it: the uncatalogued spots by name, an empty level as ""."""
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return UNCATALOGUED.replace("un", "un\u00ad", 1)  # a soft hyphen: a narrow screen may break it there
    return str(value) if str(value) else '""'


def _label(column: str) -> str:
    """A column's header: its name in words, without the unit its values now carry."""
    for unit in ("_seconds", "_minutes", "_hours"):
        if column.endswith(unit) and column != "max_stay_minutes":
            column = column.removesuffix(unit)
    return {"max_stay_minutes": "longest stay allowed", "group_value": "group"}.get(column, column).replace("_", " ")


def frame_section(title: str, frame: pd.DataFrame, tz: str = "UTC", note: str = "", limit: int = 50) -> Section | None:
    """Any query's answer as a one-table section (``None`` when it has no rows), at most ``limit`` rows.

    Rates (``*_rate``, ``utilization``) as percentages, durations
    (``*_seconds``, ``*_minutes``, ``*_hours``) as people read them
    (``1 h 12 min``), other floats to two decimals, timestamps in ``tz``,
    a catalog group's null as "(uncatalogued)", other nulls as ``-``.
    """
    if frame.empty:
        return None
    columns, cells = [], []
    for column in frame.columns:
        values = frame[column].head(limit)
        columns.append(_label(column))
        if column.endswith("_rate") or column == "utilization":
            cells.append([percent_cell(v) for v in values])
        elif column.endswith("_seconds"):
            cells.append([duration(v / 60) for v in values])
        elif column.endswith("_minutes"):
            cells.append([duration(v) for v in values])
        elif column.endswith("_hours"):
            cells.append([duration(v * 60) for v in values])
        elif column in ("zone", "level", "bay_type"):
            cells.append([group_cell(v) for v in values])
        elif isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            cells.append([time_cell(v, tz) for v in values])
        elif pd.api.types.is_float_dtype(frame[column]):
            cells.append([number_cell(v, 2) for v in values])
        else:
            cells.append(["-" if _missing(v) else f"{v:,}" if isinstance(v, int) else str(v) for v in values])
    rows = [list(row) for row in zip(*cells, strict=True)]
    shown = f"the first {limit} of {len(frame):,} rows" if len(frame) > limit else plural(len(frame), "row")
    return Section(title, tables=(Table(shown, columns, rows),), note=note)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and pd.isna(value))


def group_table(frame: pd.DataFrame, by: str, columns: Sequence[tuple[str, Callable[[Any], str]]],
                order: str, what: str, limit: int = GROUP_ROWS) -> Table:
    """A table of groups (``by``: zone, level or bay type), largest ``order`` first, at most ``limit`` rows.

    ``columns`` are (header, cell of a row); the caption says how many groups
    there are, ``more`` how many were left out.
    """
    ordered = frame.assign(_key=frame[by].map(group_cell)).sort_values([order, "_key"], ascending=[False, True],
                                                                    na_position="last")
    shown = ordered.head(limit)
    noun = {"zone": "zone", "level": "level", "bay_type": "bay type"}[by]
    rows = [[group_cell(getattr(row, by))] + [cell(row) for _, cell in columns] for row in shown.itertuples()]
    if len(ordered) > limit:
        caption = f"The {len(shown)} {what} of {plural(len(ordered), noun)}"
    else:
        caption = f"{plural(len(ordered), noun)}, {what} first" if len(ordered) > 1 else plural(len(ordered), noun)
    more = f"and {plural(len(ordered) - len(shown), f'more {noun}')}" if len(ordered) > limit else ""
    return Table(caption, [noun, *(header for header, _ in columns)], rows, more)
