"""The hot tier's objects of a query's hours, copied into one plain file an hour for DuckDB to read.

Five-second batches leave thousands of small objects in the open hours (issue
25: about 2,800 at 10,000 bays). DuckDB spends 80-130 µs on each object it
opens, Python about 20 µs to read and inflate one; so for a query whose
hours' objects are small in all, their lines are copied, object after object,
into one file per hour (``YYYYMMDDHH.json``) in a temporary folder, and DuckDB
reads that instead (:func:`copied_view`). It parses the very same lines, so
the answer is the same. An object DuckDB would refuse is not copied but read
from the lake, whose error names it (:class:`parking.analytics.duckdb_engine.DuckDBEngine`).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, cast

from isal import isal_zlib

from parking.layout import OBJECT_SUFFIX
from parking.processes import process_alive

#: The most compressed bytes a query's hot objects may hold to be copied; above it DuckDB reads the lake,
#: in parallel (a lake never compacted, whose hot tier holds every day).
COPY_LIMIT_BYTES = 16 * 2**20
#: The fewest objects an hour, on average over the hours that hold any, that are worth copying: a file a
#: partition an hour (hourly batches, a backfill) is read by DuckDB as fast, and a copy's file costs its creation.
MANY_AN_HOUR = 4
#: The most bytes the copy may take inflated, in the temporary folder: a very compressible object stops it.
INFLATED_LIMIT_BYTES = 256 * 2**20
COPY_SUFFIX = ".json"
_PREFIX = "parking-hot-"  # a copy's folder: parking-hot-<pid>-<random>
_HOUR = re.compile(r"[0-9]{10}")  # YYYYMMDDHH, as parking.analytics.windows.partition_params gives it
_GZIP_MAGIC = b"\x1f\x8b\x08"  # and deflate, the only method
_FLAGS_READ = 0x04 | 0x08  # FEXTRA and FNAME: a header with FTEXT, FHCRC or FCOMMENT DuckDB refuses
_BOM = b"\xef\xbb\xbf"
# What inflating a damaged object raises (isal's stub calls its error class an instance).
_UNREADABLE = (OSError, EOFError, cast(type[Exception], isal_zlib.error))


class NotCopied(Exception):
    """The hours' objects were not copied (too large, one vanished or is not as DuckDB reads it): read the lake."""


@contextmanager
def copied_hours(data_dir: Path, data_prefix: str, params: Mapping[str, Any],
                 limit: int = COPY_LIMIT_BYTES) -> Iterator[Path | None]:
    """A temporary folder holding the hot objects of the query's hours, one file an hour; removed after.

    ``params`` are the query's bound parameters: its hours are
    ``first_hour`` to ``last_hour`` (``YYYYMMDDHH``, UTC), which every query
    prunes the events to (``queries/_parts/events.sql``). Yields None when
    those hours hold no object. Raises :class:`NotCopied` for a query
    without those parameters, for fewer than :data:`MANY_AN_HOUR` objects an
    hour, for objects over ``limit`` compressed bytes (or
    :data:`INFLATED_LIMIT_BYTES` inflated) in all, for an object that vanished
    (compaction moved it), is not a regular file or is not a gzip stream as
    DuckDB reads one, and when the copy cannot be written (no temporary
    folder, a full disk): the caller reads the lake instead. The folders of
    copies whose process was killed are removed first.
    """
    first, last = str(params.get("first_hour", "")), str(params.get("last_hour", ""))
    if not (_HOUR.fullmatch(first) and _HOUR.fullmatch(last)):
        raise NotCopied("the query names no hours")
    if limit <= 0:
        raise NotCopied("copying is off")
    hours = _objects(Path(data_dir) / data_prefix, first, last, limit)
    if not hours:
        yield None
        return
    try:
        _remove_abandoned()
        staged = tempfile.TemporaryDirectory(prefix=f"{_PREFIX}{os.getpid()}-", ignore_cleanup_errors=True)
    except OSError as exc:
        raise NotCopied(f"no temporary folder: {exc}") from None
    with staged as folder:
        written = 0
        try:
            for hour, paths in hours.items():
                with open(os.path.join(folder, f"{hour}{COPY_SUFFIX}"), "wb") as out:
                    for path in paths:
                        lines = _lines(path)
                        written += len(lines)
                        if written > INFLATED_LIMIT_BYTES:
                            raise NotCopied(f"the hours' objects inflate to over {INFLATED_LIMIT_BYTES:,} bytes")
                        out.write(lines)
        except OSError as exc:  # the temporary folder's disk full, say
            raise NotCopied(f"could not copy: {exc}") from None
        yield Path(folder)


