"""The live answers (docs/METRICS.md section 8): ``status``, ``availability``, ``overstays`` and
``alerts`` asked about now, with the deployment's lookback.

The one place the live side gets them from: at now, with the deployment's
lookback, the current-state table (:func:`parking.state.live.live_answer`, which
itself answers through the events while the table cannot answer exactly);
at another instant or lookback, the named query of :mod:`parking.queries`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parking.analytics.registry import DEFAULT_GROUPING, DEFAULT_LOOKBACK_HOURS, DEFAULT_THRESHOLD, SEEN_WINDOW
from parking.errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

    from parking.analytics.catalog import CatalogRow, CatalogStore
    from parking.analytics.engines import Engine
    from parking.config import Settings

LIVE_ANSWERS = ("status", "availability", "overstays", "alerts")
# How far the instant queries read (their 7 days, plus twice the lookback) and how
# far ahead an event may lie (METRICS.md section 1: 24 hours).
_READ_BACK, _READ_AHEAD = SEEN_WINDOW, timedelta(hours=25)


@dataclass
class LiveSource:
    """Where the live answers come from: an engine, the catalog beside its data, and the lookback in force.

    ``data_dir`` is the local lake (None on S3): :meth:`version` watches it, so
    an answer is recomputed as soon as an object lands. ``clock`` gives now.
    """

    engine: Engine
    catalog: CatalogStore
    lookback_hours: float = DEFAULT_LOOKBACK_HOURS
    data_dir: Path | None = None
    data_prefix: str = "parking-data/"
    settings: Settings | None = None  # where the current-state table is; None: always the events
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def version(self) -> tuple[Any, ...] | None:
        """What changes whenever an answer could change other than by time passing; None when unknown (S3).

        The modification times of the hour folders the instant queries read
        (an object written, replaced or removed changes its folder's) and of
        the catalog: a few hundred ``stat`` calls, about a millisecond.
        """
        if self.data_dir is None:
            return None
        now = self.clock()
        root = self.data_dir / self.data_prefix
        hour = (now - _READ_BACK - timedelta(hours=2 * self.lookback_hours)).replace(minute=0, second=0, microsecond=0)
        stamps: list[int] = []
        while hour <= now + _READ_AHEAD:
            folder = root / f"year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}"
            try:
                stamps.append(folder.stat().st_mtime_ns)
            except OSError:
                stamps.append(0)
            hour += timedelta(hours=1)
        loaded = self.catalog.loaded_at()
        compacted = self.data_dir / "parking-compacted"
        return (tuple(stamps), loaded, compacted.stat().st_mtime_ns if compacted.exists() else 0)

    def catalog_rows(self) -> list[CatalogRow]:
        """The catalog in force (no rows when none is loaded)."""
        return self.catalog.read() or []


def live_answer(source: LiveSource, name: str, *, by: str = DEFAULT_GROUPING, threshold: float = DEFAULT_THRESHOLD,
                at: datetime | None = None) -> tuple[datetime, pd.DataFrame]:
    """``(at, rows)``: the live answer ``name`` at ``at`` (default now), as the CLI's query gives it.

    Raises :class:`InvalidArgument` for an unknown name, ``by`` or ``threshold``.
    One query runs at a time per source (the local engine has one connection).
    """
    from parking import queries

    if name not in LIVE_ANSWERS:
        raise InvalidArgument(f"{name!r} is not a live answer: choose one of {', '.join(LIVE_ANSWERS)}")
    instant = at or source.clock()
    hours = source.lookback_hours
    with source._lock:
        if at is None and source.settings is not None and hours == source.settings.lookback_hours:
            from parking.state.live import live_answer as from_table

            return from_table(name, source.settings, by=by, threshold=threshold, now=instant)
        if name == "status":
            frame = queries.status(lookback_hours=hours, engine=source.engine, now=instant)
        elif name == "availability":
            frame = queries.availability(by=by, lookback_hours=hours, engine=source.engine, now=instant)
        elif name == "overstays":
            frame = queries.overstays(lookback_hours=hours, engine=source.engine, now=instant)
        else:
            frame = queries.alerts(threshold=threshold, by=by, lookback_hours=hours, engine=source.engine, now=instant)
    return instant, frame
