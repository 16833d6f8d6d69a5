"""The one Athena client: PyAthena's connection, its retries, a deadline for a run, failures in one line.

Both Athena paths run through :class:`AthenaClient`. The CLI's engine
(:class:`parking.analytics.athena_engine.AthenaEngine`) reads an answer with
PyAthena's PandasCursor; the zones Lambda (``zones_handler.py``, only while the
current-state table is not complete) reads rows with PyAthena's plain
``Cursor`` (:meth:`AthenaClient.rows`: tuples read through the API, where a
null stays apart from an empty string), so that path imports no pandas. Both
get the same connection (:meth:`AthenaClient.connect`: the session of
:func:`parking.aws.session`, botocore's standard retries, PyAthena's few
retries of a throttled call), PyAthena's polling, and the same one-line
failures (:meth:`AthenaClient.failure`, by code:
:mod:`parking.analytics.athena_failures`). Callers bind the text first
(:mod:`parking.analytics.binding`).

A deadline bounds a whole run of queries (``deadline``, a ``clock`` reading):
no query starts once it has passed, and a query still running when it passes
is stopped (StopQueryExecution) at its next poll and the run fails with one
line, so a Lambda whose deadline sits before its timeout never leaves a query
running behind it. The CLI runs without one: Ctrl-C stops its query
(PyAthena's ``kill_on_interrupt``).

PyAthena is imported when a connection is made, not with this module: a
Lambda function loads it only on the run that asks Athena.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from parking.analytics.athena_failures import client_failure, reason_hint
from parking.aws import THROTTLED, error_code, one_line, session
from parking.config import Settings
from parking.errors import QueryError

# Throttled Athena calls: PyAthena retries them this often (waits of about 1, 2 and 4 s, plus
# jitter), each call with botocore's standard retries (3 attempts) inside; then one line. Its
# default (8 attempts, up to 100 s apart) kept a throttled user waiting minutes in silence.
THROTTLE_ATTEMPTS = 4
THROTTLE_MAX_DELAY_SECONDS = 8
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


def _quiet_pyathena() -> None:
    """Give PyAthena's logger a NullHandler unless it has one.

    PyAthena logs a failed query with its traceback before raising; with no
    logging configured, Python would print that to stderr before our one-line
    error. Configure logging to see PyAthena's own record too.
    """
    logger = logging.getLogger("pyathena")
    if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
        logger.addHandler(logging.NullHandler())


_quiet_pyathena()


class _PastDeadline(Exception):
    """Raised from a poll once the run's deadline has passed with the query still running."""

    def __init__(self, at: float) -> None:
        super().__init__(at)
        self.at = at  # the clock's reading at that poll


