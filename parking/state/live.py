"""The live answers: ``status``, ``availability``, ``overstays`` and ``alerts`` at now (METRICS.md section 8).

:func:`live_answer` is the one function the live surfaces call (the CLI
without ``--at``, the HTTP API, the page). It reads the current-state table
and gives exactly the DataFrame :mod:`parking.queries` gives from the events
at the same instant with the deployment's lookback. When the table cannot
answer exactly (never written; started on a lake with older events, or kept
with another lookback, and not yet rebuilt) it rebuilds a local table from
the lake first, and otherwise answers through the events.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pandas as pd

from parking.analytics.availability import DEFAULT_THRESHOLD, check_grouping, check_threshold
from parking.analytics.catalog import CatalogRow, CatalogStore
from parking.analytics.registry import DEFAULT_GROUPING, GROUP_COLUMN, named
from parking.config import Settings
from parking.errors import InvalidArgument
from parking.state import answers
from parking.state.spot import status_reach
from parking.state.stores import SqliteState, StateStore
from parking.state.update import dynamo_state, local_state, lookback_ms

LIVE = ("status", "availability", "overstays", "alerts")


def live_answer(
    name: str,
    settings: Settings,
    *,
    by: str = DEFAULT_GROUPING,
    threshold: float = DEFAULT_THRESHOLD,
    now: datetime | None = None,
    store: StateStore | None = None,
) -> tuple[datetime, pd.DataFrame]:
    """``(at, frame)``: the live answer ``name`` (one of :data:`LIVE`) at now, UTC.

    ``frame`` has the columns, dtypes and row order of ``parking.queries.<name>``
    asked about ``at`` with ``lookback_hours=settings.lookback_hours``; ``by``
    (availability, alerts) and ``threshold`` (alerts, 0-1) as there. The table
    is the settings' (``PARKING_STATE_TABLE`` with a bucket, else the data
    directory's) unless ``store`` is given. Raises :class:`InvalidArgument`
    for an unknown name, ``by`` or threshold; the engine's and the catalog's
    errors as the queries do.
    """
    if name not in LIVE:
        raise InvalidArgument(f"{name!r} is not a live answer: one of {', '.join(LIVE)}")
    if name in ("availability", "alerts"):
        by = check_grouping(by)
    if name == "alerts":
        threshold = check_threshold(threshold)
    at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    at_ms = round(at.timestamp() * 1000)
    at = datetime.fromtimestamp(at_ms / 1000, timezone.utc)  # the instant answered, to the millisecond
    lookback = lookback_ms(settings)
    store = store or table_of(settings)
    if store is None or not _ready(store, settings, at_ms, lookback):
        return at, _from_events(name, settings, at, by, threshold)
    spots = answers.lives(store.rows(), at_ms, lookback)
    return at, frame_of(name, spots, lambda: _catalog(settings), at_ms, lookback, by, threshold)


def table_of(settings: Settings) -> StateStore | None:
    """The settings' table: DynamoDB with a bucket and ``PARKING_STATE_TABLE``; the data directory's for the
    local engine; else None (Athena without a table: the live answers come from the events)."""
    if settings.bucket and settings.state_table:
        return dynamo_state(settings.state_table, settings.region, settings.endpoint_url)
    if settings.engine == "local":
        return local_state(settings.data_dir)
    return None


def complete_for(store: StateStore, at_ms: int, lookback: int) -> bool:
    """Whether every row holds every stored instant the live views read at ``at_ms``."""
    return answers.complete_for(store.complete_from(), at_ms, lookback)


def frame_of(name, spots, catalog, at_ms: int, lookback: int, by: str, threshold: float) -> pd.DataFrame:
    """The typed frame of one live answer from each spot's :class:`parking.state.spot.Live` (``catalog()`` read lazily)."""
    from parking.queries import typed

    query = named(name)
    if name == "status":
        rows = answers.status_rows(spots, at_ms, lookback)
        frame = pd.DataFrame(rows, columns=["spot_id", "status", "since", "last_event", "stale"])
        return typed(_instants(frame, "since", "last_event"), query)
    if name == "overstays":
        overstay_rows = answers.overstay_rows(spots, catalog() or [], at_ms, lookback)
        frame = pd.DataFrame(overstay_rows, columns=["spot_id", "zone", "since", "stay_minutes", "max_stay_minutes",
                                            "over_minutes", "sensor_flags"])
        return typed(_instants(frame, "since"), query)  # sensor_flags kept only where the query has it
    availability_rows = answers.availability_rows(spots, catalog() or [], at_ms, lookback, by)
    frame = pd.DataFrame(availability_rows, columns=[GROUP_COLUMN, "capacity", "occupied", "free", "unknown", "occupancy_rate"])
    if name == "alerts":
        frame = frame[frame["occupancy_rate"].notna() & (frame["occupancy_rate"] >= threshold)]
    return typed(frame, query).rename(columns={GROUP_COLUMN: by})


def _instants(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column].astype("int64"), unit="ms", utc=True)
    return frame


_catalogs: dict[str, tuple[object, list[CatalogRow] | None]] = {}


def _catalog(settings: Settings) -> list[CatalogRow] | None:
    """The catalog in force, parsed again only when it changed (its stat locally, its ETag on S3).

    Parsing 10,000 rows takes longer than a whole live answer should.
    """
    if settings.bucket and settings.state_table:
        from parking.analytics.catalog import CATALOG_KEY
        from parking.ingest.sinks import s3_client

        client = s3_client(settings.region, settings.profile, settings.endpoint_url)
        store = CatalogStore(bucket=settings.bucket, client=client)
        try:
            version: object = client.head_object(Bucket=settings.bucket, Key=CATALOG_KEY)["ETag"]
        except client.exceptions.ClientError:
            version = None
    else:
        store = CatalogStore(settings.data_dir)
        try:
            stat = store.path.stat()
            version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            version = None
    cached = _catalogs.get(store.where)
    if cached is not None and version is not None and cached[0] == version:
        return cached[1]
    rows = store.read()
    _catalogs[store.where] = (version, rows)
    return rows


def _ready(store: StateStore, settings: Settings, at_ms: int, lookback: int) -> bool:
    """Whether the table answers exactly at ``at_ms``; a local table is rebuilt from its lake when it would not."""
    if complete_for(store, at_ms, lookback):
        return True
    if isinstance(store, SqliteState) and settings.engine == "local":
        from parking.analytics.engines import DuckDBEngine
        from parking.state.rebuild import rebuild

        engine = DuckDBEngine(settings.data_dir, settings.data_prefix)
        if engine.has_data:
            rebuild(store, engine, lookback, datetime.fromtimestamp(at_ms / 1000, timezone.utc))
        else:
            store.set_complete_from(at_ms - status_reach(lookback))
        return complete_for(store, at_ms, lookback)
    return False


def _from_events(name: str, settings: Settings, at: datetime, by: str, threshold: float) -> pd.DataFrame:
    from parking import queries
    from parking.analytics.engines import engine_from_settings

    engine = engine_from_settings(settings)
    common: dict[str, Any] = {"lookback_hours": settings.lookback_hours, "engine": engine, "now": at}
    if name == "status":
        return queries.status(**common)
    if name == "overstays":
        return queries.overstays(**common)
    if name == "availability":
        return queries.availability(by=by, **common)
    return queries.alerts(threshold=threshold, by=by, **common)
