"""The named queries: one :class:`NamedQuery` each, with its SQL, columns and window rule.

The SQL files are package data (``queries/*.sql`` in the repository,
``parking.sql`` once installed), read with :mod:`importlib.resources` so an
installed wheel finds them wherever it lives. Column dtypes follow
docs/METRICS.md sections 4, 6 and 7.
"""

from __future__ import annotations

from collections.abc import Mapping
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

        The Athena named query saved in each workgroup is this text with the
        placeholders replaced by a default window (:mod:`parking.analytics.saved`).
        """
        return resources.files("parking.sql").joinpath(f"{self.name}.sql").read_text(encoding="utf-8")

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
            "max_stay_minutes": "int64", "over_minutes": "float64",
        },
        at_instant=True,
        never_null=frozenset({"spot_id", "zone"}),
    ),
)


def named(name: str) -> NamedQuery:
    """The registered query called ``name``; ``KeyError`` names the known ones."""
    try:
        return QUERIES[name]
    except KeyError:
        raise KeyError(f"unknown query {name!r}: one of {', '.join(QUERIES)}") from None
