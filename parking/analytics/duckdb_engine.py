"""The local engine: DuckDB over the Hive layout on disk, with the views and globs the SQL reads.

It runs the Athena text of ``queries/*.sql`` as bound by
:func:`parking.analytics.binding.bind`; DuckDB macros stand in for the few
Trino functions DuckDB lacks. Its errors are read in
:mod:`parking.analytics.duckdb_errors`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from parking.analytics.binding import bind, literal
from parking.analytics.catalog import CATALOG_TABLE, duckdb_view_body
from parking.analytics.duckdb_errors import unreadable_object, vanished
from parking.analytics.hot_tier import COPY_LIMIT_BYTES, COPY_SUFFIX, NotCopied, copied_hours, copied_view
from parking.analytics.lake_layout import layout_damage
from parking.analytics.registry import COMPACTED_TABLE, QUERY_TABLE
from parking.errors import QueryCancelled, QueryError
from parking.layout import (
    DATA_PREFIX,
    compacted_glob,
    data_glob,
    glob_escape,
)

#: The events' view of a lake with none (in the query's hours).
NO_EVENTS = (
    "SELECT CAST(NULL AS VARCHAR) AS spot_id, CAST(NULL AS VARCHAR) AS status, "
    'CAST(NULL AS VARCHAR) AS "timestamp", CAST(NULL AS VARCHAR) AS year, '
    "CAST(NULL AS VARCHAR) AS month, CAST(NULL AS VARCHAR) AS day, "
    "CAST(NULL AS VARCHAR) AS hour WHERE false"
)
VANISHED_RETRIES = 10  # a query that met a file compaction moved away is run again, this many times at most,
VANISHED_BACKOFF_S = 0.05  # after waiting this long, doubled at each retry (up to 1 s): a compaction moves on

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

    def __init__(self, data_dir: Path | str, data_prefix: str = DATA_PREFIX, threads: int | None = None,
                 copy_limit: int = COPY_LIMIT_BYTES) -> None:
        """``copy_limit``: the most compressed bytes of a query's hot objects copied for it (:mod:`hot_tier`);
        0 reads the lake's objects always."""
        self.data_dir = Path(data_dir)
        self.data_prefix = data_prefix
        self.copy_limit = copy_limit
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
        moved it) is run again, at most :data:`VANISHED_RETRIES` times, a little
        later each time (a running compaction moves file after file): both
        tiers are listed afresh, so the retry still sees every event.
        """
        damage = layout_damage(self.data_dir, self.data_prefix)
        if damage is not None:
            raise QueryError(damage)
        reads_catalog = CATALOG_TABLE in sql
        try:  # the hours' small objects copied into a file an hour, when they are (:mod:`hot_tier`)
            with copied_hours(self.data_dir, self.data_prefix, params, self.copy_limit) as copy:
                files = None if copy is None else _lake_files(copy, f"*{COPY_SUFFIX}")
                self._create_view(reads_catalog, events=NO_EVENTS if files is None else copied_view(files))
                return self._interruptible(bind(sql, params))
        except (NotCopied, duckdb.Error):
            pass  # the lake's own objects are read: an error then names the object at fault
        for attempt in range(VANISHED_RETRIES + 1):
            self._create_view(reads_catalog)
            try:
                return self._interruptible(bind(sql, params))
            except duckdb.Error as exc:
                if attempt < VANISHED_RETRIES and vanished(exc, self.data_dir):
                    time.sleep(min(1.0, VANISHED_BACKOFF_S * 2**attempt))  # about 6 s in all at most
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

    def _create_view(self, reads_catalog: bool = True, events: str | None = None) -> None:
        """The views a query reads; the spot catalog's only for a query that names it (status and health
        do not: a damaged catalog must not stop them).

        ``events`` is what the events' view selects instead of the lake's objects (a copy of them).
        """
        if events is None:
            files = _lake_files(self.data_dir.resolve(), data_glob("", self.data_prefix).lstrip("/"))
            # Compression named: DuckDB's guess from the name stops at a '?' in a folder's name.
            events = NO_EVENTS if files is None else (
                f"SELECT * FROM read_json({files}, format = 'newline_delimited', compression = 'gzip', "
                "columns = {'spot_id': 'VARCHAR', 'status': 'VARCHAR', 'timestamp': 'VARCHAR'}, "
                "hive_partitioning = true, "
                "hive_types = {'year': 'VARCHAR', 'month': 'VARCHAR', 'day': 'VARCHAR', 'hour': 'VARCHAR'})"
            )
        self._connection.execute(f"CREATE OR REPLACE VIEW {QUERY_TABLE} AS {events}")
        self._connection.execute(
            f"CREATE OR REPLACE VIEW {COMPACTED_TABLE} AS {compacted_view(self.data_dir, self.data_prefix)}")
        # The spot catalog in force (METRICS.md section 7), read again at every run.
        if reads_catalog:
            self._connection.execute(f"CREATE OR REPLACE VIEW {CATALOG_TABLE} AS {duckdb_view_body(self.data_dir)}")


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