class AthenaClient:
    """Queries in the settings' workgroup and database, each on a cursor of a PyAthena connection.

    ``poll_interval`` (seconds) is how often a running query's state is asked;
    ``result_reuse_minutes`` lets Athena answer from an earlier run's result
    (None: never); ``throttle_attempts`` and ``throttle_max_delay`` (seconds)
    bound PyAthena's retries of a throttled call (:data:`THROTTLE_ATTEMPTS`),
    and ``on_throttled`` is told each one that will be retried, in a line to
    show (no silent waits); ``kill_on_interrupt`` stops a query on Ctrl-C (a
    terminal's, not a Lambda's). ``clock`` reads the time deadlines are given in.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        poll_interval: float = 1.0,
        result_reuse_minutes: int | None = None,
        throttle_attempts: int | None = None,
        throttle_max_delay: float | None = None,
        on_throttled: Callable[[str], None] | None = None,
        kill_on_interrupt: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.poll_interval = poll_interval
        self.result_reuse_minutes = result_reuse_minutes
        self.throttle_attempts = throttle_attempts or THROTTLE_ATTEMPTS
        self.throttle_max_delay = THROTTLE_MAX_DELAY_SECONDS if throttle_max_delay is None else throttle_max_delay
        self.on_throttled = on_throttled
        self.kill_on_interrupt = kill_on_interrupt
        self.clock = clock
        self.scanned_bytes = 0  # what the queries :meth:`rows` answered scanned, summed
        self._connection: Any = None  # :meth:`rows`'s, kept for the next run (a warm Lambda's)
        _quiet_pyathena()  # again: a logging set-up made since the import may have removed it

    def connect(self, cursor_class: Any = None, on_poll: Callable[[Any], None] | None = None) -> Any:
        """A new PyAthena connection whose cursors are ``cursor_class`` (None: the plain ``Cursor``).

        ``on_poll`` is called with PyAthena's execution at every poll of a query.
        """
        from botocore.config import Config
        from pyathena import connect
        from pyathena.util import RetryConfig

        connection = connect(
            schema_name=self.settings.database,
            work_group=self.settings.workgroup,
            s3_staging_dir=self.settings.output_location,
            region_name=self.settings.region,
            profile_name=self.settings.profile,
            session=session(self.settings.region, self.settings.profile),
            cursor_class=cursor_class,
            poll_interval=self.poll_interval,
            kill_on_interrupt=self.kill_on_interrupt,
            result_reuse_enable=self.result_reuse_minutes is not None,
            result_reuse_minutes=self.result_reuse_minutes or 60,
            on_poll=on_poll,
            # PyAthena annotates max_delay and multiplier int; tenacity's backoff takes any seconds (float)
            retry_config=RetryConfig(attempt=self.throttle_attempts,
                                     max_delay=self.throttle_max_delay,  # type: ignore[arg-type]
                                     multiplier=min(1, self.throttle_max_delay)),  # type: ignore[arg-type]
            config=Config(retries={"mode": "standard"}),
        )
        if self.on_throttled is not None:
            connection.client.meta.events.register(
                "after-call.athena", _ThrottleNotices(self.throttle_attempts, self.on_throttled))
        return connection

    def execute(self, connection: Any, sql: str, *, deadline: float | None = None) -> Any:
        """A cursor of ``connection`` whose query, ``sql`` (bound), succeeded.

        With a ``deadline`` (a :attr:`clock` reading): :class:`QueryError`, one
        line, when it passed before the query would start (none is started) or
        while the query ran (it is stopped). Other failures raise as PyAthena
        raises them, for :meth:`failure`.
        """
        if deadline is None:
            return connection.cursor().execute(sql)
        if (started := self.clock()) >= deadline:
            raise QueryError("the run's deadline passed before its next Athena query started; none was started")
        polled = connection.on_poll  # the connection's own (the CLI's progress), called first

        def poll(execution: Any) -> None:
            if polled is not None:
                polled(execution)
            if execution.state not in TERMINAL and (now := self.clock()) >= deadline:
                raise _PastDeadline(now)

        cursor = connection.cursor(on_poll=poll)
        try:
            return cursor.execute(sql)
        except _PastDeadline as past:
            ran = f"Athena query {cursor.query_id} was still running at the run's deadline, " \
                  f"{past.at - started:.0f} s after it started"
            try:
                cursor.cancel()  # StopQueryExecution
            except Exception as exc:  # the run fails either way: say that the stop failed too
                raise QueryError(f"{ran}; stopping it failed: {one_line(exc)}") from exc
            raise QueryError(f"{ran}; it was stopped (StopQueryExecution)") from None

    @property
    def connection(self) -> Any:
        """The connection :meth:`rows` runs on (plain cursors), made on first use and kept."""
        if self._connection is None:
            self._connection = self.connect()
        return self._connection

    def rows(self, sql: str, *, deadline: float | None = None) -> list[dict[str, Any]]:
        """The rows of ``sql`` (bound) on PyAthena's plain ``Cursor``: column name to value, None for null.

        Values are typed as Athena types their columns (``bigint`` an int,
        ``varchar`` a str), on :attr:`connection`; what a query that succeeded
        scanned is added to :attr:`scanned_bytes`.
        Raises :class:`QueryError` (an
        :class:`~parking.analytics.athena_failures.AthenaSetupError` for a
        set-up problem), one line, for any failure, the deadline's included.
        """
        connection = self.connection
        try:
            cursor = self.execute(connection, sql, deadline=deadline)
            names = [column[0] for column in cursor.description or ()]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except Exception as exc:
            failure = self.failure(exc, connection.client)
            if failure is exc:  # already one line (the deadline's)
                raise
            raise failure from exc  # the cause stays in the Lambda's log
        self.scanned_bytes += cursor.data_scanned_in_bytes or 0
        return rows

    def failure(self, exc: Exception, client: Any = None) -> Exception:
        """One line for any failure of a query, classified by code (:mod:`parking.analytics.athena_failures`).

        ``client`` is the connection's Athena client, asked whether the
        workgroup exists when Athena refused the query. An error that is
        neither AWS's nor PyAthena's is a bug, raised as it is.
        """
        from pyathena.error import Error as PyAthenaError

        if isinstance(exc, QueryError):
            return exc
        failure = client_failure(exc, self.settings, client)
        if failure is not None:
            return failure
        if not isinstance(exc, PyAthenaError):
            raise exc
        reason = one_line(exc)  # a failed query: PyAthena's message is Athena's StateChangeReason
        return QueryError(f"Athena query failed: {reason}{reason_hint(reason, self.settings)}")


class _ThrottleNotices:
    """Tells ``tell`` each time Athena throttled a call PyAthena will retry (botocore's after-call event)."""

    def __init__(self, attempts: int, tell: Callable[[str], None]) -> None:
        self.attempts = attempts
        self.tell = tell
        self.throttled: dict[str, int] = {}  # consecutive throttled attempts, by operation

    def __call__(self, http_response: Any = None, parsed: Any = None, model: Any = None, **_: Any) -> None:
        code = error_code(_Response(parsed)) if isinstance(parsed, dict) else None
        operation = getattr(model, "name", "a call")
        if code not in THROTTLED:
            self.throttled.pop(operation, None)
            return
        attempt = self.throttled[operation] = self.throttled.get(operation, 0) + 1
        if attempt < self.attempts:
            self.tell(f"AWS is throttling the requests ({code} on {operation}); retrying, "
                      f"attempt {attempt + 1} of {self.attempts}")


class _Response:
    """A parsed botocore response seen as an error with one, for :func:`parking.aws.error_code`."""

    def __init__(self, parsed: dict[str, Any]) -> None:
        self.response = parsed
