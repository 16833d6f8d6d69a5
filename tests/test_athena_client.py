"""The one Athena client on moto: the zones Lambda's rows, a run's deadline, and the same failures on both paths.

moto ends a query at its first poll; its state manager keeps one queued
instead ("manual" progression), so the deadline meets a query still running.
The clock the deadline is read on is the test's: a run's seconds pass at
each reading, not in real time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
import requests
from moto import mock_aws
from moto.moto_api import state_manager

from parking.analytics.athena_client import AthenaClient
from parking.analytics.athena_engine import AthenaEngine
from parking.config import Settings
from parking.errors import QueryError

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
WORKGROUP = "parking-analytics"
OUTPUT = "s3://parking-monitoring-data/athena-results/"
COLUMNS = {"zone": "varchar", "capacity": "bigint", "occupancy_rate": "double"}
STOPPED = re.compile(r"Athena query [0-9a-f-]+ was still running at the run's deadline, (?P<seconds>\d+) s after it "
                     r"started; it was stopped \(StopQueryExecution\)")


class Clock:
    """A clock that reads ``step`` seconds later at each reading, from 0."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def athena(monkeypatch) -> Iterator[object]:
    """moto's Athena with the workgroup the settings name, and its boto3 client."""
    for name, value in {"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "PARKING_WORKGROUP": WORKGROUP}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "PARKING_OUTPUT_LOCATION", "PARKING_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(Name=WORKGROUP, Configuration={"ResultConfiguration": {"OutputLocation": OUTPUT}})
        yield client


@pytest.fixture
def queued() -> Iterator[Callable[[int], None]]:
    """Keep each query queued for that many polls (then running as long), not ended at the first."""
    yield lambda polls: state_manager.set_transition(model_name="athena::execution",
                                                     transition={"progression": "manual", "times": polls})
    state_manager.unset_transition("athena::execution")


def seed(rows: list[list[str | None]]) -> None:
    """Queue the rows (as Athena's API sends them: text, or no value for null) moto returns for the next query."""
    header = [{"Data": [{"VarCharValue": name} for name in COLUMNS]}]
    data = [{"Data": [{} if value is None else {"VarCharValue": value} for value in row]} for row in rows]
    info = [{"Name": name, "Label": name, "Type": kind, "Precision": 0, "Scale": 0, "Nullable": "NULLABLE"}
            for name, kind in COLUMNS.items()]
    response = requests.post("http://motoapi.amazonaws.com/moto-api/static/athena/query-results",
                             json={"region": REGION, "results": [{"rows": header + data, "column_info": info}]},
                             timeout=10)
    assert response.status_code == 201


def client(clock: Clock | None = None) -> AthenaClient:
    return AthenaClient(Settings.from_environment(), poll_interval=0.001, kill_on_interrupt=False,
                        clock=clock or Clock())


def states(athena) -> list[str]:
    """The state of every query the workgroup ran, in no set order."""
    ids = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Status"]["State"] for i in ids]


# Rows, for the zones Lambda: PyAthena's plain cursor, read through the API.


def test_rows_are_typed_as_athenas_columns_with_null_apart_from_the_empty_string(athena) -> None:
    seed([["", "3", "0.5"], [None, "2", None]])
    assert client().rows("SELECT 1") == [{"zone": "", "capacity": 3, "occupancy_rate": 0.5},
                                         {"zone": None, "capacity": 2, "occupancy_rate": None}]


def test_what_the_answered_queries_scanned_is_summed(athena) -> None:
    """moto scans nothing: its GetQueryExecution answers say what Athena's would."""
    rows = client()
    scanned = iter([3_000_000, 5_000_000])

    def scan(parsed: dict, **_: object) -> None:
        if parsed["QueryExecution"]["Status"]["State"] == "SUCCEEDED":
            parsed["QueryExecution"].setdefault("Statistics", {})["DataScannedInBytes"] = next(scanned)

    rows.connection.client.meta.events.register("after-call.athena.GetQueryExecution", scan)
    rows.rows("SELECT 1")
    rows.rows("SELECT 2")
    assert rows.scanned_bytes == 8_000_000


def test_a_query_on_the_zones_path_loads_no_pandas(tmp_path: Path) -> None:
    """The zones Lambda's zip holds no pandas: a query on its path must not need it."""
    probe = f"""
import sys, boto3
from moto import mock_aws
from parking.analytics.athena_client import AthenaClient
from parking.config import Settings
with mock_aws():
    boto3.client("athena", region_name="{REGION}").create_work_group(
        Name="{WORKGROUP}", Configuration={{"ResultConfiguration": {{"OutputLocation": "{OUTPUT}"}}}})
    AthenaClient(Settings(workgroup="{WORKGROUP}", region="{REGION}")).rows("SELECT 1", deadline=1e12)
print(sorted({{m.split('.')[0] for m in sys.modules}} & {{"pandas", "numpy", "pyarrow", "pyathena"}}))
"""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['pyathena']", "PyAthena runs the query, without pandas, numpy or pyarrow"


# One deadline for a whole run of queries.


def test_a_query_still_running_at_the_deadline_is_stopped_and_the_run_fails_in_one_line(athena, queued) -> None:
    queued(50)  # the clock reads the deadline at the 8th poll: a query not stopped then would succeed later
    rows = client(Clock(step=1.0))
    with pytest.raises(QueryError) as failed:
        rows.rows("SELECT 1", deadline=10.0)
    assert STOPPED.fullmatch(str(failed.value)), "one line"
    assert states(athena) == ["CANCELLED"]
    assert rows.scanned_bytes == 0


def test_a_second_query_gets_what_the_first_left_of_the_run(athena, queued) -> None:
    rows = client(Clock(step=1.0))
    seed([["North", "1", "0.0"]])
    assert rows.rows("SELECT 1", deadline=10.0)
    queued(50)
    with pytest.raises(QueryError) as failed:
        rows.rows("SELECT 2", deadline=10.0)
    stopped = STOPPED.fullmatch(str(failed.value))
    assert stopped and int(stopped["seconds"]) < 10, "stopped at the run's deadline, not 10 s after it started"
    assert sorted(states(athena)) == ["CANCELLED", "SUCCEEDED"]


def test_no_query_starts_once_the_deadline_has_passed(athena) -> None:
    clock = Clock()
    rows = client(clock)
    seed([["North", "1", "0.0"]])
    assert rows.rows("SELECT 1", deadline=10.0), "the first query ends before the deadline"
    clock.now = 10.0  # the run's time is up before its second query
    with pytest.raises(QueryError, match="^the run's deadline passed before its next Athena query started; "
                                         "none was started$"):
        rows.rows("SELECT 2", deadline=10.0)
    assert states(athena) == ["SUCCEEDED"]


def test_without_a_deadline_the_clock_stops_nothing(athena, queued) -> None:
    """The CLI's queries run until they end or Ctrl-C: no deadline is read."""
    queued(3)
    seed([["North", "1", "0.0"]])
    assert client(Clock(step=1000.0)).rows("SELECT 1") == [{"zone": "North", "capacity": 1, "occupancy_rate": 0.0}]
    assert states(athena) == ["SUCCEEDED"]


# One client: a failure reads the same on the CLI's engine and the zones Lambda's path.


def test_a_missing_workgroup_reads_the_same_on_both_paths(athena, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_WORKGROUP", "no-such-workgroup")
    settings = Settings.from_environment()
    with pytest.raises(QueryError) as engine:
        AthenaEngine(settings, poll_interval=0.001).run("SELECT 1", {})
    with pytest.raises(QueryError) as rows:
        AthenaClient(settings, poll_interval=0.001).rows("SELECT 1")
    assert type(engine.value) is type(rows.value)
    assert str(engine.value) == str(rows.value)
    assert str(rows.value).startswith("Athena workgroup 'no-such-workgroup' does not exist")
