"""`compact` and `lake check` at the edge: bad input is one line and exit 2; a lost race is named as such."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking.analytics.engines import DuckDBEngine
from parking.cli.main import cli
from parking.errors import CompactionError
from parking.lake.compaction.protocol import compact
from parking.lake.stores import LocalStore
from tests.scenarios import Scenario, scenario
from tests.test_compaction import (
    EVERYTHING,
    answers,
    assert_same_answers,
    fully_compacted,
    ingest,
    parquet_files,
    tree,
)
from tests.test_compaction import uncompacted as uncompacted  # noqa: F401  (the fixture)

COMMANDS = {"compact": ["compact"], "lake check": ["lake", "check"], "lake check --repair": ["lake", "check", "--repair"]}


@pytest.fixture(scope="module")
def case() -> Scenario:
    return scenario(3)


@pytest.fixture
def lake(case, tmp_path) -> Path:
    ingest(case, tmp_path / "lake", case.lines)
    return tmp_path / "lake"


@pytest.fixture(autouse=True)
def later(monkeypatch) -> datetime:
    now = datetime(2030, 1, 3, tzinfo=timezone.utc)
    monkeypatch.setattr("parking.cli.compact.now", lambda: now)
    return now


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def one_error_line(result, exit_code: int) -> str:
    assert result.exit_code == exit_code, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "internal error" not in line and "Traceback" not in result.output
    return line


@pytest.mark.parametrize(("where", "message"), [
    ("typo", "does not exist"), ("empty", "holds no data lake"), ("a-file", "is a file"),
])
@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_directory_without_a_lake_is_refused_in_one_line(tmp_path, command, where, message) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("not a lake")
    line = one_error_line(run(*command, "--data-dir", str(tmp_path / where)), 2)
    assert str(tmp_path / where) in line and message in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "empty"], "nothing created"


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_fully_compacted_lake_is_a_lake(lake, command) -> None:
    compact(LocalStore(lake), EVERYTHING)
    for folder in ("parking-data", "parking-quarantine"):
        if (lake / folder).exists():
            (lake / folder).rename(lake.parent / f"moved-{folder}")
    assert run(*command, "--data-dir", str(lake)).exit_code == 0


@pytest.mark.parametrize("command", [["compact"], ["lake", "check"]])
def test_a_bad_bucket_name_is_refused_before_anything_runs(command) -> None:
    line = one_error_line(run(*command, "--bucket", "Bad_Name"), 2)
    assert "'Bad_Name' is not an S3 bucket name" in line


def test_compact_refuses_a_data_prefix_other_than_the_default(lake, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_DATA_PREFIX", "alt-data/")
    before = tree(lake)
    line = one_error_line(run("compact", "--data-dir", str(lake)), 2)
    assert "PARKING_DATA_PREFIX" in line and "parking-data/" in line
    assert tree(lake) == before


def test_a_lake_read_under_another_data_prefix_reads_no_compacted_day(lake) -> None:
    compact(LocalStore(lake), EVERYTHING)
    engine = DuckDBEngine(lake, data_prefix="alt-data/", threads=1)
    assert engine.run("SELECT count(*) AS n FROM parking_events_compacted", {})["n"].tolist() == [0]
    assert DuckDBEngine(lake, threads=1).run("SELECT count(*) AS n FROM parking_events_compacted", {})["n"][0] > 0


def test_a_lateness_allowance_out_of_range_names_its_variable(lake, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_COMPACTION_LATENESS_DAYS", "-1")
    line = one_error_line(run("compact", "--data-dir", str(lake)), 2)
    assert "PARKING_COMPACTION_LATENESS_DAYS must be a whole number of days from 0 to 3660" in line


@pytest.mark.parametrize("text", ["2026-W47-1", "20261120", "2026-11-2", "2026-11-20T00:00"])
def test_before_takes_only_a_calendar_date(lake, text) -> None:
    line = one_error_line(run("compact", "--before", text, "--data-dir", str(lake)), 2)
    assert "expected YYYY-MM-DD" in line
    assert not parquet_files(lake)


def test_a_run_that_loses_a_race_with_another_says_so_and_changes_no_answer(case, uncompacted, lake) -> None:  # noqa: F811
    raced = []

    def the_other_run_finishes_first(step: str) -> None:
        if not raced:
            raced.append(step)
            compact(LocalStore(lake), EVERYTHING)  # a second compaction on the same lake, run to its end

    with pytest.raises(CompactionError) as caught:
        compact(LocalStore(lake), EVERYTHING, checkpoint=the_other_run_finishes_first)
    message = str(caught.value)
    assert "\n" not in message and "another `compact`" in message and "then run compact again" in message
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(lake, threads=1)))
    compact(LocalStore(lake), EVERYTHING)
    assert fully_compacted(lake)
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(lake, threads=1)))
