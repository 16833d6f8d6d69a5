"""The named queries as saved in the Athena workgroup: each runs as saved, for a default window.

``parking-cli`` binds its own parameters into ``queries/<name>.sql``. The
Athena console has no parameters to bind, so the saved text of a query is
the same file with every ``%(name)s`` placeholder replaced by an SQL
expression of ``current_timestamp``, for the default window below (UTC,
lookback 24 hours, the CLI's default thresholds). There is one SQL source
per query: this module derives the saved text from it, and the deployment
(``infra/saved_queries.js``, read by serverless.yml) asks this module.

The windows and their words are each query's registry entry
(:attr:`NamedQuery.saved_window`, ``saved_days``, ``window``), the options the
registry's defaults:

| query | default window |
|---|---|
| status, health | at now (the 7 / 30 days up to now) |
| occupancy | yesterday, UTC |
| utilization, patterns, turnover, dwell | the last 7 whole UTC days: yesterday and the 6 days before |

availability, alerts and overstays are asked about now, availability and
alerts grouped by zone (alerts at 0.9).

Columns are those the CLI prints (docs/METRICS.md sections 4, 6 and 7): the
SQL's ``group_value`` column, which the CLI drops or renames after ``--by``,
is left out of the five window queries (they answer ungrouped) and named
``zone`` in availability and alerts. Run ``python -m parking.analytics.saved``
for every saved text as one JSON object, ``... saved descriptions`` for each
query's description (both the registry's, read by ``infra/saved_queries.js``).
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from datetime import timedelta

from parking.analytics.binding import literal
from parking.analytics.registry import (
    DEFAULT_GROUPING,
    DEFAULT_THRESHOLD,
    FLAPPING_CHANGES,
    HEALTH_WINDOW,
    QUERIES,
    STUCK_HOURS,
    NamedQuery,
)
from parking.config import lookback_hours_from_env

HOUR_MS = 3_600_000
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")

# The instants the defaults are counted from. UTC is said explicitly, so no
# session time zone can move a window.
NOW = "current_timestamp"
TODAY = "date_trunc('day', current_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


@dataclass(frozen=True)
class SavedWindow:
    """A default window: ``hours_before`` the anchor to the anchor, which is now or today's UTC midnight.

    ``at_instant`` windows are ``(anchor - hours, anchor]`` (status, health);
    the others ``[anchor - hours, anchor)``.
    """

    description: str
    anchor: str
    hours: int
    at_instant: bool = False
    read_hours: int | None = None  # the events it reads, when more than its window (overstays: health's 30 days)

    def instant(self, hours_before: int) -> str:
        """The SQL expression of ``anchor - hours_before`` hours, a timestamp in UTC."""
        moved = f"({self.anchor})" if hours_before == 0 else f"({self.anchor}) - INTERVAL '{hours_before}' HOUR"
        return f"(({moved}) AT TIME ZONE 'UTC')"

    def epoch_ms(self, hours_before: int) -> str:
        return f"CAST(round(to_unixtime({self.instant(hours_before)}) * 1e3) AS bigint)"


def _saved_window(query: NamedQuery) -> SavedWindow:
    """The registry's default window of ``query``: its window up to now, or its whole UTC days up to today."""
    reads = query.read_window
    read_hours = int(reads / timedelta(hours=1)) if reads is not None and reads != query.window else None
    return SavedWindow(query.saved_window, NOW if query.at_instant else TODAY, query.saved_hours,
                       at_instant=query.at_instant, read_hours=read_hours)


WINDOWS = {name: _saved_window(query) for name, query in QUERIES.items()}

# The CLI's default options (parking.queries), as literals, from the registry's defaults;
# lookback_ms and silent_ms are the deployment's lookback (saved_parameters).
DEFAULT_OPTIONS = {
    "time_zone": "'UTC'",
    "flapping_changes": str(FLAPPING_CHANGES),
    "stuck_ms": str(round(STUCK_HOURS * HOUR_MS)),
    "group_by": literal(DEFAULT_GROUPING),
    "threshold": repr(DEFAULT_THRESHOLD),
    "filter_zones": "0",
    "zones": "('')",
}
# Saved occupancy, utilization, patterns, turnover and dwell answer ungrouped, as the CLI without --by.
UNGROUPED = frozenset({"occupancy", "utilization", "patterns", "turnover", "dwell"})
# The saved availability and alerts group by zone (DEFAULT_OPTIONS) and name the column so.
GROUPED_BY = {"availability": "zone", "alerts": "zone"}
# The first item of a query's final SELECT, the group column (a test checks each query has it once).
_GROUP_ITEM = re.compile(r"^SELECT\n    (?P<source>(?:\w+\.)?group_value),\n", re.MULTILINE)


