"""The local engine reads a query's small hot objects from one copied file an hour, with the lake's answers.

Issue 25: five-second batches leave thousands of small objects in the open
hours, and DuckDB's cost is per object opened. The copy (parking/analytics/
hot_tier.py) must change no answer, whatever an object holds, and an object
it cannot copy is read from the lake, whose error names it.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from parking.analytics import hot_tier
from parking.analytics.engines import QUERY_TABLE, DuckDBEngine
from parking.analytics.hot_tier import NotCopied, copied_hours, copied_view
from parking.errors import QueryError
from parking.layout import DATA_PREFIX
from tests.scenarios import Scenario, scenario
from tests.test_compaction import answers, assert_same_answers, ingest

HOURS = {"first_hour": "2024031010", "last_hour": "2024031011"}
HOUR_10 = f"{DATA_PREFIX}year=2024/month=03/day=10/hour=10"
ALL_ROWS = f"SELECT spot_id, status, \"timestamp\", year, month, day, hour FROM {QUERY_TABLE} ORDER BY ALL"


def event(spot: str, second: int = 0) -> bytes:
    return b'{"spot_id": "%s", "status": "occupied", "timestamp": "2024-03-10T10:00:%02dZ"}' % (spot.encode(), second)


def put(root: Path, name: str, content: bytes, folder: str = HOUR_10) -> Path:
    path = root / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture(scope="module")
def case() -> Scenario:
    return scenario(2)


@pytest.fixture(autouse=True)
def copy_every_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    """These lakes hold an object or a few an hour, which is copied only from MANY_AN_HOUR an hour on."""
    monkeypatch.setattr(hot_tier, "MANY_AN_HOUR", 1)


def test_hours_of_few_objects_are_read_from_the_lake(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file a partition an hour (hourly batches, a backfill) is read by DuckDB as fast as from a copy."""
    monkeypatch.setattr(hot_tier, "MANY_AN_HOUR", 4)
    for n in range(3):
        put(tmp_path, f"{n}.json.gz", gzip.compress(event(f"A{n}") + b"\n"))
    with pytest.raises(NotCopied, match="fewer than 4 objects an hour"), copied_hours(tmp_path, DATA_PREFIX, HOURS):
        pass
    put(tmp_path, "3.json.gz", gzip.compress(event("A3") + b"\n"))
    with copied_hours(tmp_path, DATA_PREFIX, HOURS) as copy:
        assert copy is not None
    assert len(DuckDBEngine(tmp_path).run(ALL_ROWS, HOURS)) == 4


def test_every_answer_is_the_one_read_from_the_lakes_objects(case, tmp_path) -> None:
    ingest(case, tmp_path, case.lines)
    lake = answers(case, DuckDBEngine(tmp_path, threads=1, copy_limit=0))
    assert_same_answers(lake, answers(case, DuckDBEngine(tmp_path, threads=1)))


# What another writer may leave in an object; each is read from the copy as DuckDB reads it from the object.
ODD_OBJECTS = {
    "no newline at its end": gzip.compress(event("A")),
    "a byte order mark": gzip.compress(b"\xef\xbb\xbf" + event("B") + b"\n"),
    "CRLF and blank lines": gzip.compress(event("C") + b"\r\n\n  \n" + event("C", 1) + b"\n"),
    "two gzip members": gzip.compress(event("D") + b"\n") + gzip.compress(event("D", 1) + b"\n"),
    "empty": gzip.compress(b""),
    "a number, a null and an extra field": gzip.compress(
        b'{"spot_id": 7, "status": null, "timestamp": "2024-03-10T10:00:00Z", "x": [1]}\n'),
}


@pytest.mark.parametrize("content", ODD_OBJECTS.values(), ids=ODD_OBJECTS.keys())
def test_an_odd_object_gives_the_rows_its_own_read_gives(tmp_path, content: bytes) -> None:
    put(tmp_path, "a.json.gz", gzip.compress(event("before") + b"\n"))
    put(tmp_path, "b.json.gz", content)
    put(tmp_path, "c.json.gz", gzip.compress(event("after") + b"\n"))
    lake = DuckDBEngine(tmp_path, copy_limit=0).run(ALL_ROWS, HOURS)
    assert {"before", "after"} <= set(lake["spot_id"])
    with copied_hours(tmp_path, DATA_PREFIX, HOURS) as copy:  # read from the copy, not from the lake after a failure
        assert copy is not None
        copied = DuckDBEngine(tmp_path)
        copied._create_view(events=copied_view(f"'{copy}/*.json'"))
        pd.testing.assert_frame_equal(copied._connection.execute(ALL_ROWS).df(), lake)


