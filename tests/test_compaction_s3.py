"""Compaction on S3 (a moto server): the same guarantees as on disk, and the Lambda's handler.

The scenario is ingested into the bucket through the Lambda's own S3 sink;
after each compaction (cut short by an exception between two steps, killed
with SIGKILL in a child process, or run twice) the bucket's two tiers are
copied to a local directory and every named query must return exactly what
it returned before compaction.

The scenario keeps its edge spots only (56 hour objects of 8 days, across a
new year, not 120 of 9): these tests are about how the S3 store moves
objects, which every hour object exercises alike, and each S3 request costs;
the rules of the metrics, on every spot of four scenarios, are
tests/test_compaction.py's. Each test needs several closed days before the
scenario's day and after it, and several hours a day.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import boto3
import pandas as pd
import pytest

import compact_handler
from parking.analytics.engines import DuckDBEngine
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import S3Sink
from parking.lake.compaction.protocol import compact
from parking.lake.stores import S3Store
from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX, DATA_PREFIX
from scripts.moto_msk_server import spawn
from tests.scenarios import Scenario, scenario
from tests.test_compaction import EVERYTHING, Crash, answers, assert_same_answers, crash_at

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
_buckets = itertools.count()


@pytest.fixture(scope="module")
def endpoint():
    server, url = spawn()
    try:
        yield url
    finally:
        server.terminate()
        server.wait()


@pytest.fixture(scope="module")
def s3(endpoint):
    """One client for the tests' own looks at the bucket (a client per call costs more than the call)."""
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def aws(endpoint) -> Iterator[str]:
    """The moto server for every AWS client, the CLI's too (module-wide: a module fixture runs the CLI)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
                            "AWS_DEFAULT_REGION": REGION}.items():
            patch.setenv(name, value)
        yield endpoint


@pytest.fixture(scope="module")
def case() -> Scenario:
    return scenario(1).with_ordinary_spots(0)


@pytest.fixture(scope="module")
def uncompacted(case, tmp_path_factory) -> dict[str, pd.DataFrame]:
    from parking.ingest.sinks import LocalSink

    root = tmp_path_factory.mktemp("json-only")
    ingest_lines(case.lines, LocalSink(root), batch_size=50, now=case.ingested_at)
    return answers(case, DuckDBEngine(root, threads=1))


def ingested(s3, case: Scenario) -> str:
    """A new bucket holding the scenario as the Lambda lands it: one object an hour."""
    name = f"parking-compaction-{next(_buckets)}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    totals = ingest_lines(case.lines, S3Sink(name, s3), batch_size=1000, now=case.ingested_at)
    assert totals.stored == len(case.lines)
    return name


@pytest.fixture
def bucket(aws, s3, case) -> str:
    return ingested(s3, case)


@pytest.fixture(scope="module")
def compacted_once(aws, s3, case) -> str:
    """The scenario's bucket compacted whole, once, and never changed: tests of a compacted bucket copy it."""
    name = ingested(s3, case)
    compact(S3Store(name), EVERYTHING)
    assert fully_compacted(s3, name)
    return name


def copy_of(s3, source: str) -> str:
    """A new bucket holding every object of ``source`` (copied by the server: a request an object, where a
    compaction takes four or five)."""
    name = f"parking-compaction-{next(_buckets)}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    for key in objects(s3, source):
        s3.copy_object(Bucket=name, Key=key, CopySource={"Bucket": source, "Key": key})
    return name


@pytest.fixture
def compacted(s3, compacted_once) -> str:
    """A bucket as the scenario's whole compaction leaves it, for this test alone."""
    return copy_of(s3, compacted_once)


def objects(s3, bucket: str) -> dict[str, str]:
    """Every key of the bucket with its ETag."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}


# (key, ETag): an object's bytes, fetched once for every bucket (each test's bucket holds the same objects; an
# ETag is the MD5 of the bytes, and a copy keeps its source's; the read asks for that ETag)
_bodies: dict[tuple[str, str], bytes] = {}


def answers_of(case: Scenario, s3, bucket: str, tmp_path: Path) -> dict[str, pd.DataFrame]:
    """The bucket's two tiers copied to disk, queried by the local engine."""
    root = tmp_path / f"copy-{next(_buckets)}"
    for key, etag in objects(s3, bucket).items():
        if key.startswith((DATA_PREFIX, COMPACTED_PREFIX)):
            if (key, etag) not in _bodies:
                _bodies[key, etag] = s3.get_object(Bucket=bucket, Key=key, IfMatch=etag)["Body"].read()
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(_bodies[key, etag])
    return answers(case, DuckDBEngine(root, threads=1))


def fully_compacted(s3, bucket: str) -> bool:
    keys = objects(s3, bucket)
    days = [key.rsplit("/", 1)[0] for key in keys if key.startswith(COMPACTED_PREFIX)]
    return not any(key.startswith(DATA_PREFIX) for key in keys) and len(days) == len(set(days)) > 0