def _part(part: str, instant: str) -> str:
    """A partition value of an instant: zero-padded year, month, day or hour, as the layout writes it."""
    return f"lpad(CAST({part}({instant}) AS varchar), {4 if part == 'year' else 2}, '0')"


def _partitions(window: SavedWindow, lookback_hours: float) -> dict[str, str]:
    """IN lists and the hour range of every UTC partition the default window reads.

    The read range is the window plus twice the lookback before it (a round
    trip looks one lookback further back), from ``hours + 2 lookback`` hours before the anchor to the anchor (at-instant
    windows) or to the hour before it. An instant every 24 hours over that
    range names every calendar day it touches.
    """
    first = (window.read_hours or window.hours) + math.ceil(2 * lookback_hours)
    points = [window.instant(back) for back in range(0 if window.at_instant else 24, first + 1, 24)]
    last = window.instant(0) if window.at_instant else window.instant(1)

    def in_list(part: str) -> str:
        return "(\n        " + ",\n        ".join(_part(part, point) for point in points) + "\n    )"

    def hour_key(instant: str) -> str:
        return "concat(" + ", ".join(_part(part, instant) for part in ("year", "month", "day", "hour")) + ")"

    return {
        "years": in_list("year"),
        "months": in_list("month"),
        "days": in_list("day"),
        "first_hour": hour_key(window.instant(first)),
        "last_hour": hour_key(last),
    }


def saved_parameters(name: str, lookback_hours: float | None = None) -> dict[str, str]:
    """SQL expressions, by placeholder, for the default window of query ``name``.

    ``lookback_hours`` defaults to the deployment's (``PARKING_LOOKBACK_HOURS``, else 24).
    """
    window = WINDOWS[name]
    lookback_hours = lookback_hours_from_env() if lookback_hours is None else lookback_hours
    lookback_ms = str(round(lookback_hours * HOUR_MS))
    expressions = {
        **DEFAULT_OPTIONS,
        "lookback_ms": lookback_ms,
        "silent_ms": lookback_ms,
        **_partitions(window, lookback_hours),
        "start_ms": window.epoch_ms(window.hours),
        "end_ms": window.epoch_ms(0),
        "day_end_ms": window.epoch_ms(0),
        "at_ms": window.epoch_ms(0),
        "window_ms": str(window.hours * HOUR_MS),
        "health_window_ms": str(round(HEALTH_WINDOW / timedelta(milliseconds=1))),
    }
    if name in UNGROUPED:
        expressions["group_by"] = "''"
    return {placeholder: expressions[placeholder] for placeholder in QUERIES[name].placeholders()}


def saved_sql(query: NamedQuery | str) -> str:
    """The text saved as the Athena named query: the file, runnable as it stands.

    Placeholders are replaced by the default window's expressions, and the
    final SELECT's group column is dropped (ungrouped queries) or named after
    its grouping (``zone``), so the console shows the CLI's columns.
    """
    query = QUERIES[query] if isinstance(query, str) else query
    lookback_hours = lookback_hours_from_env()
    expressions = saved_parameters(query.name, lookback_hours)
    header = (
        f"-- Saved for the Athena console: runs as saved, for {WINDOWS[query.name].description};\n"
        f"-- lookback {lookback_hours:g} hours and the CLI's default options. parking-cli runs the same\n"
        f"-- queries/{query.name}.sql with its own window: parking-cli {query.name} --help.\n"
    )
    return header + saved_columns(query.name, _PLACEHOLDER.sub(lambda match: expressions[match.group(1)], query.sql))


def saved_columns(name: str, sql: str) -> str:
    """``sql`` with its final SELECT's ``group_value`` item dropped (:data:`UNGROUPED`) or renamed (:data:`GROUPED_BY`)."""
    found = list(_GROUP_ITEM.finditer(sql))
    if name not in UNGROUPED and name not in GROUPED_BY:
        return sql
    if not found:
        raise ValueError(f"queries/{name}.sql: no group_value as the first item of its final SELECT")
    item = found[-1]
    kept = "" if name in UNGROUPED else f"    {item['source']} AS {GROUPED_BY[name]},\n"
    return sql[: item.start()] + "SELECT\n" + kept + sql[item.end():]


def descriptions() -> dict[str, str]:
    """Each saved query's description, as the infra deploys it with the query (the registry's)."""
    return {name: query.description for name, query in QUERIES.items()}


def main(argv: list[str] | None = None) -> None:
    """Print every saved text as one JSON object; with ``descriptions``, every description instead."""
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["descriptions"]:
        json.dump(descriptions(), sys.stdout)
    elif not argv:
        json.dump({name: saved_sql(name) for name in QUERIES}, sys.stdout)
    else:
        sys.exit("usage: python -m parking.analytics.saved [descriptions]")


if __name__ == "__main__":
    main()
