"""The hot tier's objects of a query's hours, copied into one plain file an hour for DuckDB to read.

Five-second batches leave thousands of small objects in the open hours (issue
25: about 2,300 at 10,000 bays). DuckDB spends about 80 µs on each object it
opens, Python about 10 µs to read and inflate one; so for a query whose
hours' objects are small in all, their lines are copied, in order, into one
file per hour below a temporary folder laid out as the lake is, and DuckDB
reads that instead. It parses the very same lines, so the answer is the
same; an object it could not read from the copy is read from the lake, whose
error names it (:class:`parking.analytics.duckdb_engine.DuckDBEngine`).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from isal import igzip, isal_zlib

from parking.layout import OBJECT_SUFFIX

#: The most compressed bytes a query's hot objects may hold to be copied; above it DuckDB reads the lake,
#: in parallel (a lake never compacted, whose hot tier holds every day).
COPY_LIMIT_BYTES = 16 * 2**20
STAGED_NAME = "objects.json"
_BOM = b"\xef\xbb\xbf"
_HOUR = re.compile(r"\d{10}")  # YYYYMMDDHH, as parking.analytics.windows.partition_params gives it
# What inflating a damaged object raises (isal's stub calls its error class an instance).
_UNREADABLE = (OSError, EOFError, cast(type[Exception], isal_zlib.error))


class NotCopied(Exception):
    """The hours' objects were not copied (too large, or one vanished or is unreadable): read the lake."""


@contextmanager
def copied_hours(data_dir: Path, data_prefix: str, params: Mapping[str, Any],
                 limit: int = COPY_LIMIT_BYTES) -> Iterator[Path | None]:
    """A temporary folder holding the hot objects of the query's hours, one file an hour; removed after.

    ``params`` are the query's bound parameters: its hours are
    ``first_hour`` to ``last_hour`` (``YYYYMMDDHH``, UTC), which every query
    prunes the events to (``queries/_parts/events.sql``). Yields None when
    those hours hold no object. Raises :class:`NotCopied` for a query
    without those parameters, for objects over ``limit`` compressed bytes in
    all, for an object that vanished (compaction moved it) or does not
    inflate, and when the copy cannot be written (no temporary folder, a
    full disk): the caller reads the lake instead.
    """
    first, last = str(params.get("first_hour", "")), str(params.get("last_hour", ""))
    if not (_HOUR.fullmatch(first) and _HOUR.fullmatch(last)):
        raise NotCopied("the query names no hours")
    if limit <= 0:
        raise NotCopied("copying is off")
    folders = _objects(Path(data_dir) / data_prefix, first, last, limit)
    if not folders:
        yield None
        return
    try:
        staged = tempfile.TemporaryDirectory(prefix="parking-hot-", ignore_cleanup_errors=True)
    except OSError as exc:
        raise NotCopied(f"no temporary folder: {exc}") from None
    with staged as folder_name:
        try:
            for folder, paths in folders.items():
                target = Path(folder_name) / folder / STAGED_NAME
                target.parent.mkdir(parents=True)
                with target.open("wb") as out:
                    for path in paths:
                        out.write(_lines(path))
        except OSError as exc:  # the temporary folder's disk full, say
            raise NotCopied(f"could not copy: {exc}") from None
        yield Path(folder_name)


def _objects(base: Path, first: str, last: str, limit: int) -> dict[str, list[str]]:
    """{hour folder relative to ``base``: its objects' paths, in name order} for the hours from first to last."""
    found: dict[str, list[str]] = {}
    size = 0
    for folder in _hour_folders(base, first, last):
        try:
            with os.scandir(base / folder) as entries:
                objects = sorted((entry.name, entry.path, entry.stat().st_size) for entry in entries
                                 if entry.name.endswith(OBJECT_SUFFIX) and not entry.name.startswith((".", "_")))
        except OSError as exc:
            raise NotCopied(str(exc)) from None
        size += sum(length for _, _, length in objects)
        if size > limit:
            raise NotCopied(f"the hours' objects hold over {limit:,} bytes")
        if objects:
            found[folder] = [path for _, path, _ in objects]
    return found


def _hour_folders(base: Path, first: str, last: str) -> Iterator[str]:
    """The hour folders below ``base`` (``year=/month=/day=/hour=``) whose ``YYYYMMDDHH`` is from first to last.

    The folders that are there are looked at, not every hour of the range: a query may span years.
    """
    levels = (("year", 4), ("month", 2), ("day", 2), ("hour", 2))

    def below(folder: str, stamp: str, depth: int) -> Iterator[str]:
        if depth == len(levels):
            yield folder.rstrip("/")
            return
        name, width = levels[depth]
        try:
            with os.scandir(base / folder) as entries:
                values = sorted(entry.name[len(name) + 1:] for entry in entries if entry.name.startswith(f"{name}="))
        except (FileNotFoundError, NotADirectoryError):
            return
        for value in values:
            reach = stamp + value
            if len(value) == width and value.isdigit() and first[:len(reach)] <= reach <= last[:len(reach)]:
                yield from below(f"{folder}{name}={value}/", reach, depth + 1)

    yield from below("", "", 0)


def _lines(path: str) -> bytes:
    """An object's lines as DuckDB reads them from the object itself: inflated, a leading BOM dropped, a last
    newline ensured (so lines of two objects never join)."""
    try:
        with open(path, "rb") as file:
            text = igzip.decompress(file.read())
    except _UNREADABLE as exc:
        raise NotCopied(f"{path}: {exc}") from None
    text = text.removeprefix(_BOM)
    return text if not text or text.endswith(b"\n") else text + b"\n"
