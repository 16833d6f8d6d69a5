"""Keeping the current-state table up to date from the ingest path (METRICS.md section 8).

:func:`record_batch` is what ``parking.ingest.batch.ingest_batch`` calls
once a batch's objects are stored: it reads ``spot_id``, ``status`` and
``timestamp`` back from the stored lines, and merges each spot's new
instants into its row (:func:`merge_for`). Events older than the table's
retention can change no live answer, now or later, and are skipped, so a
backfill of old files costs nothing here. Standard library, orjson and boto3
only: the ingest Lambda runs this.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left
from calendar import timegm
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from parking.config import Settings
from parking.state.spot import MASKS, NEVER, live_at, merge, pack_instants, pack_summary, retention, unpack_instants
from parking.state.stores import DynamoState, Merge, Row, SqliteState, StateStore, dynamodb_client

Events = dict[str, list[tuple[int, int]]]


def lookback_ms(settings: Settings) -> int:
    """The deployment's lookback (``PARKING_LOOKBACK_HOURS``) in milliseconds: what the table is kept for."""
    return round(settings.lookback_hours * 3_600_000)


def instant_ms(stamp: str, hours: dict[str, int]) -> int:
    """Epoch ms of a stored (canonical) timestamp ``YYYY-MM-DDTHH:MM:SS[.f{1,3}]Z``; ``hours`` caches hour starts."""
    hour = stamp[:13]
    start = hours.get(hour)
    if start is None:
        start = hours[hour] = timegm((int(hour[:4]), int(hour[5:7]), int(hour[8:10]), int(hour[11:13]), 0, 0)) * 1000
    fraction = stamp[20:-1]
    millis = int(fraction.ljust(3, "0")) if fraction else 0
    return start + int(stamp[14:16]) * 60_000 + int(stamp[17:19]) * 1000 + millis


def table_hours_from(settings: Settings, now: datetime) -> str:
    """The first event hour (``YYYY-MM-DDTHH``) the table keeps at ``now``: older events change no live answer."""
    floor = now.timestamp() - retention(lookback_ms(settings)) / 1000
    return datetime.fromtimestamp(max(floor, 0), timezone.utc).strftime("%Y-%m-%dT%H")


def events_of(lines: Iterable[bytes], since_ms: int) -> Events:
    """``spot_id -> [(ms, mask)]`` of stored event lines with a timestamp at or after ``since_ms``."""
    found: Events = {}
    hours: dict[str, int] = {}
    for line in lines:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:  # a number orjson cannot hold (1e400, 5,000 digits): kept as text here
            event = json.loads(line, parse_float=str, parse_int=str, parse_constant=str)
        ms = instant_ms(event["timestamp"], hours)
        if ms >= since_ms:
            found.setdefault(event["spot_id"], []).append((ms, MASKS[event["status"]]))
    return found


def merge_for(events: list[tuple[int, int]], now_ms: int, lookback: int) -> Merge:
    """The merge of one spot's new instants into its row, pruned to the retention, with its summary at ``now_ms``."""
    floor = now_ms - retention(lookback)
    fresh: dict[int, int] = {}
    merge(fresh, events)

    def apply(old: Row | None) -> tuple[int, bytes, bytes]:
        times, masks = unpack_instants(old.instants) if old is not None else ([], [])
        start = bisect_left(times, floor)
        if start:
            times, masks = times[start:], masks[start:]
        if times and fresh and min(fresh) > times[-1]:  # the usual case: only newer instants
            for ms in sorted(fresh):
                times.append(ms)
                masks.append(fresh[ms])
        else:
            instants = dict(zip(times, masks, strict=True))
            merge(instants, [(ms, mask) for ms, mask in fresh.items() if ms >= floor])
            times = sorted(instants)
            masks = [instants[ms] for ms in times]
        live, valid = live_at(times, masks, now_ms, lookback)
        return lookback, pack_instants(times, masks), pack_summary(live, now_ms, valid)

    return apply


