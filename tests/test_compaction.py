"""Compaction keeps every answer exact: half compacted, late events, crashes, twice.

Each seed's scenario (tests/scenarios.py) is ingested through the Lambda's own
path; every named query's answer on that JSON-only lake is checked against
the independent reference (tests/reference.py, through the checks of
tests/test_queries_local.py) and kept. Then the lake is compacted in the ways
an operator or a crash would leave it, and every named query must return
exactly the frame it returned before compaction.
"""

from __future__ import annotations

import gzip
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from parking import queries
from parking.analytics.engines import DuckDBEngine
from parking.cli.main import cli
from parking.errors import CompactionError, InvalidArgument
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from parking.lake.compaction.dayfiles import PARQUET_COLUMNS
from parking.lake.compaction.protocol import STEPS, compact
from parking.lake.compaction.repair import source_lines
from parking.lake.compaction.schedule import check_before, latest_before, pending_days
from parking.lake.compaction.tier_check import check_compacted
from parking.lake.stores import LocalStore
from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX, DATA_PREFIX
from tests import reference
from tests import test_queries_local as against_reference
from tests.scenarios import Scenario, scenario

ROOT = Path(__file__).resolve().parent.parent
SEEDS = range(4)
EVERYTHING = date(2030, 1, 1)  # a --before later than every scenario's last day


def answers(case: Scenario, engine: DuckDBEngine, only: str | None = None) -> dict[str, pd.DataFrame]:
    """Every named query (or the one named ``only``), asked as tests/test_queries_local.py asks it."""
    asked = {"lookback_hours": case.lookback_hours, "engine": engine, "now": case.now}
    zoned = {**asked, "tz": case.zone}
    ask: dict[str, Callable[[], pd.DataFrame]] = {
        "status": lambda: queries.status(reference.utc(case.status_at), **asked),
        "occupancy": lambda: queries.occupancy(case.day, **zoned),
        "utilization": lambda: queries.utilization(case.first, case.last, **asked),
        "patterns": lambda: queries.patterns(case.first, case.last, **zoned),
        "turnover": lambda: queries.turnover(case.first, case.last, **zoned),
        "dwell": lambda: queries.dwell(case.first, case.last, **zoned),
        "health": lambda: queries.health(reference.utc(case.health_at), flapping_changes=10, stuck_hours=48, **asked),
    }
    return {name: run() for name, run in ask.items() if only in (None, name)}


def assert_same_answers(expected: dict[str, pd.DataFrame], actual: dict[str, pd.DataFrame]) -> None:
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(actual[name], frame, check_exact=True, obj=name)


def ingest(case: Scenario, root: Path, lines: list[bytes], partition: int = 0) -> None:
    totals = ingest_lines(lines, LocalSink(root), batch_size=50, now=case.ingested_at, partition=partition)
    assert totals.stored == len(lines)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def json_days(root: Path) -> set[str]:
    return {"/".join(p.relative_to(root / DATA_PREFIX).parts[:3]) for p in (root / DATA_PREFIX).rglob("*.json.gz")}


def parquet_files(root: Path) -> list[Path]:
    return sorted((root / COMPACTED_PREFIX).rglob("*.parquet"))


def fully_compacted(root: Path) -> bool:
    days = [p.parent for p in parquet_files(root)]
    return not json_days(root) and len(days) == len(set(days)) > 0


class Crash(Exception):
    """Stands for the process dying between two steps."""


def crash_at(step: str, occurrence: int) -> Callable[[str], None]:
    seen = {name: 0 for name in STEPS}

    def checkpoint(name: str) -> None:
        seen[name] += 1
        if name == step and seen[name] == occurrence:
            raise Crash(f"{step} #{occurrence}")

    return checkpoint


@pytest.fixture(scope="module", params=SEEDS, ids=lambda seed: f"seed{seed}")
def case(request) -> Scenario:
    return scenario(request.param)


