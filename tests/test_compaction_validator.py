"""Nothing `lake check` would flag is folded into Parquet: one validator of a stored object for both.

A stored object moved to another hour or day, or given lines that are not
valid events, or not stored byte for byte as the ingester stores them (a
BOM, CRLF line ends, a blank line, no final newline), is flagged by `lake
check`. `compact` leaves it where it is, compacts the rest and says in one
line to run `lake check --repair`; after the repair and the next `compact`,
every named query answers exactly what it answered on the uncompacted lake
(checked against the reference first, tests/test_compaction.py). A lake
compacted before this rule held such objects' rows: `lake check` finds them
through the kept sources and `--repair` mends them the same way.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import orjson
import pytest
from click.testing import CliRunner

from parking.analytics.engines import DuckDBEngine
from parking.cli.main import cli
from parking.lake.compaction.protocol import compact
from parking.lake.objects import Inspection
from parking.lake.stores import LocalStore
from parking.layout import DATA_PREFIX
from tests.scenarios import Scenario, scenario
from tests.test_compaction import EVERYTHING, answers, assert_same_answers, fully_compacted, ingest, parquet_files
from tests.test_compaction import uncompacted as uncompacted  # noqa: F401  (the fixture)

Corruption = Callable[[Path], Path]
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def case() -> Scenario:
    return scenario(2)


@pytest.fixture
def lake(case, tmp_path) -> Path:
    ingest(case, tmp_path, case.lines)
    return tmp_path


@pytest.fixture
def later(monkeypatch) -> datetime:
    now = datetime(2030, 1, 3, tzinfo=timezone.utc)  # every scenario day is closed
    monkeypatch.setattr("parking.cli.compact.now", lambda: now)
    return now


def _moved(days: int, hours: int) -> Corruption:
    """The object moved to another day or hour folder (its events stay as they are)."""
    def corrupt(path: Path) -> Path:
        hour, day = int(path.parent.name[5:]), int(path.parent.parent.name[4:])
        hour = (hour + hours) % 24
        target = path.parents[2] / f"day={day + days:02d}" / f"hour={hour:02d}" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
        return target
    return corrupt


def _body(change: Callable[[list[bytes]], bytes]) -> Corruption:
    """The object rewritten in place: ``change(lines)`` gives its new uncompressed body."""
    def corrupt(path: Path) -> Path:
        path.write_bytes(gzip.compress(change(gzip.decompress(path.read_bytes()).splitlines()), mtime=0))
        return path
    return corrupt


def _extra(edit: Callable[[dict], dict]) -> Callable[[list[bytes]], bytes]:
    """One more line after the first: a copy of it, edited (so the valid events stay as they were)."""
    def change(lines: list[bytes]) -> bytes:
        return b"\n".join([lines[0], orjson.dumps(edit(orjson.loads(lines[0]))), *lines[1:]]) + b"\n"
    return change


# name, what is done to one stored object, the problem `lake check` names
CORRUPTIONS = [
    ("wrong hour", _moved(0, 5), "wrong_hour"),
    ("wrong day", _moved(1, 0), "wrong_hour"),
    ("unknown status", _body(_extra(lambda e: {**e, "status": "maybe"})), "invalid_lines"),
    ("timestamp without zone", _body(_extra(lambda e: {**e, "timestamp": e["timestamp"][:19]})), "invalid_lines"),
    ("byte order mark", _body(lambda lines: b"\n".join([b"\xef\xbb\xbf" + lines[0], *lines]) + b"\n"),
     "not_as_stored"),
    ("byte order mark before the only copy", _body(lambda lines: b"\n".join([BOM + lines[0], *lines[1:]]) + b"\n"),
     "not_as_stored"),
    ("CRLF line ends", _body(lambda lines: b"".join(line + b"\r\n" for line in lines)), "not_as_stored"),
    ("a blank line", _body(lambda lines: b"\n".join([lines[0], b"", *lines[1:]]) + b"\n"), "invalid_lines"),
    ("no final newline", _body(lambda lines: b"\n".join(lines)), "not_as_stored"),
]
IDS = [c[0] for c in CORRUPTIONS]


def corrupt_one(lake: Path, corrupt: Corruption) -> Path:
    """Corrupt the object with the most lines of a day in the middle of the scenario; its path afterwards."""
    objects = sorted((lake / DATA_PREFIX).rglob("*.json.gz"))
    days = sorted({p.parents[1] for p in objects})
    middle = [p for p in objects if p.parents[1] == days[len(days) // 2]]
    return corrupt(max(middle, key=lambda p: (len(gzip.decompress(p.read_bytes()).splitlines()), p)))


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def folded_sources(lake: Path) -> set[str]:
    """The objects (keys below the data prefix) whose lines the day files hold."""
    with duckdb.connect() as connection:
        files = [str(p) for p in parquet_files(lake)]
        return {row[0] for row in connection.execute(f"SELECT DISTINCT source FROM read_parquet({files})").fetchall()}


@pytest.mark.parametrize(("corrupt", "problem"), [c[1:] for c in CORRUPTIONS], ids=IDS)
def test_compact_leaves_what_lake_check_flags_where_it_is_and_says_what_to_run(lake, later, corrupt, problem) -> None:
    path = corrupt_one(lake, corrupt)
    key = path.relative_to(lake).as_posix()
    checked = run("lake", "check", "--data-dir", str(lake))
    assert checked.exit_code == 1 and f"{problem:<14} {key}:" in checked.stdout
    body = path.read_bytes()

    result = run("compact", "--data-dir", str(lake))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {lake}/{key}: ") and "run `parking-cli lake check --repair`" in line
    assert "internal error" not in line
    assert path.read_bytes() == body, "left where it is, byte for byte"
    assert parquet_files(lake), "the rest was compacted"
    assert path.relative_to(lake / DATA_PREFIX).as_posix() not in folded_sources(lake)
    assert run("lake", "check", "--data-dir", str(lake)).exit_code == 1, "still flagged: the repair can mend it"


@pytest.mark.parametrize("corrupt", [c[1] for c in CORRUPTIONS], ids=IDS)
def test_after_the_repair_and_compact_every_answer_is_the_uncompacted_lakes(
    case, uncompacted, lake, later, corrupt  # noqa: F811
) -> None:
    corrupt_one(lake, corrupt)
    assert run("compact", "--data-dir", str(lake)).exit_code == 1
    repaired = run("lake", "check", "--repair", "--data-dir", str(lake))
    assert repaired.exit_code == 0, repaired.output
    compacted = run("compact", "--data-dir", str(lake))
    assert compacted.exit_code == 0, compacted.output
    assert fully_compacted(lake)
    assert run("lake", "check", "--data-dir", str(lake)).exit_code == 0
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(lake, threads=1)))


LEGACY = [c for c in CORRUPTIONS if c[0] in ("wrong hour", "wrong day", "unknown status", "CRLF line ends")]


@pytest.mark.parametrize(("corrupt", "problem"), [c[1:] for c in LEGACY], ids=[c[0] for c in LEGACY])
def test_a_flagged_object_folded_in_by_an_older_compact_is_found_and_mended(
    case, uncompacted, lake, monkeypatch, corrupt, problem  # noqa: F811
) -> None:
    path = corrupt_one(lake, corrupt)
    key = path.relative_to(lake / DATA_PREFIX).as_posix()
    with monkeypatch.context() as older:  # compact as it was: every object taken as clean
        older.setattr("parking.lake.compaction.tier_check.inspect_object",
                      lambda key, body, *_: Inspection(key, body, None, lines=gzip.decompress(body).splitlines()))
        compact(LocalStore(lake), EVERYTHING)
    assert key in folded_sources(lake)
    checked = run("lake", "check", "--data-dir", str(lake))
    assert checked.exit_code == 1
    assert f"{problem:<14} parking-compacted-sources/{key}:" in checked.stdout

    repaired = run("lake", "check", "--repair", "--data-dir", str(lake))
    assert repaired.exit_code == 0, repaired.output
    assert key not in folded_sources(lake)
    compact(LocalStore(lake), EVERYTHING)
    assert fully_compacted(lake) and run("lake", "check", "--data-dir", str(lake)).exit_code == 0
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(lake, threads=1)))



def test_a_byte_order_mark_before_the_first_line_is_refiled_not_quarantined(lake) -> None:
    """A BOM is `not_as_stored`: its event, which every query reads, is re-filed by the repair (issue 23)."""
    path = corrupt_one(lake, _body(lambda lines: b"\n".join([BOM + lines[0], *lines[1:]]) + b"\n"))
    [first, *_] = gzip.decompress(path.read_bytes()).splitlines()
    event = first.removeprefix(BOM)
    repaired = run("lake", "check", "--repair", "--data-dir", str(lake))
    assert repaired.exit_code == 0, repaired.output
    assert not (lake / "parking-quarantine").exists() or not list((lake / "parking-quarantine").rglob("*.json.gz"))
    stored = {line for p in (lake / DATA_PREFIX).rglob("*.json.gz") for line in gzip.decompress(p.read_bytes()).splitlines()}
    assert event in stored
    assert run("lake", "check", "--data-dir", str(lake)).exit_code == 0
