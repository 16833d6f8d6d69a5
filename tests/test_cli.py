"""parking-cli as a user drives it: output formats, exit codes, bad arguments."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

import parking.cli.main
from parking.cli.main import cli as parking_cli

LINES = [
    {"spot_id": "A1", "status": "occupied", "timestamp": "2024-03-20T08:00:00Z"},
    {"spot_id": "A1", "status": "free", "timestamp": "2024-03-20T10:30:00+01:00"},
    {"spot_id": "B2", "status": "Vacant", "timestamp": "2024-03-20T08:15:00.250Z"},
    {"spot_id": "B2", "status": "occupied", "timestamp": "2024-03-20T12:00:00Z"},
]
FILE_TIME = datetime(2024, 3, 21, 5, 30, tzinfo=timezone.utc)  # the events file's modification time
BAD_LINES = ["not json", '{"spot_id": "C3", "status": "parked", "timestamp": "2024-03-20T08:00:00Z"}']


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def lake(tmp_path: Path, runner: CliRunner) -> Path:
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join([json.dumps(line) for line in LINES] + BAD_LINES) + "\n")
    os.utime(source, (FILE_TIME.timestamp(), FILE_TIME.timestamp()))
    result = runner.invoke(parking_cli, ["ingest", str(source), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    return tmp_path / "data"


@pytest.fixture
def no_engine(monkeypatch) -> list:
    """Records each command that gets as far as building an engine, and stops it there."""
    built: list = []

    def refuse(*args, **kwargs):
        built.append(args)
        raise RuntimeError("a query ran")

    monkeypatch.setattr(parking.cli.main, "engine_for", refuse)
    return built


def test_ingest_prints_counts_and_writes_the_layout(tmp_path: Path, lake: Path, runner: CliRunner) -> None:
    data = sorted(str(p.relative_to(lake)) for p in lake.rglob("*.json.gz"))
    assert [p.rsplit("/", 1)[0] for p in data] == [
        "parking-data/year=2024/month=03/day=20/hour=08",
        "parking-data/year=2024/month=03/day=20/hour=09",
        "parking-data/year=2024/month=03/day=20/hour=12",
        "parking-quarantine/year=2024/month=03/day=21/hour=05",  # FILE_TIME: the file's time is the Kafka time
    ]
    hour09 = lake / data[1]
    assert json.loads(gzip.decompress(hour09.read_bytes())) == {
        "spot_id": "A1", "status": "free", "timestamp": "2024-03-20T09:30:00Z",
    }
    result = runner.invoke(parking_cli, ["ingest", str(tmp_path / "events.jsonl"), "--data-dir", str(lake)])
    assert "records in              6" in result.output
    assert "stored                  4" in result.output
    assert "quarantined             2  (not_json 1, unknown_status 1)" in result.output
    assert sorted(str(p.relative_to(lake)) for p in lake.rglob("*.json.gz")) == data, "a reload overwrites"


def test_ingest_reads_stdin(tmp_path: Path, runner: CliRunner) -> None:
    text = "\n".join(json.dumps(line) for line in LINES) + "\n"
    result = runner.invoke(parking_cli, ["ingest", "-", "--data-dir", str(tmp_path)], input=text)
    assert result.exit_code == 0 and "stored                  4" in result.output


@pytest.mark.parametrize("output_format", ["table", "csv", "json"])
def test_formats_carry_the_same_rows(lake: Path, runner: CliRunner, output_format: str) -> None:
    args = ["--data-dir", str(lake), "--format", output_format, "utilization", "--from", "2024-03-20", "--to", "2024-03-20"]
    result = runner.invoke(parking_cli, args)
    assert result.exit_code == 0, result.output
    if output_format == "json":
        rows = json.loads(result.stdout)
        assert [row["spot_id"] for row in rows] == ["A1", "B2"]
        assert isinstance(rows[0]["utilization"], float)
    elif output_format == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert list(rows[0]) == ["spot_id", "utilization", "occupied_seconds", "observed_seconds"]
        assert [row["spot_id"] for row in rows] == ["A1", "B2"]
    else:
        header, *lines = result.stdout.splitlines()
        assert header.split() == ["spot_id", "utilization", "occupied_seconds", "observed_seconds"]
        assert [line.split()[0] for line in lines] == ["A1", "B2"] and "%" in lines[0]


def test_timestamps_are_iso_8601_in_csv_and_json(lake: Path, runner: CliRunner) -> None:
    base = ["--data-dir", str(lake), "status", "--at", "2024-03-20T13:00:00Z"]
    as_json = json.loads(runner.invoke(parking_cli, [*base, "--format", "json"]).stdout)
    assert as_json[1] == {
        "spot_id": "B2", "status": "occupied", "since": "2024-03-20T12:00:00Z",
        "last_event": "2024-03-20T12:00:00Z", "stale": False,
    }
    as_csv = runner.invoke(parking_cli, [*base, "--format", "csv"]).stdout.splitlines()
    assert as_csv[1] == "A1,free,2024-03-20T09:30:00Z,2024-03-20T09:30:00Z,False"


def test_local_zone_shows_offsets(lake: Path, runner: CliRunner) -> None:
    args = ["--data-dir", str(lake), "--format", "csv", "occupancy", "--date", "2024-03-20", "--tz", "Asia/Kolkata"]
    lines = runner.invoke(parking_cli, args).stdout.splitlines()
    assert len(lines) == 25 and lines[1].startswith("2024-03-20T00:00:00+05:30,")


def test_options_work_after_the_command_too(lake: Path, runner: CliRunner) -> None:
    args = ["occupancy", "--date", "2024-03-20", "--data-dir", str(lake), "--format", "json"]
    rows = json.loads(runner.invoke(parking_cli, args).stdout)
    assert len(rows) == 24 and rows[8]["hour"] == "2024-03-20T08:00:00Z"


def test_empty_result_is_a_message_not_an_error(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(parking_cli, ["--data-dir", str(tmp_path), "utilization", "--from", "2024-03-20", "--to", "2024-03-21"])
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr.strip() == "No rows: no spot was observed in that window."


def test_empty_json_is_an_empty_array(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(parking_cli, ["--data-dir", str(tmp_path), "--format", "json", "dwell", "--from", "2024-03-20", "--to", "2024-03-21"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


BAD_ARGUMENTS = [
    (["occupancy", "--date", "2024-02-30"], "invalid date '2024-02-30'"),
    (["occupancy", "--date", "2024-3-1"], "invalid date '2024-3-1'"),
    (["occupancy", "--date", "yesterday"], "invalid date 'yesterday'"),
    (["occupancy"], "Missing option '--date'"),
    (["occupancy", "--date", "2024-03-20", "--tz", "Mars/Olympus_Mons"], "unknown time zone 'Mars/Olympus_Mons'"),
    (["occupancy", "--date", "2024-03-20", "--tz", "../../etc/passwd"], "unknown time zone"),
    (["occupancy", "--date", "2024-03-20", "--lookback", "0"], "--lookback"),
    (["occupancy", "--date", "2024-03-20", "--lookback", "-3"], "--lookback"),
    (["utilization", "--from", "2024-03-21", "--to", "2024-03-20"], "--from 2024-03-21 is after --to 2024-03-20"),
    (["patterns", "--from", "2024-01-01", "--to", "2025-06-01"], "longer than 366"),
    (["turnover", "--from", "2024-03-20"], "Missing option '--to'"),
    (["status", "--at", "noon"], "invalid timestamp 'noon'"),
    (["health", "--at", "2024-13-01T00:00:00Z"], "invalid timestamp"),
    (["health", "--flapping-changes", "0"], "--flapping-changes"),
    (["--engine", "bigquery", "status"], "'bigquery' is not one of 'local', 'athena'"),
    (["--format", "xml", "status"], "'xml' is not one of 'table', 'csv', 'json'"),
    (["dwell", "--from", "2024-03-20", "--to", "2024-03-20", "--tz", ""], "unknown time zone"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--workers", "0"], "--workers"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--workers", "many"], "--workers"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--batch-size", "10001"], "--batch-size"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--connect-timeout", "nan"], "'nan' is not a number"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--batching-window", "nan"], "'nan' is not a number"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--until-idle", "NaN"], "'NaN' is not a number"),
    (["status", "--lookback", "nan"], "'nan' is not a number"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--bucket", "Bad_Bucket!"], "not an S3 bucket name"),
    (["ingest", "-", "--bucket", "my..bucket"], "not an S3 bucket name"),
    (["ingest", "-", "--bucket", "ab"], "not an S3 bucket name"),
    (["plot", "occupancy", "--date", "2024-03-20", "--out", "no/such/dir/day.png"], "directory 'no/such/dir' does not exist"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--group", ""], "--group': must not be empty"),
    (["consume", "--bootstrap-servers", " "], "--bootstrap-servers': must not be empty"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--topic", ""], "is not a Kafka topic name"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--topic", "bad topic!"], "is not a Kafka topic name"),
    (["ingest", "-", "--topic", "../../escaped"], "is not a Kafka topic name"),
    (["ingest", "-", "--topic", ".."], "is not a Kafka topic name"),
    (["simulate", "--kafka", "127.0.0.1:9", "--topic", "a+b"], "is not a Kafka topic name"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_bad_argument_is_one_line_and_exit_2(runner: CliRunner, no_engine: list, args, message) -> None:
    result = runner.invoke(parking_cli, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and message in line
    assert no_engine == []


@pytest.mark.parametrize("args", [[], ["plot"]], ids=["parking-cli", "plot"])
def test_a_group_named_alone_shows_its_help_not_an_error(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(parking_cli, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: ") and "Commands:" in result.stderr and "Error" not in result.stderr


def test_unknown_engine_in_the_environment_is_a_usage_error(runner: CliRunner, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_ENGINE", "sqlite")
    result = runner.invoke(parking_cli, ["status"])
    assert result.exit_code == 2 and result.stderr.strip() == "Error: unknown engine 'sqlite': choose one of local, athena"


def test_simulate_is_deterministic_and_ingestible(tmp_path: Path, runner: CliRunner) -> None:
    args = ["simulate", "--spots", "5", "--days", "2", "--start", "2024-03-18", "--seed", "3"]
    first, second = runner.invoke(parking_cli, args), runner.invoke(parking_cli, args)
    assert first.exit_code == 0 and first.stdout == second.stdout
    lines = first.stdout.splitlines()
    assert len(lines) > 20
    out = tmp_path / "sim.jsonl"
    runner.invoke(parking_cli, [*args, "--out", str(out)])
    result = runner.invoke(parking_cli, ["ingest", str(out), "--data-dir", str(tmp_path / "d")])
    assert f"records in     {len(lines):>10,}" in result.output


def test_ingest_backfills_a_bucket(tmp_path: Path, runner: CliRunner, monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    source = tmp_path / "history.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in LINES) + "\nnot json\n")
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="history", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        result = runner.invoke(parking_cli, ["ingest", str(source), "--bucket", "history"])
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket="history")["Contents"]]
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ingested into s3://history/")
    assert sorted(key.split("/")[0] for key in keys) == ["parking-data"] * 3 + ["parking-quarantine"]
    assert not (tmp_path / "data").exists()
