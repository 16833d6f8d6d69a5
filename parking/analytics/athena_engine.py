"""The Athena engine for the CLI: PyAthena's connection, its polling, throttling and cost reports.

PyAthena's PandasCursor reads a result into a DataFrame; the query text is
bound by the shared binder first (:mod:`parking.analytics.binding`), so it is
the text the local engine and the zones Lambda send. Failures are classified
by AWS error code and Athena's error name in
:mod:`parking.analytics.athena_failures`, shared with the zones Lambda's
boto3-only client.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from parking.analytics.athena_failures import ATHENA, AthenaSetupError, client_failure, reason_hint
from parking.analytics.billing import QueryProgress, QueryStats
from parking.analytics.binding import bind
from parking.analytics.registry import COMPACTED_TABLE, QUERY_TABLE
from parking.aws import THROTTLED, check_session, error_code, one_line, session
from parking.config import SQL_IDENTIFIER, Settings
from parking.errors import AwsError, ConfigurationError, InvalidArgument, QueryCancelled, QueryError

# PyAthena logs a failed query with its traceback before raising; with no
# logging configured, Python would print that to stderr. The QueryError raised
# says it in one line; configure logging to see PyAthena's own record too.
logging.getLogger("pyathena").addHandler(logging.NullHandler())

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
# Throttled Athena calls: PyAthena retries them this often (waits of about 1, 2 and 4 s, plus
# jitter), each call with botocore's standard retries (3 attempts) inside; then one line. Its
# default (8 attempts, up to 100 s apart) kept a throttled user waiting minutes in silence.
THROTTLE_ATTEMPTS = 4
THROTTLE_MAX_DELAY_SECONDS = 8


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
        self._client: Any = None  # the Athena client of the last connection
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
            session=session(self.settings.region, self.settings.profile),
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
        self._client = connection.client  # asked whether the workgroup exists, when Athena refuses a query
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
                frame = cursor.execute(bind(sql, params)).as_pandas()
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
        """One line for any failure of a run, classified by code (:mod:`parking.analytics.athena_failures`)."""
        from pyathena.error import Error as PyAthenaError

        failure = client_failure(exc, self.settings, self._client)
        if failure is not None:
            return failure
        if not isinstance(exc, PyAthenaError):
            raise exc  # a bug: the CLI reports it as one
        reason = one_line(exc)  # a failed query: PyAthena's message is Athena's StateChangeReason
        return QueryError(f"Athena query failed: {reason}{reason_hint(reason, self.settings)}")

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



class _Response:
    """A parsed botocore response seen as an error with one, for :func:`parking.aws.error_code`."""

    def __init__(self, parsed: dict[str, Any]) -> None:
        self.response = parsed
