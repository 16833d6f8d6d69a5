"""parking-cli as a user drives it: output formats, exit codes, bad arguments."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import pty
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pandas as pd
import pytest
from click.testing import CliRunner
from moto import mock_aws

from parking.cli.context import CliContext
from parking.cli.main import cli as parking_cli

LINES = [
    {"spot_id": "A1", "status": "occupied", "timestamp": "2024-03-20T08:00:00Z"},
    {"spot_id": "A1", "status": "free", "timestamp": "2024-03-20T10:30:00+01:00"},
    {"spot_id": "B2", "status": "Vacant", "timestamp": "2024-03-20T08:15:00.250Z"},
    {"spot_id": "B2", "status": "occupied", "timestamp": "2024-03-20T12:00:00Z"},
]
FILE_TIME = datetime(2024, 3, 21, 5, 30, tzinfo=timezone.utc)  # the events file's modification time, which names nothing
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

    monkeypatch.setattr(CliContext, "query_engine", refuse)
    return built


def test_ingest_prints_counts_and_writes_the_layout(tmp_path: Path, lake: Path, runner: CliRunner) -> None:
    data = sorted(str(p.relative_to(lake)) for p in lake.rglob("*.json.gz"))
    assert [p.rsplit("/", 1)[0] for p in data] == [
        "parking-data/year=2024/month=03/day=20/hour=08",
        "parking-data/year=2024/month=03/day=20/hour=09",
        "parking-data/year=2024/month=03/day=20/hour=12",
        "parking-quarantine/year=1970/month=01/day=01/hour=00",  # file records have no Kafka time, whatever the mtime
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
        assert header.split() == ["spot_id", "utilization", "occupied_hours", "observed_hours"], "hours for people"
        assert [line.split()[0] for line in lines] == ["A1", "B2"] and "%" in lines[0]


def test_timestamps_are_iso_8601_with_milliseconds_in_csv_and_json(lake: Path, runner: CliRunner) -> None:
    base = ["--data-dir", str(lake), "status", "--at", "2024-03-20T13:00:00Z"]
    as_json = json.loads(runner.invoke(parking_cli, [*base, "--format", "json"]).stdout)
    assert as_json[1] == {
        "spot_id": "B2", "status": "occupied", "since": "2024-03-20T12:00:00.000Z",
        "last_event": "2024-03-20T12:00:00.000Z", "stale": False,
    }
    as_csv = runner.invoke(parking_cli, [*base, "--format", "csv"]).stdout.splitlines()
    assert as_csv[1] == "A1,free,2024-03-20T09:30:00.000Z,2024-03-20T09:30:00.000Z,False"


@pytest.mark.parametrize("command", [["status", "--at", "2024-03-20T13:00:00Z"], ["health", "--at", "2024-03-20T13:00:00Z"],
                                     ["occupancy", "--date", "2024-03-20", "--tz", "America/New_York"]])
def test_csv_timestamps_parse_as_datetimes_with_pandas(lake: Path, runner: CliRunner, command: list[str]) -> None:
    """One spelling per column: B2's 08:15:00.250 and A1's 09:30:00 both parse, so the column is datetimes."""
    text = runner.invoke(parking_cli, ["--data-dir", str(lake), "--format", "csv", *command]).stdout
    columns = [c for c in ("since", "last_event", "hour") if c in text.splitlines()[0].split(",")]
    frame = pd.read_csv(io.StringIO(text), parse_dates=columns)
    for column in columns:
        assert pd.api.types.is_datetime64_any_dtype(frame[column]), (column, frame[column].tolist())


def test_local_zone_shows_offsets(lake: Path, runner: CliRunner) -> None:
    args = ["--data-dir", str(lake), "--format", "csv", "occupancy", "--date", "2024-03-20", "--tz", "Asia/Kolkata"]
    lines = runner.invoke(parking_cli, args).stdout.splitlines()
    assert len(lines) == 25 and lines[1].startswith("2024-03-20T00:00:00.000+05:30,")


def test_options_work_after_the_command_too(lake: Path, runner: CliRunner) -> None:
    args = ["occupancy", "--date", "2024-03-20", "--data-dir", str(lake), "--format", "json"]
    rows = json.loads(runner.invoke(parking_cli, args).stdout)
    assert len(rows) == 24 and rows[8]["hour"] == "2024-03-20T08:00:00.000Z"


@pytest.mark.parametrize("where", ["before", "after"])
def test_lookback_goes_before_or_after_the_command(lake: Path, runner: CliRunner, where: str) -> None:
    """A1's last event is 09:30; at 13:00 a 2-hour lookback makes it stale, the default 24 does not."""
    command = ["status", "--at", "2024-03-20T13:00:00Z"]
    args = ["--lookback", "2", *command] if where == "before" else [*command, "--lookback", "2"]
    rows = json.loads(runner.invoke(parking_cli, ["--data-dir", str(lake), "--format", "json", *args]).stdout)
    default = json.loads(runner.invoke(parking_cli, ["--data-dir", str(lake), "--format", "json", *command]).stdout)
    assert [row["stale"] for row in rows] == [True, False]
    assert [row["stale"] for row in default] == [False, False]


