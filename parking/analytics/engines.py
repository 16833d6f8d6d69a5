"""Query engines: the same named SQL on Athena or on an embedded DuckDB.

Both engines run the Athena text of ``queries/*.sql``. Parameters are bound
by PyAthena's formatter (client-side escaping, the way PyAthena's own
pyformat cursors do it), so the local engine runs exactly the text Athena
would get. DuckDB macros stand in for the few Trino functions DuckDB lacks.
"""

from __future__ import annotations

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
from parking.config import Settings
from parking.errors import ConfigurationError, QueryCancelled, QueryError
from parking.layout import DATA_PREFIX, data_glob

QUERY_TABLE = "parking_events"  # the name the SQL files use
USD_PER_TB_SCANNED = 5.0
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")

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


class Engine(Protocol):
    """Runs one named query's SQL with its parameters and returns the rows."""

    name: str

    def run(self, sql: str, params: Mapping[str, Any]) -> pd.DataFrame: ...


def bind(sql: str, params: Mapping[str, Any]) -> str:
    """The query text with parameters bound as escaped literals (PyAthena's formatter)."""
    return DefaultParameterFormatter().format(sql, dict(params))


def retarget(sql: str, table: str) -> str:
    """Point the query at another table name; the name must be a plain identifier."""
    if table == QUERY_TABLE:
        return sql
    if not _IDENTIFIER.fullmatch(table):
        raise ConfigurationError(f"table name {table!r} is not a plain SQL identifier")
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
        self._create_view()

    @property
    def has_data(self) -> bool:
        root = self.data_dir / self.data_prefix
        return root.is_dir() and next(root.glob("year=*/month=*/day=*/hour=*/*.json.gz"), None) is not None

    def run(self, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
        self._create_view()
        try:
            return self._connection.execute(bind(sql, params)).df()
        except duckdb.Error as exc:
            raise QueryError(f"local query failed: {exc}") from exc

    def explain_analyze(self, sql: str, params: Mapping[str, Any]) -> str:
        """DuckDB's profile of one run: files and bytes read, per operator."""
        self._create_view()
        return self._connection.execute("EXPLAIN ANALYZE " + bind(sql, params)).fetchall()[0][1]

    def _create_view(self) -> None:
        if not self.has_data:
            body = (
                "SELECT CAST(NULL AS VARCHAR) AS spot_id, CAST(NULL AS VARCHAR) AS status, "
                'CAST(NULL AS VARCHAR) AS "timestamp", CAST(NULL AS VARCHAR) AS year, '
                "CAST(NULL AS VARCHAR) AS month, CAST(NULL AS VARCHAR) AS day, "
                "CAST(NULL AS VARCHAR) AS hour WHERE false"
            )
        else:
            pattern = data_glob(str(self.data_dir.resolve()), self.data_prefix).replace("'", "''")
            body = (
                f"SELECT * FROM read_json('{pattern}', format = 'newline_delimited', "
                "columns = {'spot_id': 'VARCHAR', 'status': 'VARCHAR', 'timestamp': 'VARCHAR'}, "
                "hive_partitioning = true, "
                "hive_types = {'year': 'VARCHAR', 'month': 'VARCHAR', 'day': 'VARCHAR', 'hour': 'VARCHAR'})"
            )
        self._connection.execute(f"CREATE OR REPLACE VIEW {QUERY_TABLE} AS {body}")
        # The spot catalog in force (METRICS.md section 7), read again at every run.
        self._connection.execute(f"CREATE OR REPLACE VIEW {CATALOG_TABLE} AS {duckdb_view_body(self.data_dir)}")


@dataclass(frozen=True, slots=True)
class QueryProgress:
    """One poll of a running Athena query."""

    query_id: str
    state: str
    elapsed_seconds: float


@dataclass(frozen=True, slots=True)
class QueryStats:
    """What a finished Athena query cost."""

    query_id: str
    data_scanned_bytes: int
    engine_milliseconds: int
    reused_result: bool

    @property
    def cost_usd(self) -> float:
        return self.data_scanned_bytes / 1e12 * USD_PER_TB_SCANNED


class AthenaEngine:
    """Athena through PyAthena's PandasCursor; Ctrl-C cancels the running query.

    ``on_progress`` is called at every poll and ``on_finished`` once with the
    query's cost, so a caller (the CLI) can show them; the engine never prints.
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
    ) -> None:
        self.settings = settings
        self.result_reuse_minutes = result_reuse_minutes
        self.poll_interval = poll_interval
        self.on_progress = on_progress
        self.on_finished = on_finished

    def connect(self) -> Any:
        from pyathena import connect
        from pyathena.pandas.cursor import PandasCursor

        started = time.monotonic()

        def poll(execution: Any) -> None:
            if self.on_progress is not None:
                progress = QueryProgress(execution.query_id, execution.state, time.monotonic() - started)
                self.on_progress(progress)

        return connect(
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
        )

    def run(self, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
        from pyathena.error import Error as AthenaError

        sql = retarget(sql, self.settings.table)
        try:
            with self.connect() as connection:
                cursor = connection.cursor()
                frame = cursor.execute(sql, dict(params)).as_pandas()
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
            raise QueryCancelled("query cancelled; Athena was asked to stop it") from None
        except AthenaError as exc:
            raise QueryError(f"Athena query failed: {exc}") from exc


def engine_from_settings(settings: Settings, **athena_options: Any) -> Engine:
    """The engine the settings name: ``local`` (DuckDB) or ``athena``."""
    if settings.engine == "athena":
        return AthenaEngine(settings, **athena_options)
    return DuckDBEngine(settings.data_dir, settings.data_prefix)
