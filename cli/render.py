"""DataFrames to text: an aligned table for people, CSV and JSON for programs."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

PERCENT_COLUMNS = ("occupancy_rate", "utilization")


def render(frame: pd.DataFrame, output_format: str) -> str:
    """The frame as text; timestamps are ISO-8601 with their offset (Z for UTC)."""
    if output_format == "json":
        return json.dumps([_json_row(row) for row in _plain(frame).to_dict(orient="records")], indent=2)
    if output_format == "csv":
        return _plain(frame).to_csv(index=False, lineterminator="\n").rstrip("\n")
    return _table(frame)


def iso(value: Any) -> str | None:
    """ISO-8601 of a timestamp: milliseconds only when present, Z for UTC."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    text = value.isoformat(timespec="milliseconds").replace(".000", "", 1)
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


def _table(frame: pd.DataFrame) -> str:
    shown = _plain(frame)
    formatters = {}
    for column in frame.columns:
        if column in PERCENT_COLUMNS:
            formatters[column] = lambda v: "-" if pd.isna(v) else f"{v * 100:.1f}%"
        elif frame[column].dtype == "float64":
            formatters[column] = lambda v: "-" if pd.isna(v) else f"{v:,.2f}"
    return shown.to_string(index=False, formatters=formatters, na_rep="-")