def copied_view(files: str) -> str:
    """The events' view over a copy's files (``files``: the SQL text of their list or glob), as the lake's view.

    Its year, month, day and hour come from each file's name, not from Hive
    partitions in its path: the temporary folder's own path may hold a
    ``name=value`` folder.
    """
    return (
        'SELECT spot_id, status, "timestamp", substr(h, 1, 4) AS year, substr(h, 5, 2) AS month, '
        "substr(h, 7, 2) AS day, substr(h, 9, 2) AS hour FROM ("
        f"SELECT spot_id, status, \"timestamp\", regexp_extract(filename, '([0-9]{{10}})\\{COPY_SUFFIX}$', 1) AS h "
        f"FROM read_json({files}, format = 'newline_delimited', compression = 'none', "
        "columns = {'spot_id': 'VARCHAR', 'status': 'VARCHAR', 'timestamp': 'VARCHAR'}, "
        "filename = true, hive_partitioning = false))"
    )


def _objects(base: Path, first: str, last: str, limit: int) -> dict[str, list[str]]:
    """{``YYYYMMDDHH``: the paths of its objects, in name order} for the hours from first to last below ``base``."""
    found: dict[str, list[str]] = {}
    size = 0
    for hour, folder in _hour_folders(base, first, last):
        try:
            with os.scandir(folder) as entries:
                objects = sorted((entry.name, entry.path, entry.stat()) for entry in entries
                                 if entry.name.endswith(OBJECT_SUFFIX) and not entry.name.startswith((".", "_")))
        except OSError as exc:
            raise NotCopied(str(exc)) from None
        for name, _, status in objects:
            if not stat.S_ISREG(status.st_mode):
                raise NotCopied(f"{name} is not a regular file")
        size += sum(status.st_size for _, _, status in objects)
        if size > limit:
            raise NotCopied(f"the hours' objects hold over {limit:,} bytes")
        if objects:
            found[hour] = [path for _, path, _ in objects]
    if found and sum(map(len, found.values())) < MANY_AN_HOUR * len(found):
        raise NotCopied(f"fewer than {MANY_AN_HOUR} objects an hour: DuckDB reads them as fast as their copy")
    return found


def _hour_folders(base: Path, first: str, last: str) -> Iterator[tuple[str, Path]]:
    """``(YYYYMMDDHH, folder)`` of each hour folder below ``base`` (``year=/month=/day=/hour=``) from first to last.

    The folders that are there are looked at, not every hour of the range: a query may span years.
    """
    levels = (("year", 4), ("month", 2), ("day", 2), ("hour", 2))

    def below(folder: Path, stamp: str, depth: int) -> Iterator[tuple[str, Path]]:
        if depth == len(levels):
            yield stamp, folder
            return
        name, width = levels[depth]
        try:
            with os.scandir(folder) as entries:
                values = sorted(entry.name[len(name) + 1:] for entry in entries if entry.name.startswith(f"{name}="))
        except (FileNotFoundError, NotADirectoryError):
            return
        for value in values:
            reach = stamp + value
            if len(value) == width and value.isascii() and value.isdigit() and (
                    first[:len(reach)] <= reach <= last[:len(reach)]):
                yield from below(folder / f"{name}={value}", reach, depth + 1)

    yield from below(base, "", 0)


def _lines(path: str) -> bytes:
    """An object's lines as DuckDB reads them from the object itself: inflated, a leading BOM dropped, a last
    newline ensured (so lines of two objects never join). :class:`NotCopied` for what DuckDB refuses to read:
    an empty object, a header flag it does not take, bytes after the last gzip member."""
    try:
        with open(path, "rb") as file:
            data = file.read()
        text = _inflate(data)
    except _UNREADABLE as exc:
        raise NotCopied(f"{path}: {exc}") from None
    if text is None:
        raise NotCopied(f"{path} is not a gzip stream DuckDB reads")
    text = text.removeprefix(_BOM)
    return text if not text or text.endswith(b"\n") else text + b"\n"


def _inflate(data: bytes) -> bytes | None:
    """Every gzip member of ``data`` inflated; None when it is not gzip members end to end, each with a header
    DuckDB reads (deflate, no flag but FEXTRA and FNAME)."""
    parts = []
    while data:
        if not data.startswith(_GZIP_MAGIC) or len(data) < 10 or data[3] & ~_FLAGS_READ:
            return None
        member = isal_zlib.decompressobj(wbits=31)
        parts.append(member.decompress(data))
        if not member.eof:
            raise EOFError("the gzip stream ends before its end")
        data = member.unused_data
    return b"".join(parts) if parts else None


def _remove_abandoned() -> None:
    """Remove the copies of queries whose process no longer runs (killed: SIGTERM, SIGKILL, a power cut)."""
    with os.scandir(tempfile.gettempdir()) as entries:
        for entry in entries:
            pid = entry.name[len(_PREFIX):].split("-", 1)[0] if entry.name.startswith(_PREFIX) else ""
            if not (pid.isascii() and pid.isdigit()) or int(pid) == os.getpid():
                continue
            with suppress(OSError):  # gone meanwhile: another query's, removed by its own
                if entry.is_dir(follow_symlinks=False) and not process_alive(
                        int(pid), since=entry.stat(follow_symlinks=False).st_mtime):
                    shutil.rmtree(entry.path, ignore_errors=True)
