"""What the live page draws (docs/METRICS.md section 8, issue 26): one JSON document.

A summary line (free bays now, the fullest zones, stays to enforce, sensors to
check), the zones fullest first and then the uncatalogued spots (``zone`` null:
they send events but are not in the catalog), and a map per level: each bay at its ``x``/``y``
on the level's plan, else at its ``lat``/``lon``, else in a grid by zone, with
its state now. The layout depends only on the catalog, so it is made once per
catalog (:func:`layout`) and the states are laid on it each time (:func:`page`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from parking.live.feeds import iso

if TYPE_CHECKING:
    import pandas as pd

    from parking.analytics.catalog import CatalogRow

UNCATALOGUED = "(uncatalogued)"
GRID_COLUMNS = 10  # bays per row of a zone's block in the grid map
MIN_WIDTH_RADII = 24  # a map is at least this many bay radii wide (about ten bays), so a few bays draw small
FULLEST_SHOWN = 3


@dataclass(frozen=True)
class Level:
    """One level's map: its bays' ids, zones and centres, the bay radius and the drawing's bounds."""

    name: str
    kind: str  # "plan" (x/y), "geo" (lat/lon) or "grid" (by zone)
    spots: tuple[str, ...]
    zones: tuple[str, ...]
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    radius: float
    bounds: tuple[float, float, float, float]  # min x, min y, width, height


def layout(rows: Sequence[CatalogRow]) -> list[Level]:
    """Each level's map from the catalog, levels in natural order (``-1``, ``0``, ``1``, ``P2``, ``roof``)."""
    by_level: dict[str, list[CatalogRow]] = {}
    for row in rows:
        by_level.setdefault(row.level, []).append(row)
    levels = [_level(name, by_level[name]) for name in sorted(by_level, key=_level_order)]
    plans = [level for level in levels if level.kind == "plan"]
    if len(plans) > 1:  # the levels of one garage share a frame, so each reads at the same scale
        left = min(level.bounds[0] for level in plans)
        top = min(level.bounds[1] for level in plans)
        right = max(level.bounds[0] + level.bounds[2] for level in plans)
        bottom = max(level.bounds[1] + level.bounds[3] for level in plans)
        radius = min(level.radius for level in plans)
        levels = [replace(level, bounds=(left, top, right - left, bottom - top), radius=radius)
                  if level.kind == "plan" else level for level in levels]
    return levels


