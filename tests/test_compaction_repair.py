"""A damaged compacted day is never a dead end: `lake check --repair` rebuilds it from its sources.

A day file under ``parking-compacted/`` can be truncated, emptied, replaced
by foreign bytes or another day's rows, or joined by a file no compaction
wrote. ``lake check`` reports it; ``compact`` leaves its day alone and says
in one line what to run; ``lake check --repair`` keeps the bad file's bytes
in quarantine (reason ``lake_compacted_<problem>``) and rebuilds the day from
the JSON objects kept under ``parking-compacted-sources/`` (and any still
under ``parking-data/``). Afterwards every named query answers exactly what
it answered on the JSON-only lake, which is checked against the reference
first (tests/test_compaction.py).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from parking.analytics.engines import DuckDBEngine
from parking.cli.main import cli
from parking.errors import CompactionError, QueryError
from parking.lake.check import repair_compacted_tier
from parking.lake.compaction.protocol import compact
from parking.lake.compaction.repair import REPAIR_STEPS
from parking.lake.compaction.tier_check import check_compacted
from parking.lake.stores import LocalStore
from parking.layout import COMPACTED_SOURCES_PREFIX, QUARANTINE_PREFIX
from tests.conftest import read_lines
from tests.scenarios import Scenario, scenario
from tests.test_compaction import (
    EVERYTHING,
    Crash,
    answers,
    assert_same_answers,
    fully_compacted,
    ingest,
    json_days,
    parquet_files,
)
from tests.test_compaction import uncompacted as uncompacted  # noqa: F401  (the fixture)


@pytest.fixture(scope="module")
def case() -> Scenario:
    return scenario(2)


@pytest.fixture
def compacted(case, tmp_path) -> Path:
    """The scenario's lake with every day compacted."""
    ingest(case, tmp_path, case.lines)
    compact(LocalStore(tmp_path), EVERYTHING)
    assert fully_compacted(tmp_path)
    return tmp_path


def _rewrite(sql: str) -> Callable[[Path, Path], Path]:
    def damage(day_file: Path, other: Path) -> Path:
        temp = day_file.with_name("rewritten.tmp")
        with duckdb.connect() as connection:
            connection.execute(sql.format(day=day_file, out=temp))
        temp.replace(day_file)
        return day_file
    return damage


def _replace(body: Callable[[bytes, Path], bytes]) -> Callable[[Path, Path], Path]:
    def damage(day_file: Path, other: Path) -> Path:
        day_file.write_bytes(body(day_file.read_bytes(), other))
        return day_file
    return damage


def _beside(name: str, body: bytes | None) -> Callable[[Path, Path], Path]:
    """A file no compaction wrote in the day's folder: ``body``, or a copy of the day file."""
    def damage(day_file: Path, other: Path) -> Path:
        (day_file.parent / name).write_bytes(day_file.read_bytes() if body is None else body)
        return day_file.parent / name
    return damage


