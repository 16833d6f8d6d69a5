"""The Athena engine's settings and failures, as a user meets them on the command line.

Bad settings and zones are refused before any query runs (exit 2, naming
the variable); failures a setting can fix say which one (exit 1, one line).
moto answers the queries; where moto cannot produce an error (a failed query,
a refused result file, throttling), botocore's Stubber answers on the very
client PyAthena opens.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
import requests
from botocore.stub import Stubber
from click.testing import CliRunner
from moto import mock_aws

from parking.analytics import athena_client  # the throttling constants live in the one Athena client
from parking.analytics.engines import NOT_IN_ATHENA, AthenaEngine
from parking.analytics.registry import QUERIES
from parking.cli.main import cli
from tests.conftest import command_tree

REGION = "eu-west-1"
BUCKET = "parking-monitoring-data"
WORKGROUP = "parking-analytics-operations"
OUTPUT = f"s3://{BUCKET}/athena-results/operations/"
WINDOW = ["--from", "2024-03-18", "--to", "2024-03-20"]


@pytest.fixture
def athena(monkeypatch, tmp_path):
    """moto's Athena with the team's workgroup; the CLI set up for it, run from an empty folder."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "PARKING_ENGINE": "athena", "PARKING_WORKGROUP": WORKGROUP,
        "PARKING_OUTPUT_LOCATION": OUTPUT,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "PARKING_DATABASE", "PARKING_TABLE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(Name=WORKGROUP, Configuration={"ResultConfiguration": {"OutputLocation": OUTPUT}})
        yield client


def executions(client) -> list[str]:
    return client.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]


def sent_queries(client) -> list[str]:
    return [client.get_query_execution(QueryExecutionId=q)["QueryExecution"]["Query"] for q in executions(client)]


def seed(name: str, times: int = 1) -> None:
    """Queue an empty answer (the header only) of the named query for moto's next ``times`` queries."""
    header = [{"Data": [{"VarCharValue": column} for column in QUERIES[name].columns]}]
    info = [{"Name": c, "Label": c, "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "NULLABLE"}
            for c in QUERIES[name].columns]
    response = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/athena/query-results",
        json={"region": REGION, "results": [{"rows": header, "column_info": info}] * times},
        timeout=10,
    )
    assert response.status_code == 201


def run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stderr.splitlines()


@pytest.fixture
def stub(monkeypatch) -> Callable[[str, Callable[[Stubber], None]], None]:
    """Queue Stubber answers on the ``athena`` or ``s3`` client of the next connection the engine opens."""
    queued: dict[str, list[Callable[[Stubber], None]]] = {"athena": [], "s3": []}
    real_connect = AthenaEngine.connect

    def connect(self):
        connection = real_connect(self)
        for service, client in (("athena", connection.client), ("s3", connection.s3_client)):
            if queued[service]:
                stubber = Stubber(client)
                for add in queued[service]:
                    add(stubber)
                stubber.activate()
        return connection

    monkeypatch.setattr(AthenaEngine, "connect", connect)
    return lambda service, add: queued[service].append(add)


# Settings: checked before any query runs, naming the variable.


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PARKING_OUTPUT_LOCATION", "/tmp/foo", "PARKING_OUTPUT_LOCATION='/tmp/foo' is not an S3 location"),
        ("PARKING_OUTPUT_LOCATION", "s3:/results/", "set it to s3://BUCKET/PREFIX/"),
        ("PARKING_OUTPUT_LOCATION", "s3://Bad_Bucket/x/", "PARKING_OUTPUT_LOCATION='s3://Bad_Bucket/x/'"),
        ("PARKING_DATABASE", 'bad"db', "PARKING_DATABASE='bad\"db' is not a Glue database name"),
        ("PARKING_WORKGROUP", "bad name!", "PARKING_WORKGROUP='bad name!' is not an Athena workgroup name"),
        ("PARKING_TABLE", "x y", "PARKING_TABLE='x y' is not a plain SQL identifier"),
        ("PARKING_TABLE", "events; DROP", "PARKING_TABLE='events; DROP'"),
        ("PARKING_ENGINE", "Athena", "PARKING_ENGINE='Athena' is not an engine: choose one of local, athena"),
    ],
)
def test_a_bad_setting_is_refused_up_front_naming_its_variable(athena, monkeypatch, variable, value, message) -> None:
    monkeypatch.setenv(variable, value)
    code, lines = run("occupancy", "--date", "2024-03-20")
    assert code == 2
    [line] = lines
    assert message in line
    assert executions(athena) == []