def test_the_copy_holds_the_hours_objects_and_no_other(tmp_path) -> None:
    put(tmp_path, "parking-events+0+1.json.gz", gzip.compress(event("in") + b"\n"))
    put(tmp_path, "parking-events+0+2.json.gz", gzip.compress(event("next") + b"\n"),
        f"{DATA_PREFIX}year=2024/month=03/day=10/hour=11")
    put(tmp_path, ".hidden.json.gz", gzip.compress(event("hidden") + b"\n"))
    put(tmp_path, "_temporary.json.gz", gzip.compress(event("temporary") + b"\n"))
    put(tmp_path, "notes.txt", b"not an object")
    put(tmp_path, "x.json.gz", gzip.compress(event("early") + b"\n"), f"{DATA_PREFIX}year=2024/month=03/day=10/hour=09")
    put(tmp_path, "x.json.gz", gzip.compress(event("late") + b"\n"), f"{DATA_PREFIX}year=2024/month=03/day=10/hour=12")
    with copied_hours(tmp_path, DATA_PREFIX, HOURS) as copy:
        assert copy is not None
        copied = {str(path.relative_to(copy)): path.read_bytes() for path in copy.rglob("*") if path.is_file()}
    assert copied == {
        "2024031010.json": event("in") + b"\n",
        "2024031011.json": event("next") + b"\n",
    }
    assert not copy.exists(), "the copy is removed once the query is answered"


def test_hours_with_no_object_copy_nothing_and_answer_no_row(tmp_path) -> None:
    put(tmp_path, "x.json.gz", gzip.compress(event("elsewhere") + b"\n"), f"{DATA_PREFIX}year=2024/month=03/day=11/hour=10")
    with copied_hours(tmp_path, DATA_PREFIX, HOURS) as copy:
        assert copy is None
    assert DuckDBEngine(tmp_path).run(ALL_ROWS, HOURS).empty


@pytest.mark.parametrize(("params", "limit", "why"), [
    ({}, hot_tier.COPY_LIMIT_BYTES, "names no hours"),
    ({"first_hour": "2024-03-10", "last_hour": "2024031011"}, hot_tier.COPY_LIMIT_BYTES, "names no hours"),
    (HOURS, 0, "copying is off"),
    (HOURS, 10, "over 10 bytes"),
], ids=["no hours", "hours not YYYYMMDDHH", "limit 0", "over the limit"])
def test_what_is_not_copied_is_read_from_the_lake(tmp_path, params, limit: int, why: str) -> None:
    put(tmp_path, "a.json.gz", gzip.compress(event("A") + b"\n"))
    with pytest.raises(NotCopied, match=why), copied_hours(tmp_path, DATA_PREFIX, params, limit):
        pass
    assert list(DuckDBEngine(tmp_path, copy_limit=limit).run(ALL_ROWS, params or HOURS)["spot_id"]) == ["A"]


@pytest.mark.parametrize("content", [b"\x1f\x8bbroken", b"plain text, no gzip", gzip.compress(b"{not json\n")],
                         ids=["a broken gzip stream", "not gzip", "a line that is not JSON"])
def test_an_unreadable_object_fails_the_query_naming_it(tmp_path, content: bytes) -> None:
    put(tmp_path, "a.json.gz", gzip.compress(event("A") + b"\n"))
    victim = put(tmp_path, "b.json.gz", content)
    with pytest.raises(QueryError) as raised:
        DuckDBEngine(tmp_path).run(ALL_ROWS, HOURS)
    assert str(victim) in str(raised.value) and "\n" not in str(raised.value)


def test_a_range_of_decades_copies_the_hours_the_lake_holds(tmp_path) -> None:
    for hour in ("2001/month=01/day=01/hour=00", "2024/month=03/day=10/hour=10", "2029/month=12/day=31/hour=23"):
        put(tmp_path, "x.json.gz", gzip.compress(event(hour[:4]) + b"\n"), f"{DATA_PREFIX}year={hour}")
    put(tmp_path, "x.json.gz", gzip.compress(event("after") + b"\n"), f"{DATA_PREFIX}year=2030/month=01/day=01/hour=00")
    decades = {"first_hour": "2000010100", "last_hour": "2029123123"}
    with copied_hours(tmp_path, DATA_PREFIX, decades) as copy:
        assert copy is not None
        assert sorted(path.read_bytes() for path in copy.glob("*.json")) == [
            event(year) + b"\n" for year in ("2001", "2024", "2029")]