def test_the_command_lookback_beats_the_group_lookback(lake: Path, runner: CliRunner) -> None:
    args = ["--data-dir", str(lake), "--format", "json", "--lookback", "2", "status", "--at", "2024-03-20T13:00:00Z",
            "--lookback", "24"]
    assert [row["stale"] for row in json.loads(runner.invoke(parking_cli, args).stdout)] == [False, False]


EMPTY_WINDOWS = [
    ["utilization", "--from", "2024-03-22", "--to", "2024-03-23"],
    ["turnover", "--from", "2024-03-22", "--to", "2024-03-23"],
    ["dwell", "--from", "2024-03-22", "--to", "2024-03-23"],
    ["occupancy", "--date", "2024-03-23"],
    ["patterns", "--from", "2024-03-22", "--to", "2024-03-23"],
    ["status", "--at", "2024-04-30T00:00:00Z"],
    ["health", "--at", "2024-05-30T00:00:00Z"],
]


@pytest.mark.parametrize("args", EMPTY_WINDOWS, ids=[a[0] for a in EMPTY_WINDOWS])
def test_nothing_observed_is_said_the_same_way_by_every_command(lake: Path, runner: CliRunner, args) -> None:
    result = runner.invoke(parking_cli, ["--data-dir", str(lake), *args])
    assert result.exit_code == 0
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Nothing observed: ") and line.endswith(".")


def test_nothing_observed_keeps_the_defined_rows_in_csv(lake: Path, runner: CliRunner) -> None:
    """METRICS.md section 4: occupancy has a row per hour, null where nothing was observed."""
    result = runner.invoke(parking_cli, ["--data-dir", str(lake), "--format", "csv", "occupancy", "--date", "2024-03-23"])
    lines = result.stdout.splitlines()
    assert result.stderr.startswith("Nothing observed: ")
    assert len(lines) == 25 and lines[1] == "2024-03-23T00:00:00.000Z,"


def test_nothing_observed_json_is_an_empty_array(lake: Path, runner: CliRunner) -> None:
    args = ["--data-dir", str(lake), "--format", "json", "dwell", "--from", "2024-03-22", "--to", "2024-03-23"]
    result = runner.invoke(parking_cli, args)
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_patterns_table_names_weekdays(lake: Path, runner: CliRunner) -> None:
    result = runner.invoke(parking_cli, ["--data-dir", str(lake), "patterns", "--from", "2024-03-20", "--to", "2024-03-20"])
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["weekday", "hour", "occupancy_rate"]
    assert {row.split()[0] for row in rows} == {"Wed"} and len(rows) == 24
    as_csv = runner.invoke(parking_cli, ["--data-dir", str(lake), "--format", "csv", "patterns", "--from", "2024-03-20",
                                         "--to", "2024-03-20"]).stdout.splitlines()
    assert as_csv[0] == "day_of_week,hour,occupancy_rate" and as_csv[1].startswith("3,0,"), "machines keep METRICS.md"