ATHENA_ONLY = {
    "PARKING_OUTPUT_LOCATION": "/tmp/foo",
    "PARKING_WORKGROUP": "bad name!",
    "PARKING_DATABASE": 'bad"db',
    "PARKING_TABLE": "x-y",
}


@pytest.mark.parametrize(("variable", "value"), list(ATHENA_ONLY.items()))
@pytest.mark.parametrize("command", [["status"], ["lake", "check"], ["spots", "show"]], ids=" ".join)
def test_a_bad_athena_setting_does_not_stop_work_athena_takes_no_part_in(tmp_path, monkeypatch, variable, value,
                                                                        command) -> None:
    (tmp_path / "parking-data").mkdir()
    monkeypatch.setenv("PARKING_ENGINE", "local")
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(cli, [*command, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PARKING_DATA_PREFIX", "data", "PARKING_DATA_PREFIX must be relative, end with '/'"),
        ("PARKING_QUARANTINE_PREFIX", "/abs/", "PARKING_QUARANTINE_PREFIX must be relative"),
        ("PARKING_QUARANTINE_PREFIX", "parking-data/q/", "PARKING_DATA_PREFIX and PARKING_QUARANTINE_PREFIX must not"),
        ("PARKING_MAX_VALUE_BYTES", "-5", "PARKING_MAX_VALUE_BYTES must be positive: -5"),
        ("PARKING_MAX_VALUE_BYTES", "9223372036854775807", "PARKING_MAX_VALUE_BYTES must be at most 2147483647"),
        ("PARKING_MAX_VALUE_BYTES", "2147483648", "PARKING_MAX_VALUE_BYTES must be at most 2147483647"),
        pytest.param("PARKING_MAX_VALUE_BYTES", "9" * 5000, "PARKING_MAX_VALUE_BYTES is not an integer", id="5000-digits"),
        ("PARKING_COMPACTION_LATENESS_DAYS", "-1", "PARKING_COMPACTION_LATENESS_DAYS must be a whole number of days"),
        ("PARKING_COMPACTION_HOUR_LATENESS_MINUTES", "1441",
         "PARKING_COMPACTION_HOUR_LATENESS_MINUTES must be a whole number of minutes from 0 to 1440"),
        ("PARKING_COMPACTION_REMOVAL_DELAY_MINUTES", "soon", "PARKING_COMPACTION_REMOVAL_DELAY_MINUTES is not an integer"),
    ],
)
def test_every_bad_setting_names_its_variable(tmp_path, monkeypatch, variable, value, message) -> None:
    (tmp_path / "parking-data").mkdir()
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(cli, ["status", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert message in line


@pytest.mark.parametrize("value", ["9223372036854775807", "2147483648"])
def test_an_out_of_range_size_limit_stops_ingest_naming_its_variable(tmp_path, monkeypatch, value) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text('{"spot_id": "A-001", "status": "free", "timestamp": "2024-03-20T08:00:00Z"}\n')
    monkeypatch.setenv("PARKING_MAX_VALUE_BYTES", value)
    result = CliRunner().invoke(cli, ["ingest", str(source), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"Error: PARKING_MAX_VALUE_BYTES must be at most 2147483647 "
                                          f"(Kafka's largest record): {value}"]


def test_an_output_location_in_s3_is_used_as_given(athena, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_OUTPUT_LOCATION", f"s3://{BUCKET}/athena-results/operations/mine/")
    seed("occupancy")
    code, _ = run("occupancy", "--date", "2024-03-20")
    assert code == 0
    [query_id] = executions(athena)
    execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{BUCKET}/athena-results/operations/mine/")


def test_a_missing_workgroup_names_it_and_its_setting(athena, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_WORKGROUP", "parking-analytics")
    code, lines = run("occupancy", "--date", "2024-03-20")
    assert code == 1
    [line] = lines
    assert "Athena workgroup 'parking-analytics' does not exist" in line
    assert "set PARKING_WORKGROUP" in line and "parking-analytics-<team>" in line


def failed_query(reason: str) -> Callable[[Stubber], None]:
    """Athena's answers for a query that starts, then fails with ``reason``."""

    def add(stubber: Stubber) -> None:
        stubber.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
        stubber.add_response("get_query_execution", {"QueryExecution": {
            "QueryExecutionId": "q-1", "Query": "SELECT 1", "StatementType": "DML", "WorkGroup": WORKGROUP,
            "Status": {"State": "FAILED", "StateChangeReason": reason}, "Statistics": {}}})

    return add


@pytest.mark.parametrize(
    ("reason", "hints"),
    [
        ("SCHEMA_NOT_FOUND: line 1:8: Schema 'parking_analytic' does not exist",
         ["check PARKING_DATABASE (now 'parking_analytic')"]),
        ("TABLE_NOT_FOUND: line 60:10: Table 'awsdatacatalog.parking_analytic.spot_catalog' does not exist",
         ["check PARKING_DATABASE (now 'parking_analytic')", "PARKING_TABLE (now 'parking_events')",
          "spot_catalog"]),
    ],
    ids=["schema", "table"],
)
def test_a_query_failing_on_a_missing_database_or_table_names_the_settings(athena, monkeypatch, stub, reason,
                                                                            hints) -> None:
    monkeypatch.setenv("PARKING_DATABASE", "parking_analytic")
    stub("athena", failed_query(reason))
    code, lines = run("occupancy", "--date", "2024-03-20")
    assert code == 1
    [line] = [line for line in lines if not line.startswith("athena q-1: ")]  # the progress lines
    assert line.startswith(f"Error: Athena query failed: {reason}")
    for hint in hints:
        assert hint in line


def test_a_result_file_s3_refuses_names_the_workgroup_and_still_shows_the_cost(athena, stub) -> None:
    seed("occupancy")
    stub("s3", lambda stubber: stubber.add_client_error("head_object", "403", "Forbidden", 403))
    code, lines = run("occupancy", "--date", "2024-03-20")
    assert code == 1
    assert any(line.startswith("athena: scanned 0.00 MB, billed 10 MB") for line in lines), lines
    error = lines[-1]
    assert error.startswith("Error: the query ran, but S3 refused its result (403 on HeadObject)")
    assert OUTPUT in error and f"workgroup {WORKGROUP!r}" in error and "PARKING_WORKGROUP" in error
    assert len([line for line in lines if line.startswith("Error:")]) == 1


def test_an_unreachable_endpoint_names_aws_endpoint_url(athena, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's retries of a refused connection take seconds
    code, lines = run("occupancy", "--date", "2024-03-20")
    assert code == 1
    [line] = lines
    assert "AWS could not be reached at http://127.0.0.1:1" in line
    assert "check AWS_ENDPOINT_URL (set to http://127.0.0.1:1)" in line


def test_throttling_is_retried_a_few_times_aloud_then_one_line(athena, monkeypatch, stub) -> None:
    monkeypatch.setattr(athena_client, "THROTTLE_MAX_DELAY_SECONDS", 0)  # the waits, not their number, made short
    stubbers: list[Stubber] = []

    def throttled(stubber: Stubber) -> None:
        for _ in range(athena_client.THROTTLE_ATTEMPTS):
            stubber.add_client_error("start_query_execution", "ThrottlingException", "Rate exceeded", 400)
        stubbers.append(stubber)

    stub("athena", throttled)
    code, lines = run("occupancy", "--date", "2024-03-20")
    assert code == 1
    retrying = [line for line in lines if line.startswith("athena: AWS is throttling")]
    assert retrying == [
        f"athena: AWS is throttling the requests (ThrottlingException on StartQueryExecution); retrying, "
        f"attempt {attempt} of {athena_client.THROTTLE_ATTEMPTS}"
        for attempt in range(2, athena_client.THROTTLE_ATTEMPTS + 1)
    ]
    assert lines[-1].startswith("Error: AWS kept throttling the requests (ThrottlingException on "
                                "StartQueryExecution) after retrying: try again in a few minutes")
    stubbers[0].assert_no_pending_responses()  # every attempt made, and no more


def test_the_retries_of_a_throttled_call_end_within_half_a_minute() -> None:
    """PyAthena's default (8 attempts, waits up to 100 s) kept a user waiting minutes in silence."""
    waits = [min(2 ** attempt, athena_client.THROTTLE_MAX_DELAY_SECONDS) + 1
             for attempt in range(athena_client.THROTTLE_ATTEMPTS - 1)]
    assert 2 <= athena_client.THROTTLE_ATTEMPTS <= 5
    assert sum(waits) < 30  # the longest the waits between attempts add up to, jitter included


# Time zones Athena does not know: refused before any query, wherever the zone would reach Athena.

NO_ZONE = sorted(NOT_IN_ATHENA - {"Factory", "localtime"})  # those two are refused by every engine


def sends_zone(tmp: Path) -> dict[str, list[str]]:
    return {
        "patterns": ["patterns", *WINDOW],
        "plot patterns": ["plot", "patterns", *WINDOW, "--out", str(tmp / "p.png")],
        # Section 6: occupancy's rows start at the zone's whole hours and clock changes.
        "occupancy": ["occupancy", "--date", "2024-03-20"],
        "plot occupancy": ["plot", "occupancy", "--date", "2024-03-20", "--out", str(tmp / "o.png")],
        "report": ["report", *WINDOW, "--out", str(tmp / "r.html")],
    }


@pytest.mark.parametrize("command", ["patterns", "plot patterns", "occupancy", "plot occupancy", "report"])
@pytest.mark.parametrize("zone_name", NO_ZONE)
def test_a_zone_athena_lacks_is_refused_before_any_query(athena, tmp_path, command, zone_name) -> None:
    code, lines = run(*sends_zone(tmp_path)[command], "--tz", zone_name)
    assert code == 2
    [line] = lines
    assert f"time zone '{zone_name}' is not in Athena's time-zone database" in line
    assert executions(athena) == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("turnover", ["turnover", *WINDOW]),
        ("dwell", ["dwell", *WINDOW]),
        ("status", ["status"]),
        ("health", ["health"]),
    ],
)
def test_a_query_that_keeps_the_zone_on_this_side_accepts_it(athena, name, args) -> None:
    """Their windows are computed here and sent as UTC instants: Athena never sees the zone."""
    seed(name)
    code, lines = run(*args, "--tz", "America/Ciudad_Juarez")
    assert code == 0, lines
    [sent] = sent_queries(athena)
    assert "Ciudad_Juarez" not in sent


def test_a_zone_athena_lacks_is_accepted_by_the_local_engine(tmp_path) -> None:
    (tmp_path / "parking-data").mkdir()
    result = CliRunner().invoke(cli, ["--engine", "local", "--data-dir", str(tmp_path), "--format", "csv",
                                      "patterns", *WINDOW, "--tz", "America/Ciudad_Juarez"])
    assert result.exit_code == 0, result.stderr


# Help: every command that runs a query describes where it runs, in the same words.


def options_of(path: tuple[str, ...]) -> dict[str, str | None]:
    [command] = [command for found, command in command_tree(cli) if found == path]
    return {param.name: param.help for param in command.params if param.name in ("engine", "data_dir")}


@pytest.mark.parametrize("path", [("plot", "patterns"), ("plot", "occupancy"), ("plot", "availability"), ("report",)])
def test_plots_and_the_report_describe_engine_and_data_dir_as_the_queries_do(path) -> None:
    described = options_of(path)
    assert described == options_of(("occupancy",))
    assert "PARKING_WORKGROUP" in described["engine"] and "AWS_REGION" in described["engine"]
    assert "PARKING_DATA_DIR" in described["data_dir"]
    text = " ".join(CliRunner().invoke(cli, [*path, "--help"]).output.split())
    assert "PARKING_OUTPUT_LOCATION" in text and "PARKING_DATA_DIR" in text
