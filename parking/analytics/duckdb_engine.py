"""The local engine: DuckDB over the Hive layout on disk, with the views and globs the SQL reads.

It runs the Athena text of ``queries/*.sql`` as bound by
:func:`parking.analytics.binding.bind`; DuckDB macros stand in for the few
Trino functions DuckDB lacks. Its errors are read in
:mod:`parking.analytics.duckdb_errors`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from parking.analytics.binding import bind, literal
from parking.analytics.catalog import CATALOG_TABLE, duckdb_view_body
from parking.analytics.duckdb_errors import unreadable_object, vanished
from parking.analytics.registry import COMPACTED_TABLE, QUERY_TABLE
from parking.errors import QueryCancelled, QueryError
from parking.lake.compaction.dayfiles import day_file_name, file_hour
from parking.layout import (
    COMPACTED_PREFIX,
    COMPACTED_SOURCES_PREFIX,
    DATA_PREFIX,
    compacted_glob,
    data_glob,
    glob_escape,
)

VANISHED_RETRIES = 2  # a query that met a file compaction moved away is run again, this many times at most

# Trino functions DuckDB lacks, defined with Trino's meaning. Each gives the
# same instant whatever the session's time zone: the SQL says UTC where it
# turns an instant into a wall-clock time.
DUCKDB_MACROS = (
    "CREATE OR REPLACE MACRO from_iso8601_timestamp(text) AS CAST(text AS TIMESTAMPTZ)",
    "CREATE OR REPLACE MACRO to_unixtime(ts) AS epoch(ts)",
    "CREATE OR REPLACE MACRO from_unixtime_nanos(ns) AS make_timestamp(CAST(ns // 1000 AS BIGINT)) AT TIME ZONE 'UTC'",
    "CREATE OR REPLACE MACRO day_of_week(ts) AS isodow(ts)",
    "CREATE OR REPLACE MACRO sequence(first, last, step) AS generate_series(first, last, step)",
)


class DuckDBEngine:
    """DuckDB over the Hive layout on disk that the local sink writes."""

    name = "local"

    def __init__(self, data_dir: Path | str, data_prefix: str = DATA_PREFIX, threads: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.data_prefix = data_prefix
        self._connection = duckdb.connect(config={"threads": threads} if threads else {})
        self._connection.execute("SET TimeZone = 'UTC'")
        for macro in DUCKDB_MACROS:
            self._connection.execute(macro)
        self._create_view(reads_catalog=False)  # each query makes the catalog's view when it reads it

    @property
    def has_data(self) -> bool:
        return _lake_files(self.data_dir.resolve(), data_glob("", self.data_prefix).lstrip("/")) is not None

    def zone_name(self, tz: str) -> str:
        """DuckDB knows every zone Python's ``zoneinfo`` does: the name itself."""
        return tz

    def run(self, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
        """The query's rows; :class:`QueryError` (one line) when it fails, :class:`QueryCancelled` on Ctrl-C.

        A lake whose layout is damaged where a look at its folders shows it
        (:func:`layout_damage`) is not answered from: the query fails naming it.

        A query that listed a lake file which then vanished (``compact``
        moved it) is run again, at most :data:`VANISHED_RETRIES` times: both
        tiers are listed afresh, so the retry still sees every event.
        """
        damage = layout_damage(self.data_dir, self.data_prefix)
        if damage is not None:
            raise QueryError(damage)
        for attempt in range(VANISHED_RETRIES + 1):
            self._create_view(reads_catalog=CATALOG_TABLE in sql)
            try:
                return self._interruptible(bind(sql, params))
            except duckdb.Error as exc:
                if attempt < VANISHED_RETRIES and vanished(exc, self.data_dir):
                    continue
                raise QueryError(unreadable_object(str(exc)) or f"local query failed: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _interruptible(self, text: str) -> pd.DataFrame:
        """Run ``text`` in a thread of its own, so Ctrl-C reaches Python at once and interrupts DuckDB.

        DuckDB holds the calling thread until a query ends and does not look
        at Python's signals meanwhile; the main thread, waiting on the
        result instead, gets KeyboardInterrupt and stops the query.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="duckdb-query") as pool:
            running = pool.submit(lambda: self._connection.execute(text).df())
            try:
                return running.result()
            except KeyboardInterrupt:
                self._connection.interrupt()
                wait([running])
                raise QueryCancelled("the local query was stopped") from None

    def explain_analyze(self, sql: str, params: Mapping[str, Any]) -> str:
        """DuckDB's profile of one run: files and bytes read, per operator."""
        self._create_view()
        return self._connection.execute("EXPLAIN ANALYZE " + bind(sql, params)).fetchall()[0][1]

    def _create_view(self, reads_catalog: bool = True) -> None:
        """The views a query reads; the spot catalog's only for a query that names it (status and health
        do not: a damaged catalog must not stop them)."""
        if not self.has_data:
            body = (
                "SELECT CAST(NULL AS VARCHAR) AS spot_id, CAST(NULL AS VARCHAR) AS status, "
                'CAST(NULL AS VARCHAR) AS "timestamp", CAST(NULL AS VARCHAR) AS year, '
                "CAST(NULL AS VARCHAR) AS month, CAST(NULL AS VARCHAR) AS day, "
                "CAST(NULL AS VARCHAR) AS hour WHERE false"
            )
        else:
            files = _lake_files(self.data_dir.resolve(), data_glob("", self.data_prefix).lstrip("/"))
            body = (  # compression named: DuckDB's guess from the name stops at a '?' in a folder's name
                f"SELECT * FROM read_json({files}, format = 'newline_delimited', compression = 'gzip', "
                "columns = {'spot_id': 'VARCHAR', 'status': 'VARCHAR', 'timestamp': 'VARCHAR'}, "
                "hive_partitioning = true, "
                "hive_types = {'year': 'VARCHAR', 'month': 'VARCHAR', 'day': 'VARCHAR', 'hour': 'VARCHAR'})"
            )
        self._connection.execute(f"CREATE OR REPLACE VIEW {QUERY_TABLE} AS {body}")
        self._connection.execute(
            f"CREATE OR REPLACE VIEW {COMPACTED_TABLE} AS {compacted_view(self.data_dir, self.data_prefix)}")
        # The spot catalog in force (METRICS.md section 7), read again at every run.
        if reads_catalog:
            self._connection.execute(f"CREATE OR REPLACE VIEW {CATALOG_TABLE} AS {duckdb_view_body(self.data_dir)}")


# The folders of a tier, one pattern a level: a data object (and a kept source) lies in an hour folder, a
# compacted file in a day folder; any other place is one the layout never uses.
_DAY_LEVELS = (re.compile(r"year=\d{4}"), re.compile(r"month=(0[1-9]|1[0-2])"), re.compile(r"day=(0[1-9]|[12]\d|3[01])"))
_HOUR_LEVELS = (*_DAY_LEVELS, re.compile(r"hour=([01]\d|2[0-3])"))


def layout_damage(data_dir: Path, data_prefix: str = DATA_PREFIX) -> str | None:
    """One line naming what a walk of the lake's folders shows to be damaged, with the repair; None if nothing.

    What it finds without reading a file (README, "Two tiers"): a file under
    the data prefix, ``parking-compacted/`` or ``parking-compacted-sources/``
    in a place the layout never uses (``hour=10/sub/x.json.gz``, a file beside
    the ``year=`` folders), which no query reads; and kept sources of an hour
    that no day file of its day and no hour file of that hour holds (their
    events are nowhere a query reads). Hidden names (``.x``, ``_x``) are skipped, as every reader
    skips them. Costs a walk of the folders (no file is opened): each query
    runs it, and the kept sources are every object ever folded, so a file in
    a folder of the right place costs only a look at its type.
    """
    root = Path(data_dir)
    misplaced: list[str] = []
    tiers: list[tuple[str, tuple[re.Pattern[str], ...]]] = [(data_prefix, _HOUR_LEVELS)]
    if data_prefix == DATA_PREFIX:
        tiers += [(COMPACTED_PREFIX, _DAY_LEVELS), (COMPACTED_SOURCES_PREFIX, _HOUR_LEVELS)]
    kept_hours: set[tuple[str, str]] = set()  # (day folder, hour) of each kept source
    holding: set[tuple[str, str | None]] = set()  # (day folder, None) for a day file, (day folder, hour) an hour file
    for prefix, levels in tiers:
        astray, placed = _layout_walk(root / prefix, levels)
        misplaced += [f"{root / prefix / relative}" for relative in astray]
        if prefix == COMPACTED_SOURCES_PREFIX:
            kept_hours |= {(folder.rsplit("/", 2)[0], folder.rsplit("/", 2)[1].removeprefix("hour="))
                           for folder in placed}
        elif prefix == COMPACTED_PREFIX:
            for folder, names in placed.items():
                for name in names:
                    if day_file_name(f"{COMPACTED_PREFIX}{folder}{name}") is not None:  # a day or hour file compact wrote
                        held = file_hour(f"{COMPACTED_PREFIX}{folder}{name}")
                        holding.add((folder.rstrip("/"), None if held is None else f"{held:02d}"))
    with_files = {day for day, _ in holding}
    unheld = {(day, hour) for day, hour in kept_hours if (day, None) not in holding and (day, hour) not in holding}
    lost = [f"{root / COMPACTED_PREFIX / day}/ has no day file, though that day's kept sources exist"
            for day in sorted({day for day, _ in unheld} - with_files)]
    lost += [f"{root / COMPACTED_PREFIX / day}/ has no file holding hour {hour}, though its kept sources exist"
             for day, hour in sorted(unheld) if day in with_files]
    if misplaced:
        what = f"{misplaced[0]} is a file where the lake's layout puts none, so no query reads it"
        count = len(misplaced) + len(lost)
    elif lost:
        what, count = lost[0], len(lost)
    else:
        return None
    more = f" ({count - 1} more such)" if count > 1 else ""
    return f"the lake is damaged: {what}{more}; run `parking-cli lake check --repair`"


def _layout_walk(base: Path, levels: tuple[re.Pattern[str], ...]) -> tuple[list[str], dict[str, list[str]]]:
    """A tier whose files lie in folders named by ``levels``: (its misplaced files, {folder: its files' names}).

    Paths are relative to ``base``, a folder's ending in ``/``; hidden names
    are left out. A folder of the right place is not walked file by file
    (no path built, no pattern matched): only each entry's type is looked at.
    """
    misplaced: list[str] = []
    placed: dict[str, list[str]] = {}
    stack = [("", str(base), 0)]
    while stack:
        relative, folder, depth = stack.pop()
        try:
            entries = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        names = []
        with entries:
            for entry in entries:
                name = entry.name
                if name.startswith((".", "_")):
                    continue
                if entry.is_dir(follow_symlinks=True):
                    if depth < len(levels) and levels[depth].fullmatch(name):
                        stack.append((f"{relative}{name}/", entry.path, depth + 1))
                    else:
                        misplaced += [f"{relative}{name}/{below}" for below in _visible_files(Path(entry.path))]
                elif depth == len(levels):
                    names.append(name)
                else:
                    misplaced.append(f"{relative}{name}")
        if names:
            placed[relative] = names
    return misplaced, placed


def _visible_files(base: Path) -> list[str]:
    """Every file below ``base`` (paths relative to it), hidden names and folders left out."""
    found: list[str] = []
    stack = [("", str(base))]
    while stack:
        relative, folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.startswith((".", "_")):
                continue
            name = f"{relative}{entry.name}"
            if entry.is_dir(follow_symlinks=True):
                stack.append((name + "/", entry.path))
            else:
                found.append(name)
    return found


def compacted_view(data_dir: Path, data_prefix: str = DATA_PREFIX) -> str:
    """The compacted days' Parquet files under ``data_dir`` (none: an empty table of their columns).

    Only the default data prefix is ever compacted (README, "Two tiers"): a
    lake read under another prefix has no compacted days.
    """
    files = _lake_files(data_dir.resolve(), compacted_glob("").lstrip("/")) if data_prefix == DATA_PREFIX else None
    if files is None:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS spot_id, CAST(NULL AS VARCHAR) AS status, "
            'CAST(NULL AS VARCHAR) AS "timestamp", CAST(NULL AS BIGINT) AS ts_ms, CAST(NULL AS VARCHAR) AS year, '
            "CAST(NULL AS VARCHAR) AS month, CAST(NULL AS VARCHAR) AS day, CAST(NULL AS VARCHAR) AS hour WHERE false"
        )
    return (
        f"SELECT spot_id, status, \"timestamp\", ts_ms, year, month, day, hour FROM read_parquet({files}, "
        "hive_partitioning = true, hive_types = {'year': 'VARCHAR', 'month': 'VARCHAR', 'day': 'VARCHAR'})"
    )


def _lake_files(root: Path, pattern: str) -> str | None:
    """What DuckDB is to read for ``pattern`` (a glob below ``root``) as SQL text; None when nothing matches.

    The glob itself, the folder escaped to match only itself; but DuckDB's
    glob takes a backslash for a folder separator, so below a folder whose
    path holds one, the list of the files it matches now (hidden names left
    out either way: the pattern's last segment is ``[!._]*``).
    """
    matches = root.glob(pattern)
    if "\\" not in str(root):
        found = next(matches, None) is not None
        return literal(f"{glob_escape(str(root))}/{pattern}") if found else None
    files = sorted(str(path) for path in matches)
    return f"[{', '.join(literal(glob_escape(path)) for path in files)}]" if files else None
