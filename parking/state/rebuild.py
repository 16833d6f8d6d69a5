"""Filling the current-state table in from the events (METRICS.md section 8).

A table started on a lake that already held events, or kept with a shorter
lookback than the deployment's now, does not hold every instant its views
read. :func:`rebuild` reads the events of the table's retention through any
engine (DuckDB locally, Athena on AWS) and merges them into the table by the
same compare-and-set merge the ingest path uses: a union, so batches stored
meanwhile are neither lost nor doubled. The table is then complete from the
start of that retention.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from parking.analytics.windows import partition_params
from parking.state.spot import MASKS, retention
from parking.state.stores import StateStore
from parking.state.update import apply_events

if TYPE_CHECKING:
    from parking.analytics.engines import Engine

def events_sql() -> str:
    """Both tiers' events from ``%(from_ms)s`` on: the queries' own ``events`` part (queries/_parts), spliced in."""
    from parking.analytics.registry import splice

    text, _ = splice("WITH\n{{events}}\nSELECT spot_id, status, ts_ms FROM events WHERE ts_ms >= %(from_ms)s\n")
    return text


def rebuild(store: StateStore, engine: Engine, lookback: int, now: datetime | None = None) -> int:
    """Merge every event of ``[now - retention, now + 24 h]`` into ``store``; returns the events read.

    ``lookback`` is the deployment's, in ms. Afterwards the table is complete
    from the start of that span (``complete_from``), unless it already was
    from earlier. Raises the engine's :class:`parking.errors.QueryError`.
    """
    now = now or datetime.now(timezone.utc)
    now_ms = round(now.timestamp() * 1000)
    start_ms = now_ms - retention(lookback)
    start = datetime.fromtimestamp(start_ms / 1000, timezone.utc)
    end = datetime.fromtimestamp(now_ms / 1000 + 86_400, timezone.utc)  # events up to a day ahead are valid
    frame = engine.run(events_sql(), {**partition_params(start, end), "from_ms": start_ms})
    events: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for spot, status, ms in zip(frame["spot_id"], frame["status"], frame["ts_ms"], strict=True):
        events[spot].append((int(ms), MASKS[status]))
    apply_events(store, events, now_ms, lookback)
    previous = store.complete_from()
    if previous is None or previous > start_ms:
        store.set_complete_from(start_ms)
    return len(frame)


def main() -> None:
    """``python -m parking.state.rebuild``: fill in the settings' table from their engine's events (one line out)."""
    import sys

    from parking.analytics.engines import engine_from_settings
    from parking.config import Settings
    from parking.errors import ParkingError
    from parking.state.live import table_of
    from parking.state.update import lookback_ms

    try:
        settings = Settings.from_environment()
        store = table_of(settings)
        if store is None:
            print("Error: no current-state table: set PARKING_STATE_TABLE (and PARKING_BUCKET), or use the local engine",
                  file=sys.stderr)
            raise SystemExit(2)
        events = rebuild(store, engine_from_settings(settings), lookback_ms(settings))
    except ParkingError as error:
        print(f"Error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"rebuilt {store.where} from {events:,} events; complete from {store.complete_from()}")


if __name__ == "__main__":
    main()