def test_status_table_ends_with_a_count_line(lake: Path, runner: CliRunner) -> None:
    args = ["--data-dir", str(lake), "status", "--at", "2024-03-20T13:00:00Z", "--lookback", "2"]
    lines = runner.invoke(parking_cli, args).stdout.splitlines()
    assert lines[-1] == "2 spots: 0 free, 1 occupied, 1 stale (state unknown)"
    as_csv = runner.invoke(parking_cli, [*args, "--format", "csv"]).stdout.splitlines()
    assert len(as_csv) == 3, "no count line in machine formats"


@pytest.mark.parametrize("command", ["status", "health"])
def test_status_and_health_show_times_in_the_zone_asked(lake: Path, runner: CliRunner, command: str) -> None:
    args = ["--data-dir", str(lake), "--format", "json", command, "--at", "2024-03-20T13:00:00Z", "--tz", "Europe/Paris"]
    rows = json.loads(runner.invoke(parking_cli, args).stdout)
    assert rows[1]["last_event"] == "2024-03-20T13:00:00.000+01:00"


def test_health_flagged_lists_only_sensors_with_a_flag(lake: Path, runner: CliRunner) -> None:
    """At 13:00 with --silent-hours 2, A1 (last event 09:30) is silent and B2 (12:00) is not."""
    base = ["--data-dir", str(lake), "--format", "json", "health", "--at", "2024-03-20T13:00:00Z", "--silent-hours", "2"]
    every = json.loads(runner.invoke(parking_cli, base).stdout)
    flagged = json.loads(runner.invoke(parking_cli, [*base, "--flagged"]).stdout)
    assert [(row["spot_id"], row["flags"]) for row in every] == [("A1", "silent"), ("B2", "")]
    assert [row["spot_id"] for row in flagged] == ["A1"]


def test_health_flagged_with_no_flag_says_so(lake: Path, runner: CliRunner) -> None:
    result = runner.invoke(parking_cli, ["--data-dir", str(lake), "health", "--at", "2024-03-20T13:00:00Z", "--flagged"])
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.strip() == "Nothing observed: no sensor has a flag."


def write_lake_copy(lake: Path, target: Path) -> Path:
    shutil.copytree(lake, target)
    return target


@pytest.mark.parametrize("name", ["lake[12]", "lake*", "lake?", "it's {a,b}"])
def test_data_dir_with_glob_characters_is_read_as_itself(lake: Path, tmp_path: Path, runner: CliRunner, name: str) -> None:
    copy = write_lake_copy(lake, tmp_path / name)
    write_lake_copy(lake, tmp_path / "lake1")  # what the pattern lake[12] / lake? would also match
    args = ["--format", "json", "utilization", "--from", "2024-03-20", "--to", "2024-03-20"]
    result = runner.invoke(parking_cli, ["--data-dir", str(copy), *args])
    assert result.exit_code == 0, result.output
    assert [row["spot_id"] for row in json.loads(result.stdout)] == ["A1", "B2"]


def no_lake_cases(tmp_path: Path) -> dict[str, tuple[dict[str, str], list[str], str]]:
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("not a lake")
    return {
        "missing": ({}, ["--data-dir", str(tmp_path / "typo")], "does not exist"),
        "empty": ({}, ["--data-dir", str(tmp_path / "empty")], "holds no data lake"),
        "env-missing": ({"PARKING_DATA_DIR": str(tmp_path / "typo")}, [], "does not exist"),
        "env-file": ({"PARKING_DATA_DIR": str(tmp_path / "a-file")}, [], "is not a directory"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "env-missing", "env-file"])
