"""Per-zone figures for monitoring: availability and overstays at one instant.

The scheduled zones Lambda runs the ``availability`` (by zone) and
``overstays`` queries of docs/METRICS.md section 7 through any ``run(sql)``
that returns rows as dicts of column name to value, typed or as text
(:meth:`parking.analytics.athena_client.AthenaClient.rows` on AWS), and turns
them into one :class:`ZoneFigures` per catalogued zone. Standard library
only: no pandas.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from parking.analytics.availability import instant_params
from parking.analytics.binding import bind
from parking.analytics.registry import DEFAULT_GROUPING, GROUP_COLUMN, named

Rows = list[dict[str, Any]]  # column name to value: a number, its text, or None for null
ZONES_QUERIES = ("availability", "overstays")  # what a run asks, in order; the zones Lambda's build ships their SQL


@dataclass(frozen=True, slots=True)
class ZoneFigures:
    """One catalogued zone at one instant; ``occupancy_rate`` is 0-1, None when nothing is known."""

    zone: str
    capacity: int
    occupied: int
    free: int
    unknown: int
    occupancy_rate: float | None
    overstays: int  # stays to enforce: the sensor looks healthy (empty sensor_flags)
    overstays_to_check: int = 0  # stays whose sensor health flags: a technician's, not an officer's


def _count(value: int | str | None) -> int:
    """A count column of availability (count(*) and sums over a group's rows, never null), typed or as text."""
    assert value is not None
    return int(value)


def zone_figures(run: Callable[[str], Rows], at: datetime, lookback: timedelta) -> list[ZoneFigures]:
    """Run availability by zone and overstays at ``at``; one entry per zone of the catalog.

    Uncatalogued spots (the null group) belong to no zone and are left out.
    Overstays are split as METRICS.md section 7 keeps them apart: ``overstays``
    counts the stays to enforce (sensor looks healthy), ``overstays_to_check``
    those whose sensor health flags (the stay may be the sensor's fault).
    """
    extra = {"availability": {"group_by": DEFAULT_GROUPING}, "overstays": {}}
    availability, overstays = (run(bind(named(name).sql, instant_params(name, at, lookback, **extra[name])))
                               for name in ZONES_QUERIES)
    over = Counter(row["zone"] for row in overstays if not row["sensor_flags"])
    check = Counter(row["zone"] for row in overstays if row["sensor_flags"])
    figures = []
    for row in availability:
        zone = row[GROUP_COLUMN]
        if zone is None:
            continue
        rate = row["occupancy_rate"]
        figures.append(ZoneFigures(
            zone, _count(row["capacity"]), _count(row["occupied"]), _count(row["free"]), _count(row["unknown"]),
            None if rate is None else float(rate), over[zone], check[zone],
        ))
    return figures
