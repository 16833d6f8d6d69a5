"""Query engines: the same named SQL on Athena or on an embedded DuckDB.

Both engines run the Athena text of ``queries/*.sql``. Parameters are bound
by PyAthena's formatter (client-side escaping, the way PyAthena's own
pyformat cursors do it), so the local engine runs exactly the text Athena
would get. DuckDB macros stand in for the few Trino functions DuckDB lacks.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pandas as pd
from pyathena.formatter import DefaultParameterFormatter

from parking.analytics.catalog import CATALOG_TABLE, duckdb_view_body
from parking.aws import DENIED, THROTTLED, botocore_error, check_session, error_code, explain, one_line
from parking.config import SQL_IDENTIFIER, Settings
from parking.errors import AwsError, ConfigurationError, InvalidArgument, QueryCancelled, QueryError
from parking.layout import (
    COMPACTED_PREFIX,
    COMPACTED_SOURCES_PREFIX,
    DATA_PREFIX,
    compacted_glob,
    data_glob,
    glob_escape,
)
from parking.sql_text import string_literal

QUERY_TABLE = "parking_events"  # the name the SQL files use
COMPACTED_TABLE = "parking_events_compacted"  # the compacted days (parking/lake/compaction/)
USD_PER_TB_SCANNED = 5.0
MEGABYTE = 2**20  # AWS bills in binary units: 1 TB = 2**20 MB
BILLED_MINIMUM_MB = 10
VANISHED_RETRIES = 2  # a query that met a file compaction moved away is run again, this many times at most

# PyAthena logs a failed query with its traceback before raising; with no
# logging configured, Python would print that to stderr. The QueryError raised
# says it in one line; configure logging to see PyAthena's own record too.
logging.getLogger("pyathena").addHandler(logging.NullHandler())

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


# IANA names renamed after Athena's time-zone list was made: the old name is the
# same zone (a link in the IANA database), and Athena knows only the old one.
ATHENA_ZONE_NAMES = {
    "Europe/Kyiv": "Europe/Kiev",
    "America/Nuuk": "America/Godthab",
    "Pacific/Kanton": "Pacific/Enderbury",
}
# Names the local engine accepts that Athena's list lacks and that no older name
# stands for: zones created since, and tzdata's legacy or pseudo zones.
NOT_IN_ATHENA = frozenset({
    "America/Ciudad_Juarez", "America/Coyhaique", "EST", "HST", "MST", "ROC", "Factory", "localtime",
})
ATHENA = "--engine athena"  # what chose AWS, in the set-up messages (parking/aws.py)
# Throttled Athena calls: PyAthena retries them this often (waits of about 1, 2 and 4 s, plus
# jitter), each call with botocore's standard retries (3 attempts) inside; then one line. Its
# default (8 attempts, up to 100 s apart) kept a throttled user waiting minutes in silence.
THROTTLE_ATTEMPTS = 4
THROTTLE_MAX_DELAY_SECONDS = 8


class AthenaSetupError(QueryError, AwsError):
    """AWS is not set up for the Athena engine (region, profile, credentials, endpoint,
    workgroup, permission) or kept throttling; the message says what to set."""


def athena_zone(name: str) -> str:
    """The name Athena knows for an IANA zone; :class:`InvalidArgument` for one it has no name for."""
    if name in NOT_IN_ATHENA:
        raise InvalidArgument(
            f"time zone {name!r} is not in Athena's time-zone database: use --engine local, or a zone Athena knows"
        )
    return ATHENA_ZONE_NAMES.get(name, name)


class Engine(Protocol):
    """Runs one named query's SQL with its parameters and returns the rows."""

    name: str

    def run(self, sql: str, params: Mapping[str, Any]) -> pd.DataFrame: ...

    def zone_name(self, tz: str) -> str:
        """The name this engine knows ``tz`` by; :class:`InvalidArgument` when it knows none."""
        ...


def bind(sql: str, params: Mapping[str, Any]) -> str:
    """The query text with parameters bound as escaped literals (PyAthena's formatter)."""
    return DefaultParameterFormatter().format(sql, dict(params))