@pytest.mark.parametrize("command", [["status"], ["occupancy", "--date", "2024-03-20"],
                                     ["plot", "occupancy", "--date", "2024-03-20", "--out", "x.png"]])
def test_a_query_on_a_directory_without_a_lake_says_so(tmp_path: Path, runner: CliRunner, monkeypatch, case, command):
    env, args, message = no_lake_cases(tmp_path)[case]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    group_args = args if command[0] != "plot" else []
    command_args = args if command[0] == "plot" else []
    result = runner.invoke(parking_cli, [*group_args, *command, *command_args])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: data directory ") and message in line
    assert not (tmp_path / "x.png").exists()


BAD_ARGUMENTS = [
    (["occupancy", "--date", "2024-02-30"], "invalid date '2024-02-30'"),
    (["occupancy", "--date", "2024-3-1"], "invalid date '2024-3-1'"),
    (["occupancy", "--date", "tomorrow"], "invalid date 'tomorrow'"),
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
    # the ends of the calendar
    (["occupancy", "--date", "0001-01-01"], "outside the days a query can name, 1970-01-01 to 2261-12-31"),
    (["occupancy", "--date", "9999-12-31"], "outside the days a query can name"),
    (["patterns", "--from", "9999-12-30", "--to", "9999-12-31"], "outside the days a query can name"),
    (["utilization", "--from", "1969-12-31", "--to", "1970-01-01"], "date 1969-12-31 is outside"),
    (["status", "--at", "9999-12-31T23:59:59-01:00"], "outside the days a query can name"),
    (["status", "--at", "0001-01-01T00:00:00+01:00"], "outside the days a query can name"),
    (["health", "--at", "2262-01-01T00:00:00Z"], "outside the days a query can name"),
    (["simulate", "--start", "9999-12-31"], "outside the days a query can name"),
    (["plot", "occupancy", "--date", "9999-12-31", "--out", "x.png"], "outside the days a query can name"),
    (["report", "--from", "0001-01-01", "--to", "0001-01-02", "--out", "x.html"], "outside the days"),
    # zone names that are folders, paths, too long, or not zones of a place
    (["occupancy", "--date", "2024-03-20", "--tz", "Europe"], "unknown time zone 'Europe'"),
    (["occupancy", "--date", "2024-03-20", "--tz", "America/Argentina"], "unknown time zone"),
    (["occupancy", "--date", "2024-03-20", "--tz", "A" * 300], "unknown time zone 'AAAA"),
    (["occupancy", "--date", "2024-03-20", "--tz", "right/UTC"], "unknown time zone 'right/UTC'"),
    (["occupancy", "--date", "2024-03-20", "--tz", "posix/Europe/Paris"], "unknown time zone"),
    (["occupancy", "--date", "2024-03-20", "--tz", "posixrules"], "unknown time zone 'posixrules'"),
    (["occupancy", "--date", "2024-03-20", "--tz", "localtime"], "unknown time zone 'localtime'"),
    (["occupancy", "--date", "2024-03-20", "--tz", "/usr/share/zoneinfo/UTC"], "unknown time zone"),
    (["status", "--tz", "Europe"], "unknown time zone"),
    (["health", "--tz", "localtime"], "unknown time zone"),
    (["occupancy", "--date", "2024-03-20", "--tz", "Etc/GMT+5"], "'Etc/GMT+5' is UTC-05:00 (POSIX inverts the sign)"),
    (["status", "--tz", "Etc/GMT-14"], "'Etc/GMT-14' is UTC+14:00"),
    # numbers beyond what the engine's arithmetic holds
    (["health", "--flapping-changes", "99999999999999999999999"], "--flapping-changes"),
    (["health", "--stuck-hours", "1e300"], "--stuck-hours"),
    (["status", "--lookback", "inf"], "--lookback"),
    (["--lookback", "nan", "status"], "--lookback"),
    (["ingest", "-", "--partition", str(2**31)], "--partition"),
    (["simulate", "--seed", str(2**64)], "--seed"),
    # pictures: a folder that does not exist, a format we do not write
    (["plot", "occupancy", "--date", "2024-03-20", "--out", "missing-folder/x.png"], "folder 'missing-folder'"),
    (["plot", "patterns", "--from", "2024-03-20", "--to", "2024-03-20", "--out", "day.gif"], "does not end in .png, .svg, .pdf"),
    (["report", "--from", "2024-03-20", "--to", "2024-03-20", "--out", "report.pdf"], "does not end in .html"),
    (["report", "--from", "2024-01-01", "--to", "2024-06-01", "--out", "r.html"], "at most 92 days"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--connect-timeout", "nan"], "'nan' is not a number"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--batching-window", "nan"], "'nan' is not a number"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--until-idle", "NaN"], "'NaN' is not a number"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--until-idle", "inf"], "'inf' is not a finite number"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--connect-timeout", "Infinity"], "'Infinity' is not a finite"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--connect-timeout", "3601"], "not in the range 0<x<=3600"),
    (["status", "--lookback", "nan"], "'nan' is not a number"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--bucket", "Bad_Bucket!"], "not an S3 bucket name"),
    (["ingest", "-", "--bucket", "my..bucket"], "not an S3 bucket name"),
    (["ingest", "-", "--bucket", "ab"], "not an S3 bucket name"),
    (["consume", "--bootstrap-servers", "127.0.0.1:9", "--group", ""], "--group': must not be empty"),
    (["consume", "--bootstrap-servers", " "], "--bootstrap-servers': must not be empty"),
    # a port in other digits than 0-9: int() read '\u0669\u0660\u0669\u0662' as 9092 and failed on '\u00b2'
    (["consume", "--bootstrap-servers", "127.0.0.1:\u0669\u0660\u0669\u0662"], "is not HOST:PORT with a port"),
    (["simulate", "--kafka", "127.0.0.1:\u00b2"], "'127.0.0.1:\u00b2' is not HOST:PORT with a port from 1 to 65535"),
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


def test_nan_is_not_a_number_of_hours() -> None:
    """click's FloatRange lets NaN through (every comparison is false); the library refuses it."""
    result = CliRunner().invoke(parking_cli, ["health", "--silent-hours", "nan"])
    assert result.exit_code == 2 and "--silent-hours" in result.stderr


@pytest.mark.parametrize("args", [[], ["plot"]], ids=["parking-cli", "plot"])
def test_a_group_named_alone_shows_its_help_not_an_error(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(parking_cli, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: ") and "Commands:" in result.stderr and "Error" not in result.stderr


def test_unknown_engine_in_the_environment_is_a_usage_error(runner: CliRunner, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_ENGINE", "sqlite")
    result = runner.invoke(parking_cli, ["status"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: PARKING_ENGINE='sqlite' is not an engine: choose one of local, athena"


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


def run_with_stderr_on_a_terminal(args: list[str], stdin: bytes = b"") -> tuple[int, bytes, str]:
    """Run parking-cli in a child process whose stderr is a pseudo-terminal; (code, stdout, terminal text)."""
    controller, terminal = pty.openpty()
    try:
        child = subprocess.run([sys.executable, "-m", "parking", *args], input=stdin, stdout=subprocess.PIPE,
                               stderr=terminal, timeout=120, check=False)
        os.close(terminal)
        seen = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(controller)
    return child.returncode, child.stdout, seen.decode(errors="replace")


def test_ingest_from_a_pipe_with_stderr_on_a_terminal(tmp_path: Path) -> None:
    text = ("\n".join(json.dumps(line) for line in LINES) + "\n").encode()
    code, stdout, terminal = run_with_stderr_on_a_terminal(["ingest", "-", "--data-dir", str(tmp_path)], text)
    assert code == 0, terminal
    assert b"stored                  4" in stdout
    assert "ingesting (lines)" in terminal and "Traceback" not in terminal


def test_simulate_to_a_file_says_what_it_wrote(tmp_path: Path, runner: CliRunner) -> None:
    out = tmp_path / "week.jsonl"
    result = runner.invoke(parking_cli, ["simulate", "--spots", "3", "--days", "2", "--start", "2024-03-18", "--out", str(out)])
    written = len(out.read_text().splitlines())
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.strip() == f"wrote {written:,} records (3 spots, 2024-03-18 to 2024-03-19 UTC) to {out}"


SIMULATED_NOW = datetime(2026, 11, 30, 7, 42, tzinfo=timezone.utc)


@pytest.mark.parametrize("target", [["--out", "week.jsonl"], [], ["--kafka", "127.0.0.1:9"]],
                         ids=["to a file", "to stdout", "to Kafka"])
@pytest.mark.parametrize("start", ["2026-12-01", "2261-12-31"])
def test_simulate_refuses_a_start_in_the_future_touching_nothing(
    tmp_path: Path, runner: CliRunner, monkeypatch, target: list[str], start: str
) -> None:
    monkeypatch.setattr(CliContext, "now", lambda self: SIMULATED_NOW)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(parking_cli, ["simulate", "--start", start, "--catalog", "spots.csv", *target])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == (
        f"Error: Invalid value for --start: {start} is in the future (today is 2026-11-30 UTC); "
        "events are simulated up to now only")
    assert list(tmp_path.iterdir()) == []


def test_simulate_reaching_past_now_says_where_it_stopped(tmp_path: Path, runner: CliRunner, monkeypatch) -> None:
    monkeypatch.setattr(CliContext, "now", lambda self: SIMULATED_NOW)
    out = tmp_path / "days.jsonl"
    result = runner.invoke(parking_cli, ["simulate", "--spots", "3", "--days", "3", "--start", "2026-11-29",
                                         "--out", str(out)])
    written = out.read_text().splitlines()
    assert result.exit_code == 0 and written
    assert max(json.loads(line).get("timestamp", "")[:16] for line in written if line.startswith("{")) < "2026-11-30T07:43"
    assert result.stderr.strip() == (
        f"wrote {len(written):,} records (3 spots, 2026-11-29 to now, 2026-11-30 07:42 UTC) to {out}")


def test_simulate_to_stdout_prints_only_the_records(runner: CliRunner) -> None:
    result = runner.invoke(parking_cli, ["simulate", "--spots", "2", "--days", "1", "--start", "2024-03-18"])
    assert result.stderr == "" and all(line.startswith(("{", "[")) for line in result.stdout.splitlines())


def test_a_long_simulation_to_a_file_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "big.jsonl"
    code, _, terminal = run_with_stderr_on_a_terminal(
        ["simulate", "--spots", "500", "--days", "4", "--start", "2024-03-18", "--out", str(out)])
    assert code == 0, terminal
    assert "simulating" in terminal and "100%" in terminal
    assert f"to {out}" in terminal


def test_a_long_path_in_an_error_keeps_its_start_and_its_name(tmp_path: Path, runner: CliRunner) -> None:
    deep = tmp_path / ("nested-folder-" * 8) / "week.jsonl"
    result = runner.invoke(parking_cli, ["simulate", "--spots", "1", "--days", "1", "--out", str(deep)])
    [line] = result.stderr.splitlines()
    assert result.exit_code == 2 and len(line) < 250
    assert f"'{str(deep)[:20]}" in line and "nested-folder-/week.jsonl' does not exist" in line and "..." in line


def test_a_file_that_cannot_be_written_is_one_line_and_exit_1(tmp_path: Path, runner: CliRunner) -> None:
    """A folder where --out names a file: the operating system's word for it, one line."""
    (tmp_path / "taken").mkdir()
    result = runner.invoke(parking_cli, ["simulate", "--spots", "1", "--days", "1", "--out", str(tmp_path / "taken")])
    assert result.exit_code in (1, 2)
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "taken" in line


@pytest.mark.parametrize("command", [["simulate", "--spots", "1", "--days", "1"], ["report"]], ids=["simulate", "report"])
@pytest.mark.parametrize("name", ["n" * 300 + ".html", "/".join(["d"] * 2100) + "/x.html"], ids=["long-name", "deep"])
def test_an_out_longer_than_the_file_system_allows_is_exit_2_in_one_short_line(runner, command, name) -> None:
    result = runner.invoke(parking_cli, [*command, "--out", name])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert "is longer than a file system allows (255 bytes a name, 4095 a path)" in line and len(line) < 250


def test_out_through_a_pipe_writes_into_it_and_leaves_it_a_pipe(tmp_path: Path, runner: CliRunner) -> None:
    import os
    import stat
    import threading

    pipe = tmp_path / "events.pipe"
    os.mkfifo(pipe)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    result = runner.invoke(parking_cli, ["simulate", "--spots", "2", "--days", "1", "--out", str(pipe)])
    reader.join(60)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(pipe.lstat().st_mode), "written through, not replaced by a file"
    assert len(received[0].splitlines()) == int(result.stderr.split()[1].replace(",", "")) > 0


def test_out_to_a_full_device_is_one_line_and_exit_1_and_the_device_stays(tmp_path: Path, runner: CliRunner) -> None:
    import os
    import stat

    out = tmp_path / "week.jsonl"
    out.symlink_to("/dev/full")  # every write fails: no space left on device
    result = runner.invoke(parking_cli, ["simulate", "--spots", "2", "--days", "1", "--out", str(out)])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "No space left on device" in line
    assert out.is_symlink() and stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_bug_is_one_line_naming_it_not_a_traceback(runner: CliRunner, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.delenv("PARKING_DEBUG", raising=False)
    monkeypatch.setattr(CliContext, "query_engine", broken)
    result = runner.invoke(parking_cli, ["status"])
    assert result.exit_code == 1
    assert result.stderr == ("Error: internal error (ZeroDivisionError: division by zero); please report it "
                             "(--debug or PARKING_DEBUG=1 shows where)\n")


@pytest.mark.parametrize(("args", "env"), [
    (["--debug", "status"], {}),
    (["status"], {"PARKING_DEBUG": "1"}),
    (["status"], {"PARKING_DEBUG": "true"}),
], ids=["--debug", "PARKING_DEBUG=1", "PARKING_DEBUG=true"])
def test_debug_prints_the_traceback_an_internal_error_hides(runner: CliRunner, monkeypatch, args, env) -> None:
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(CliContext, "query_engine", broken)
    result = runner.invoke(parking_cli, args, env=env)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "in broken" in result.stderr and "ZeroDivisionError: division by zero" in lines
    assert lines[-1] == "Error: internal error (ZeroDivisionError: division by zero); please report it"


@pytest.mark.parametrize("env", [{}, {"PARKING_DEBUG": "0"}, {"PARKING_DEBUG": ""}], ids=["unset", "0", "empty"])
def test_without_debug_a_library_error_has_no_traceback(lake: Path, runner: CliRunner, env) -> None:
    result = runner.invoke(parking_cli, ["status", "--data-dir", str(lake / "missing")], env=env)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_refused_simulate_touches_no_file(tmp_path: Path) -> None:
    keep = tmp_path / "keep.jsonl"
    keep.write_text("keep\n")
    result = CliRunner().invoke(parking_cli, ["simulate", "--spots", "10", "--days", "1", "--out", str(keep),
                                              "--catalog", str(tmp_path / "missing" / "spots.csv")])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert keep.read_text() == "keep\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jsonl"]
