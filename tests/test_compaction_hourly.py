"""Hourly compaction and delayed removals keep every answer exact, at every step, on disk.

The scenarios of tests/test_compaction.py, compacted hour by hour (with and
without a removal delay, cut short after each step, with late and redelivered
events) and then by day: every named query must return exactly the frame it
returned on the JSON-only lake. Time is injected: ``now`` is passed to each
run, and a delay "passes" by passing a later ``now`` (files carry their real
write time, which a later ``now`` leaves behind).

Each scenario keeps its edge spots, whose events lie on hour, day and window
boundaries, and one ordinary spot (65-74 hours, not 118-127): what these tests
check is how the hours are folded, cut short and removed, which each hour
object exercises alike; the metrics' rules on every spot are
tests/test_compaction.py's.
"""

from __future__ import annotations

import random
import re
import shutil
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from parking.analytics.engines import DuckDBEngine
from parking.cli.main import cli
from parking.config import Settings
from parking.errors import CompactionError, ConfigurationError, InvalidArgument
from parking.lake.compaction.dayfiles import file_hour, folder
from parking.lake.compaction.protocol import STEPS, compact
from parking.lake.compaction.schedule import DAY_LISTING_HOURS, kept_copies, latest_hour_before, pending_hours, unfolded
from parking.lake.compaction.tier_check import check_compacted
from parking.lake.stores import Listed, LocalStore
from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX, DATA_PREFIX
from tests.scenarios import Scenario, scenario
from tests.test_compaction import (
    EVERYTHING,
    Crash,
    answers,
    assert_same_answers,
    crash_at,
    fully_compacted,
    ingest,
    json_days,
    parquet_files,
)
from tests.test_compaction import uncompacted as uncompacted  # noqa: F401  (the fixture)

ALL_HOURS = datetime(2030, 1, 1, tzinfo=timezone.utc)  # every scenario hour is closed before it
DELAY = timedelta(minutes=60)


def wall() -> datetime:
    """Now by the clock the files' write times come from."""
    return datetime.now(timezone.utc)


@pytest.fixture(scope="module", params=[0, 2], ids=lambda seed: f"seed{seed}")
def case(request) -> Scenario:
    return scenario(request.param).with_ordinary_spots(1)


@pytest.fixture
def lake(case, tmp_path) -> Path:
    ingest(case, tmp_path, case.lines)
    return tmp_path


def json_objects(root: Path) -> set[str]:
    return {p.relative_to(root / DATA_PREFIX).as_posix() for p in (root / DATA_PREFIX).rglob("*.json.gz")}


def kept_objects(root: Path) -> set[str]:
    base = root / COMPACTED_SOURCES_PREFIX
    return {p.relative_to(base).as_posix() for p in base.rglob("*.json.gz")}


def hour_files(root: Path) -> list[Path]:
    return [p for p in parquet_files(root) if file_hour(p.relative_to(root).as_posix()) is not None]


def rows(paths: list[Path]) -> int:
    if not paths:
        return 0
    with duckdb.connect() as connection:
        listed = ", ".join(f"'{p}'" for p in paths)
        return connection.execute(f"SELECT count(*) FROM read_parquet([{listed}])").fetchone()[0]


@pytest.mark.parametrize(("now", "lateness", "expected"), [
    (datetime(2024, 3, 20, 12, 9, tzinfo=timezone.utc), 10, datetime(2024, 3, 20, 11, tzinfo=timezone.utc)),
    (datetime(2024, 3, 20, 12, 10, tzinfo=timezone.utc), 10, datetime(2024, 3, 20, 12, tzinfo=timezone.utc)),
    (datetime(2024, 3, 20, 12, 0, tzinfo=timezone.utc), 0, datetime(2024, 3, 20, 12, tzinfo=timezone.utc)),
    (datetime(2024, 3, 20, 0, 5, tzinfo=timezone.utc), 10, datetime(2024, 3, 19, 23, tzinfo=timezone.utc)),
    (datetime(2024, 3, 1, 0, 30, tzinfo=timezone.utc), 1440, datetime(2024, 2, 29, 0, tzinfo=timezone.utc)),
])
def test_an_hour_is_closed_once_it_ended_the_lateness_ago(now, lateness, expected) -> None:
    assert latest_hour_before(now, lateness) == expected