def _level_order(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def _level(name: str, rows: list[CatalogRow]) -> Level:
    if all(r.x is not None for r in rows):
        kind, points = "plan", [(float(r.x), float(r.y)) for r in rows]  # type: ignore[arg-type]
    elif all(r.lat is not None for r in rows):
        middle = math.cos(math.radians(sum(r.lat for r in rows) / len(rows)))  # type: ignore[misc]
        scale = 111_320.0  # metres per degree of latitude, so the map is in metres like a plan
        kind = "geo"
        points = [(r.lon * scale * middle, -r.lat * scale) for r in rows]  # type: ignore[operator]
    else:
        kind, points = "grid", _grid(rows)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    radius = 0.42 * _spacing(points)
    width = max(max(xs) - min(xs) + 4 * radius, MIN_WIDTH_RADII * radius)  # centred: one bay is not a full-width disc
    left, top = (min(xs) + max(xs) - width) / 2, min(ys) - 2 * radius
    height = max(ys) - min(ys) + 4 * radius
    return Level(name or "(no level)", kind, tuple(r.spot_id for r in rows), tuple(r.zone for r in rows),
                 tuple(xs), tuple(ys), radius, (left, top, width, height))


def _grid(rows: list[CatalogRow]) -> list[tuple[float, float]]:
    """Zones as blocks of GRID_COLUMNS bays a row, side by side in rows of blocks."""
    zones = sorted({r.zone for r in rows})
    per_row = max(1, round(math.sqrt(len(zones))))
    counts = {zone: 0 for zone in zones}
    sizes = {zone: sum(1 for r in rows if r.zone == zone) for zone in zones}
    block_h = {z: math.ceil(sizes[z] / GRID_COLUMNS) for z in zones}
    band_h = [max(block_h[z] for z in zones[i:i + per_row]) + 2 for i in range(0, len(zones), per_row)]
    points = []
    for row in rows:
        index = zones.index(row.zone)
        band, column = divmod(index, per_row)
        n = counts[row.zone]
        counts[row.zone] += 1
        points.append((column * (GRID_COLUMNS + 2) + n % GRID_COLUMNS, sum(band_h[:band]) + n // GRID_COLUMNS))
    return [(float(x), float(y)) for x, y in points]


def _spacing(points: list[tuple[float, float]]) -> float:
    """The median distance from a bay to its nearest neighbour (a sample of 200 bays), or 1."""
    if len(points) < 2:
        return 1.0
    if len(set(points)) < 2:
        return 1.0
    sample = random.Random(0).sample(points, min(200, len(points)))
    nearest = [min(math.hypot(x - u, y - v) for u, v in points if (u, v) != (x, y)) for x, y in sample]
    nearest.sort()
    spacing = nearest[len(nearest) // 2]
    return spacing if spacing > 0 and math.isfinite(spacing) else 1.0


def bay_states(status: pd.DataFrame, overstays: pd.DataFrame) -> dict[str, str]:
    """Each reporting spot's state now: ``free``, ``occupied``, ``overstay`` or ``unknown`` (stale)."""
    states = {}
    for spot, word, stale in zip(status["spot_id"], status["status"], status["stale"], strict=True):
        states[str(spot)] = "unknown" if bool(stale) else str(word)
    for spot in overstays["spot_id"]:
        states[str(spot)] = "overstay"
    return states


def page(at: datetime, lookback_hours: float, levels: Iterable[Level], states: dict[str, str],
         availability: pd.DataFrame, overstays: pd.DataFrame) -> dict[str, Any]:
    """The page's document: summary, zones fullest first (the uncatalogued group last), each level's bays with
    their states, and ``catalog``: whether a catalog is loaded (without one there are no zones and no maps)."""
    from parking.live.feeds import zone_rows

    zones = zone_rows(availability)
    unzoned = availability[availability["zone"].isna()]
    zones.sort(key=lambda z: (-(z["occupancy_rate"] if z["occupancy_rate"] is not None else -1), z["free"], z["zone"]))
    if len(unzoned):  # the spots that send events but are not in the catalog: a group of their own, last
        zones.append(_unzoned_row(unzoned))
    fullest = [{"zone": z["zone"], "occupancy_rate": z["occupancy_rate"]} for z in zones
               if z["occupancy_rate"] is not None and z["zone"] is not None][:FULLEST_SHOWN]
    flagged = int((overstays["sensor_flags"].fillna("") != "").sum()) if "sensor_flags" in overstays else 0
    stale = sum(1 for state in states.values() if state == "unknown")
    maps = []
    for level in levels:
        maps.append({
            "level": level.name, "kind": level.kind, "radius": level.radius, "bounds": level.bounds,
            "bays": [[spot, zone, states.get(spot, "unknown"), round(x, 3), round(y, 3)]
                     for spot, zone, x, y in zip(level.spots, level.zones, level.xs, level.ys, strict=True)],
        })
    return {
        "at": iso(at),
        "catalog": bool(maps),
        "lookback_hours": lookback_hours,
        "summary": {
            "free": sum(z["free"] for z in zones),
            "capacity": sum(z["capacity"] for z in zones),
            "unknown": sum(z["unknown"] for z in zones),
            "fullest": fullest,
            "overstays": len(overstays),
            "sensors_to_check": stale + flagged,
            "uncatalogued": sum(z["capacity"] for z in zones if z["zone"] is None),
        },
        "zones": zones,
        "levels": maps,
    }


def _unzoned_row(unzoned: pd.DataFrame) -> dict[str, Any]:
    """The uncatalogued (null) group's availability row as the page draws a zone, ``zone`` null."""
    import pandas as pd

    record = unzoned.iloc[0]  # the answer has one null group
    rate = record["occupancy_rate"]
    return {"zone": None, **{name: int(record[name]) for name in ("capacity", "free", "occupied", "unknown")},
            "occupancy_rate": None if pd.isna(rate) else float(rate)}
