"""Parameters of the section 7 queries asked about one instant, without pandas.

``availability``, ``alerts`` and ``overstays`` (docs/METRICS.md section 7)
are asked about an instant ``TS``. This module turns their options into the
bound parameters of ``queries/<name>.sql``, with nothing but the standard
library; :mod:`parking.analytics.binding` (re-exported here) binds them into
the text, so the scheduled zones Lambda sends Athena exactly the SQL that
``parking.queries`` sends through either engine. How far before ``TS`` a query
reads is its registry entry's (:attr:`NamedQuery.read_window`).

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
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from parking.analytics.binding import bind, literal
from parking.analytics.catalog import MAX_ZONE
from parking.analytics.registry import (
    DEFAULT_THRESHOLD,
    FLAPPING_CHANGES,
    GROUPINGS,
    HEALTH_WINDOW,
    SEEN_WINDOW,
    STUCK_HOURS,
    named,
)
from parking.analytics.windows import partition_params, to_ms
from parking.errors import InvalidArgument

# Re-exported: callers imported the defaults and the binder from here before the registry held them.
__all__ = [
    "DEFAULT_THRESHOLD", "FLAPPING_CHANGES", "GROUPINGS", "HEALTH_WINDOW", "SEEN_WINDOW", "STUCK_HOURS", "bind",
    "check_grouping", "check_threshold", "grouping_params", "instant_params", "literal",
]


def check_grouping(by: str) -> str:
    """``zone``, ``level`` or ``bay_type``; :class:`InvalidArgument` otherwise."""
    if by not in GROUPINGS:
        raise InvalidArgument(f"{{by}} must be one of {', '.join(GROUPINGS)}, got {by!r}", "by")
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
            shown = repr(name) if len(name) <= 80 else f"{name[:80]!r}... ({len(name):,} characters)"
            raise InvalidArgument(f"{{zones}} must name a zone of 1-{MAX_ZONE} characters, got {shown}", "zones")
        names.append(name)
    return {"group_by": by or "", "filter_zones": 1 if names else 0, "zones": sorted(set(names)) or [""]}


def check_threshold(threshold: float) -> float:
    """An occupancy rate in [0, 1]; :class:`InvalidArgument` otherwise."""
    if not isinstance(threshold, int | float) or math.isnan(threshold) or not 0 <= threshold <= 1:
        raise InvalidArgument(f"{{threshold}} must be an occupancy rate from 0 to 1, got {threshold}", "threshold")
    return float(threshold)


def instant_params(name: str, at: datetime, lookback: timedelta, **extra: Any) -> dict[str, Any]:
    """Every parameter of one of the three queries, asked about the UTC instant ``at``.

    ``extra`` carries ``group_by`` (availability, alerts) and ``threshold`` (alerts).
    """
    query = named(name)
    if query.read_window is None:
        raise InvalidArgument(f"{name} is not asked about one instant")
    # A round trip looks one lookback further back (METRICS.md sections 3-4); how far
    # before ``at`` the query reads is its registry entry's (overstays: health's 30 days).
    read_from = at - query.read_window - 2 * lookback
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