@pytest.mark.parametrize("step", ["parquet-written", "source-copied"])  # every step: tests/test_compaction.py
def test_a_crash_between_two_steps_on_s3_changes_no_answer(case, s3, uncompacted, bucket, tmp_path, step) -> None:
    compact(S3Store(bucket), case.day)
    ingest_lines(case.lines[:40], S3Sink(bucket, s3), batch_size=50, now=case.ingested_at,
                 partition=1)
    with pytest.raises(Crash):
        compact(S3Store(bucket), EVERYTHING, checkpoint=crash_at(step, 2))
    assert_same_answers(uncompacted, answers_of(case, s3, bucket, tmp_path))

    compact(S3Store(bucket), EVERYTHING)
    assert fully_compacted(s3, bucket)
    assert_same_answers(uncompacted, answers_of(case, s3, bucket, tmp_path))


def test_a_compaction_killed_on_s3_is_finished_by_the_next_run(case, s3, uncompacted, bucket, tmp_path) -> None:
    script = (
        "import os, signal, sys\n"
        "from datetime import date\n"
        "from parking.lake.compaction.protocol import compact\n"
        "from parking.lake.stores import S3Store\n"
        "calls = []\n"
        "def checkpoint(step):\n"
        "    calls.append(step)\n"
        "    if len(calls) == 9:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "compact(S3Store(sys.argv[1]), date(2030, 1, 1), checkpoint=checkpoint)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, bucket], cwd=ROOT, capture_output=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not fully_compacted(s3, bucket)
    assert_same_answers(uncompacted, answers_of(case, s3, bucket, tmp_path))

    compact(S3Store(bucket), EVERYTHING)
    assert fully_compacted(s3, bucket)
    assert_same_answers(uncompacted, answers_of(case, s3, bucket, tmp_path))


def test_running_twice_on_s3_changes_nothing(case, s3, bucket) -> None:
    landed = {key for key in objects(s3, bucket) if key.startswith(DATA_PREFIX)}
    compact(S3Store(bucket), EVERYTHING)
    after_first = objects(s3, bucket)
    assert {key.replace(COMPACTED_SOURCES_PREFIX, DATA_PREFIX, 1) for key in after_first
            if key.startswith(COMPACTED_SOURCES_PREFIX)} == landed, "every landed object kept, moved"
    assert not compact(S3Store(bucket), EVERYTHING).days
    assert objects(s3, bucket) == after_first


class Context(SimpleNamespace):
    """What the handler asks of Lambda's context."""

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining


def test_the_lambda_handler_compacts_the_closed_days(case, s3, uncompacted, bucket, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_BUCKET", bucket)
    landed = {key for key in objects(s3, bucket) if key.startswith(DATA_PREFIX)}
    result = compact_handler.handler({}, Context(remaining=900_000))
    assert result["days_compacted"] > 0 and not result["stopped_early"]
    assert result["sources_kept"] == len(landed) and result["sources_moved"] == 0, "removed only after the delay"
    assert {key for key in objects(s3, bucket) if key.startswith(DATA_PREFIX)} == landed
    assert_same_answers(uncompacted, answers_of(case, s3, bucket, tmp_path))
    assert compact_handler.handler({}, Context(remaining=900_000))["days_compacted"] == 0

    later = datetime.now(timezone.utc) + timedelta(minutes=61)  # the default delay, 60 minutes, has passed
    monkeypatch.setattr(compact_handler, "now", lambda: later)
    result = compact_handler.handler({}, Context(remaining=900_000))
    assert result["sources_moved"] == len(landed) and result["days_compacted"] == 0
    assert fully_compacted(s3, bucket)
    assert_same_answers(uncompacted, answers_of(case, s3, bucket, tmp_path))


def test_the_hourly_handler_folds_closed_hours_and_removes_them_after_the_delay(case, s3, uncompacted, bucket, tmp_path,
                                                                                monkeypatch) -> None:
    from parking.lake.compaction.dayfiles import file_hour

    monkeypatch.setenv("PARKING_BUCKET", bucket)
    landed = {key for key in objects(s3, bucket) if key.startswith(DATA_PREFIX)}
    started = datetime.now(timezone.utc)
    result = compact_handler.hourly_handler({}, Context(remaining=600_000))
    assert result["hours_compacted"] > 0 and result["days_compacted"] == 0 and not result["stopped_early"]
    files = [key for key in objects(s3, bucket) if key.startswith(COMPACTED_PREFIX)]
    assert files and all(file_hour(key) is not None for key in files), "hour files only"
    assert {key for key in objects(s3, bucket) if key.startswith(DATA_PREFIX)} == landed, "nothing removed yet"
    assert_same_answers(uncompacted, answers_of(case, s3, bucket, tmp_path))
    assert compact_handler.hourly_handler({}, Context(remaining=600_000))["hours_compacted"] == 0

    monkeypatch.setenv("PARKING_COMPACTION_REMOVAL_DELAY_MINUTES", "30")
    clock = {"now": started + timedelta(minutes=29)}  # every copy is younger than the delay
    monkeypatch.setattr(compact_handler, "now", lambda: clock["now"])
    assert compact_handler.hourly_handler({}, Context(remaining=600_000))["sources_moved"] == 0
    clock["now"] = datetime.now(timezone.utc) + timedelta(minutes=31)  # every copy is older
    assert compact_handler.hourly_handler({}, Context(remaining=600_000))["sources_moved"] == len(landed)
    assert not any(key.startswith(DATA_PREFIX) for key in objects(s3, bucket))
    assert {key.replace(COMPACTED_SOURCES_PREFIX, DATA_PREFIX, 1) for key in objects(s3, bucket)
            if key.startswith(COMPACTED_SOURCES_PREFIX)} == landed, "every landed object kept"
    assert_same_answers(uncompacted, answers_of(case, s3, bucket, tmp_path))

    result = compact_handler.handler({}, Context(remaining=900_000))  # the daily run folds the hour files
    assert result["days_compacted"] > 0
    clock["now"] = datetime.now(timezone.utc) + timedelta(minutes=31)
    assert compact_handler.hourly_handler({}, Context(remaining=600_000))["parquet_removed"] == len(files)
    assert fully_compacted(s3, bucket)
    assert_same_answers(uncompacted, answers_of(case, s3, bucket, tmp_path))


def test_the_hourly_handler_stops_before_its_deadline(s3, bucket, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_BUCKET", bucket)
    before = objects(s3, bucket)
    result = compact_handler.hourly_handler({}, Context(remaining=compact_handler.HOURLY_MARGIN_MS - 1))
    assert result["stopped_early"] and result["hours_compacted"] == 0
    assert objects(s3, bucket) == before


def test_the_lambda_handler_stops_before_its_deadline(s3, bucket, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_BUCKET", bucket)
    before = objects(s3, bucket)
    result = compact_handler.handler({}, Context(remaining=compact_handler.MARGIN_MS - 1))
    assert result["stopped_early"] and result["days_compacted"] == 0
    assert objects(s3, bucket) == before


def _damage_a_day_file(s3, bucket: str) -> tuple[str, bytes]:
    """Truncate one compacted day file in place; its key and its bytes now."""
    key = sorted(k for k in objects(s3, bucket) if k.startswith(COMPACTED_PREFIX))[1]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()[:100]
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return key, body


def test_a_damaged_day_file_on_s3_is_rebuilt_by_lake_check_repair(case, s3, uncompacted, compacted, tmp_path) -> None:
    import gzip

    from click.testing import CliRunner

    from parking.cli.main import cli
    from tests.conftest import read_lines

    bucket = compacted
    key, body = _damage_a_day_file(s3, bucket)
    found = CliRunner().invoke(cli, ["lake", "check", "--bucket", bucket])
    assert found.exit_code == 1 and f"unreadable     {key}:" in found.stdout

    repaired = CliRunner().invoke(cli, ["lake", "check", "--bucket", bucket, "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert fully_compacted(s3, bucket)
    assert_same_answers(uncompacted, answers_of(case, s3, bucket, tmp_path))
    lines = [line for k in objects(s3, bucket) if k.startswith("parking-quarantine/") and k.endswith(".json.gz")
             for line in read_lines(s3.get_object(Bucket=bucket, Key=k)["Body"].read())]
    [kept] = [line for line in lines if line["reason"] == "lake_compacted_unreadable"]
    value = s3.get_object(Bucket=bucket, Key=kept["value_object"]["key"])["Body"].read()
    assert gzip.decompress(value) == body


def test_compact_on_s3_leaves_a_damaged_day_and_names_it(case, s3, compacted) -> None:
    from parking.errors import CompactionError

    bucket = compacted
    key, body = _damage_a_day_file(s3, bucket)
    ingest_lines(case.lines, S3Sink(bucket, s3), batch_size=1000, now=case.ingested_at, partition=1)
    with pytest.raises(CompactionError) as caught:
        compact(S3Store(bucket), EVERYTHING)
    message = str(caught.value)
    assert message.startswith(f"s3://{bucket}/{key}: unreadable (") and "\n" not in message
    assert message.endswith("run `parking-cli lake check --repair` to rebuild " + key.split("/")[-1][:10]
                            + " from its sources")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_the_lambda_handler_fails_on_a_damaged_day_after_the_others(case, s3, bucket, monkeypatch, caplog) -> None:
    from parking.errors import CompactionError

    compact(S3Store(bucket), case.day)  # the days before case.day: one of them is damaged next
    key, _ = _damage_a_day_file(s3, bucket)
    ingest_lines(case.lines, S3Sink(bucket, s3), batch_size=1000, now=case.ingested_at, partition=1)
    monkeypatch.setenv("PARKING_BUCKET", bucket)
    with pytest.raises(CompactionError, match="lake check --repair"):
        compact_handler.handler({}, Context(remaining=900_000))
    [log] = [record for record in caplog.records if record.name == compact_handler.logger.name]  # Powertools' JSON line
    assert log.getMessage() == "compaction failed" and key in log.error and log.days_compacted > 0
    from parking.lake.compaction.schedule import unfolded

    # (the folded objects wait for the removal delay beside their kept copies: only the damaged day is not folded)
    left = {"/".join(k.split("/")[1:4]) for k in unfolded(S3Store(bucket))}
    assert left == {"/".join(key.split("/")[1:4])}, "every day compacted but the damaged one"


def _put(s3, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def test_compact_on_s3_leaves_an_object_lake_check_flags(case, s3, bucket) -> None:
    from parking.errors import CompactionError

    key = sorted(k for k in objects(s3, bucket) if k.startswith(DATA_PREFIX))[0]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    hour = int(key.split("hour=")[1][:2])
    moved = key.replace(f"hour={hour:02d}/", f"hour={(hour + 5) % 24:02d}/")
    s3.copy_object(Bucket=bucket, Key=moved, CopySource={"Bucket": bucket, "Key": key})
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(CompactionError) as caught:
        compact(S3Store(bucket), EVERYTHING)
    assert str(caught.value).startswith(f"s3://{bucket}/{moved}: wrong_hour (")
    assert s3.get_object(Bucket=bucket, Key=moved)["Body"].read() == body, "left where it is"


# key (under the bucket), body: what lake check names on S3 and --repair moves out of the compacted tiers
S3_FOREIGN = [
    ("parking-compacted/year=2024/month=01/day=21/", b"", "foreign"),  # a console "folder"
    ("parking-compacted/README.txt", b"read me", "foreign"),
    ("parking-compacted-sources/notes/junk.bin", b"junk", "bad_name"),
]


@pytest.fixture(scope="module")
def foreign_keys_repaired(s3, case, compacted_once, tmp_path_factory) -> SimpleNamespace:
    """A compacted bucket with every key of S3_FOREIGN put in, then lake check, --repair, and lake check again:
    one run for the table (each key's outcome is its own test below)."""
    from click.testing import CliRunner

    from parking.cli.main import cli

    bucket = copy_of(s3, compacted_once)
    for key, body, _ in S3_FOREIGN:
        _put(s3, bucket, key, body)
    found = CliRunner().invoke(cli, ["lake", "check", "--bucket", bucket])
    repaired = CliRunner().invoke(cli, ["lake", "check", "--bucket", bucket, "--repair"])
    return SimpleNamespace(found=found, repaired=repaired, left=objects(s3, bucket),
                           again=CliRunner().invoke(cli, ["lake", "check", "--bucket", bucket]),
                           answers=answers_of(case, s3, bucket, tmp_path_factory.mktemp("foreign")))


@pytest.mark.parametrize(("key", "problem"), [(k, p) for k, _, p in S3_FOREIGN], ids=[k for k, _, _ in S3_FOREIGN])
def test_foreign_keys_in_the_compacted_tiers_on_s3_are_named_and_moved_out(
    uncompacted, foreign_keys_repaired, key, problem
) -> None:
    run = foreign_keys_repaired
    assert run.found.exit_code == 1 and f"{problem:<14} {key}:" in run.found.stdout
    assert run.repaired.exit_code == 0, run.repaired.output
    assert key not in run.left
    assert run.again.exit_code == 0, run.again.output
    assert_same_answers(uncompacted, run.answers)


def test_a_lost_day_file_on_s3_is_rebuilt_from_its_kept_sources(case, s3, uncompacted, compacted, tmp_path) -> None:
    from click.testing import CliRunner

    from parking.cli.main import cli

    bucket = compacted
    key = sorted(k for k in objects(s3, bucket) if k.startswith(COMPACTED_PREFIX))[1]
    s3.delete_object(Bucket=bucket, Key=key)
    found = CliRunner().invoke(cli, ["lake", "check", "--bucket", bucket])
    assert found.exit_code == 1 and f"lost           {key.rsplit('/', 1)[0]}/:" in found.stdout
    assert CliRunner().invoke(cli, ["lake", "check", "--bucket", bucket, "--repair"]).exit_code == 0
    assert fully_compacted(s3, bucket)
    assert_same_answers(uncompacted, answers_of(case, s3, bucket, tmp_path))
