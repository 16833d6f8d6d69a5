"""The Athena path on moto: the SQL sent, where it runs, and what comes back.

moto does not execute SQL; its results API queues the rows each query
returns. So these tests check what only the Athena path does: the named
query's text with its parameters bound, the partition predicates, the
workgroup and output location, cancellation, and the typed DataFrame.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import boto3
import botocore.client
import pytest
import requests
from click.testing import CliRunner
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from parking import queries
from parking.analytics.engines import AthenaEngine, QueryStats, bind
from parking.analytics.registry import GROUP_COLUMN, LOCAL_TIME, QUERIES, UTC_TIME
from parking.analytics.windows import days_window, zone
from parking.cli.main import cli
from parking.config import Settings
from parking.errors import QueryCancelled, QueryError

REGION = "eu-west-1"
BUCKET = "parking-monitoring-data"
WORKGROUP = "parking-analytics"
OUTPUT = f"s3://{BUCKET}/athena-results/"
NOW = datetime(2024, 3, 21, 6, 30, tzinfo=timezone.utc)

ATHENA_TYPES = {
    "string": "varchar", "float64": "double", "int64": "bigint", "bool": "boolean",
    UTC_TIME: "timestamp", LOCAL_TIME: "timestamp",
}
SAMPLE_VALUES = {
    "varchar": "A-001", "double": "0.25", "bigint": "3", "boolean": "true", "timestamp": "2024-03-20 10:00:00.000",
}


@pytest.fixture
def athena(monkeypatch):
    for name, value in {
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "PARKING_ENGINE": "athena",
        "PARKING_WORKGROUP": WORKGROUP, "PARKING_OUTPUT_LOCATION": OUTPUT,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(
            Name=WORKGROUP, Configuration={"ResultConfiguration": {"OutputLocation": OUTPUT}}
        )
        yield client


def seed(name: str, rows: list[list[str | None]]) -> None:
    """Queue the rows moto returns for the next query, typed as Athena would type them."""
    columns = QUERIES[name].columns
    header = [{"Data": [{"VarCharValue": column} for column in columns]}]
    data = [{"Data": [{} if value is None else {"VarCharValue": value} for value in row]} for row in rows]
    info = [
        {"Name": c, "Label": c, "Type": ATHENA_TYPES[t], "Precision": 0, "Scale": 0, "Nullable": "NULLABLE"}
        for c, t in columns.items()
    ]
    response = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/athena/query-results",
        json={"region": REGION, "results": [{"rows": header + data, "column_info": info}]},
        timeout=10,
    )
    assert response.status_code == 201


def sample_row(name: str) -> list[str]:
    return [SAMPLE_VALUES[ATHENA_TYPES[dtype]] for dtype in QUERIES[name].columns.values()]


def last_execution(client) -> dict:
    [execution_id] = client.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"][-1:]
    return client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]


def engine() -> AthenaEngine:
    return AthenaEngine(Settings.from_env(), poll_interval=0.01)


GROUPS = {"availability": "level", "alerts": "zone"}  # the --by column each call below names
CALLS = {
    "status": lambda e: queries.status("2024-03-20T12:00:00Z", engine=e, now=NOW),
    "occupancy": lambda e: queries.occupancy("2024-03-20", engine=e, now=NOW),
    "utilization": lambda e: queries.utilization("2024-03-18", "2024-03-20", engine=e, now=NOW),
    "patterns": lambda e: queries.patterns("2024-03-18", "2024-03-20", tz="Europe/Paris", engine=e, now=NOW),
    "turnover": lambda e: queries.turnover("2024-03-18", "2024-03-20", engine=e, now=NOW),
    "dwell": lambda e: queries.dwell("2024-03-18", "2024-03-20", engine=e, now=NOW),
    "health": lambda e: queries.health(engine=e, now=NOW),
    "availability": lambda e: queries.availability("2024-03-20T12:00:00Z", by="level", engine=e, now=NOW),
    "alerts": lambda e: queries.alerts("2024-03-20T12:00:00Z", threshold=0.85, engine=e, now=NOW),
    "overstays": lambda e: queries.overstays("2024-03-20T12:00:00Z", engine=e, now=NOW),
}


@pytest.mark.parametrize("name", QUERIES)
def test_each_query_returns_a_typed_frame(athena, name) -> None:
    seed(name, [sample_row(name)])
    frame = CALLS[name](engine())
    columns = {GROUPS.get(name, c) if c == GROUP_COLUMN else c: t for c, t in QUERIES[name].columns.items()}
    assert list(frame.columns) == list(columns)
    for column, dtype in columns.items():
        expected = "datetime64[ns, UTC]" if dtype == LOCAL_TIME else dtype
        assert str(frame[column].dtype) == expected, column
    assert len(frame) == 1


@pytest.mark.parametrize("name", QUERIES)
def test_the_named_query_runs_with_its_parameters_bound(athena, name) -> None:
    seed(name, [])
    CALLS[name](engine())
    execution = last_execution(athena)
    sent = execution["Query"]
    template = QUERIES[name].sql.strip()
    assert "%(" not in sent, "every placeholder is bound"
    pattern = re.escape(template)
    for placeholder in set(re.findall(r"%\\\(\w+\\\)s", pattern)):
        pattern = pattern.replace(placeholder, r"(?:'[^']*'|\([^)]*\)|-?\d+(?:\.\d+)?)")
    assert re.fullmatch(pattern, sent), "the sent text is the named query with literals in its placeholders"
    assert execution["WorkGroup"] == WORKGROUP
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(OUTPUT)
    assert execution["QueryExecutionContext"]["Database"] == "parking_analytics"


def test_occupancy_reads_only_the_day_and_twice_its_lookback(athena) -> None:
    """A round trip in the lookback before the day looks one lookback further back (METRICS.md section 4)."""
    seed("occupancy", [])
    queries.occupancy("2024-03-01", engine=engine(), now=NOW)
    sent = last_execution(athena)["Query"]
    assert "year IN ('2024') AND month IN ('02', '03') AND day IN ('01', '28', '29')" in sent
    assert "BETWEEN '2024022800' AND '2024030123'" in sent


def test_local_day_in_a_zone_reads_the_utc_hours_it_spans(athena) -> None:
    seed("occupancy", [])
    queries.occupancy("2024-03-20", tz="America/New_York", lookback_hours=6, engine=engine(), now=NOW)
    sent = last_execution(athena)["Query"]
    # New York is UTC-4 on 20 March: the day is [04:00Z, 04:00Z next day), read from two
    # lookbacks before, 16:00Z.
    assert "BETWEEN '2024031916' AND '2024032103'" in sent


def test_the_sql_sent_is_what_the_local_engine_runs(athena) -> None:
    seed("utilization", [])
    queries.utilization(date(2024, 3, 18), date(2024, 3, 20), zones=["North", "O'Hare"], engine=engine(), now=NOW)
    window = days_window(date(2024, 3, 18), date(2024, 3, 20), zone("UTC"), NOW)
    grouping = {"group_by": "", "filter_zones": 1, "zones": ["North", "O'Hare"]}
    params = queries.query_params(QUERIES["utilization"], window, queries._lookback(24), grouping)
    assert last_execution(athena)["Query"] == bind(QUERIES["utilization"].sql, params)


def test_occupancy_rows_come_back_typed_and_localized(athena) -> None:
    seed("occupancy", [["2024-03-19 23:00:00.000", "0.5"], ["2024-03-20 00:00:00.000", None]])
    frame = queries.occupancy("2024-03-20", tz="Europe/Paris", engine=engine(), now=NOW)
    assert str(frame["hour"].dtype) == "datetime64[ns, Europe/Paris]"
    assert frame["hour"].iloc[0].isoformat() == "2024-03-20T00:00:00+01:00"
    assert frame["occupancy_rate"].iloc[0] == 0.5 and frame["occupancy_rate"].isna().iloc[1]


def test_a_failed_query_is_a_query_error(athena, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_WORKGROUP", "no-such-workgroup")
    monkeypatch.delenv("PARKING_OUTPUT_LOCATION")
    with pytest.raises(QueryError):
        queries.occupancy("2024-03-20", engine=engine(), now=NOW)


NO_AWS = {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
          "AWS_EC2_METADATA_DISABLED": "true", "PARKING_ENGINE": "athena"}


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({}, "no AWS region"),
        ({"AWS_REGION": REGION}, "no AWS credentials"),
        ({"AWS_REGION": REGION, "AWS_PROFILE": "nobody"}, "AWS profile 'nobody' is not in the AWS config files"),
    ],
    ids=["no-region", "no-credentials", "unknown-profile"],
)
def test_athena_out_of_reach_is_one_line_without_a_traceback(tmp_path, environment, message) -> None:
    """As a user starts it, with no logging configured: PyAthena's own log of the failure stays quiet."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "PARKING_"))}
    cli_script = Path(sys.executable).with_name("parking-cli")
    result = subprocess.run([str(cli_script), "status"], cwd=tmp_path, capture_output=True, text=True,
                            env={**kept, **NO_AWS, **environment})
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and message in line


