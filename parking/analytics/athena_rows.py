"""Athena with boto3 alone: start a query, poll it until a deadline, read its rows as text.

For the scheduled zones Lambda, which needs SQL and numbers, not DataFrames:
no pandas, no PyAthena. It shares the CLI engine's binder
(:mod:`parking.analytics.binding`) and failure classification
(:mod:`parking.analytics.athena_failures`: AWS error codes, Athena's error
names, :func:`parking.aws.explain`), so a failure reads the same on both
paths. Rows come back as dicts of column name to the ``VarCharValue`` Athena
returned, ``None`` where the value is null (the API tells a null from an
empty string, which a CSV result cannot).

A run of several queries shares one deadline (:meth:`AthenaRows.run`'s
``deadline``): a query still running at it is stopped, so a Lambda whose
deadline sits before its timeout never leaves a query running behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from parking.analytics.athena_failures import client_failure, reason_hint
from parking.config import Settings
from parking.errors import QueryError

FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")


class AthenaRows:
    """Runs SQL in one workgroup and database; ``client`` is a boto3 Athena client.

    ``timeout_seconds`` bounds each query and :meth:`run`'s ``deadline`` (a
    ``clock`` reading) a whole run: past the earlier the query is stopped and
    :class:`QueryError` raised. ``sleep`` and ``clock`` are injectable for tests.
    """

    def __init__(
        self,
        client: Any,
        *,
        database: str,
        workgroup: str,
        poll_seconds: float = 0.5,
        timeout_seconds: float = 90.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        settings: Settings | None = None,
    ) -> None:
        self.client = client
        self.database = database
        self.workgroup = workgroup
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep
        self.clock = clock
        self.settings = settings or Settings(database=database, workgroup=workgroup)
        self.scanned_bytes = 0

    def run(self, sql: str, *, deadline: float | None = None) -> list[dict[str, str | None]]:
        """The rows of ``sql``; :class:`QueryError` when Athena refuses, fails, cancels or takes too long.

        A failure AWS answers with a code is classified as the CLI's engine
        classifies it (an :class:`~parking.analytics.athena_failures.AthenaSetupError`
        for a set-up problem).
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._run(sql, deadline)
        except (BotoCoreError, ClientError) as exc:
            failure = client_failure(exc, self.settings, self.client) or QueryError(f"Athena: {exc}")
            raise failure from exc

    def _run(self, sql: str, deadline: float | None) -> list[dict[str, str | None]]:
        if deadline is not None and self.clock() >= deadline:
            raise QueryError("the run's deadline passed before its next Athena query started; none was started")
        query_id = self.client.start_query_execution(
            QueryString=sql, QueryExecutionContext={"Database": self.database}, WorkGroup=self.workgroup,
        )["QueryExecutionId"]
        execution = self._wait(query_id, deadline)
        status = execution["Status"]
        if status["State"] != "SUCCEEDED":
            reason = status.get("StateChangeReason", "no reason given")
            hint = reason_hint(reason, self.settings)
            raise QueryError(f"Athena query {query_id} {status['State'].lower()}: {reason}{hint}")
        self.scanned_bytes += execution.get("Statistics", {}).get("DataScannedInBytes", 0)
        return self._rows(query_id)

    def _wait(self, query_id: str, run_deadline: float | None) -> dict[str, Any]:
        started = self.clock()
        deadline = started + self.timeout_seconds
        if run_deadline is not None:
            deadline = min(deadline, run_deadline)
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            if execution["Status"]["State"] in FINISHED:
                return execution
            if self.clock() >= deadline:
                self.client.stop_query_execution(QueryExecutionId=query_id)
                raise QueryError(f"Athena query {query_id} took longer than {deadline - started:g} s; stopped")
            self.sleep(self.poll_seconds)

    def _rows(self, query_id: str) -> list[dict[str, str | None]]:
        """Every page of results; a SELECT's first row (on the first page) repeats the column names."""
        rows: list[dict[str, str | None]] = []
        pages = self.client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id)
        for number, page in enumerate(pages):
            header = [column["Name"] for column in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
            data = page["ResultSet"]["Rows"][1:] if number == 0 else page["ResultSet"]["Rows"]
            rows += [dict(zip(header, (cell.get("VarCharValue") for cell in row["Data"]), strict=True)) for row in data]
        return rows
