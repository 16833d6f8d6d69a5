"""Parameters of the section 7 queries asked about one instant, without pandas.

``availability``, ``alerts`` and ``overstays`` (docs/METRICS.md section 7)
are asked about an instant ``TS``. This module turns their options into the
bound parameters of ``queries/<name>.sql`` and binds them into the text, with
nothing but the standard library, so the scheduled zones Lambda sends Athena
exactly the SQL that ``parking.queries`` sends through either engine.

Partitions read (the test on the bound SQL's predicates checks these):
availability and alerts read ``(TS - 7 days - 2 lookback, TS]`` (a catalogued
spot's state needs its events of the lookback before ``TS``, and a round trip
among them one lookback more; the null group needs the spots seen in the 7
days); overstays reads ``(TS - 30 days - 2 lookback, TS]``: its ``since`` is
computed over the 7 days up to ``TS`` only, its ``sensor_flags`` are sensor
health's at ``TS`` (section 6, default thresholds), read as health reads them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from parking.analytics.catalog import GROUPINGS, MAX_ZONE
from parking.analytics.registry import named
from parking.analytics.windows import partition_params, to_ms
from parking.errors import InvalidArgument
from parking.sql_text import string_literal

SEEN_WINDOW = timedelta(days=7)
DEFAULT_THRESHOLD = 0.9
# Sensor health (METRICS.md section 6): its window and default thresholds (silent: the lookback).
HEALTH_WINDOW = timedelta(days=30)
FLAPPING_CHANGES = 20
STUCK_HOURS = 72.0


def check_grouping(by: str) -> str:
    """``zone``, ``level`` or ``bay_type``; :class:`InvalidArgument` otherwise."""
    if by not in GROUPINGS:
        raise InvalidArgument(f"--by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    return by


def grouping_params(by: str | None, zones: Iterable[str] = ()) -> dict[str, Any]:
    """The grouping parameters of occupancy, utilization, patterns, turnover and dwell (section 7).

    ``by`` None gives one row per spot (or for the whole garage); ``zones``
    keeps only the catalog's spots of those zones. Zone names are bound as
    parameters, never formatted into SQL; each is trimmed like a catalog cell
    and must be 1-64 characters (:class:`InvalidArgument` otherwise).
    """
    if by is not None:
        check_grouping(by)
    names = []
    for name in zones:
        name = name.strip()
        if not 1 <= len(name) <= MAX_ZONE:
            raise InvalidArgument(f"--zone must name a zone of 1-{MAX_ZONE} characters, got {name!r}")
        names.append(name)
    return {"group_by": by or "", "filter_zones": 1 if names else 0, "zones": sorted(set(names)) or [""]}


def check_threshold(threshold: float) -> float:
    """An occupancy rate in [0, 1]; :class:`InvalidArgument` otherwise."""
    if not isinstance(threshold, int | float) or math.isnan(threshold) or not 0 <= threshold <= 1:
        raise InvalidArgument(f"--threshold must be an occupancy rate from 0 to 1, got {threshold}")
    return float(threshold)


def instant_params(name: str, at: datetime, lookback: timedelta, **extra: Any) -> dict[str, Any]:
    """Every parameter of one of the three queries, asked about the UTC instant ``at``.

    ``extra`` carries ``group_by`` (availability, alerts) and ``threshold`` (alerts).
    """
    query = named(name)
    # A round trip looks one lookback further back (METRICS.md sections 3-4); overstays'
    # sensor_flags are sensor health's, read over its 30 days.
    read_from = at - (HEALTH_WINDOW if name == "overstays" else SEEN_WINDOW) - 2 * lookback
    lookback_ms = round(lookback.total_seconds() * 1000)
    params = {
        "at_ms": to_ms(at),
        "window_ms": to_ms(at) - to_ms(at - SEEN_WINDOW),
        "health_window_ms": to_ms(at) - to_ms(at - HEALTH_WINDOW),
        "lookback_ms": lookback_ms,
        "silent_ms": lookback_ms,
        "flapping_changes": FLAPPING_CHANGES,
        "stuck_ms": round(STUCK_HOURS * 3_600_000),
        **partition_params(read_from, at),
        **extra,
    }
    wanted = query.placeholders()
    missing = wanted - set(params)
    if missing:
        raise InvalidArgument(f"{name} needs {', '.join(sorted(missing))}")
    return {key: value for key, value in params.items() if key in wanted}


def literal(value: Any) -> str:
    """One SQL literal, as PyAthena's default formatter writes it (a test compares them)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(f"not a finite number: {value}")
        return repr(value)
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, Sequence):
        return "(" + ", ".join(literal(item) for item in value) + ")"
    raise InvalidArgument(f"cannot bind a {type(value).__name__} as SQL")


def bind(sql: str, params: Mapping[str, Any]) -> str:
    """The SQL, stripped, with every ``%(name)s`` replaced by its literal (``%%`` is a percent sign)."""
    return sql.strip() % {key: literal(value) for key, value in params.items()}