def test_a_naive_now_or_a_broken_hour_is_refused(tmp_path) -> None:
    with pytest.raises(InvalidArgument):
        latest_hour_before(datetime(2024, 3, 20, 12), 10)
    with pytest.raises(InvalidArgument, match="whole UTC hour"):
        compact(LocalStore(tmp_path), None, hours_before=datetime(2024, 3, 20, 12, 30, tzinfo=timezone.utc))


@pytest.mark.parametrize(("variable", "value", "accepted"), [
    ("PARKING_COMPACTION_HOUR_LATENESS_MINUTES", "0", True), ("PARKING_COMPACTION_HOUR_LATENESS_MINUTES", "1440", True),
    ("PARKING_COMPACTION_HOUR_LATENESS_MINUTES", "-1", False), ("PARKING_COMPACTION_HOUR_LATENESS_MINUTES", "1441", False),
    ("PARKING_COMPACTION_HOUR_LATENESS_MINUTES", "ten", False), ("PARKING_COMPACTION_REMOVAL_DELAY_MINUTES", "0", True),
    ("PARKING_COMPACTION_REMOVAL_DELAY_MINUTES", "-5", False), ("PARKING_COMPACTION_REMOVAL_DELAY_MINUTES", "1.5", False),
])
def test_the_compaction_settings_are_validated(variable, value, accepted) -> None:
    if accepted:
        Settings.from_env({variable: value})
    else:
        with pytest.raises(ConfigurationError, match=variable):
            Settings.from_env({variable: value})


@pytest.mark.parametrize(("env", "on_s3", "minutes"), [
    ({}, True, 60), ({}, False, 0), ({"PARKING_COMPACTION_REMOVAL_DELAY_MINUTES": "5"}, False, 5),
    ({"PARKING_COMPACTION_REMOVAL_DELAY_MINUTES": "0"}, True, 0),
])
def test_the_removal_delay_defaults_to_longer_than_athena_runs_on_a_bucket(env, on_s3, minutes) -> None:
    settings = Settings.from_env(env)
    assert settings.compaction_hour_lateness_minutes == 10
    assert settings.removal_delay(on_s3) == timedelta(minutes=minutes)