def apply_events(store: StateStore, events: Mapping[str, list[tuple[int, int]]], now_ms: int, lookback: int) -> None:
    """Merge each spot's events into the table (compare-and-set per spot, retried on a race)."""
    store.update({spot: merge_for(found, now_ms, lookback) for spot, found in events.items()})


def record_batch(sink: Any, settings: Settings, lines: list[bytes], written: Iterable[str], now: datetime) -> None:
    """Bring the table the sink's lake has up to date with a stored batch's event ``lines``.

    Does nothing for a sink with no table (memory; S3 without
    ``PARKING_STATE_TABLE``). Raises :class:`parking.errors.SinkWriteError`
    when the table cannot be written, so the batch is retried (its objects
    are then found in place).
    """
    store = state_for(sink, settings)
    if store is None:
        return
    lookback = lookback_ms(settings)
    now_ms = round(now.timestamp() * 1000)
    _mark_start(store, sink, settings, written, now_ms)
    if lines:
        apply_events(store, events_of(lines, now_ms - retention(lookback)), now_ms, lookback)


def state_for(sink: Any, settings: Settings) -> StateStore | None:
    """The table of the lake a sink writes: SQLite under a local sink's root, DynamoDB for S3 when configured."""
    root = getattr(sink, "root", None)
    if isinstance(root, Path):
        return local_state(root)
    if getattr(sink, "bucket", None) and settings.state_table:
        return dynamo_state(settings.state_table, settings.region, settings.endpoint_url)
    return None


_local_tables: dict[Path, SqliteState] = {}


def local_state(root: Path) -> SqliteState:
    """One :class:`SqliteState` per data directory and process (it keeps a connection per thread)."""
    if root not in _local_tables:
        _local_tables[root] = SqliteState(root)
    return _local_tables[root]


def close_local_states() -> None:
    """Close this thread's connections to every local table and forget them (the next use opens anew)."""
    while _local_tables:
        _local_tables.popitem()[1].close()


@cache
def dynamo_state(table: str, region: str | None, endpoint_url: str | None) -> DynamoState:
    """One :class:`DynamoState` per table and process, on a client of its own (warm Lambdas reuse it)."""
    return DynamoState(table, dynamodb_client(region, endpoint_url=endpoint_url))


_started: set[tuple[int, str]] = set()


def _mark_start(store: StateStore, sink: Any, settings: Settings, written: Iterable[str], now_ms: int) -> None:
    """Record, once, from when the table is complete: always, if the lake held nothing before; else from now.

    Checked once per process and table. Only a local lake can be looked at
    (the ingest role cannot list the bucket), so a new DynamoDB table is
    complete from its first write until :func:`parking.state.rebuild.rebuild`.
    """
    key = (os.getpid(), store.where)
    if key in _started:
        return
    root = getattr(sink, "root", None)
    empty = isinstance(root, Path) and not _holds_other_events(root, settings, set(written))
    store.set_complete_from(-NEVER if empty else now_ms, only_if_missing=True)
    _started.add(key)


def _holds_other_events(root: Path, settings: Settings, written: set[str]) -> bool:
    """Whether the lake holds any event object besides ``written`` (stops at the first)."""
    from parking.layout import COMPACTED_PREFIX

    for prefix in (settings.data_prefix, COMPACTED_PREFIX):
        for folder, _, files in os.walk(root / prefix):
            for name in files:
                key = (Path(folder) / name).relative_to(root).as_posix()
                if key not in written:
                    return True
    return False


def record_objects(sink: Any, settings: Settings, objects: Mapping[str, bytes], now: datetime) -> None:
    """:func:`record_batch` for objects already built and stored elsewhere (``replay`` stages its batches)."""
    import gzip

    lines = [line + b"\n" for key, body in objects.items() if key.startswith(settings.data_prefix)
             for line in gzip.decompress(body).splitlines()]
    record_batch(sink, settings, lines, objects, now)