@pytest.fixture(scope="module")
def uncompacted(case, tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The answers of the JSON-only lake, each checked against the reference first."""
    root = tmp_path_factory.mktemp("json-only")
    ingest(case, root, case.lines)
    engine = DuckDBEngine(root, threads=1)
    for check in (against_reference.test_status, against_reference.test_occupancy,
                  against_reference.test_utilization, against_reference.test_patterns,
                  against_reference.test_turnover, against_reference.test_dwell, against_reference.test_health):
        check((case, engine))
    return answers(case, engine)


@pytest.fixture
def lake(case, tmp_path) -> Path:
    ingest(case, tmp_path, case.lines)
    return tmp_path


def test_half_compacted_lake_gives_the_same_answers(case, uncompacted, lake) -> None:
    report = compact(LocalStore(lake), case.day)
    assert report.days and all(d.day < case.day for d in report.days)
    assert json_days(lake) and parquet_files(lake), "some days in each tier"
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(lake, threads=1)))


def test_late_events_count_at_once_and_the_next_run_folds_them_in(case, uncompacted, tmp_path) -> None:
    lines = list(case.lines)
    late = set(random.Random(case.seed).sample(range(len(lines)), k=len(lines) // 4))
    ingest(case, tmp_path, [line for n, line in enumerate(lines) if n not in late])
    compact(LocalStore(tmp_path), EVERYTHING)
    ingest(case, tmp_path, [line for n, line in enumerate(lines) if n in late], partition=1)
    assert json_days(tmp_path), "late events landed as JSON beside compacted days"
    engine = DuckDBEngine(tmp_path, threads=1)
    assert_same_answers(uncompacted, answers(case, engine))

    compact(LocalStore(tmp_path), EVERYTHING)
    assert fully_compacted(tmp_path)
    assert_same_answers(uncompacted, answers(case, engine))


def test_a_redelivered_object_after_compaction_changes_nothing(case, uncompacted, lake) -> None:
    compact(LocalStore(lake), EVERYTHING)
    rows = _rows(lake)
    ingest(case, lake, case.lines)  # the same records again: the same object names
    engine = DuckDBEngine(lake, threads=1)
    assert_same_answers(uncompacted, answers(case, engine))
    compact(LocalStore(lake), EVERYTHING)
    assert _rows(lake) == rows, "folded in once, not twice"
    assert_same_answers(uncompacted, answers(case, engine))


@pytest.mark.parametrize("occurrence", [2])
@pytest.mark.parametrize("step", STEPS)
def test_a_crash_between_any_two_steps_changes_no_answer_and_the_next_run_finishes(
    case, uncompacted, lake, step, occurrence
) -> None:
    compact(LocalStore(lake), case.day)  # a lake with compacted days and JSON days
    ingest(case, lake, case.lines[: len(case.lines) // 3], partition=1)  # late copies of some events
    with pytest.raises(Crash):
        compact(LocalStore(lake), EVERYTHING, checkpoint=crash_at(step, occurrence))
    engine = DuckDBEngine(lake, threads=1)
    assert_same_answers(uncompacted, answers(case, engine))

    compact(LocalStore(lake), EVERYTHING)
    assert fully_compacted(lake)
    assert_same_answers(uncompacted, answers(case, engine))


def test_a_compaction_killed_with_sigkill_is_finished_by_the_next_run(case, uncompacted, lake) -> None:
    script = (
        "import os, signal, sys\n"
        "from datetime import date\n"
        "from parking.lake.compaction.protocol import compact\n"
        "from parking.lake.stores import LocalStore\n"
        "calls = []\n"
        "def checkpoint(step):\n"
        "    calls.append(step)\n"
        "    if len(calls) == 7:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "compact(LocalStore(sys.argv[1]), date(2030, 1, 1), checkpoint=checkpoint)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(lake)], cwd=ROOT, capture_output=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not fully_compacted(lake), "killed half way"
    engine = DuckDBEngine(lake, threads=1)
    assert_same_answers(uncompacted, answers(case, engine))

    compact(LocalStore(lake), EVERYTHING)
    assert fully_compacted(lake)
    assert_same_answers(uncompacted, answers(case, engine))


def test_running_twice_changes_nothing(case, lake) -> None:
    compact(LocalStore(lake), EVERYTHING)
    before = tree(lake)
    report = compact(LocalStore(lake), EVERYTHING)
    assert not report.days and tree(lake) == before


def test_a_compacted_day_turns_back_into_the_objects_it_came_from(lake) -> None:
    originals = {
        p.relative_to(lake / DATA_PREFIX).as_posix(): gzip.decompress(p.read_bytes()).splitlines()
        for p in (lake / DATA_PREFIX).rglob("*.json.gz")
    }
    compact(LocalStore(lake), EVERYTHING)
    restored: dict[str, list[bytes]] = {}
    for path in parquet_files(lake):
        restored.update(source_lines(path))
    assert restored == originals
    sources = lake / COMPACTED_SOURCES_PREFIX
    moved = {p.relative_to(sources).as_posix() for p in sources.rglob("*") if p.is_file()}
    assert moved == set(originals)


@pytest.mark.parametrize("number", ["1e400", "-80241446968629135069", "1" * 400, "1E-400", "-0", "1.50"])
def test_every_number_the_ingester_stores_is_compacted_as_it_was_stored(tmp_path, number) -> None:
    line = b'{"spot_id":"N1","status":"free","timestamp":"2024-03-18T10:00:00Z","n":' + number.encode() + b"}"
    totals = ingest_lines([line], LocalSink(tmp_path), now=datetime(2024, 3, 20, tzinfo=timezone.utc))
    assert totals.stored == 1
    stored = {p.name: gzip.decompress(p.read_bytes()).splitlines() for p in (tmp_path / DATA_PREFIX).rglob("*.json.gz")}
    compact(LocalStore(tmp_path), EVERYTHING)
    [day] = parquet_files(tmp_path)
    assert {key.rsplit("/", 1)[-1]: lines for key, lines in source_lines(day).items()} == stored
    assert number.encode() in next(iter(stored.values()))[0]


def test_a_day_file_is_zstd_parquet_sorted_by_spot_and_time(lake) -> None:
    compact(LocalStore(lake), EVERYTHING)
    for path in parquet_files(lake):
        with duckdb.connect() as connection:
            codecs = {row[0] for row in connection.execute(
                f"SELECT DISTINCT compression FROM parquet_metadata('{path}')").fetchall()}
            described = connection.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}', hive_partitioning = false)")
            columns = [row[0] for row in described.fetchall()]
            order = connection.execute(f"SELECT spot_id, ts_ms FROM read_parquet('{path}')").fetchall()
        assert codecs == {"ZSTD"} and columns == list(PARQUET_COLUMNS)
        assert order == sorted(order)
        assert path.parent.name == f"day={path.name[8:10]}" and not path.name.startswith(("_", "."))


def test_a_line_that_is_not_a_stored_event_stops_its_day_untouched(tmp_path) -> None:
    key = "year=2024/month=03/day=01/hour=10/bad.json.gz"
    path = tmp_path / DATA_PREFIX / key
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b'{"spot_id": "A1", "status": "free"}\n'))
    with pytest.raises(CompactionError, match=r"left where it is: run `parking-cli lake check --repair`"):
        compact(LocalStore(tmp_path), EVERYTHING)
    assert path.exists() and not parquet_files(tmp_path)


def test_hidden_and_unpartitioned_objects_are_not_pending(tmp_path) -> None:
    for key in ("year=2024/month=03/day=01/hour=10/.part.json.gz.tmp", "year=2024/month=03/day=02/hour=10/a.json.gz",
                "loose.json.gz"):
        (tmp_path / DATA_PREFIX / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / DATA_PREFIX / key).write_bytes(b"")
    assert pending_days(LocalStore(tmp_path), EVERYTHING) == [date(2024, 3, 2)]


NOW = datetime(2024, 3, 20, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("lateness", "expected"), [
    (2, date(2024, 3, 18)), (0, date(2024, 3, 20)), (1, date(2024, 3, 19)), (30, date(2024, 2, 19)),
])
def test_a_day_is_closed_once_it_ended_the_lateness_allowance_ago(lateness, expected) -> None:
    assert latest_before(NOW, lateness) == expected
    assert check_before(None, NOW, lateness) == expected


@pytest.mark.parametrize(("before", "allowed"), [
    (date(2024, 3, 18), True), (date(2024, 1, 1), True), (date(2024, 3, 19), False), (date(2025, 1, 1), False),
])
def test_before_may_be_earlier_than_the_allowance_never_later(before, allowed) -> None:
    if allowed:
        assert check_before(before, NOW, 2) == before
    else:
        with pytest.raises(InvalidArgument, match="lateness allowance"):
            check_before(before, NOW, 2)


@pytest.fixture
def cli_now(monkeypatch) -> datetime:
    monkeypatch.setattr("parking.cli.compact.now", lambda: NOW)
    return NOW


def test_cli_refuses_a_later_before_in_one_line_with_exit_2(cli_now, tmp_path) -> None:
    result = CliRunner().invoke(cli, ["compact", "--before", "2024-03-19", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "at most --before 2024-03-18" in result.output


def test_cli_compacts_the_closed_days_of_the_local_lake(cli_now, tmp_path, monkeypatch) -> None:
    lines = [f'{{"spot_id": "A1", "status": "free", "timestamp": "2024-03-{day:02d}T10:00:00Z"}}'.encode()
             for day in (16, 17, 18, 19)]
    ingest_lines(lines, LocalSink(tmp_path), now=NOW)
    monkeypatch.setenv("PARKING_COMPACTION_LATENESS_DAYS", "3")
    result = CliRunner().invoke(cli, ["compact", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "days compacted           1" in result.output and "hours compacted          3" in result.output
    assert "events                   4" in result.output and "objects removed          4" in result.output
    assert not json_days(tmp_path), "the 16th as a day, the other days' closed hours as hour files"
    names = sorted(p.name.rsplit("-", 1)[0] for p in parquet_files(tmp_path))
    assert names == ["2024-03-16", "2024-03-17T10", "2024-03-18T10", "2024-03-19T10"]


def _rows(root: Path) -> int:
    with duckdb.connect() as connection:
        files = f"{root}/{COMPACTED_PREFIX}**/*.parquet"
        return connection.execute(f"SELECT count(*) FROM read_parquet('{files}')").fetchone()[0]


def test_a_compacted_lake_checks_clean(lake) -> None:
    compact(LocalStore(lake), EVERYTHING)
    assert check_compacted(LocalStore(lake)) == []


def test_check_finds_each_kind_of_bad_day_file(lake) -> None:
    compact(LocalStore(lake), EVERYTHING)
    first, second = parquet_files(lake)[:2]
    (first.parent / f"{first.name[:10]}-{'0' * 16}.parquet").write_bytes(second.read_bytes())  # another day's rows
    (second.parent / "by-hand.parquet").write_bytes(b"not parquet")
    problems = {(Path(f.key).name, f.problem) for f in check_compacted(LocalStore(lake))}
    assert problems == {  # two files for a day are healthy (hour files, delayed removals): only what is bad
        (f"{first.name[:10]}-{'0' * 16}.parquet", "misfiled"), ("by-hand.parquet", "foreign"),
    }


def test_lake_check_reads_the_compacted_tier_too(lake) -> None:
    compact(LocalStore(lake), EVERYTHING)
    clean = CliRunner().invoke(cli, ["lake", "check", "--data-dir", str(lake)])
    assert clean.exit_code == 0, clean.output
    assert "not as `compact` writes" in clean.output and ": 0 not as `compact` writes" in clean.output
    first = parquet_files(lake)[0]
    (first.parent / "by-hand.parquet").write_bytes(b"not parquet")
    broken = CliRunner().invoke(cli, ["lake", "check", "--data-dir", str(lake)])
    assert broken.exit_code == 1
    assert "foreign" in broken.stdout and "by-hand.parquet" in broken.stdout
    assert broken.stderr.startswith("Error: ") and len(broken.stderr.splitlines()) == 1


def test_another_table_name_reads_its_own_compacted_table() -> None:
    from parking.analytics.engines import retarget
    from parking.analytics.registry import QUERIES

    sql = retarget(QUERIES["status"].sql, "events_v2")
    assert 'FROM "events_v2"\n' in sql and 'FROM "events_v2_compacted"\n' in sql
    assert "parking_events" not in sql
