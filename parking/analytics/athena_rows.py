"""Athena with boto3 alone: start a query, poll it, read its rows as text.

For the scheduled zones Lambda, which needs SQL and numbers, not DataFrames:
no pandas, no PyAthena. Rows come back as dicts of column name to the
``VarCharValue`` Athena returned, ``None`` where the value is null (the API
tells a null from an empty string, which a CSV result cannot).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from parking.errors import QueryError

FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")


class AthenaRows:
    """Runs SQL in one workgroup and database; ``client`` is a boto3 Athena client.

    ``timeout_seconds`` bounds each query: past it the query is stopped and
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
    ) -> None:
        self.client = client
        self.database = database
        self.workgroup = workgroup
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep
        self.clock = clock
        self.scanned_bytes = 0

    def run(self, sql: str) -> list[dict[str, str | None]]:
        """The rows of ``sql``; :class:`QueryError` when Athena refuses, fails, cancels or takes too long."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._run(sql)
        except (BotoCoreError, ClientError) as exc:
            raise QueryError(f"Athena: {exc}") from exc

    def _run(self, sql: str) -> list[dict[str, str | None]]:
        query_id = self.client.start_query_execution(
            QueryString=sql, QueryExecutionContext={"Database": self.database}, WorkGroup=self.workgroup,
        )["QueryExecutionId"]
        execution = self._wait(query_id)
        status = execution["Status"]
        if status["State"] != "SUCCEEDED":
            reason = status.get("StateChangeReason", "no reason given")
            raise QueryError(f"Athena query {query_id} {status['State'].lower()}: {reason}")
        self.scanned_bytes += execution.get("Statistics", {}).get("DataScannedInBytes", 0)
        return self._rows(query_id)

    def _wait(self, query_id: str) -> dict[str, Any]:
        deadline = self.clock() + self.timeout_seconds
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            if execution["Status"]["State"] in FINISHED:
                return execution
            if self.clock() >= deadline:
                self.client.stop_query_execution(QueryExecutionId=query_id)
                raise QueryError(f"Athena query {query_id} took longer than {self.timeout_seconds:g} s; stopped")
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
