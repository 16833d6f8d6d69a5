"""Steps 3 and 4 delayed: what a compacted file holds is removed once a query can no longer be reading it.

On S3 an Athena query lists its objects and reads them afterwards, so a fold
keeps what it replaces; a later run removes it once the removal delay (longer
than any query runs) has passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from parking.lake.compaction.dayfiles import day_file_name, file_hour
from parking.lake.compaction.schedule import kept_copies
from parking.lake.compaction.sql import clear, path_list
from parking.lake.compaction.tier_check import day_file_findings
from parking.lake.stores import Store
from parking.layout import COMPACTED_PREFIX, DATA_PREFIX, OBJECT_SUFFIX

if TYPE_CHECKING:
    import duckdb

REMOVALS_BETWEEN_ASKS = 100  # remove_folded asks keep_going() this often


@dataclass(frozen=True)
class Removed:
    """What :func:`remove_folded` removed: JSON objects a compacted file holds, and files a newer file holds."""

    objects: int
    files: int
    stopped: bool = False  # out of time: the next run removes the rest


def remove_folded(
    store: Store,
    connection: duckdb.DuckDBPyConnection,
    workdir: Path,
    *,
    now: datetime,
    delay: timedelta,
    data_prefix: str = DATA_PREFIX,
    checkpoint: Callable[[str], None] | None = None,
    keep_going: Callable[[], bool] | None = None,
) -> Removed:
    """Remove what a compacted file holds, once it has held it for ``delay`` (steps 3 and 4, delayed).

    A JSON object under ``data_prefix`` goes once its kept copy (made only
    after the file holding it was written) and the object itself are older
    than ``delay``. A day or hour file goes once another file of its day,
    both older than ``delay``, holds every row of it (same source, line
    number and line): an hour file may be held by its hour's newer file or
    by a day file, a day file by another day file. A file ``lake check``
    would flag is never removed here, nor trusted to hold another. So a query
    that listed the object before the file holding it existed has ended
    before it goes (the delay is longer than any query runs), and every
    event stays in a file that stays. Idempotent; a crash at any point is
    finished by the next run, and so is a run that stops because
    ``keep_going()`` (asked every :data:`REMOVALS_BETWEEN_ASKS` removals)
    said so (``stopped`` of the result).
    """
    mark = checkpoint or (lambda step: None)
    asked = 0

    def go_on() -> bool:
        nonlocal asked
        asked += 1
        return keep_going is None or bool(asked % REMOVALS_BETWEEN_ASKS) or keep_going()

    limit = now - delay
    listed = {key: item for key, item in store.listing(data_prefix).items() if key.endswith(OBJECT_SUFFIX)}
    objects = 0
    for key, kept in sorted(kept_copies(store, listed, data_prefix).items()):
        if max(kept.modified, listed[key].modified) <= limit:
            if not go_on():
                return Removed(objects, 0, stopped=True)
            store.delete(key)
            objects += 1
            mark("source-moved")
    files: dict[date, list[str]] = {}
    for key, item in store.listing(COMPACTED_PREFIX).items():
        day = day_file_name(key)
        if day is not None and item.modified <= limit:
            files.setdefault(day, []).append(key)
    removed = 0
    for day, keys in sorted(files.items()):
        if not any(_may_hold(holder, key) for key in keys for holder in keys if holder != key):
            continue
        if keep_going is not None and not keep_going():
            return Removed(objects, removed, stopped=True)
        for key in sorted(_held(store, connection, workdir, day, keys)):
            store.delete(key)
            removed += 1
            mark("parquet-removed")
        clear(connection, workdir)
    return Removed(objects, removed)


def _may_hold(holder: str, key: str) -> bool:
    """Whether ``holder`` may replace ``key``: a day file any file of its day, an hour file its hour's files."""
    return file_hour(holder) is None or file_hour(holder) == file_hour(key)


def _held(store: Store, connection: duckdb.DuckDBPyConnection, workdir: Path, day: date, keys: list[str]) -> set[str]:
    """Of one day's ``keys``, those another file among them holds (and may replace); only files that check clean."""
    paths: dict[str, str] = {}
    for key in keys:
        try:
            path = store.fetch(key, workdir)
        except FileNotFoundError:  # another run removed it meanwhile
            continue
        if not day_file_findings(connection, key, path, day, workdir):
            paths[str(path)] = key
    if len(paths) < 2:
        return set()
    files = path_list(paths)
    connection.execute(
        "CREATE OR REPLACE TABLE held_rows AS SELECT filename AS file, source, line_number, line FROM read_parquet("
        f"{files}, hive_partitioning = false, filename = true)"
    )
    sizes = dict(connection.execute("SELECT file, count(*) FROM held_rows GROUP BY file").fetchall())
    shared = connection.execute(
        "SELECT a.file, b.file, count(*) FROM held_rows a JOIN held_rows b ON a.source = b.source "
        "AND a.line_number = b.line_number AND a.line = b.line AND a.file <> b.file GROUP BY a.file, b.file"
    ).fetchall()
    connection.execute("DROP TABLE held_rows")
    within = {(paths[a], paths[b]) for a, b, count in shared if count == sizes.get(a, 0)}
    within |= {(paths[a], paths[b]) for a in paths for b in paths if a != b and not sizes.get(a)}  # an empty file

    def rank(key: str) -> tuple[int, str]:  # of two files holding the same rows, the day file, else the later name
        return (file_hour(key) is None, key)

    return {key for key, holder in within
            if _may_hold(holder, key) and ((holder, key) not in within or rank(holder) > rank(key))}
