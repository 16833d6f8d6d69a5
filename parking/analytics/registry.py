"""The named queries: one :class:`NamedQuery` each, with every fact of it, and the queries' defaults.

A query's entry is its one home: name, SQL (``queries/<name>.sql``),
columns, window rule (which instants it reads), the description deployed
with its saved Athena query, its saved default window, and the tables it
reads (found in its SQL). Saved queries (:mod:`parking.analytics.saved`),
the infra's named-query descriptions (``python -m parking.analytics.saved
descriptions``), the Lambda build (``scripts/build_lambda.py``), the section 7
parameters (:mod:`parking.analytics.availability`) and the library's
defaults read them here. Adding a query is one SQL file plus one entry.

The SQL files are package data (``queries/*.sql`` in the repository,
``parking.sql`` once installed), read with :mod:`importlib.resources` so an
installed wheel finds them wherever it lives. Column dtypes follow
docs/METRICS.md sections 4, 6 and 7.

A rule several queries share (how events are read from both tiers, the one
state per instant of section 3, the transitions of section 6, the hours of
section 4) is written once, as a **part**: ``queries/_parts/<part>.sql``, one
or more common table expressions. A query's file names a part by a
``{{part}}`` line where its CTEs belong, and :func:`splice` puts the part's
text there when the registry reads the file (a part may name other parts;
each is spliced once, where it is first named). So every engine, and every
saved Athena query, still gets one standalone text per query.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from importlib import resources
from typing import Final

from parking.config import Settings

# The queries' defaults (docs/METRICS.md sections 3, 6 and 7), one home each: the
# library, the saved queries and the zones Lambda read them here, and the CLI's
# options are to (cli/ still writes its own copies; a later change reads these).
DEFAULT_LOOKBACK_HOURS: float = Settings.lookback_hours  # a deployment sets its own: PARKING_LOOKBACK_HOURS
DEFAULT_THRESHOLD = 0.9  # alerts: the occupancy rate at or above which a group is reported
FLAPPING_CHANGES = 20  # sensor health: this many changes in 24 h flag a sensor flapping
STUCK_HOURS = 72.0  # sensor health: occupied this long flags a sensor stuck
GROUPINGS = ("zone", "level", "bay_type")  # the catalog columns --by groups by
DEFAULT_GROUPING: Final = "zone"  # availability, alerts and forecast group by it unless told (a Literal to mypy)
SEEN_WINDOW = timedelta(days=7)  # status, availability, alerts, overstays: the spots seen in (at - 7 d, at]
HEALTH_WINDOW = timedelta(days=30)  # sensor health, and overstays' sensor_flags: (at - 30 d, at]

QUERY_TABLE = "parking_events"  # the events' table, as the SQL files name it
COMPACTED_TABLE = "parking_events_compacted"  # the compacted days (parking/lake/compaction/)

UTC_TIME = "datetime64[ns, UTC]"
LOCAL_TIME = "local-time"  # datetime64[ns, <the query's zone>]
GROUP_COLUMN = "group_value"  # the SQL's name for the --by column
AVAILABILITY_COLUMNS = {
    GROUP_COLUMN: "string", "capacity": "int64", "occupied": "int64", "free": "int64", "unknown": "int64",
    "occupancy_rate": "float64",
}


PARTS_FOLDER = "_parts"
# A part is named on a line of its own: ``{{name}}``, with the comma that follows its CTEs.
_PART_LINE = re.compile(r"^[ \t]*\{\{(\w+)\}\}(,?)[ \t]*$")


def read_part(name: str) -> str:
    """The text of ``queries/_parts/<name>.sql``; ``FileNotFoundError`` when there is none."""
    return resources.files("parking.sql").joinpath(PARTS_FOLDER, f"{name}.sql").read_text(encoding="utf-8")


def splice(text: str, read: Callable[[str], str] = read_part) -> tuple[str, tuple[str, ...]]:
    """``text`` with each ``{{part}}`` line replaced by that part's text, and the parts used, in order.

    Parts are spliced recursively. A part named again (``steps`` by both
    ``latest`` and ``intervals``) is already defined: its line is dropped.
    ``ValueError`` names a part that names itself.
    """
    used: list[str] = []

    def expand(body: str, stack: tuple[str, ...]) -> list[str]:
        lines: list[str] = []
        for line in body.splitlines():
            match = _PART_LINE.match(line)
            if match is None:
                lines.append(line)
                continue
            name, comma = match.groups()
            if name in stack:
                raise ValueError(f"SQL part {name!r} names itself: {' -> '.join((*stack, name))}")
            if name in used:
                continue
            used.append(name)
            part = expand(read(name).rstrip("\n"), (*stack, name))
            lines.extend([*part[:-1], part[-1] + comma])
        return lines

    return "\n".join(expand(text, ())) + ("\n" if text.endswith("\n") else ""), tuple(used)


@dataclass(frozen=True)
class NamedQuery:
    """One named query: the columns it returns and which instants it reads.

    ``at_instant`` queries (status, health) are asked about one instant ``TS``
    and read ``(TS - window, TS]``; the others read the half-open ``[start, end)``.
    ``future_rows`` queries (occupancy) still return their rows for a window
    that has not started: every hour, with nothing observed.
    ``never_null`` names the string columns the SQL always fills: Athena's CSV
    result cannot tell their empty string from null, so the typing step reads
    an empty field there as ``""`` (health's ``flags`` of a healthy spot).
    """

    name: str
    columns: Mapping[str, str]
    at_instant: bool = False
    future_rows: bool = False
    never_null: frozenset[str] = frozenset()
    description: str = ""  # the saved Athena query's, deployed in every workgroup (infra)
    window: timedelta | None = None  # at-instant queries: the spots seen in (at - window, at]
    reads: timedelta | None = None  # the events read before ``at`` when more than ``window`` (overstays)
    saved_days: int = 0  # window queries: the saved query's whole UTC days up to today's midnight
    saved_window: str = ""  # the saved query's default window, in words

    @property
    def read_window(self) -> timedelta | None:
        """How far before ``at`` an at-instant query reads events, besides the lookbacks."""
        return self.reads or self.window

    @property
    def saved_hours(self) -> int:
        """The hours of the saved query's default window: ``window`` up to now, or ``saved_days`` up to today."""
        if self.window is not None:
            return int(self.window / timedelta(hours=1))
        return self.saved_days * 24

    @property
    def tables(self) -> frozenset[str]:
        """The tables the SQL reads: every ``FROM`` or ``JOIN`` name that is not one of its own CTEs."""
        code = re.sub(r"--[^\n]*", "", self.sql)
        named = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", code, re.IGNORECASE))
        ctes = set(re.findall(r"\b(\w+)\s+AS\s*\(", code, re.IGNORECASE))
        return frozenset(named - ctes - {"UNNEST", "unnest"})

    @cached_property
    def sql(self) -> str:
        """The SQL of ``queries/<name>.sql``, with the pyformat placeholders the CLI binds.

        The file's ``{{part}}`` lines are replaced by the shared parts (:func:`splice`).
        The Athena named query saved in each workgroup is this text with the
        placeholders replaced by a default window (:mod:`parking.analytics.saved`).
        """
        return self._spliced[0]

    @property
    def parts(self) -> tuple[str, ...]:
        """The names of the ``queries/_parts`` files spliced into :attr:`sql`, in order."""
        return self._spliced[1]

    @cached_property
    def _spliced(self) -> tuple[str, tuple[str, ...]]:
        return splice(resources.files("parking.sql").joinpath(f"{self.name}.sql").read_text(encoding="utf-8"))

    def placeholders(self) -> set[str]:
        """The names of the ``%(name)s`` parameters the SQL binds."""
        return set(re.findall(r"%\((\w+)\)s", self.sql))


def _register(*named: NamedQuery) -> dict[str, NamedQuery]:
    return {query.name: query for query in named}


_WEEK = "the last 7 whole UTC days (yesterday and the 6 days before)"

QUERIES: dict[str, NamedQuery] = _register(
    NamedQuery(
        "status",
        {"spot_id": "string", "status": "string", "since": UTC_TIME, "last_event": UTC_TIME, "stale": "bool"},
        at_instant=True,
        never_null=frozenset({"spot_id", "status"}),
        description="Current status of every spot seen in the 7 days up to now (parking-cli status)",
        window=SEEN_WINDOW,
        saved_window="now: spots with an event in the 7 days up to now",
    ),
    NamedQuery(
        "occupancy", {"hour": LOCAL_TIME, "occupancy_rate": "float64"}, future_rows=True,
        description="Hourly occupancy rate of yesterday, UTC (parking-cli occupancy)",
        saved_days=1, saved_window="yesterday (UTC)",
    ),
    NamedQuery(
        "utilization",
        {"spot_id": "string", "utilization": "float64", "occupied_seconds": "float64", "observed_seconds": "float64"},
        never_null=frozenset({"spot_id"}),
        description="Share of observed time each spot was occupied, last 7 days (parking-cli utilization)",
        saved_days=7, saved_window=_WEEK,
    ),
    NamedQuery(
        "patterns", {"day_of_week": "int64", "hour": "int64", "occupancy_rate": "float64"},
        description="Occupancy by ISO weekday and hour of day, last 7 days (parking-cli patterns)",
        saved_days=7, saved_window=f"{_WEEK}, hours in UTC",
    ),
    NamedQuery(
        "turnover",
        {"spot_id": "string", "arrivals": "int64", "observed_seconds": "float64", "turnover_per_day": "float64"},
        never_null=frozenset({"spot_id"}),
        description="Arrivals per spot and per observed day, last 7 days (parking-cli turnover)",
        saved_days=7, saved_window=_WEEK,
    ),
    NamedQuery(
        "dwell",
        {
            "spot_id": "string", "sessions": "int64", "mean_minutes": "float64", "median_minutes": "float64",
            "p90_minutes": "float64", "max_minutes": "float64",
        },
        never_null=frozenset({"spot_id"}),
        description="Parking session length per spot, last 7 days (parking-cli dwell)",
        saved_days=7, saved_window=_WEEK,
    ),
    NamedQuery(
        "health",
        {
            "spot_id": "string", "last_event": UTC_TIME, "silent_hours": "float64", "changes_24h": "int64",
            "state_hours": "float64", "flags": "string",
        },
        at_instant=True,
        never_null=frozenset({"spot_id", "flags"}),
        description="Sensor health - silence, flapping and stuck flags per spot, now (parking-cli health)",
        window=HEALTH_WINDOW,
        saved_window="now: spots with an event in the 30 days up to now",
    ),
    # Section 7: asked about one instant, over the spot catalog. ``group_value``
    # is renamed to the --by column (zone, level or bay_type) by parking.queries.
    NamedQuery(
        "availability", AVAILABILITY_COLUMNS, at_instant=True,
        description="Bays occupied, free and unknown per zone, level or bay type at an instant "
                    "(parking-cli availability)",
        window=SEEN_WINDOW,
        saved_window="now, by zone: the catalog's zones and the spots seen in the 7 days up to now",
    ),
    NamedQuery(
        "alerts", AVAILABILITY_COLUMNS, at_instant=True,
        description="Zones, levels or bay types at or above an occupancy threshold (parking-cli alerts)",
        window=SEEN_WINDOW,
        saved_window=f"now, by zone, at or above {DEFAULT_THRESHOLD:g} occupancy",
    ),
    # Overstays' since is over the 7 days up to ``at``; its sensor_flags are sensor
    # health's at ``at`` (section 6, default thresholds), read over health's 30 days.
    NamedQuery(
        "overstays",
        {
            "spot_id": "string", "zone": "string", "since": UTC_TIME, "stay_minutes": "float64",
            "max_stay_minutes": "int64", "over_minutes": "float64", "sensor_flags": "string",
        },
        at_instant=True,
        never_null=frozenset({"spot_id", "zone", "sensor_flags"}),
        description="Cars parked longer than their bay's maximum stay, with their sensor's health flags "
                    "(parking-cli overstays)",
        window=SEEN_WINDOW,
        reads=HEALTH_WINDOW,
        saved_window="now: stays read from the 7 days up to now, sensor flags from the 30 days",
    ),
)


def named(name: str) -> NamedQuery:
    """The registered query called ``name``; ``KeyError`` names the known ones."""
    try:
        return QUERIES[name]
    except KeyError:
        raise KeyError(f"unknown query {name!r}: one of {', '.join(QUERIES)}") from None