# name, what is done to one day file (given another day's file), the problem `lake check` names
DAMAGE = [
    ("truncated", _replace(lambda body, other: body[: len(body) // 2]), "unreadable"),
    ("empty", _replace(lambda body, other: b""), "unreadable"),
    ("foreign bytes", _replace(lambda body, other: b"PAR1 these are not the rows you are looking for"), "unreadable"),
    ("metadata overwritten", _replace(lambda body, other: body[:-200] + bytes(192) + body[-8:]), "unreadable"),
    ("foreign Parquet", _rewrite("COPY (SELECT 1 AS a) TO '{out}' (FORMAT parquet)"), "unreadable"),
    ("another day's rows", _replace(lambda body, other: other.read_bytes()), "misfiled"),
    ("statuses flipped", _rewrite(
        "COPY (SELECT * REPLACE (CASE status WHEN 'free' THEN 'occupied' ELSE 'free' END AS status) "
        "FROM read_parquet('{day}', hive_partitioning = false)) TO '{out}' (FORMAT parquet)"), "disagrees"),
    ("a stray empty .parquet beside it", _beside("part-0.parquet", b""), "foreign"),
    ("a copy under another name", _beside("copy.parquet", None), "foreign"),
]


def cut_at(step: str) -> Callable[[str], None]:
    """A checkpoint that dies at the first ``step`` (one of REPAIR_STEPS)."""
    assert step in REPAIR_STEPS

    def checkpoint(name: str) -> None:
        if name == step:
            raise Crash(step)
    return checkpoint


def damage_one(lake: Path, damage: Callable[[Path, Path], Path]) -> tuple[str, bytes]:
    """Damage the second day file; the key and bytes of the file that is now bad."""
    files = parquet_files(lake)
    bad = damage(files[1], files[0])
    return bad.relative_to(lake).as_posix(), bad.read_bytes()


def quarantined(lake: Path) -> list[dict]:
    return [line for p in (lake / QUARANTINE_PREFIX).rglob("*.json.gz") for line in read_lines(p.read_bytes())]


def check(lake: Path, *options: str):
    return CliRunner().invoke(cli, ["lake", "check", *options, "--data-dir", str(lake)])


@pytest.mark.parametrize(("damage", "problem"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_lake_check_names_the_damaged_day_file(compacted, damage, problem) -> None:
    key, _ = damage_one(compacted, damage)
    result = check(compacted)
    assert result.exit_code == 1
    assert f"{problem:<14} {key}:" in result.stdout
    assert result.stderr.startswith("Error: ") and result.stderr.endswith("; run `parking-cli lake check --repair`\n")


@pytest.mark.parametrize(("damage", "problem"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_repair_rebuilds_the_day_from_its_sources_and_every_answer_is_as_before(
    case, uncompacted, compacted, damage, problem  # noqa: F811
) -> None:
    key, body = damage_one(compacted, damage)
    result = check(compacted, "--repair")
    assert result.exit_code == 0, result.output
    assert "rebuilt 1 compacted day from its sources; set aside 1 file" in result.stdout
    assert check_compacted(LocalStore(compacted)) == [] and fully_compacted(compacted)
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(compacted, threads=1)))
    assert check(compacted).exit_code == 0


@pytest.mark.parametrize(("damage", "problem"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_repair_keeps_the_bad_file_byte_for_byte_in_quarantine(compacted, damage, problem) -> None:
    key, body = damage_one(compacted, damage)
    assert check(compacted, "--repair").exit_code == 0
    kept = [line for line in quarantined(compacted) if line["reason"] == f"lake_compacted_{problem}"]
    if not body:  # an empty file holds nothing to keep, as for an empty JSON object
        assert kept == []
        return
    [line] = kept
    assert line["detail"].startswith(f"from {key}: {problem}")
    assert gzip.decompress((compacted / line["value_object"]["key"]).read_bytes()) == body


def test_repair_also_folds_in_late_json_of_the_damaged_day(case, uncompacted, compacted) -> None:  # noqa: F811
    key, _ = damage_one(compacted, DAMAGE[0][1])
    day = "/".join(Path(key).parts[1:4])
    ingest(case, compacted, case.lines, partition=1)  # late copies of every event, JSON beside compacted days
    assert day in json_days(compacted)
    assert check(compacted, "--repair").exit_code == 0
    assert day not in json_days(compacted)
    assert check_compacted(LocalStore(compacted)) == []
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(compacted, threads=1)))


def test_repair_keeps_the_events_of_good_files_whose_sources_are_gone(case, uncompacted, compacted) -> None:  # noqa: F811
    """A day's kept sources may expire before its file: what a good file holds survives its day's repair."""
    files = parquet_files(compacted)
    (files[1].parent / "by-hand.parquet").write_bytes(b"foreign")
    day = "/".join(files[1].relative_to(compacted).parts[1:4])
    for source in (compacted / COMPACTED_SOURCES_PREFIX / day).rglob("*.json.gz"):
        source.unlink()
    assert check(compacted, "--repair").exit_code == 0
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(compacted, threads=1)))


# The steps a repair takes: a file damaged in place is rebuilt under its own name (its bytes set aside
# first); a file beside a good one, with late JSON for the day, takes every other step.
CUT_SHORT = [("in place", 0, step) for step in ("set-aside", "parquet-written")] + [
    ("beside, late JSON", 8, step) for step in REPAIR_STEPS
]


@pytest.mark.parametrize(("which", "damage", "step"), CUT_SHORT, ids=[f"{w}-{s}" for w, _, s in CUT_SHORT])
def test_a_repair_cut_short_at_any_step_loses_nothing_and_the_next_one_finishes(
    case, uncompacted, compacted, which, damage, step  # noqa: F811
) -> None:
    key, body = damage_one(compacted, DAMAGE[damage][1])
    if which == "beside, late JSON":
        ingest(case, compacted, case.lines, partition=1)  # JSON to move, so every step happens
    with pytest.raises(Crash):
        repair_compacted_tier(LocalStore(compacted), checkpoint=cut_at(step))
    repair_compacted_tier(LocalStore(compacted))
    assert check_compacted(LocalStore(compacted)) == []
    compact(LocalStore(compacted), EVERYTHING)
    assert fully_compacted(compacted)
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(compacted, threads=1)))
    if body:
        values = {line["value_object"]["key"] for line in quarantined(compacted) if "value_object" in line}
        assert body in {gzip.decompress((compacted / value).read_bytes()) for value in values}


@pytest.fixture
def later(monkeypatch) -> datetime:
    now = datetime(2030, 1, 3, tzinfo=timezone.utc)  # every scenario day is closed
    monkeypatch.setattr("parking.cli.compact.now", lambda: now)
    return now


@pytest.mark.parametrize(("damage", "problem"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_compact_meeting_a_damaged_day_file_says_what_to_run_in_one_line(
    case, uncompacted, compacted, later, damage, problem  # noqa: F811
) -> None:
    key, _ = damage_one(compacted, damage)
    day = "/".join(Path(key).parts[1:4])
    ingest(case, compacted, case.lines, partition=1)  # late events: every day is pending again
    result = CliRunner().invoke(cli, ["compact", "--data-dir", str(compacted)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "internal error" not in result.stderr
    assert result.stderr.startswith(f"Error: {compacted}/parking-compacted/{day}/")
    assert problem in result.stderr and "run `parking-cli lake check --repair`" in result.stderr
    assert json_days(compacted) == {day}, "every other day compacted, the damaged one left as it was"
    assert f"days compacted  {len(parquet_files(compacted)) - 1 - (problem == 'foreign'):>10,}" in result.stdout

    assert check(compacted, "--repair").exit_code == 0
    assert CliRunner().invoke(cli, ["compact", "--data-dir", str(compacted)]).exit_code == 0
    assert fully_compacted(compacted)
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(compacted, threads=1)))


def test_compaction_error_carries_the_report_of_the_days_it_did(case, compacted) -> None:
    damage_one(compacted, DAMAGE[0][1])
    ingest(case, compacted, case.lines, partition=1)
    with pytest.raises(CompactionError, match="unreadable") as caught:
        compact(LocalStore(compacted), EVERYTHING)
    assert caught.value.report.as_dict()["days_compacted"] == len(parquet_files(compacted)) - 1


UNREADABLE = [d for d in DAMAGE if d[0] in ("truncated", "empty", "foreign bytes", "metadata overwritten")]


@pytest.mark.parametrize("damage", [d[1] for d in UNREADABLE], ids=[d[0] for d in UNREADABLE])
def test_a_query_meeting_a_damaged_day_file_says_what_to_run_in_one_line(compacted, damage) -> None:
    key, _ = damage_one(compacted, damage)
    with pytest.raises(QueryError) as caught:
        DuckDBEngine(compacted, threads=1).run("SELECT count(*) FROM parking_events_compacted", {})
    message = str(caught.value)
    assert "\n" not in message and "run `parking-cli lake check --repair`" in message
    assert f"cannot read compacted day file {compacted / key} (" in message or "TProtocolException" in message


def test_a_compaction_cut_short_checks_healthy_and_the_next_run_finishes(case, uncompacted, compacted) -> None:  # noqa: F811
    ingest(case, compacted, case.lines, partition=1)
    with pytest.raises(Crash):
        compact(LocalStore(compacted), EVERYTHING, checkpoint=lambda step: _raise(Crash(step)))
    days = [path.parent for path in parquet_files(compacted)]
    assert len(days) > len(set(days)), "a day with its old and its new file"
    assert check_compacted(LocalStore(compacted)) == [], "a file a newer one holds is healthy until it is removed"
    result = check(compacted, "--repair")
    assert result.exit_code == 0, result.output
    assert ": 0 not as `compact` writes" in result.stdout and "rebuilt" not in result.stdout, "nothing to repair"
    compact(LocalStore(compacted), EVERYTHING)
    days = [path.parent for path in parquet_files(compacted)]
    assert len(days) == len(set(days)) and check_compacted(LocalStore(compacted)) == []
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(compacted, threads=1)))


def _raise(error: Exception) -> None:
    raise error


def test_a_query_meeting_a_foreign_parquet_file_says_what_to_run_in_one_line(compacted) -> None:
    import duckdb

    foreign = parquet_files(compacted)[0].parent / "extra.parquet"
    duckdb.execute(f"COPY (SELECT 1 AS a, 2 AS b) TO '{foreign}' (FORMAT parquet)")
    with pytest.raises(QueryError) as caught:
        DuckDBEngine(compacted, threads=1).run("SELECT count(spot_id) FROM parking_events_compacted", {})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"cannot read compacted day file {foreign} (")
    assert message.endswith("run `parking-cli lake check --repair` to rebuild its day from its sources")
