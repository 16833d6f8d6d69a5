"""Query engines: the same named SQL on Athena or on an embedded DuckDB.

Both engines run the Athena text of ``queries/*.sql`` with its parameters
bound as literals by the one binder (:mod:`parking.analytics.binding`), so
the local engine runs exactly the text Athena would get. Each job has its
module: :mod:`~parking.analytics.duckdb_engine` (views and globs),
:mod:`~parking.analytics.duckdb_errors`, :mod:`~parking.analytics.billing`,
:mod:`~parking.analytics.athena_engine` (DataFrames, progress, cost) on
:mod:`~parking.analytics.athena_client` (the one Athena client, the zones
Lambda's too) and :mod:`~parking.analytics.athena_failures`. This module
holds what callers choose by (:class:`Engine`, :func:`engine_from_settings`)
and re-exports the names callers imported from here before the split.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd

from parking.analytics.athena_client import THROTTLE_ATTEMPTS, THROTTLE_MAX_DELAY_SECONDS
from parking.analytics.athena_engine import NOT_IN_ATHENA, AthenaEngine, athena_zone, retarget
from parking.analytics.athena_failures import ATHENA, AthenaSetupError
from parking.analytics.billing import QueryProgress, QueryStats
from parking.analytics.binding import bind
from parking.analytics.duckdb_engine import VANISHED_RETRIES, DuckDBEngine, compacted_view
from parking.analytics.lake_layout import layout_damage
from parking.analytics.registry import COMPACTED_TABLE, QUERY_TABLE
from parking.config import Settings

__all__ = [
    "ATHENA", "COMPACTED_TABLE", "NOT_IN_ATHENA", "QUERY_TABLE", "THROTTLE_ATTEMPTS", "THROTTLE_MAX_DELAY_SECONDS",
    "VANISHED_RETRIES", "AthenaEngine", "AthenaSetupError", "DuckDBEngine", "Engine", "QueryProgress", "QueryStats",
    "athena_zone", "bind", "compacted_view", "engine_from_settings", "layout_damage", "retarget",
]


class Engine(Protocol):
    """Runs one named query's SQL with its parameters and returns the rows."""

    name: str

    def run(self, sql: str, params: Mapping[str, Any]) -> pd.DataFrame: ...

    def zone_name(self, tz: str) -> str:
        """The name this engine knows ``tz`` by; :class:`InvalidArgument` when it knows none."""
        ...


def engine_from_settings(settings: Settings, **athena_options: Any) -> Engine:
    """The engine the settings name: ``local`` (DuckDB) or ``athena``."""
    if settings.engine == "athena":
        return AthenaEngine(settings, **athena_options)
    return DuckDBEngine(settings.data_dir, settings.data_prefix)