def retarget(sql: str, table: str) -> str:
    """Point the query at another table name; the name must be a plain identifier."""
    if table == QUERY_TABLE:
        return sql
    if not SQL_IDENTIFIER.fullmatch(table):
        raise ConfigurationError(f"PARKING_TABLE={table!r} is not a plain SQL identifier")
    sql = re.sub(rf"\bFROM {COMPACTED_TABLE}\b", f'FROM "{table}_compacted"', sql)
    return re.sub(rf"\bFROM {QUERY_TABLE}\b", f'FROM "{table}"', sql)


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
                return self._connection.execute(bind(sql, params)).df()
            except KeyboardInterrupt:
                self._connection.interrupt()
                raise QueryCancelled("the local query was stopped") from None
            except RuntimeError as exc:  # DuckDB's answer to Ctrl-C (SIGINT) during a query
                if "interrupted" not in str(exc).lower():
                    raise
                raise QueryCancelled("the local query was stopped") from None
            except duckdb.Error as exc:
                if attempt < VANISHED_RETRIES and _vanished(exc, self.data_dir):
                    continue
                raise QueryError(_unreadable_object(str(exc)) or f"local query failed: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

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


_DATA_PLACE = re.compile(r"year=\d{4}/month=(0[1-9]|1[0-2])/day=(0[1-9]|[12]\d|3[01])/hour=([01]\d|2[0-3])/[^/]+")
_DAY_PLACE = re.compile(r"year=\d{4}/month=(0[1-9]|1[0-2])/day=(0[1-9]|[12]\d|3[01])/[^/]+")


def layout_damage(data_dir: Path, data_prefix: str = DATA_PREFIX) -> str | None:
    """One line naming what a walk of the lake's folders shows to be damaged, with the repair; None if nothing.

    What it finds without reading a file (README, "Two tiers"): a file under
    the data prefix, ``parking-compacted/`` or ``parking-compacted-sources/``
    in a place the layout never uses (``hour=10/sub/x.json.gz``, a file beside
    the ``year=`` folders), which no query reads; and a compacted day whose
    kept sources exist but whose day file does not (its events are nowhere a
    query reads). Hidden names (``.x``, ``_x``) are skipped, as every reader
    skips them. Costs a walk of the folders (no file is opened).
    """
    root = Path(data_dir)
    misplaced: list[str] = []
    tiers = [(data_prefix, _DATA_PLACE)]
    if data_prefix == DATA_PREFIX:
        tiers += [(COMPACTED_PREFIX, _DAY_PLACE), (COMPACTED_SOURCES_PREFIX, _DATA_PLACE)]
    kept_days: set[str] = set()
    day_files: set[str] = set()
    for prefix, place in tiers:
        for relative in _visible_files(root / prefix):
            if not place.fullmatch(relative):
                misplaced.append(f"{root / prefix / relative}")
            elif prefix == COMPACTED_SOURCES_PREFIX:
                kept_days.add(relative.rsplit("/", 2)[0])
            elif prefix == COMPACTED_PREFIX:
                day_files.add(relative.rsplit("/", 1)[0])
    lost = [f"{root / COMPACTED_PREFIX / day}/" for day in sorted(kept_days - day_files)]
    if misplaced:
        what = f"{misplaced[0]} is a file where the lake's layout puts none, so no query reads it"
        count = len(misplaced) + len(lost)
    elif lost:
        what = f"{lost[0]} has no day file, though that day's kept sources exist"
        count = len(lost)
    else:
        return None
    more = f" ({count - 1} more such)" if count > 1 else ""
    return f"the lake is damaged: {what}{more}; run `parking-cli lake check --repair`"


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
        return string_literal(f"{glob_escape(str(root))}/{pattern}") if found else None
    files = sorted(str(path) for path in matches)
    return f"[{', '.join(string_literal(glob_escape(path)) for path in files)}]" if files else None


# "Cannot open file" of a file listed a moment before; "No files found" of a glob that matched at the check.
_VANISHED = re.compile(r'(?:Cannot open file "(?P<file>[^"]+)": No such file or directory'
                       r'|No files found that match the pattern "(?P<glob>[^"]+)")')


def _vanished(exc: duckdb.Error, data_dir: Path) -> bool:
    """Whether a DuckDB error is a file under ``data_dir`` gone between listing and reading."""
    found = _VANISHED.search(str(exc)) if isinstance(exc, duckdb.IOException) else None
    if found is None:
        return False
    root = str(data_dir.resolve())
    path = found["file"] or found["glob"]
    return path.startswith((root + "/", glob_escape(root) + "/")) and not Path(path).exists()


_OBJECT_IN_ERROR = re.compile(r'(?:in file "|: )(/[^"\n]+?\.json\.gz)')
_DAY_FILE_IN_ERROR = re.compile(r"""['"](/[^'"\n]+?\.parquet)['"]""")  # 'file' or "file": DuckDB uses both


def _unreadable_object(message: str) -> str | None:
    """One line naming the lake object a DuckDB error is about, and the check that repairs it."""
    found = _OBJECT_IN_ERROR.search(message)
    if found is None:
        return _unreadable_day_file(message)
    reason = message[: found.start()].split("Error:", 1)[-1].strip().removesuffix("in file").strip()
    return (f"cannot read lake object {found.group(1)} ({reason}); "
            "run `parking-cli lake check --repair` to quarantine what it holds")


def _unreadable_day_file(message: str) -> str | None:
    """One line for a compacted day file DuckDB cannot read as Parquet, and the repair that rebuilds its day."""
    first = message.splitlines()[0] if message else ""
    found = _DAY_FILE_IN_ERROR.search(first)
    if found is not None:
        reason = first.split("Error:", 1)[-1].replace(found.group(0), "").strip()
        return (f"cannot read compacted day file {found.group(1)} ({reason}); "
                "run `parking-cli lake check --repair` to rebuild its day from its sources")
    if "TProtocolException" in first:  # a Parquet footer DuckDB cannot decode does not name its file
        return (f"local query failed: {first} (a damaged Parquet day file); "
                "run `parking-cli lake check --repair` to find it and rebuild its day")
    return None


@dataclass(frozen=True, slots=True)
class QueryProgress:
    """One poll of a running Athena query."""

    query_id: str
    state: str
    elapsed_seconds: float


@dataclass(frozen=True, slots=True)
class QueryStats:
    """What an Athena query that reached an end (``state``) scanned and cost."""

    query_id: str
    data_scanned_bytes: int
    engine_milliseconds: int
    reused_result: bool
    state: str = "SUCCEEDED"  # or CANCELLED, FAILED

    @property
    def billed(self) -> bool:
        """Whether Athena bills the query: not for a reused result, nor for a failed query."""
        return not self.reused_result and self.state != "FAILED"

    @property
    def billed_megabytes(self) -> int:
        """What Athena bills: bytes scanned rounded up to the megabyte, at least 10 MB a query.

        A query answered from a reused result scans nothing and is not billed;
        a failed query is not billed; a cancelled one is, for what it scanned.
        """
        if not self.billed:
            return 0
        return max(BILLED_MINIMUM_MB, -(-self.data_scanned_bytes // MEGABYTE))

    @property
    def cost_usd(self) -> float:
        """What the user pays for the query, in US dollars, at $5 per TB billed."""
        return self.billed_megabytes / MEGABYTE * USD_PER_TB_SCANNED


class AthenaEngine:
    """Athena through PyAthena's PandasCursor; Ctrl-C cancels the running query.

    ``on_progress`` is called at every poll, ``on_finished`` once with the
    query's cost (:class:`QueryStats`), also for a query that was cancelled or
    failed when Athena reported what it scanned, and ``on_throttled`` with a
    line to show each time AWS throttles a call that will be retried, so a
    caller (the CLI) can show them; the engine never prints.
    ``throttle_attempts`` and ``throttle_max_delay`` (seconds) bound PyAthena's
    retries of a throttled call (:data:`THROTTLE_ATTEMPTS`).
    """

    name = "athena"

    def __init__(
        self,
        settings: Settings,
        *,
        result_reuse_minutes: int | None = None,
        poll_interval: float = 1.0,
        on_progress: Callable[[QueryProgress], None] | None = None,
        on_finished: Callable[[QueryStats], None] | None = None,
        on_throttled: Callable[[str], None] | None = None,
        throttle_attempts: int | None = None,
        throttle_max_delay: float | None = None,
    ) -> None:
        self.settings = settings
        self.result_reuse_minutes = result_reuse_minutes
        self.poll_interval = poll_interval
        self.on_progress = on_progress
        self.on_finished = on_finished
        self._last_execution: Any = None
        self.on_throttled = on_throttled
        self.throttle_attempts = throttle_attempts or THROTTLE_ATTEMPTS
        self.throttle_max_delay = THROTTLE_MAX_DELAY_SECONDS if throttle_max_delay is None else throttle_max_delay
        # PyAthena logs a failed query's traceback; with no logging configured Python
        # would print it on stderr before our one-line error.
        pyathena_logger = logging.getLogger("pyathena")
        if not any(isinstance(h, logging.NullHandler) for h in pyathena_logger.handlers):
            pyathena_logger.addHandler(logging.NullHandler())

    def zone_name(self, tz: str) -> str:
        """The name Athena knows ``tz`` by (:func:`athena_zone`); :class:`InvalidArgument` for none."""
        return athena_zone(tz)

    def check_setup(self) -> None:
        """Fail with one line saying what to set when AWS has no region, profile or credentials.

        Raises :class:`AthenaSetupError`. Reads the local AWS configuration only:
        credentials that AWS rejects are reported when the query starts.
        """
        try:
            check_session(self.settings.region, self.settings.profile, ATHENA)
        except AwsError as exc:
            raise AthenaSetupError(str(exc)) from None

    def connect(self) -> Any:
        from botocore.config import Config
        from pyathena import connect
        from pyathena.pandas.cursor import PandasCursor
        from pyathena.util import RetryConfig

        started = time.monotonic()
        self._last_execution = None

        def poll(execution: Any) -> None:
            self._last_execution = execution  # what Athena last said, for the cost of a query that fails
            if self.on_progress is not None:
                progress = QueryProgress(execution.query_id, execution.state, time.monotonic() - started)
                self.on_progress(progress)

        connection = connect(
            schema_name=self.settings.database,
            work_group=self.settings.workgroup,
            s3_staging_dir=self.settings.output_location,
            region_name=self.settings.region,
            profile_name=self.settings.profile,
            cursor_class=PandasCursor,
            poll_interval=self.poll_interval,
            kill_on_interrupt=True,
            result_reuse_enable=self.result_reuse_minutes is not None,
            result_reuse_minutes=self.result_reuse_minutes or 60,
            on_poll=poll,
            # PyAthena annotates max_delay and multiplier int; tenacity's backoff takes any seconds (float)
            retry_config=RetryConfig(attempt=self.throttle_attempts,
                                     max_delay=self.throttle_max_delay,  # type: ignore[arg-type]
                                     multiplier=min(1, self.throttle_max_delay)),  # type: ignore[arg-type]
            config=Config(retries={"mode": "standard"}),
        )
        connection.client.meta.events.register("after-call.athena", self._after_call)
        return connection

    def _after_call(self, http_response: Any = None, parsed: Any = None, model: Any = None, **_: Any) -> None:
        """Tell the caller each time Athena throttled a call PyAthena will retry: no silent waits."""
        code = error_code(_Response(parsed)) if isinstance(parsed, dict) else None
        operation = getattr(model, "name", "a call")
        if code not in THROTTLED:
            self._throttled.pop(operation, None)
            return
        attempt = self._throttled[operation] = self._throttled.get(operation, 0) + 1
        if attempt < self.throttle_attempts and self.on_throttled is not None:
            self.on_throttled(f"AWS is throttling the requests ({code} on {operation}); retrying, "
                              f"attempt {attempt + 1} of {self.throttle_attempts}")

    def run(self, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
        """Run on Athena; the query API has mapped ``time_zone`` (:meth:`zone_name`) before.

        Raises :class:`AthenaSetupError` (region, profile, credentials, endpoint,
        workgroup, permission, throttling), :class:`QueryCancelled` on Ctrl-C,
        :class:`QueryError` for any other failure, each one line.
        """
        sql = retarget(sql, self.settings.table)
        self.check_setup()
        self._last_execution = None
        self._throttled: dict[str, int] = {}  # consecutive throttled attempts, by operation
        try:
            with self.connect() as connection:
                cursor = connection.cursor()
                frame = cursor.execute(sql, dict(params)).as_pandas()
                self._last_execution = None  # reported below, from the cursor
                if self.on_finished is not None:
                    self.on_finished(
                        QueryStats(
                            query_id=cursor.query_id,
                            data_scanned_bytes=cursor.data_scanned_in_bytes or 0,
                            engine_milliseconds=cursor.engine_execution_time_in_millis or 0,
                            reused_result=bool(cursor.reused_previous_result),
                        )
                    )
                return frame
        except KeyboardInterrupt:
            query_id = getattr(self._last_execution, "query_id", None)
            self._report_ended()
            stopped = f"query {query_id}" if query_id else "the query"
            raise QueryCancelled(f"Athena was asked to stop {stopped} (StopQueryExecution)") from None
        except Exception as exc:
            self._report_ended()
            raise self._failure(exc) from None

    def _failure(self, exc: Exception) -> Exception:
        """One line for any failure of a run: what to set when the settings or AWS are the cause."""
        from pyathena.error import Error as AthenaError

        settings = self.settings
        error = botocore_error(exc)
        operation = getattr(error, "operation_name", "")
        if error is not None and error_code(error) in DENIED and operation in ("HeadObject", "GetObject"):
            where = settings.output_location or "the workgroup's output location"
            return AthenaSetupError(
                f"the query ran, but S3 refused its result ({error_code(error)} on {operation}): "
                f"your credentials must read {where}, the results of workgroup {settings.workgroup!r} "
                "(PARKING_WORKGROUP, PARKING_OUTPUT_LOCATION; each team reads only its own workgroup's)"
            )
        explained = explain(exc, ATHENA, settings.endpoint_url)
        if explained is not None:
            return AthenaSetupError(explained)
        if not isinstance(exc, AthenaError):
            if error is not None:  # botocore, but nothing the settings can fix
                return QueryError(f"Athena query failed: {one_line(error)}")
            raise exc  # a bug: the CLI reports it as one
        message = one_line(exc)
        if _NO_WORKGROUP.search(message):
            return AthenaSetupError(
                f"Athena workgroup {settings.workgroup!r} does not exist ({message}): set PARKING_WORKGROUP to "
                "one that does (analysts use parking-analytics-<team>)"
            )
        if _NO_SCHEMA.search(message):
            return QueryError(f"Athena query failed: {message}; check PARKING_DATABASE (now {settings.database!r})")
        if _NO_TABLE.search(message):
            return QueryError(
                f"Athena query failed: {message}; check PARKING_DATABASE (now {settings.database!r}) and "
                f"PARKING_TABLE (now {settings.table!r}): the database holds {settings.table}, "
                f"{settings.table}_compacted and {CATALOG_TABLE}"
            )
        return QueryError(f"Athena query failed: {message}")

    def _report_ended(self) -> None:
        """Call ``on_finished`` for a query that ended without an answer, when Athena said what it scanned.

        A cancelled query is billed for the data it scanned; a failed one is
        not billed; a query that succeeded but whose result could not be read
        was billed like any other.
        """
        execution, self._last_execution = self._last_execution, None
        if execution is None or self.on_finished is None:
            return
        scanned = getattr(execution, "data_scanned_in_bytes", None)
        state = getattr(execution, "state", None)
        if scanned is None or state not in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return
        self.on_finished(
            QueryStats(
                query_id=execution.query_id,
                data_scanned_bytes=int(scanned),
                engine_milliseconds=int(getattr(execution, "engine_execution_time_in_millis", None) or 0),
                reused_result=bool(getattr(execution, "reused_previous_result", False)),
                state=state,
            )
        )


_NO_WORKGROUP = re.compile(r"WorkGroup\b.*\b(is not found|not found|does not exist)", re.IGNORECASE)
_NO_SCHEMA = re.compile(r"SCHEMA_NOT_FOUND|Schema '[^']*' does not exist|Database .* not found", re.IGNORECASE)
_NO_TABLE = re.compile(r"TABLE_NOT_FOUND|Table '[^']*' does not exist", re.IGNORECASE)


class _Response:
    """A parsed botocore response seen as an error with one, for :func:`parking.aws.error_code`."""

    def __init__(self, parsed: dict[str, Any]) -> None:
        self.response = parsed


def engine_from_settings(settings: Settings, **athena_options: Any) -> Engine:
    """The engine the settings name: ``local`` (DuckDB) or ``athena``."""
    if settings.engine == "athena":
        return AthenaEngine(settings, **athena_options)
    return DuckDBEngine(settings.data_dir, settings.data_prefix)
