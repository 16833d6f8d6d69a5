"""The compacted tiers under attack: hidden, lost, shortened and foreign files all have a way out.

What a user or a crash can leave under ``parking-compacted/`` and
``parking-compacted-sources/``: a hidden file (an AppleDouble ``._x``, a
temp file a killed run left), a day file deleted or rewritten with fewer
rows, a file no compaction writes, junk among the kept sources. The local
engine reads no hidden name (as Athena), `lake check` names each, and
`lake check --repair` mends it (the day rebuilt from its kept sources, a
foreign or hidden file kept byte for byte in quarantine); afterwards every
named query answers exactly what it answered on the uncompacted lake
(checked against the reference first, tests/test_compaction.py).
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from parking.analytics.engines import DuckDBEngine
from parking.cli.main import cli
from parking.lake.compaction.protocol import compact
from parking.lake.compaction.tier_check import check_compacted
from parking.lake.stores import LocalStore
from parking.layout import COMPACTED_SOURCES_PREFIX, DATA_PREFIX, QUARANTINE_PREFIX
from tests.conftest import read_lines
from tests.scenarios import Scenario, scenario
from tests.test_compaction import EVERYTHING, answers, assert_same_answers, fully_compacted, ingest, parquet_files
from tests.test_compaction import uncompacted as uncompacted  # noqa: F401  (the fixture)

# Given the lake, one day file and another day's, make the damage; the key of the file now wrong (or the day's).
Damage = Callable[[Path, Path, Path], str]


@pytest.fixture(scope="module")
def case() -> Scenario:
    return scenario(2)


@pytest.fixture
def compacted(case, tmp_path) -> Path:
    ingest(case, tmp_path, case.lines)
    compact(LocalStore(tmp_path), EVERYTHING)
    assert fully_compacted(tmp_path)
    return tmp_path


@pytest.fixture
def later(monkeypatch) -> datetime:
    now = datetime(2030, 1, 3, tzinfo=timezone.utc)
    monkeypatch.setattr("parking.cli.compact.now", lambda: now)
    return now


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _put(where: Callable[[Path, Path], Path], body: Callable[[Path, Path], bytes]) -> Damage:
    def damage(lake: Path, day_file: Path, other: Path) -> str:
        path = where(day_file, other)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body(day_file, other))
        return path.relative_to(lake).as_posix()
    return damage


def _kept_source(day_file: Path) -> Path:
    """The first JSON object kept for the day of ``day_file``."""
    lake = day_file.parents[4]
    return sorted((lake / COMPACTED_SOURCES_PREFIX / "/".join(day_file.parts[-4:-1])).rglob("*.json.gz"))[0]


def _other_day_rows(day_file: Path, other: Path) -> bytes:
    return other.read_bytes()


def _flipped(day_file: Path, other: Path) -> bytes:
    """The day file with every status flipped: answers change if a query reads it."""
    with tempfile.TemporaryDirectory() as work, duckdb.connect() as connection:
        connection.execute(
            "COPY (SELECT * REPLACE (CASE status WHEN 'free' THEN 'occupied' ELSE 'free' END AS status) "
            f"FROM read_parquet('{day_file}', hive_partitioning = false)) TO '{work}/x.parquet' (FORMAT parquet)"
        )
        return (Path(work) / "x.parquet").read_bytes()


def _parquet_of_other_columns() -> bytes:
    with tempfile.TemporaryDirectory() as work, duckdb.connect() as connection:
        connection.execute(f"COPY (SELECT 1 AS a, 'b' AS b) TO '{work}/ab.parquet' (FORMAT parquet)")
        return (Path(work) / "ab.parquet").read_bytes()


_AB = _parquet_of_other_columns()


NO_PROCESS = 4_194_305  # above Linux's highest process id (PID_MAX_LIMIT): a writer of this id has ended
# name, damage, the problem `lake check` names, whether its bytes are kept whole in quarantine
HIDDEN = [
    ("AppleDouble beside a day file", _put(lambda f, o: f.with_name(f"._{f.name}"), lambda f, o: b"\x00\x05\x16\x07"),
     "hidden", True),
    ("a hidden Parquet file of the day's rows flipped", _put(lambda f, o: f.with_name(".hidden.parquet"), _flipped),
     "hidden", True),
    ("an underscore Parquet file of the day's rows flipped", _put(lambda f, o: f.with_name("_part.parquet"), _flipped),
     "hidden", True),
    ("temp file of a killed compact", _put(lambda f, o: f.with_name(f".{f.name}.{NO_PROCESS}.140234.tmp"),
                                           lambda f, o: f.read_bytes()[:100]), "hidden", True),
    ("temp file of a killed move",
     _put(lambda f, o: _kept_source(f).with_name(f".{_kept_source(f).name}.{NO_PROCESS}.tmp"),
          lambda f, o: _kept_source(f).read_bytes()), "bad_name", False),
]
LOST = [
    ("day file deleted", lambda lake, f, o: (f.unlink(), f.parent.relative_to(lake).as_posix() + "/")[1], "lost"),
    ("day file rewritten keeping some spots", lambda lake, f, o: _keep_some_spots(lake, f), "shortened"),
]
FOREIGN = [
    ("notes.txt in a day folder", _put(lambda f, o: f.with_name("notes.txt"), lambda f, o: b"notes"), "foreign", True),
    ("a file in a sub-folder", _put(lambda f, o: f.parent / "sub" / "x.txt", lambda f, o: b"x"), "foreign", True),
    ("README.txt above the days", _put(lambda f, o: f.parents[3] / "README.txt", lambda f, o: b"read me"),
     "foreign", True),
    ("a Parquet file of other columns", _put(lambda f, o: f.with_name("extra.parquet"), lambda f, o: _AB),
     "foreign", True),
    ("another day's file under its own name", _put(lambda f, o: f.with_name(o.name), _other_day_rows),
     "foreign", True),
    ("junk among the kept sources", _put(lambda f, o: f.parents[4] / COMPACTED_SOURCES_PREFIX / "README.txt",
                                         lambda f, o: b"junk"), "bad_name", True),
    ("a kept source cut short", _put(lambda f, o: _kept_source(f), lambda f, o: _kept_source(f).read_bytes()[:40]),
     "unreadable", True),
]


def _keep_some_spots(lake: Path, day_file: Path) -> str:
    temp = day_file.with_name("rewritten.tmp")
    with duckdb.connect() as connection:
        connection.execute(
            f"COPY (SELECT * FROM read_parquet('{day_file}', hive_partitioning = false) WHERE spot_id < "
            f"(SELECT median(spot_id) FROM read_parquet('{day_file}'))) TO '{temp}' (FORMAT parquet)"
        )
    temp.replace(day_file)
    return day_file.parent.relative_to(lake).as_posix() + "/"


def damage_one(lake: Path, damage: Damage, day: date) -> str:
    """Damage around the day file of ``day`` (one the named queries read), given another day's file."""
    [day_file] = [f for f in parquet_files(lake) if f.name.startswith(day.isoformat())]
    other = next(f for f in parquet_files(lake) if f != day_file)
    return damage(lake, day_file, other)


