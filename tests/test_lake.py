"""`parking-cli lake check [--repair]`: what another writer broke is found, repaired, and nothing is lost."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking.analytics.engines import DuckDBEngine
from parking.cli.main import cli
from parking.errors import QueryError
from parking.ingest.batch import ingest_batch
from parking.ingest.replay import replay_quarantine
from parking.ingest.sinks import LocalSink
from parking.lake.check import check_lake
from parking.lake.stores import LocalStore, S3Store, in_progress, writer_temp
from parking.processes import process_alive
from tests.conftest import NOW, batch, event, read_lines

HOUR10 = "parking-data/year=2024/month=03/day=20/hour=10/"
GOOD = [event(spot=f"G{i}", timestamp=f"2024-03-20T10:{i:02d}:00Z") for i in range(5)]
FOREIGN = [event(spot=f"F{i}", timestamp=f"2024-03-20T10:3{i}:00Z") for i in range(3)]


def lines(events: list[dict]) -> bytes:
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events)


NAMED = "x+0+0000000000000000001+0000000000000000003+" + "a" * 24 + ".json.gz"  # a name the ingester writes

# name, object key under the data prefix, body, problem, events the repair must re-file
BROKEN = [
    ("truncated gzip", HOUR10 + "x+0+0000000000000000001+0000000000000000003+" + "a" * 24 + ".json.gz",
     gzip.compress(lines(FOREIGN) * 200)[:-40], "unreadable", None),
    ("empty object", HOUR10 + "part-0000.json.gz", b"", "empty", 0),
    ("JSON lines, not gzip", HOUR10 + "plain.json.gz", lines(FOREIGN), "unreadable", 3),
    ("a foreign CSV", HOUR10 + "export.json.gz", gzip.compress(b"spot_id,status\nA1,free\n"), "invalid_lines", 0),
    ("binary garbage", HOUR10 + "blob.json.gz", b"\x1f\x8b\x08\x00garbage" + bytes(range(256)), "unreadable", 0),
    ("invalid events among valid ones", HOUR10 + "mixed.json.gz",
     gzip.compress(lines(FOREIGN) + b'{"spot_id":"X","status":"parked","timestamp":"2024-03-20T10:00:00Z"}\nnot json\n'),
     "invalid_lines", 3),
    ("events in the wrong hour", HOUR10 + "late.json.gz",
     gzip.compress(lines([event(spot="W", timestamp="2024-03-20T11:15:00Z")] + FOREIGN)), "wrong_hour", 4),
    ("a hidden name Athena skips", HOUR10 + "_SUCCESS.json.gz", gzip.compress(lines(FOREIGN)), "bad_name", 3),
    ("outside any hour partition", "parking-data/year=2024/stray.json.gz", gzip.compress(lines(FOREIGN)), "bad_name", 3),
    # Other scripts' digits, which Python's \d matched and int() reads ('1\u0660' as 10):
    ("in an hour folder of another script's digits", "parking-data/year=2024/month=03/day=20/hour=1\u0660/" + NAMED,
     gzip.compress(lines(FOREIGN)), "bad_name", 3),
    ("a partition of another script's digits in its name", HOUR10 + NAMED.replace("+0+", "+\u0660+"),
     gzip.compress(lines(FOREIGN)), "bad_name", 3),
]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    ingest_batch(batch(GOOD), LocalSink(tmp_path), now=NOW)
    return tmp_path


def spots(root: Path) -> list[str]:
    frame = DuckDBEngine(root, threads=1).run("SELECT spot_id FROM parking_events ORDER BY spot_id", {})
    return list(frame["spot_id"])


def readable(body: bytes) -> bytes:
    """What a reader gets out of a body: itself when not gzip, else what inflates before any break."""
    if body[:2] != b"\x1f\x8b":
        return body
    try:
        return zlib.decompressobj(wbits=31).decompress(body)
    except zlib.error:
        return b""


def put(root: Path, key: str, body: bytes) -> None:
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    (root / key).write_bytes(body)


@pytest.mark.parametrize(("key", "body", "problem", "refiled"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_check_finds_each_kind_of_broken_object(lake: Path, key: str, body: bytes, problem: str, refiled) -> None:
    put(lake, key, body)
    result = CliRunner().invoke(cli, ["lake", "check", "--data-dir", str(lake)])
    assert result.exit_code == 1
    assert f"{problem:<14} {key}:" in result.stdout
    assert "run `parking-cli lake check --repair`" in result.stderr


@pytest.mark.parametrize(("key", "body", "problem", "refiled"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_repair_makes_queries_work_and_loses_nothing(lake: Path, key: str, body: bytes, problem: str, refiled) -> None:
    put(lake, key, body)
    result = CliRunner().invoke(cli, ["lake", "check", "--repair", "--data-dir", str(lake)])
    assert result.exit_code == 0, result.output
    assert not (lake / key).exists()
    assert check_lake(LocalStore(lake)).clean

    stored = spots(lake)
    assert [s for s in stored if s.startswith("G")] == [f"G{i}" for i in range(5)], "good objects are untouched"
    quarantine = [line for p in (lake / "parking-quarantine").rglob("*.json.gz") for line in read_lines(p.read_bytes())]
    assert all(line["reason"].startswith("lake_") for line in quarantine)
    for kept in [line for line in quarantine if line["reason"] == "lake_unreadable"]:  # the unread bytes, kept
        assert body.endswith(gzip.decompress((lake / kept["value_object"]["key"]).read_bytes()))
    if refiled is not None:
        assert len(stored) - 5 == refiled
    invalid = [base64.b64decode(line["value"]) if line["value_encoding"] == "base64" else line["value"].encode()
               for line in quarantine if line["reason"] == "lake_invalid_line"]
    assert all(raw in readable(body) for raw in invalid), "invalid lines keep their original bytes"

    replayed = replay_quarantine(lake, now=NOW)
    assert replayed.records_in == len(quarantine)
    assert [s for s in spots(lake) if s.startswith("G")] == [f"G{i}" for i in range(5)]


GARBAGE = b"\x1f\x8b\x08\x00garbage" + bytes(range(256))
CUT = lines(FOREIGN) + b'{"spot_id":"CUT","status":"free","timestamp":"2024-03-20T10:'
# name, body, then what the repair makes of it: events re-filed, lines quarantined, unread bytes kept
COUNTED_ONCE = [
    ("JSON lines, not gzip", lines(FOREIGN), (3, 0, b"")),
    ("plain text, not gzip", b"hello\nworld\n", (0, 2, b"")),
    ("plain text without a last newline", b"hello\nworld", (0, 2, b"")),
    ("a truncated stream with its last line cut", gzip.compress(CUT)[:-12], (3, 1, b"")),
    ("garbage after a good gzip member", gzip.compress(lines(FOREIGN)) + GARBAGE, (3, 0, GARBAGE)),
    ("garbage between gzip members", gzip.compress(lines(FOREIGN)) + GARBAGE + gzip.compress(lines(FOREIGN)),
     (3, 0, GARBAGE + gzip.compress(lines(FOREIGN)))),
    ("nothing but garbage", GARBAGE, (0, 0, GARBAGE)),
]


@pytest.mark.parametrize(("body", "counted"), [c[1:] for c in COUNTED_ONCE], ids=[c[0] for c in COUNTED_ONCE])
def test_repair_counts_and_keeps_each_record_of_a_foreign_object_once(lake: Path, body: bytes, counted) -> None:
    refiled, invalid, unread = counted
    key = HOUR10 + "foreign.json.gz"
    put(lake, key, body)
    report = check_lake(LocalStore(lake), repair=True, now=NOW)
    assert (report.refiled, report.quarantined) == (refiled, invalid + bool(unread))
    quarantine = [line for p in (lake / "parking-quarantine").rglob("*.json.gz") for line in read_lines(p.read_bytes())]
    reasons = sorted(line["reason"] for line in quarantine)
    assert reasons == sorted(["lake_invalid_line"] * invalid + ["lake_unreadable"] * bool(unread))
    kept = [gzip.decompress((lake / line["value_object"]["key"]).read_bytes()) for line in quarantine
            if line["reason"] == "lake_unreadable"]
    assert kept == ([unread] if unread else [])
    assert check_lake(LocalStore(lake), now=NOW).clean


def test_a_quarantined_record_keeps_the_object_it_came_from_through_replays(lake: Path) -> None:
    key = HOUR10 + "mixed.json.gz"
    put(lake, key, gzip.compress(lines(FOREIGN) + b"not json\n") + GARBAGE)
    check_lake(LocalStore(lake), repair=True, now=NOW)
    for _ in range(2):
        replay_quarantine(lake, now=NOW)
        quarantine = {line["reason"]: line for p in (lake / "parking-quarantine").rglob("*.json.gz")
                      for line in read_lines(p.read_bytes())}
        assert {reason: line["origin"] for reason, line in quarantine.items()} == {
            "not_json": f"{key} line 4", "not_utf8": key}
        assert quarantine["not_json"]["detail"].startswith("value is not JSON")


def test_a_line_quarantined_before_origins_were_kept_gets_its_origin_from_the_detail(lake: Path) -> None:
    from parking.ingest.replay import kafka_record

    line = {"reason": "lake_invalid_line", "detail": f"from {HOUR10}old.json.gz: not_json", "topic": "lake",
            "partition": 0, "offset": 4, "value": "not json", "value_encoding": "utf-8"}
    assert kafka_record(line)["origin"] == f"{HOUR10}old.json.gz"


def test_a_query_that_meets_a_bad_object_names_it_in_one_line(lake: Path) -> None:
    key = HOUR10 + "broken.json.gz"
    put(lake, key, gzip.compress(lines(FOREIGN) * 100)[:-30])
    with pytest.raises(QueryError) as caught:
        spots(lake)
    message = str(caught.value)
    assert "\n" not in message
    assert message == (f"cannot read lake object {lake / key} (Unexpected end of GZIP stream); "
                       "run `parking-cli lake check --repair` to quarantine what it holds")


def test_a_clean_lake_checks_clean_and_exits_0(lake: Path) -> None:
    result = CliRunner().invoke(cli, ["lake", "check", "--data-dir", str(lake)])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"checked 1 objects in {lake}/: 0 not as the ingester writes",
        "checked 0 compacted day files and 0 kept sources: 0 not as `compact` writes",
    ]


@pytest.mark.parametrize("repair", [[], ["--repair"]], ids=["check", "check --repair"])
def test_a_broken_quarantine_object_is_reported_not_touched(lake: Path, repair: list[str]) -> None:
    key = "parking-quarantine/year=2024/month=03/day=20/hour=10/notes.json.gz"
    put(lake, key, b"scribbles")
    result = CliRunner().invoke(cli, ["lake", "check", *repair, "--data-dir", str(lake)])
    assert result.exit_code == 1
    assert f"bad_name       {key}:" in result.stdout
    assert (lake / key).read_bytes() == b"scribbles"
    assert result.stderr == ("Error: 1 object needs attention (listed above): objects under parking-quarantine/ are "
                             "reported, never changed, even by --repair; move them out by hand\n")


def test_check_and_repair_an_s3_lake() -> None:
    import boto3
    from moto import mock_aws

    from parking.ingest.sinks import S3Sink
    from parking.lake.stores import S3Store

    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        sink = S3Sink("lake", s3)
        ingest_batch(batch(GOOD), sink, now=NOW)
        s3.put_object(Bucket="lake", Key=HOUR10 + "cut.json.gz", Body=gzip.compress(lines(FOREIGN)) + GARBAGE)
        report = check_lake(S3Store("lake", s3), sink=sink, repair=True, now=NOW)
        assert (sorted(f.problem for f in report.findings), report.repaired) == (["bad_name", "unreadable"], 1)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"]]
        assert HOUR10 + "cut.json.gz" not in keys
        assert sum(k.endswith(".value.gz") for k in keys) == 1
        assert check_lake(S3Store("lake", s3), sink=sink, now=NOW).clean


# --- A batch the MSK trigger gave up on --------------------------------------------------------

def on_failure_record(payload) -> dict:
    return {
        "requestContext": {"requestId": "316aa6d0-8154-4a3a-9af7-85d5f4a6bc81", "condition": "RetryAttemptsExhausted",
                           "approximateInvokeCount": 6,
                           "functionArn": "arn:aws:lambda:eu-west-1:111122223333:function:parking-platform-dev-ingest"},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2024-03-20T12:00:00.000Z",
        "KafkaBatchInfo": {"batchSize": len(GOOD), "topic": "parking-events", "partition": 0},
        **({} if payload is None else {"payload": payload}),
    }


@pytest.mark.parametrize("as_text", [True, False], ids=["payload as JSON text", "payload as an object"])
def test_a_failed_batch_replays_through_the_ingest_path(tmp_path: Path, as_text: bool) -> None:
    msk = batch(GOOD + [b"junk"], first_offset=700)
    source = tmp_path / "failed.json"
    source.write_text(json.dumps(on_failure_record(json.dumps(msk) if as_text else msk)))
    result = CliRunner().invoke(cli, ["lake", "replay-failed", str(source), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"replayed 6 records into {tmp_path / 'data'}/: 5 stored, 1 quarantined"
    assert spots(tmp_path / "data") == [f"G{i}" for i in range(5)]

    direct = tmp_path / "direct"
    ingest_batch(msk, LocalSink(direct), now=NOW)
    data = sorted(p.name for p in (tmp_path / "data" / "parking-data").rglob("*.json.gz"))
    assert data == sorted(p.name for p in (direct / "parking-data").rglob("*.json.gz")), "the names the batch had"


def _record(**fields) -> dict:
    return {"topic": "parking-events", "partition": 0, "offset": 7, "value": None, **fields}


MALFORMED = [  # (the records of the MSK event, what the one error line says)
    ({"t-0": "notalist"}, "records['t-0'] is not a list of records"),
    ({"t-0": [5]}, "records['t-0'] is not a list of records"),
    ({"t-0": [{"partition": 0, "offset": 1}]}, "record 0 of records['t-0'] has no 'topic'"),
    ({"t-0": [_record(), {"topic": "parking-events", "partition": 0}]}, "record 1 of records['t-0'] has no 'offset'"),
    *[({"t-0": [_record(offset=bad)]}, f"offset {str(bad)!r} is not a Kafka offset")
      for bad in (-1, "abc", 1.5, 1e30, None, True)],
    ({"t-0": [_record(), _record(topic="other")]}, "record 1 of records['t-0'] is of another topic or partition"),
]


@pytest.mark.parametrize(("records", "said"), MALFORMED, ids=[said[:40] for _, said in MALFORMED])
def test_a_malformed_batch_is_one_line_and_nothing_is_stored(tmp_path: Path, records, said) -> None:
    source = tmp_path / "failed.json"
    source.write_text(json.dumps(on_failure_record({"eventSource": "aws:kafka", "records": records})))
    result = CliRunner().invoke(cli, ["lake", "replay-failed", str(source), "--data-dir", str(tmp_path / "lake")])
    assert result.exit_code in (1, 2) and said in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "internal error" not in result.stderr
    assert not (tmp_path / "lake" / "parking-data").exists()


def test_a_failure_record_without_its_payload_says_what_to_re_read(tmp_path: Path) -> None:
    source = tmp_path / "failed.json"
    source.write_text(json.dumps(on_failure_record(None)))
    result = CliRunner().invoke(cli, ["lake", "replay-failed", str(source), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the on-failure record holds no MSK event payload: re-read {")
    assert '"topic":"parking-events","partition":0' in result.stderr


@pytest.mark.parametrize(("source", "said"), [
    ("\x00", "'\\x00' holds a NUL character"),
    ("no/such/failed.json", "cannot read no/such/failed.json: No such file or directory"),
    ("s3://", "an S3 source is s3://BUCKET/KEY"),
])
def test_a_source_that_cannot_be_read_is_one_line_and_exit_2(tmp_path: Path, source: str, said: str) -> None:
    result = CliRunner().invoke(cli, ["lake", "replay-failed", source, "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.splitlines()[-1] == f"Error: Invalid value for SOURCE: {said}"


@pytest.fixture
def dead_pid() -> int:
    """The id of a process that has ended."""
    import subprocess
    import sys

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    return int(child.stdout)


@pytest.mark.parametrize("name", ["sink", "store"])
@pytest.mark.parametrize("prefix", ["parking-data/", "parking-quarantine/"])
def test_a_killed_writers_temporary_file_is_not_damage_and_is_not_refiled(lake: Path, dead_pid: int, name: str,
                                                                         prefix: str) -> None:
    """kill -9 of ingest leaves `.<name>.<pid>.<thread>.tmp` (a store's: `.<name>.<pid>.tmp`) beside its objects."""
    [stored] = (lake / "parking-data").rglob("*.json.gz")
    folder = lake / prefix / stored.parent.relative_to(lake / "parking-data")
    suffix = f".{dead_pid}.140234.tmp" if name == "sink" else f".{dead_pid}.tmp"
    temp = folder / f".{stored.name}{suffix}"
    folder.mkdir(parents=True, exist_ok=True)
    temp.write_bytes(stored.read_bytes())  # killed after the flush, before the link
    before = spots(lake)

    checked = CliRunner().invoke(cli, ["lake", "check", "--data-dir", str(lake)])
    assert checked.exit_code == 0, checked.output
    assert "1 temporary file a stopped writer left" in checked.stdout and "--repair removes them" in checked.stdout
    assert temp.exists()

    repaired = CliRunner().invoke(cli, ["lake", "check", "--repair", "--data-dir", str(lake)])
    assert repaired.exit_code == 0, repaired.output
    assert "repaired 0 (events re-filed 0, records quarantined 0)" in repaired.stdout
    assert "removed 1" in repaired.stdout
    assert not temp.exists()
    assert spots(lake) == before
    assert not (lake / "parking-quarantine").exists() or not list((lake / "parking-quarantine").rglob("*.json.gz"))


@pytest.mark.parametrize("repair", [[], ["--repair"]], ids=["check", "repair"])
def test_a_running_writers_temporary_file_is_work_in_progress_left_alone(lake: Path, repair: list[str]) -> None:
    import os

    [stored] = (lake / "parking-data").rglob("*.json.gz")
    temp = stored.parent / f".{stored.name}.{os.getpid()}.1.tmp"  # this process runs: its writer may be writing
    temp.write_bytes(b"")
    checked = CliRunner().invoke(cli, ["lake", "check", *repair, "--data-dir", str(lake)])
    assert checked.exit_code == 0, checked.output
    assert "1 temporary file of a running writer: work in progress, left alone" in checked.stdout
    assert "stopped writer" not in checked.stdout and "checked 1 objects" in checked.stdout
    assert temp.exists()


NO_PROCESS = 4_194_305  # above Linux's highest process id (PID_MAX_LIMIT): no process ever has it


@pytest.fixture
def own_pid() -> int:
    """The id of this process: it runs, and started before any file the test writes."""
    import os

    return os.getpid()


@pytest.fixture
def sleeper():
    """The id of a process that runs, started before the test writes its file."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield child.pid
    child.kill()
    child.wait()


@pytest.fixture
def zombie():
    """The id of a process that has ended and is not reaped yet: kill(pid, 0) still finds it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    os.kill(child.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child did not end"
        time.sleep(0.01)  # polling for the kill to land, with a deadline
    yield child.pid
    child.wait()


@pytest.fixture
def no_process() -> int:
    return NO_PROCESS


# The writer whose id a temporary file's name holds (a fixture), and whether it is work in progress.
WRITERS = [("own_pid", True), ("sleeper", True), ("dead_pid", False), ("zombie", False), ("no_process", False)]


@pytest.mark.parametrize(("writer", "running"), WRITERS, ids=[w for w, _ in WRITERS])
@pytest.mark.parametrize("name", [".a.json.gz.{pid}.140234.tmp", ".a.json.gz.{pid}.tmp"], ids=["sink", "store"])
def test_a_temporary_file_is_work_in_progress_while_its_writer_runs(tmp_path: Path, request, writer: str,
                                                                    running: bool, name: str) -> None:
    pid = request.getfixturevalue(writer)
    key = "parking-compacted/year=2024/" + name.format(pid=pid)
    (tmp_path / key).parent.mkdir(parents=True)
    (tmp_path / key).write_bytes(b"half a file")
    assert in_progress(LocalStore(tmp_path), key) is running


def test_a_process_started_after_the_file_last_changed_is_not_its_writer(sleeper: int) -> None:
    """Its id was a writer's that ended and was given again: the file is a leftover, not work in progress."""
    import time

    assert process_alive(sleeper, since=time.time())
    assert not process_alive(sleeper, since=time.time() - 3600), "the file changed an hour before it started"


@pytest.mark.parametrize(("name", "pid"), [
    (".a.json.gz.31731.140234567890123.tmp", 31731),  # parking.atomic_file's: .<name>.<pid>.<thread>.tmp
    (".a.json.gz.31731.140234.tmp", 31731),  # a thread id of 10 digits or fewer is not taken for the pid
    (".a.json.gz.2112.tmp", 2112),  # the stores' before: .<name>.<pid>.tmp
    (".2024-01-29-5f7e90c81fa6e673.parquet.30988.1.tmp", 30988),
    ("a.json.gz", None), (".a.json.gz.tmp", None), (".a.tmp", None), (".a.json.gz.x1.tmp", None),
    # Other scripts' digits are no process id (Python's \d took '\u0662\u0665\u0661\u0665\u0668' for 25158); the
    # first name is then the stores' form, '.<name>.<pid>.tmp', of a name ending in them:
    (".a.json.gz.\u0662\u0665\u0661\u0665\u0668.1.tmp", 1), (".a.json.gz.\u0662\u0665\u0661\u0665\u0668.tmp", None),
    (".a.json.gz.25158.\u0661.tmp", None), (".a.json.gz.\uff12\uff15.tmp", None), (".a.json.gz.2\u0665.tmp", None),
])
def test_the_writers_id_is_read_from_a_temporary_files_name(name: str, pid: int | None) -> None:
    assert writer_temp(f"parking-data/year=2024/{name}") == pid


@pytest.mark.parametrize("key", ["parking-data/a.json.gz", "parking-data/.a.json.gz.tmp", "parking-data/.a.tmp"])
def test_another_name_is_not_work_in_progress(lake: Path, key: str) -> None:
    (lake / key).write_bytes(b"")
    assert not in_progress(LocalStore(lake), key)


def test_no_key_on_s3_is_work_in_progress() -> None:
    """A pid in a key on S3 is another machine's: no request is made to judge it (the client is never called)."""
    import os

    assert not in_progress(S3Store("bucket", client=object()), f"parking-data/.a.json.gz.{os.getpid()}.1.tmp")
