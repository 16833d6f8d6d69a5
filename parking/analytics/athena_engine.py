"""The Athena engine for the CLI: answers as DataFrames, progress, cost, and Ctrl-C to stop a query.

It runs on the one Athena client (:class:`parking.analytics.athena_client.AthenaClient`:
PyAthena's connection, its throttling retries, one-line failures by code),
which the zones Lambda shares, with PyAthena's PandasCursor for a typed
DataFrame. The query text is bound by the shared binder first
(:mod:`parking.analytics.binding`), so it is the text the local engine and
the zones Lambda send.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from parking.analytics.athena_client import AthenaClient
from parking.analytics.athena_failures import ATHENA, AthenaSetupError
from parking.analytics.billing import QueryProgress, QueryStats
from parking.analytics.binding import bind
from parking.analytics.registry import COMPACTED_TABLE, QUERY_TABLE
from parking.aws import check_session
from parking.config import SQL_IDENTIFIER, Settings
from parking.errors import AwsError, ConfigurationError, InvalidArgument, QueryCancelled

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


def athena_zone(name: str) -> str:
    """The name Athena knows for an IANA zone; :class:`InvalidArgument` for one it has no name for."""
    if name in NOT_IN_ATHENA:
        raise InvalidArgument(
            f"time zone {name!r} is not in Athena's time-zone database: use --engine local, or a zone Athena knows"
        )
    return ATHENA_ZONE_NAMES.get(name, name)


def retarget(sql: str, table: str) -> str:
    """Point the query at another table name; the name must be a plain identifier."""
    if table == QUERY_TABLE:
        return sql
    if not SQL_IDENTIFIER.fullmatch(table):
        raise ConfigurationError(f"PARKING_TABLE={table!r} is not a plain SQL identifier")
    sql = re.sub(rf"\bFROM {COMPACTED_TABLE}\b", f'FROM "{table}_compacted"', sql)
    return re.sub(rf"\bFROM {QUERY_TABLE}\b", f'FROM "{table}"', sql)


class AthenaEngine:
    """Athena through PyAthena's PandasCursor on the one client; Ctrl-C cancels the running query.

    ``on_progress`` is called at every poll, ``on_finished`` once with the
    query's cost (:class:`QueryStats`), also for a query that was cancelled or
    failed when Athena reported what it scanned, and ``on_throttled`` with a
    line to show each time AWS throttles a call that will be retried, so a
    caller (the CLI) can show them; the engine never prints.
    ``throttle_attempts`` and ``throttle_max_delay`` (seconds) bound PyAthena's
    retries of a throttled call
    (:data:`~parking.analytics.athena_client.THROTTLE_ATTEMPTS`).
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
        self.athena = AthenaClient(settings, poll_interval=poll_interval, result_reuse_minutes=result_reuse_minutes,
                                   throttle_attempts=throttle_attempts, throttle_max_delay=throttle_max_delay,
                                   on_throttled=on_throttled)
        self.on_progress = on_progress
        self.on_finished = on_finished
        self._last_execution: Any = None
        self._client: Any = None  # the boto3 Athena client of the last connection

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
        """A new connection of the one client whose cursors read DataFrames and report each poll."""
        from pyathena.pandas.cursor import PandasCursor

        started = time.monotonic()
        self._last_execution = None

        def poll(execution: Any) -> None:
            self._last_execution = execution  # what Athena last said, for the cost of a query that fails
            if self.on_progress is not None:
                progress = QueryProgress(execution.query_id, execution.state, time.monotonic() - started)
                self.on_progress(progress)

        connection = self.athena.connect(PandasCursor, on_poll=poll)
        self._client = connection.client  # asked whether the workgroup exists, when Athena refuses a query
        return connection

    def run(self, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
        """Run on Athena; the query API has mapped ``time_zone`` (:meth:`zone_name`) before.

        Raises :class:`AthenaSetupError` (region, profile, credentials, endpoint,
        workgroup, permission, throttling), :class:`QueryCancelled` on Ctrl-C,
        :class:`QueryError` for any other failure, each one line.
        """
        sql = retarget(sql, self.settings.table)
        self.check_setup()
        self._last_execution = None
        try:
            with self.connect() as connection:
                cursor = self.athena.execute(connection, bind(sql, params))
                frame = cursor.as_pandas()
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
            raise self.athena.failure(exc, self._client) from None

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