def quarantined_values(lake: Path) -> list[bytes]:
    """Every value kept whole in quarantine (lake_compacted_* and lake_unreadable reasons)."""
    lines = [line for p in (lake / QUARANTINE_PREFIX).rglob("*.json.gz") for line in read_lines(p.read_bytes())]
    return [gzip.decompress((lake / line["value_object"]["key"]).read_bytes())
            for line in lines if line["reason"].startswith("lake_") and "value_object" in line]


EVERY = [(n, d, p) for n, d, p, *_ in HIDDEN + LOST + FOREIGN]


@pytest.mark.parametrize(("damage", "problem"), [e[1:] for e in EVERY], ids=[e[0] for e in EVERY])
def test_lake_check_names_it(case, compacted, damage, problem) -> None:
    key = damage_one(compacted, damage, case.day)
    result = run("lake", "check", "--data-dir", str(compacted))
    assert result.exit_code == 1
    assert f"{problem:<14} {key}:" in result.stdout
    assert result.stderr.endswith("; run `parking-cli lake check --repair`\n")


@pytest.mark.parametrize(("damage", "problem"), [e[1:] for e in EVERY], ids=[e[0] for e in EVERY])
def test_repair_mends_it_and_every_answer_is_the_uncompacted_lakes(
    case, uncompacted, compacted, damage, problem  # noqa: F811
) -> None:
    damage_one(compacted, damage, case.day)
    repaired = run("lake", "check", "--repair", "--data-dir", str(compacted))
    assert repaired.exit_code == 0, repaired.output
    assert run("lake", "check", "--data-dir", str(compacted)).exit_code == 0
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(compacted, threads=1)))


KEPT_WHOLE = [(n, d, p) for n, d, p, whole in HIDDEN + FOREIGN if whole]


@pytest.mark.parametrize(("damage", "problem"), [k[1:] for k in KEPT_WHOLE], ids=[k[0] for k in KEPT_WHOLE])
def test_repair_keeps_its_bytes_in_quarantine(case, compacted, damage, problem) -> None:
    key = damage_one(compacted, damage, case.day)
    body = (compacted / key).read_bytes()
    assert run("lake", "check", "--repair", "--data-dir", str(compacted)).exit_code == 0
    assert not (compacted / key).exists()
    assert body in quarantined_values(compacted)


