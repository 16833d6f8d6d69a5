"""DataFrames to text: an aligned table for people, CSV and JSON for programs.

CSV and JSON keep the columns docs/METRICS.md defines, with one timestamp
spelling per column: ISO-8601 with milliseconds and the offset (``Z`` for
UTC), so ``pandas.read_csv(parse_dates=...)`` reads every value. The table
is for a person: weekday names, durations in hours, percentages, ``-`` for
a missing value.

The group column of a grouped answer (its first column, ``zone``, ``level``
or ``bay_type``; docs/METRICS.md section 7) tells the null group (the
uncatalogued spots) from the empty group ``""`` (catalogued spots with an
empty level) in every format: the table shows ``(uncatalogued)`` and ``""``,
CSV an empty cell and ``""`` (a quoted empty string), JSON ``null`` and ``""``
(docs/CHOICES.md, "Spots, zones and availability").
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from parking.analytics.registry import GROUPINGS
from parking.text import percent

PERCENT_COLUMNS = ("occupancy_rate", "utilization", "low", "high", "coverage", "mae_forecast", "mae_persistence",
                   "mae_seasonal_naive", "mae_profile")
RATE_COLUMNS = ("occupancy_rate",)  # null where nothing was observed (METRICS.md section 4)
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
GROUP_COLUMNS = GROUPINGS  # the first column of a grouped answer is one of them
UNCATALOGUED = "(uncatalogued)"  # the null group, in a table
EMPTY_GROUP = '""'  # the group "", in a table and in CSV
_EMPTY_MARK = "\x00"  # stands for "" while pandas writes CSV: no catalog value holds a control character


def render(frame: pd.DataFrame, output_format: str) -> str:
    """The frame as text; timestamps are ISO-8601 with milliseconds and their offset (Z for UTC)."""
    if output_format == "json":
        return json.dumps([_json_row(row) for row in _plain(frame).to_dict(orient="records")], indent=2)
    if output_format == "ndjson":  # one object a line, what jq and log shippers read; nothing for no rows
        return "\n".join(json.dumps(_json_row(row)) for row in _plain(frame).to_dict(orient="records"))
    if output_format == "csv":
        return _csv(_plain(frame))
    return _table(frame)


def group_column(frame: pd.DataFrame) -> str | None:
    """The group column of a grouped answer: its first column when that is a catalog grouping."""
    first = frame.columns[0] if len(frame.columns) else None
    return first if first in GROUP_COLUMNS else None


def _csv(frame: pd.DataFrame) -> str:
    """CSV; in the group column, ``""`` for the empty group and an empty cell for null."""
    column = group_column(frame)
    if column is not None and not frame[column].astype("string").str.contains(_EMPTY_MARK, regex=False).any():
        frame = frame.copy()
        values = frame[column].astype("string")
        frame[column] = values.mask(values.eq("").fillna(False).astype(bool), _EMPTY_MARK)
        text = frame.to_csv(index=False, lineterminator="\n")
        return text.replace(_EMPTY_MARK, EMPTY_GROUP).rstrip("\n")
    return frame.to_csv(index=False, lineterminator="\n").rstrip("\n")


def nothing_observed(frame: pd.DataFrame) -> bool:
    """No rows, or rows whose every rate is null: no spot's state was known (METRICS.md section 4)."""
    if frame.empty:
        return True
    rates = [column for column in RATE_COLUMNS if column in frame.columns]
    return bool(rates) and bool(frame[rates].isna().all().all())


def iso(value: Any) -> str | None:
    """ISO-8601 of a timestamp, always with milliseconds; Z for UTC, else the offset."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    text = value.isoformat(timespec="milliseconds")
    return text[:-6] + "Z" if str(value.tz) == "UTC" else text


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    plain = frame.copy()
    for column in plain.columns:
        if isinstance(plain[column].dtype, pd.DatetimeTZDtype):
            plain[column] = plain[column].map(iso).astype(object)
    return plain


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    clean = {}
    for key, value in row.items():
        if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            value = None
        elif hasattr(value, "item"):  # numpy scalars
            value = value.item()
        clean[key] = value
    return clean


def for_people(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns a person reads: weekday names for ``day_of_week``, hours for ``*_seconds``."""
    shown = frame.copy()
    renames = {}
    for column in frame.columns:
        if column == "day_of_week":
            shown[column] = frame[column].map(lambda day: WEEKDAY_NAMES[int(day) - 1])
            renames[column] = "weekday"
        elif column.endswith("_seconds"):
            shown[column] = frame[column] / 3600
            renames[column] = column.removesuffix("_seconds") + "_hours"
    return shown.rename(columns=renames)


def _table(frame: pd.DataFrame) -> str:
    shown = for_people(frame)
    group = group_column(shown)
    formatters: dict[str, Callable[[Any], str]] = {}
    for column in shown.columns:
        if column == group:  # as text beforehand: pandas never calls a formatter for a missing value
            shown[column] = [UNCATALOGUED if _missing(v) else (EMPTY_GROUP if v == "" else str(v))
                             for v in shown[column]]
        elif column in PERCENT_COLUMNS:
            formatters[column] = percent
        elif shown[column].dtype == "float64":
            formatters[column] = lambda v: "-" if pd.isna(v) else f"{v:,.2f}"
        elif isinstance(shown[column].dtype, pd.DatetimeTZDtype):
            formatters[column] = lambda v: "-" if pd.isna(v) else _table_time(v)
        elif shown[column].dtype == object or isinstance(shown[column].dtype, pd.StringDtype):
            shown[column] = ["-" if _missing(v) else str(v) for v in shown[column]]
    return shown.to_string(index=False, formatters=formatters, na_rep="-")


def _missing(value: Any) -> bool:
    """None, pandas' NA or NaT, or a float NaN: a value the table shows as missing."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _table_time(value: pd.Timestamp) -> str:
    """Seconds are enough for a person; the offset stays (Z for UTC)."""
    text = value.isoformat(timespec="seconds")
    return text[:-6] + "Z" if str(value.tz) == "UTC" else text
