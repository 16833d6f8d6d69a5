"""The named queries: one :class:`NamedQuery` each, with its SQL, columns and window rule.

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
from functools import cached_property
from importlib import resources

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
        import re

        return set(re.findall(r"%\((\w+)\)s", self.sql))


def _register(*named: NamedQuery) -> dict[str, NamedQuery]:
    return {query.name: query for query in named}


QUERIES: dict[str, NamedQuery] = _register(
    NamedQuery(
        "status",
        {"spot_id": "string", "status": "string", "since": UTC_TIME, "last_event": UTC_TIME, "stale": "bool"},
        at_instant=True,
        never_null=frozenset({"spot_id", "status"}),
    ),
    NamedQuery("occupancy", {"hour": LOCAL_TIME, "occupancy_rate": "float64"}, future_rows=True),
    NamedQuery(
        "utilization",
        {"spot_id": "string", "utilization": "float64", "occupied_seconds": "float64", "observed_seconds": "float64"},
        never_null=frozenset({"spot_id"}),
    ),
    NamedQuery("patterns", {"day_of_week": "int64", "hour": "int64", "occupancy_rate": "float64"}),
    NamedQuery(
        "turnover",
        {"spot_id": "string", "arrivals": "int64", "observed_seconds": "float64", "turnover_per_day": "float64"},
        never_null=frozenset({"spot_id"}),
    ),
    NamedQuery(
        "dwell",
        {
            "spot_id": "string", "sessions": "int64", "mean_minutes": "float64", "median_minutes": "float64",
            "p90_minutes": "float64", "max_minutes": "float64",
        },
        never_null=frozenset({"spot_id"}),
    ),
    NamedQuery(
        "health",
        {
            "spot_id": "string", "last_event": UTC_TIME, "silent_hours": "float64", "changes_24h": "int64",
            "state_hours": "float64", "flags": "string",
        },
        at_instant=True,
        never_null=frozenset({"spot_id", "flags"}),
    ),
    # Section 7: asked about one instant, over the spot catalog. ``group_value``
    # is renamed to the --by column (zone, level or bay_type) by parking.queries.
    NamedQuery("availability", AVAILABILITY_COLUMNS, at_instant=True),
    NamedQuery("alerts", AVAILABILITY_COLUMNS, at_instant=True),
    NamedQuery(
        "overstays",
        {
            "spot_id": "string", "zone": "string", "since": UTC_TIME, "stay_minutes": "float64",
            "max_stay_minutes": "int64", "over_minutes": "float64", "sensor_flags": "string",
        },
        at_instant=True,
        never_null=frozenset({"spot_id", "zone", "sensor_flags"}),
    ),
)


def named(name: str) -> NamedQuery:
    """The registered query called ``name``; ``KeyError`` names the known ones."""
    try:
        return QUERIES[name]
    except KeyError:
        raise KeyError(f"unknown query {name!r}: one of {', '.join(QUERIES)}") from None