# Where a running writer's temporary file is, given a day file: beside it (compact), among its kept sources (a move).
AT_WORK = [
    ("a day file being written", lambda f, pid: f.with_name(f".{f.name}.{pid}.140234567890123.tmp")),
    ("a kept source being moved", lambda f, pid: _kept_source(f).with_name(f".{_kept_source(f).name}.{pid}.1.tmp")),
]


@pytest.mark.parametrize("where", [w for _, w in AT_WORK], ids=[n for n, _ in AT_WORK])
def test_a_running_writers_temporary_file_is_work_in_progress_not_damage(case, compacted, where) -> None:
    import os

    [day_file] = [f for f in parquet_files(compacted) if f.name.startswith(case.day.isoformat())]
    temp = where(day_file, os.getpid())  # this process runs, and started before it wrote the file
    temp.write_bytes(day_file.read_bytes()[:100])
    for repair in ([], ["--repair"], []):
        result = run("lake", "check", *repair, "--data-dir", str(compacted))
        assert result.exit_code == 0, result.output
        assert temp.name not in result.stdout and "not as `compact` writes" in result.stdout
        assert "1 temporary file of a running writer: work in progress, left alone" in result.stdout
    assert temp.read_bytes() == day_file.read_bytes()[:100], "left as its writer has it"
    assert not quarantined_values(compacted)


@pytest.mark.parametrize("damage", [h[1] for h in HIDDEN], ids=[h[0] for h in HIDDEN])
def test_the_local_engine_reads_no_hidden_file(case, uncompacted, compacted, damage) -> None:  # noqa: F811
    damage_one(compacted, damage, case.day)
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(compacted, threads=1)))


def test_the_local_engine_reads_no_hidden_json_object(case, uncompacted, compacted) -> None:  # noqa: F811
    ingest(case, compacted, case.lines, partition=1)  # late copies of every event: the data tier is read too
    hour = next((compacted / DATA_PREFIX / f"year={case.day:%Y}/month={case.day:%m}/day={case.day:%d}").iterdir())
    (hour / "._late.json.gz").write_bytes(b"\x00\x05\x16\x07")
    (hour / "_flipped.json.gz").write_bytes(gzip.compress(b'{"spot_id":"X","status":"free","timestamp":"x"}\n'))
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(compacted, threads=1)))


DAY_FOLDER_FOREIGN = [f for f in FOREIGN if f[0] in ("notes.txt in a day folder", "a file in a sub-folder",
                                                      "a Parquet file of other columns",
                                                      "another day's file under its own name")]


@pytest.mark.parametrize("damage", [f[1] for f in DAY_FOLDER_FOREIGN], ids=[f[0] for f in DAY_FOLDER_FOREIGN])
def test_compact_meeting_a_foreign_file_leaves_its_day_and_the_advice_works(
    case, uncompacted, compacted, later, damage  # noqa: F811
) -> None:
    key = damage_one(compacted, damage, case.day)
    ingest(case, compacted, case.lines, partition=1)  # late events: every day is pending again
    result = run("compact", "--data-dir", str(compacted))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {compacted}/{key}: foreign") and "run `parking-cli lake check --repair`" in line
    assert run("lake", "check", "--repair", "--data-dir", str(compacted)).exit_code == 0
    assert run("compact", "--data-dir", str(compacted)).exit_code == 0
    assert fully_compacted(compacted) and run("lake", "check", "--data-dir", str(compacted)).exit_code == 0
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(compacted, threads=1)))


@pytest.mark.parametrize("damage", [entry[1] for entry in LOST], ids=[entry[0] for entry in LOST])
def test_compact_alone_does_not_hide_a_lost_or_shortened_day(case, compacted, later, damage) -> None:
    damage_one(compacted, damage, case.day)
    assert run("compact", "--data-dir", str(compacted)).exit_code == 0
    assert {f.problem for f in check_compacted(LocalStore(compacted))} & {"lost", "shortened"}


def test_a_fully_compacted_lake_without_a_data_folder_answers_queries(case, uncompacted, compacted) -> None:  # noqa: F811
    shutil.rmtree(compacted / DATA_PREFIX, ignore_errors=True)
    shutil.rmtree(compacted / QUARANTINE_PREFIX, ignore_errors=True)
    result = run("--data-dir", str(compacted), "--format", "csv", "status", "--at", "2030-01-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(compacted, threads=1)))


def test_a_data_directory_with_a_backslash_is_read_as_itself(case, uncompacted, tmp_path) -> None:  # noqa: F811
    lake = tmp_path / "back\\slash"
    ingest(case, lake, case.lines)
    compact(LocalStore(lake), case.day)  # half compacted: both tiers read
    assert parquet_files(lake) and any((lake / DATA_PREFIX).rglob("*.json.gz"))
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(lake, threads=1)))