def test_with_no_temporary_folder_to_copy_into_the_lake_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(tmp_path, "a.json.gz", gzip.compress(event("A") + b"\n"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no such folder"))
    with pytest.raises(NotCopied, match="no temporary folder"), copied_hours(tmp_path, DATA_PREFIX, HOURS):
        pass
    assert list(DuckDBEngine(tmp_path).run(ALL_ROWS, HOURS)["spot_id"]) == ["A"]


def test_a_copy_the_disk_cannot_hold_reads_the_lake(tmp_path) -> None:
    """Under a file size limit (a full disk, as writes see it) the copy fails and the lake's objects answer."""
    for n in range(20):
        put(tmp_path, f"{n:02d}.json.gz", gzip.compress(event(f"S{n:02d}") + b"\n"))
    script = (
        "import resource, sys; from parking.analytics.engines import DuckDBEngine\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))\n"
        f"frame = DuckDBEngine(sys.argv[1]).run({ALL_ROWS!r}, {HOURS!r})\n"
        "print(len(frame))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["20"]


def _with_flags(flags: int) -> bytes:
    """A gzip stream of one event whose header carries ``flags`` (FTEXT 1, FHCRC 2, FCOMMENT 16 need their fields)."""
    stream = bytearray(gzip.compress(event("F") + b"\n"))
    stream[3] = flags
    extra = b"\x00\x00" if flags & 2 else b""  # FHCRC: a header CRC, not checked by every reader
    return bytes(stream[:10]) + (b"comment\x00" if flags & 16 else b"") + extra + bytes(stream[10:])


# Objects DuckDB refuses to read: the copy does not take them either, so the query fails as on the lake.
REFUSED = {
    "zero bytes": b"",
    "NUL bytes after the stream": gzip.compress(event("N") + b"\n") + b"\x00" * 16,
    "an FTEXT header": _with_flags(1),
    "an FCOMMENT header": _with_flags(16),
}


@pytest.mark.parametrize("content", REFUSED.values(), ids=REFUSED.keys())
def test_an_object_duckdb_refuses_is_not_copied_and_fails_as_on_the_lake(tmp_path, content: bytes) -> None:
    put(tmp_path, "a.json.gz", gzip.compress(event("A") + b"\n"))
    put(tmp_path, "b.json.gz", content)
    with pytest.raises(NotCopied), copied_hours(tmp_path, DATA_PREFIX, HOURS):
        pass
    with pytest.raises(QueryError) as on_the_lake:
        DuckDBEngine(tmp_path, copy_limit=0).run(ALL_ROWS, HOURS)
    with pytest.raises(QueryError) as asked:
        DuckDBEngine(tmp_path).run(ALL_ROWS, HOURS)
    assert str(asked.value) == str(on_the_lake.value)


def test_a_fifo_among_the_objects_is_not_opened(tmp_path) -> None:
    """A named pipe would block the copy for good: the lake is read, as without the copy."""
    put(tmp_path, "a.json.gz", gzip.compress(event("A") + b"\n"))
    os.mkfifo(tmp_path / HOUR_10 / "pipe.json.gz")
    with pytest.raises(NotCopied, match="not a regular file"), copied_hours(tmp_path, DATA_PREFIX, HOURS):
        pass
    pd.testing.assert_frame_equal(DuckDBEngine(tmp_path).run(ALL_ROWS, HOURS),
                                  DuckDBEngine(tmp_path, copy_limit=0).run(ALL_ROWS, HOURS))


@pytest.mark.parametrize("folder", ["year=1999", "status=free", "hour=23", "spot_id=X", "day=01/month=02"])
def test_a_name_value_folder_in_the_temporary_folders_path_changes_no_answer(tmp_path, folder: str,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB would read a Hive partition from anywhere in a path: the copy's hour is in its file's name."""
    put(tmp_path / "lake", "a.json.gz", gzip.compress(event("A") + b"\n" + event("B", 1) + b"\n"))
    expected = DuckDBEngine(tmp_path / "lake", copy_limit=0).run(ALL_ROWS, HOURS)
    (tmp_path / "tmp" / folder).mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp" / folder))
    with copied_hours(tmp_path / "lake", DATA_PREFIX, HOURS) as copy:
        assert copy is not None and str(tmp_path / "tmp") in str(copy)
    pd.testing.assert_frame_equal(DuckDBEngine(tmp_path / "lake").run(ALL_ROWS, HOURS), expected)


def test_a_killed_querys_copy_is_removed_by_the_next_and_a_running_ones_is_kept(tmp_path, monkeypatch) -> None:
    put(tmp_path / "lake", "a.json.gz", gzip.compress(event("A") + b"\n"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = tmp_path / "tmp" / f"parking-hot-{sleeper.pid}-abc"
        killed = tmp_path / "tmp" / "parking-hot-4194305-def"  # above Linux's largest pid: no such process
        for folder in (running, killed):
            folder.mkdir(parents=True)
            (folder / "2024031010.json").write_bytes(event("left") + b"\n")
        with copied_hours(tmp_path / "lake", DATA_PREFIX, HOURS):
            pass
        assert running.exists() and not killed.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_copy_that_inflates_past_its_limit_reads_the_lake(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(tmp_path, "a.json.gz", gzip.compress((event("A") + b"\n") * 100))
    monkeypatch.setattr(hot_tier, "INFLATED_LIMIT_BYTES", 1000)
    with pytest.raises(NotCopied, match="inflate to over 1,000 bytes"), copied_hours(tmp_path, DATA_PREFIX, HOURS):
        pass
    assert len(DuckDBEngine(tmp_path).run(ALL_ROWS, HOURS)) == 100