def test_hourly_then_daily_compaction_gives_the_same_answers(case, uncompacted, lake) -> None:  # noqa: F811
    engine = DuckDBEngine(lake, threads=1)
    hours = pending_hours(LocalStore(lake), ALL_HOURS)
    middle = hours[len(hours) // 2]
    report = compact(LocalStore(lake), None, hours_before=middle)
    assert report.as_dict()["hours_compacted"] == len([h for h in hours if h < middle]) == len(hour_files(lake)) > 0
    assert pending_hours(LocalStore(lake), ALL_HOURS) == [h for h in hours if h >= middle], "the open hours left"
    assert_same_answers(uncompacted, answers(case, engine))

    compact(LocalStore(lake), None, hours_before=ALL_HOURS)
    assert not json_objects(lake) and len(hour_files(lake)) == len(hours), "one file an hour"
    assert rows(parquet_files(lake)) == len(case.lines)
    assert check_compacted(LocalStore(lake)) == []
    assert_same_answers(uncompacted, answers(case, engine))

    report = compact(LocalStore(lake), EVERYTHING)  # the daily run folds the day's hour files
    assert report.as_dict()["days_compacted"] == len({h.date() for h in hours})
    assert not hour_files(lake) and fully_compacted(lake)
    days = [p.parent for p in parquet_files(lake)]
    assert len(days) == len(set(days)) == len({h.date() for h in hours})
    assert_same_answers(uncompacted, answers(case, engine))


def test_removals_wait_for_the_delay_and_answers_never_change(case, uncompacted, lake) -> None:  # noqa: F811
    engine = DuckDBEngine(lake, threads=1)
    landed = json_objects(lake)
    started = wall()
    compact(LocalStore(lake), None, hours_before=ALL_HOURS, removal_delay=DELAY, now=started)
    assert json_objects(lake) == landed == kept_objects(lake), "kept at once, removed later"
    assert unfolded(LocalStore(lake)) == [] and pending_hours(LocalStore(lake), ALL_HOURS) == []
    assert check_compacted(LocalStore(lake)) == []
    assert CliRunner().invoke(cli, ["lake", "check", "--data-dir", str(lake)]).exit_code == 0
    assert_same_answers(uncompacted, answers(case, engine))

    report = compact(LocalStore(lake), EVERYTHING, removal_delay=DELAY, now=started + DELAY - timedelta(minutes=1))
    assert report.removed.objects == 0 and json_objects(lake) == landed, "not before the delay"
    assert hour_files(lake), "the hour files stay too: the day files are newer than the delay"
    assert_same_answers(uncompacted, answers(case, engine))

    report = compact(LocalStore(lake), EVERYTHING, removal_delay=DELAY, now=wall() + DELAY + timedelta(minutes=1))
    assert report.removed.objects == len(landed) and not json_objects(lake) and kept_objects(lake) == landed
    assert report.removed.files > 0 and not hour_files(lake), "each held by its day file"
    days = [p.parent for p in parquet_files(lake)]
    assert len(days) == len(set(days))
    assert check_compacted(LocalStore(lake)) == []
    assert_same_answers(uncompacted, answers(case, engine))


def test_a_late_event_is_folded_by_the_next_run_and_its_old_hour_file_removed_after_the_delay(case, uncompacted,  # noqa: F811
                                                                                           tmp_path) -> None:
    lines = list(case.lines)
    late = set(random.Random(case.seed).sample(range(len(lines)), k=len(lines) // 4))
    ingest(case, tmp_path, [line for n, line in enumerate(lines) if n not in late])
    compact(LocalStore(tmp_path), None, hours_before=ALL_HOURS, removal_delay=DELAY, now=wall())
    first = set(hour_files(tmp_path))
    ingest(case, tmp_path, [line for n, line in enumerate(lines) if n in late], partition=1)
    engine = DuckDBEngine(tmp_path, threads=1)
    assert_same_answers(uncompacted, answers(case, engine))  # counted at once, from the JSON

    compact(LocalStore(tmp_path), None, hours_before=ALL_HOURS, removal_delay=DELAY, now=wall())
    assert unfolded(LocalStore(tmp_path)) == []
    second = set(hour_files(tmp_path))
    assert first < second, "the replaced hour files wait for the delay beside their hours' new files"
    assert_same_answers(uncompacted, answers(case, engine))

    compact(LocalStore(tmp_path), None, hours_before=ALL_HOURS, removal_delay=DELAY, now=wall() + 2 * DELAY)
    assert second - first <= set(hour_files(tmp_path)) < second and not json_objects(tmp_path)
    by_hour = [(p.parent, file_hour(p.relative_to(tmp_path).as_posix())) for p in hour_files(tmp_path)]
    assert len(by_hour) == len(set(by_hour)), "one file an hour again"
    assert rows(hour_files(tmp_path)) == len(lines)
    assert_same_answers(uncompacted, answers(case, engine))


def test_a_redelivered_object_is_not_folded_twice(case, uncompacted, lake) -> None:  # noqa: F811
    compact(LocalStore(lake), None, hours_before=ALL_HOURS)
    files = set(hour_files(lake))
    ingest(case, lake, case.lines)  # the same records again: the same names, already kept
    assert pending_hours(LocalStore(lake), ALL_HOURS) == []
    compact(LocalStore(lake), None, hours_before=ALL_HOURS)
    assert set(hour_files(lake)) == files and not json_objects(lake)
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(lake, threads=1)))


@pytest.fixture(scope="module")
def folded_then_late(case, delay, tmp_path_factory) -> Path:
    """Where each run of the crash matrix starts, made once per scenario and removal mode (each test runs on a
    copy): every hour folded, then late copies of a third of the events landed."""
    root = tmp_path_factory.mktemp("folded-then-late")
    ingest(case, root, case.lines)
    compact(LocalStore(root), None, hours_before=ALL_HOURS, removal_delay=delay, now=wall())
    ingest(case, root, case.lines[: len(case.lines) // 3], partition=1)  # late copies of some events
    return root


# Each removal mode on one of the two scenarios (every step of each): the crash matrix need not be squared.
# Module-scoped like the fixture it overrides, so each scenario's answers are built once, not once a step.
@pytest.mark.parametrize(("case", "delay"), [(0, timedelta(0)), (2, DELAY)], ids=["seed0-at-once", "seed2-delayed"],
                         indirect=["case"], scope="module")
@pytest.mark.parametrize("step", STEPS)
def test_an_hourly_run_cut_short_after_any_step_changes_no_answer(case, uncompacted, folded_then_late, tmp_path,  # noqa: F811
                                                                  step, delay) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(folded_then_late, lake)  # newer files than the original's: `later` passes the delay for them too
    later = wall() + 2 * delay
    try:  # a step the delayed run never reaches in its folds is reached by its removals
        compact(LocalStore(lake), EVERYTHING, hours_before=ALL_HOURS, removal_delay=delay, now=later,
                checkpoint=crash_at(step, 2))
    except Crash:
        pass
    engine = DuckDBEngine(lake, threads=1)
    assert_same_answers(uncompacted, answers(case, engine))
    assert check_compacted(LocalStore(lake)) == []

    compact(LocalStore(lake), EVERYTHING, hours_before=ALL_HOURS, removal_delay=delay, now=wall() + 2 * delay)
    compact(LocalStore(lake), EVERYTHING, hours_before=ALL_HOURS, removal_delay=delay, now=wall() + 4 * delay)
    assert not json_objects(lake) and not hour_files(lake)
    days = [p.parent for p in parquet_files(lake)]
    assert len(days) == len(set(days))
    assert_same_answers(uncompacted, answers(case, engine))


def test_random_runs_of_both_grains_keep_every_answer(case, uncompacted, tmp_path) -> None:  # noqa: F811
    """Batches of events arrive in any order while hourly and daily runs (some cut short) go on."""
    rng = random.Random(case.seed + 100)
    lines = list(case.lines)
    rng.shuffle(lines)
    batches = [lines[n:n + len(lines) // 5 + 1] for n in range(0, len(lines), len(lines) // 5 + 1)]
    hours = sorted({h for h in pending_hours(_ingested(case, tmp_path / "probe"), ALL_HOURS)})
    clock = wall()
    for number, batch in enumerate(batches):
        ingest(case, tmp_path, batch, partition=number)
        clock += timedelta(minutes=rng.choice((10, 30, 70)))
        hours_before = rng.choice(hours + [ALL_HOURS])
        before = rng.choice([None, hours_before.date(), EVERYTHING])
        checkpoint = crash_at(rng.choice(STEPS), 1) if rng.random() < 0.4 else None
        try:
            compact(LocalStore(tmp_path), before, hours_before=hours_before, removal_delay=DELAY, now=clock,
                    checkpoint=checkpoint)
        except Crash:
            pass
        assert check_compacted(LocalStore(tmp_path)) == []
    engine = DuckDBEngine(tmp_path, threads=1)
    assert_same_answers(uncompacted, answers(case, engine))
    for hop in (1, 2, 3):
        compact(LocalStore(tmp_path), EVERYTHING, hours_before=ALL_HOURS, removal_delay=DELAY, now=clock + hop * DELAY * 2)
    assert not json_objects(tmp_path) and not hour_files(tmp_path)
    assert_same_answers(uncompacted, answers(case, engine))


def _ingested(case: Scenario, root: Path) -> LocalStore:
    ingest(case, root, case.lines)
    return LocalStore(root)


def test_an_hour_file_with_another_hours_events_is_misfiled(lake) -> None:
    compact(LocalStore(lake), None, hours_before=ALL_HOURS)
    first = hour_files(lake)[0]
    wrong = first.parent / f"{first.name[:11]}{(file_hour(first.relative_to(lake).as_posix()) + 1) % 24:02d}-{'0' * 16}.parquet"
    assert not wrong.exists()
    wrong.write_bytes(first.read_bytes())  # the rows of one hour under the next hour's name
    found = {(Path(f.key).name, f.problem) for f in check_compacted(LocalStore(lake))}
    assert (wrong.name, "misfiled") in found


class CountingStore(LocalStore):
    """A local store that counts the fetches of each key (a check or a fold reads a compacted file so) and the
    listings of each prefix (on S3 a request each)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.fetched: Counter[str] = Counter()
        self.listed: Counter[str] = Counter()

    def fetch(self, key: str, workdir: Path) -> Path:
        self.fetched[key] += 1
        return super().fetch(key, workdir)

    def listing(self, prefix: str) -> dict[str, Listed]:
        self.listed[prefix] += 1
        return super().listing(prefix)


@pytest.mark.parametrize(("hours", "listings"), [(1, 1), (2, 2), (DAY_LISTING_HOURS - 1, DAY_LISTING_HOURS - 1),
                                                 (DAY_LISTING_HOURS, 1), (24, 1)])
def test_kept_copies_are_listed_hour_by_hour_for_a_few_hours_and_whole_for_a_backlog_day(
    tmp_path, hours, listings
) -> None:
    """The same copies found either way: those of the listed objects, of their size; not the day's other hours'."""
    store = CountingStore(tmp_path)
    for hour in range(24):
        key = f"year=2024/month=03/day=01/hour={hour:02d}/a.json.gz"
        if hour < hours:
            (tmp_path / DATA_PREFIX / key).parent.mkdir(parents=True)
            (tmp_path / DATA_PREFIX / key).write_bytes(b"x" * 10)
        (tmp_path / COMPACTED_SOURCES_PREFIX / key).parent.mkdir(parents=True)
        (tmp_path / COMPACTED_SOURCES_PREFIX / key).write_bytes(b"x" * (10 if hour != 1 else 11))  # hour 1: not a copy
    kept = kept_copies(store, store.listing(DATA_PREFIX), DATA_PREFIX)
    assert sorted(kept) == [f"{DATA_PREFIX}year=2024/month=03/day=01/hour={hour:02d}/a.json.gz"
                            for hour in range(hours) if hour != 1]
    assert sum(n for prefix, n in store.listed.items() if prefix.startswith(COMPACTED_SOURCES_PREFIX)) == listings


@pytest.fixture
def backlog(tmp_path) -> Path:
    """A lake of one scenario, not compacted yet: how a run reads files is the same for every scenario."""
    case = scenario(0).with_ordinary_spots(1)
    ingest(case, tmp_path, case.lines)
    return tmp_path


def test_a_run_over_a_backlog_reads_each_compacted_file_once_by_either_grain(backlog) -> None:
    """Each hour checks every file of its day's folder, and a day folds the files it checked: a run remembers
    what it found clean (not up to 23 reads of a file), and a fold reads the copy its check read."""
    store = CountingStore(backlog)
    compact(store, None, hours_before=ALL_HOURS)
    assert store.fetched and max(store.fetched.values()) == 1, store.fetched.most_common(1)
    store.fetched.clear()
    files = {p.relative_to(backlog).as_posix() for p in hour_files(backlog)}
    compact(store, EVERYTHING)  # each day folds its hour files
    assert set(store.fetched) == files and set(store.fetched.values()) == {1}, store.fetched.most_common(1)


def test_a_file_changed_after_the_run_checked_it_is_checked_again(backlog) -> None:
    """What a run remembers as clean is the file as listed: a file damaged meanwhile stops its day's next hours."""
    hours = pending_hours(LocalStore(backlog), ALL_HOURS)
    day = next(d for d in sorted({h.date() for h in hours}) if sum(h.date() == d for h in hours) >= 3)
    day_folder = backlog / folder(day)
    damaged: dict[Path, bytes] = {}

    def damage_the_first_hour_file(step: str) -> None:
        written = sorted(day_folder.glob("*.parquet"))
        if step == "parquet-written" and len(written) == 2 and not damaged:  # the second hour checked the first
            damaged[written[0]] = written[0].read_bytes()[:100]
            written[0].write_bytes(damaged[written[0]])

    with pytest.raises(CompactionError) as caught:
        compact(LocalStore(backlog), None, hours_before=ALL_HOURS, checkpoint=damage_the_first_hour_file)
    [(path, body)] = damaged.items()
    assert str(caught.value).startswith(f"{backlog}/{path.relative_to(backlog).as_posix()}: unreadable (")
    assert path.read_bytes() == body and len(list(day_folder.glob("*.parquet"))) == 2, "the day left as it is"


def test_cli_compact_does_both_grains(lake, case, monkeypatch) -> None:
    now = datetime(2030, 1, 3, tzinfo=timezone.utc)
    monkeypatch.setattr("parking.cli.compact.now", lambda: now)
    days = sorted(json_days(lake))
    year, month, day = (part.split("=")[1] for part in days[len(days) // 2].split("/"))
    result = CliRunner().invoke(cli, ["compact", "--before", f"{year}-{month}-{day}", "--data-dir", str(lake)])
    assert result.exit_code == 0, result.output
    counts = {label: int(number.replace(",", "")) for label, number in
              re.findall(r"^  (\w+(?: \w+)?) +([\d,]+)", result.output, re.MULTILINE)}
    assert counts["days compacted"] > 0 and counts["hours compacted"] > 0
    assert counts["objects removed"] == counts["objects kept"] == len(kept_objects(lake)), "no delay locally"
    assert not json_objects(lake) and hour_files(lake) and check_compacted(LocalStore(lake)) == []
    assert COMPACTED_PREFIX in str(parquet_files(lake)[0])


def test_a_damaged_hour_file_is_rebuilt_by_lake_check_repair(case, uncompacted, lake) -> None:  # noqa: F811
    compact(LocalStore(lake), None, hours_before=ALL_HOURS, removal_delay=DELAY, now=wall())  # removals waiting
    damaged = hour_files(lake)[0]
    damaged.write_bytes(damaged.read_bytes()[:100])
    found = {(f.key, f.problem) for f in check_compacted(LocalStore(lake))}
    assert found == {(damaged.relative_to(lake).as_posix(), "unreadable")}
    repaired = CliRunner().invoke(cli, ["lake", "check", "--repair", "--data-dir", str(lake)])
    assert repaired.exit_code == 0, repaired.output
    assert check_compacted(LocalStore(lake)) == [] and not damaged.exists()
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(lake, threads=1)))


def test_copying_onto_a_kept_hard_link_of_the_same_file_leaves_no_temp_file(tmp_path) -> None:
    """Repair re-keeps objects already kept (a hard link of the same file): rename(2) would leave the temp name."""
    store = LocalStore(tmp_path)
    source = tmp_path / DATA_PREFIX / "year=2024/month=03/day=01/hour=10/a.json.gz"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"x")
    kept = COMPACTED_SOURCES_PREFIX + "year=2024/month=03/day=01/hour=10/a.json.gz"
    for _ in range(2):
        store.copy(f"{DATA_PREFIX}year=2024/month=03/day=01/hour=10/a.json.gz", kept)
    assert sorted(p.name for p in (tmp_path / kept).parent.iterdir()) == ["a.json.gz"]
    assert store.keys(COMPACTED_SOURCES_PREFIX, hidden=True) == [kept]