def test_ctrl_c_cancels_the_running_query(athena) -> None:
    def interrupt(progress) -> None:
        raise KeyboardInterrupt

    seed("occupancy", [])
    interrupted = AthenaEngine(Settings.from_env(), poll_interval=0.01, on_progress=interrupt)
    with pytest.raises(QueryCancelled):
        queries.occupancy("2024-03-20", engine=interrupted, now=NOW)
    assert last_execution(athena)["Status"]["State"] == "CANCELLED"


def test_cli_reports_progress_and_cost_on_stderr(athena) -> None:
    seed("occupancy", [["2024-03-20 00:00:00.000", "0.25"]])
    result = CliRunner().invoke(cli, ["--engine", "athena", "--format", "csv", "occupancy", "--date", "2024-03-20"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == ["hour,occupancy_rate", "2024-03-20T00:00:00.000Z,0.25"]
    assert re.search(r"athena \S+: SUCCEEDED", result.stderr)
    assert "scanned 0.00 MB, billed 10 MB (rounded up, 10 MB minimum), cost $0.000048 at $5/TB" in result.stderr


def test_result_reuse_is_asked_for_when_chosen(athena, monkeypatch) -> None:
    sent: list[dict] = []
    real_call = botocore.client.BaseClient._make_api_call

    def spy(self, operation, params):  # records the request, then lets moto answer it
        if operation == "StartQueryExecution":
            sent.append(params)
        return real_call(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    seed("occupancy", [])
    result = CliRunner().invoke(cli, ["--engine", "athena", "--reuse-results", "30", "occupancy", "--date", "2024-03-20"])
    assert result.exit_code == 0, result.output
    [request] = sent
    assert request["ResultReuseConfiguration"] == {
        "ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": 30}
    }
    assert request["WorkGroup"] == WORKGROUP


def cte(sql: str, name: str) -> str:
    """The text of one common table expression, up to the next one."""
    return re.search(rf"\n{name} AS \((.*?)\n\),?\n", sql, re.DOTALL).group(1)


def test_the_queries_share_one_reading_of_events() -> None:
    """A named query must stand alone in Athena, so each file repeats how it reads
    and collapses events; this keeps the copies identical."""
    for name in ("events", "instants"):
        texts = {}
        for query in QUERIES:
            text = cte(QUERIES[query].sql, name)
            texts.setdefault(text.replace("e.ts_ms >= p.start_ms - p.lookback_ms AND e.ts_ms < p.end_ms", "WINDOW")
                             .replace("e.ts_ms > p.at_ms - p.window_ms - p.lookback_ms AND e.ts_ms <= p.at_ms", "WINDOW")
                             .replace("e.ts_ms > p.at_ms - p.window_ms AND e.ts_ms <= p.at_ms", "WINDOW"),
                             []).append(query)
        assert len(texts) == 1, texts


NEVER_NULL = [(name, column) for name, query in QUERIES.items() for column in sorted(query.never_null)]


@pytest.mark.parametrize(("name", "column"), NEVER_NULL)
def test_an_empty_string_the_sql_always_fills_comes_back_empty_not_null(athena, name, column) -> None:
    """Athena's CSV result writes '' as "" and PandasCursor reads it as NA; the typing step restores it."""
    row = sample_row(name)
    row[list(QUERIES[name].columns).index(column)] = ""
    seed(name, [row])
    frame = CALLS[name](engine())
    assert frame[column].tolist() == [""]


def test_a_healthy_spot_has_empty_flags_on_athena(athena) -> None:
    seed("health", [["A-001", "2024-03-21 06:00:00.000", "0.5", "2", "3.0", ""],
                    ["A-002", "2024-03-19 06:00:00.000", "48.5", "0", "50.0", "silent"]])
    frame = queries.health(engine=engine(), now=NOW)
    assert frame["flags"].tolist() == ["", "silent"]
    assert str(frame["flags"].dtype) == "string"


MB = 2**20


@pytest.mark.parametrize(
    ("scanned", "reused", "billed_mb"),
    [
        (0, False, 10),
        (1, False, 10),
        (10 * MB, False, 10),
        (10 * MB + 1, False, 11),
        (3 * 2**30, False, 3072),
        (5 * 2**40 - 1, False, 5 * MB),
        (50 * MB, True, 0),
    ],
)
def test_the_cost_is_what_athena_bills(scanned: int, reused: bool, billed_mb: int) -> None:
    """Bytes rounded up to the megabyte, 10 MB at least, $5 per TB; a reused result is free."""
    stats = QueryStats("q", data_scanned_bytes=scanned, engine_milliseconds=0, reused_result=reused)
    assert stats.billed_megabytes == billed_mb
    assert stats.cost_usd == pytest.approx(billed_mb * 5.0 / MB, rel=1e-12)


# AWS set-up problems: one line saying what to set, exit 1, never a traceback.


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No AWS settings at all: no environment, empty config files, no instance metadata."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("PARKING_ENGINE", "athena")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "no AWS region"),
        ({"AWS_REGION": REGION}, "no AWS credentials"),
        ({"AWS_DEFAULT_REGION": REGION, "AWS_PROFILE": "analyst"}, "AWS profile 'analyst' is not in the AWS config files"),
        ({"AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, "AWS credentials could not be loaded"),
    ],
)
def test_an_aws_setup_problem_is_one_line_saying_what_to_set(no_aws, monkeypatch, env, message) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["occupancy", "--date", "2024-03-20"])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and message in line
    assert "AWS_PROFILE" in line or "AWS_REGION" in line


def test_credentials_aws_rejects_are_one_line_too(athena) -> None:
    @set_initial_no_auth_action_count(0)  # moto checks every request's signature from here on
    def run() -> CliRunner:
        return CliRunner().invoke(cli, ["--engine", "athena", "occupancy", "--date", "2024-03-20"])

    seed("occupancy", [])
    result = run()
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "AWS rejected the credentials (InvalidClientTokenId)" in line and "AWS_ACCESS_KEY_ID" in line


def test_help_names_what_the_athena_engine_needs() -> None:
    text = " ".join(CliRunner().invoke(cli, ["--help"]).output.split())
    for setting in ("AWS_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "PARKING_WORKGROUP"):
        assert setting in text


# Time zones the local engine knows and Athena's time-zone list does not.


@pytest.mark.parametrize(
    ("zone_name", "athena_name"),
    [("Europe/Kyiv", "Europe/Kiev"), ("America/Nuuk", "America/Godthab"), ("Pacific/Kanton", "Pacific/Enderbury"),
     ("Europe/Paris", "Europe/Paris"), ("Asia/Kolkata", "Asia/Kolkata")],
)
def test_a_renamed_zone_is_sent_by_the_name_athena_knows(athena, zone_name: str, athena_name: str) -> None:
    seed("patterns", [])
    queries.patterns("2024-03-18", "2024-03-20", tz=zone_name, engine=engine(), now=NOW)
    sent = last_execution(athena)["Query"]
    assert f"AT TIME ZONE '{athena_name}'" in sent
    if zone_name != athena_name:
        assert zone_name not in sent


@pytest.mark.parametrize("zone_name", ["America/Ciudad_Juarez", "EST", "HST"])  # Factory, localtime: no zones at all
def test_a_zone_athena_lacks_is_refused_before_any_query_runs(athena, zone_name: str) -> None:
    result = CliRunner().invoke(
        cli, ["--engine", "athena", "patterns", "--from", "2024-03-18", "--to", "2024-03-20", "--tz", zone_name]
    )
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert f"time zone '{zone_name}' is not in Athena's time-zone database" in line
    assert athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"] == []
