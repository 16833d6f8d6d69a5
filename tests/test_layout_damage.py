"""A local query does not answer from a lake whose folders show it damaged (issue 23, README "Two tiers").

Two kinds are seen without opening a file: a compacted day whose kept
sources exist but whose day file is gone, and a file in a place the layout
never uses (which no query reads). Each fails every query with one line
naming it and the repair; after `lake check --repair` every answer is the
uncompacted lake's again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking.analytics import lake_layout
from parking.analytics.engines import DuckDBEngine, layout_damage
from parking.cli.main import cli
from parking.errors import QueryError
from parking.lake.compaction.protocol import compact
from parking.lake.stores import LocalStore
from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX, DATA_PREFIX
from tests.scenarios import Scenario, scenario
from tests.test_compaction import answers, assert_same_answers, ingest, parquet_files
from tests.test_compaction import uncompacted as uncompacted  # noqa: F401  (the fixture)

Damage = Callable[[Path], Path]


@pytest.fixture(scope="module")
def case() -> Scenario:
    return scenario(2)


@pytest.fixture(scope="module")
def compacted_source(case, tmp_path_factory) -> Path:
    """Compacted by day but for its last day, whose first 12 hours are compacted by hour (the rest stays JSON)."""
    root = tmp_path_factory.mktemp("compacted")
    ingest(case, root, case.lines)
    days = sorted({p.parents[1] for p in (root / DATA_PREFIX).rglob("*.json.gz")})
    last = days[-1]
    year, month, day = (int(part.name.split("=")[1]) for part in (last.parents[1], last.parent, last))
    compact(LocalStore(root), date(year, month, day), hours_before=datetime(year, month, day, 12, tzinfo=timezone.utc))
    assert parquet_files(root) and _hour_files(root)
    return root


def _hour_files(root: Path) -> list[Path]:
    return sorted(path for path in parquet_files(root) if "T" in path.name)


@pytest.fixture
def lake(compacted_source, tmp_path) -> Path:
    copy = tmp_path / "lake"
    shutil.copytree(compacted_source, copy)
    return copy


def _day_file_deleted(root: Path) -> Path:
    day_files = [path for path in parquet_files(root) if "T" not in path.name]
    day_file = day_files[len(day_files) // 2]
    day_file.unlink()
    return day_file.parent


def _hour_file_deleted(root: Path) -> Path:
    hour_files = _hour_files(root)
    hour_file = hour_files[len(hour_files) // 2]
    hour_file.unlink()
    return hour_file.parent


def _moved_below_an_hour(prefix: str) -> Damage:
    def damage(root: Path) -> Path:
        objects = sorted((root / prefix).rglob("*.json.gz"))
        source = objects[len(objects) // 2]
        target = source.parent / "sub" / source.name
        target.parent.mkdir()
        source.rename(target)
        return target
    return damage


def _beside_the_years(root: Path) -> Path:
    [source, *_] = sorted((root / DATA_PREFIX).rglob("*.json.gz"))
    target = root / DATA_PREFIX / "stray.json.gz"
    source.rename(target)
    return target


def _day_file_in_an_hour_folder(root: Path) -> Path:
    day_file = parquet_files(root)[0]
    target = day_file.parent / "hour=10" / day_file.name
    target.parent.mkdir()
    day_file.rename(target)
    return target


def _beside_the_months(prefix: str) -> Damage:
    def damage(root: Path) -> Path:
        [source, *_] = sorted((root / prefix).rglob("*.json.gz"))
        year = source.relative_to(root / prefix).parts[0]
        target = root / prefix / year / source.name
        source.rename(target)
        return target
    return damage


def _in_a_misnamed_month(root: Path) -> Path:
    [source, *_] = sorted((root / DATA_PREFIX).rglob("*.json.gz"))
    year, _, day, hour = source.relative_to(root / DATA_PREFIX).parts[:4]
    target = root / DATA_PREFIX / year / "month=13" / day / hour / source.name
    target.parent.mkdir(parents=True)
    source.rename(target)
    return target


def _in_a_folder_named(prefix: str, level: int, name: str) -> Damage:
    """A file of ``prefix`` moved into a folder ``name`` in place of its folder at ``level`` (0: year ... 3: hour)."""
    def damage(root: Path) -> Path:
        pattern = "*.parquet" if prefix == COMPACTED_PREFIX else "*.json.gz"
        [source, *_] = sorted((root / prefix).rglob(pattern))
        parts = list(source.relative_to(root / prefix).parts)
        parts[level] = name
        target = root / prefix / Path(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)
        return target
    return damage


# Folders named with other scripts' digits, which Python's \d matched (DuckDB then read 'hour=1\u0663' as an hour
# no query asks for, and its events were silently left out): (what, prefix, level, folder name).
FOREIGN_DIGITS = [
    ("a JSON object in hour=1\u0663 (Arabic-Indic three)", DATA_PREFIX, 3, "hour=1\u0663"),
    ("a JSON object in hour=0\uff13 (fullwidth three)", DATA_PREFIX, 3, "hour=0\uff13"),
    ("a JSON object in day=1\u096b (Devanagari five)", DATA_PREFIX, 2, "day=1\u096b"),
    ("a JSON object in month=\uff10\uff11 (fullwidth)", DATA_PREFIX, 1, "month=\uff10\uff11"),
    ("a JSON object in year=20\u0968\u096a", DATA_PREFIX, 0, "year=20\u0968\u096a"),
    ("a kept source in hour=1\u0663", COMPACTED_SOURCES_PREFIX, 3, "hour=1\u0663"),
    ("a day file in day=2\u0661", COMPACTED_PREFIX, 2, "day=2\u0661"),
]

DAMAGES = [
    ("a day file deleted", _day_file_deleted, "has no day file, though that day's kept sources exist"),
    ("an hour file deleted", _hour_file_deleted, "has no file holding hour "),
    ("a JSON object moved into hour=HH/sub/", _moved_below_an_hour(DATA_PREFIX), "is a file where the lake's layout"),
    ("a kept source moved into hour=HH/sub/", _moved_below_an_hour(COMPACTED_SOURCES_PREFIX),
     "is a file where the lake's layout"),
    ("a JSON object beside the year folders", _beside_the_years, "is a file where the lake's layout"),
    ("a day file moved into an hour folder", _day_file_in_an_hour_folder, "is a file where the lake's layout"),
    ("a JSON object beside the month folders", _beside_the_months(DATA_PREFIX), "is a file where the lake's layout"),
    ("a kept source beside the month folders", _beside_the_months(COMPACTED_SOURCES_PREFIX),
     "is a file where the lake's layout"),
    ("a JSON object in a month=13 folder", _in_a_misnamed_month, "is a file where the lake's layout"),
    *[(what, _in_a_folder_named(prefix, level, name), "is a file where the lake's layout")
      for what, prefix, level, name in FOREIGN_DIGITS],
]
IDS = [d[0] for d in DAMAGES]


def test_an_undamaged_lake_has_no_layout_damage(lake: Path) -> None:
    assert layout_damage(lake) is None


@pytest.mark.parametrize(("damage", "said"), [d[1:] for d in DAMAGES], ids=IDS)
def test_every_query_fails_naming_the_damage_and_the_repair(case, lake: Path, damage: Damage, said: str) -> None:
    where = damage(lake)
    engine = DuckDBEngine(lake, threads=1)
    for name in ("status", "occupancy", "utilization", "health"):
        with pytest.raises(QueryError) as raised:
            answers(case, engine, only=name)
        message = str(raised.value)
        assert "\n" not in message
        assert message.startswith(f"the lake is damaged: {where}")
        assert said in message
        assert message.endswith("; run `parking-cli lake check --repair`")


@pytest.mark.parametrize(("damage", "said"), [d[1:] for d in DAMAGES], ids=IDS)
def test_the_cli_says_it_in_one_line_and_exits_1(lake: Path, damage: Damage, said: str) -> None:
    damage(lake)
    result = CliRunner().invoke(cli, ["health", "--data-dir", str(lake)])  # (status now reads the state table)
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: the lake is damaged: ") and said in line


@pytest.mark.parametrize("damage", [d[1] for d in DAMAGES], ids=IDS)
def test_after_the_repair_every_answer_is_the_uncompacted_lakes(case, uncompacted, lake: Path,  # noqa: F811
                                                                 damage: Damage) -> None:
    damage(lake)
    repaired = CliRunner().invoke(cli, ["lake", "check", "--repair", "--data-dir", str(lake)])
    assert repaired.exit_code == 0, repaired.output
    assert layout_damage(lake) is None
    assert_same_answers(uncompacted, answers(case, DuckDBEngine(lake, threads=1)))


@pytest.mark.parametrize("damage", [None] + [d[1] for d in DAMAGES], ids=["undamaged", *IDS])
def test_a_file_system_that_counts_no_subfolders_gets_the_same_finding(lake: Path, damage: Damage | None,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a folder's link count does not show its subfolders (btrfs), every entry is looked at instead."""
    if damage is not None:
        damage(lake)
    found = layout_damage(lake)
    monkeypatch.setattr(lake_layout, "_has_no_subfolder", lambda folder: False)
    assert layout_damage(lake) == found


def test_a_kept_sources_hour_with_only_hidden_names_holds_no_kept_source(lake: Path) -> None:
    """An hour folder of hidden names only is no hour of kept sources (so no file need hold it)."""
    folder = lake / COMPACTED_SOURCES_PREFIX / "year=2000/month=01/day=01/hour=00"
    folder.mkdir(parents=True)
    (folder / ".partial").write_bytes(b"x")
    assert layout_damage(lake) is None
    (folder / "object.json.gz").write_bytes(b"x")
    assert "has no day file" in (layout_damage(lake) or "")


def test_hidden_names_are_not_damage(lake: Path) -> None:
    [first, *_] = parquet_files(lake)
    (first.parent / "._AppleDouble").write_bytes(b"x")
    (lake / COMPACTED_PREFIX / ".hidden").mkdir()
    (lake / COMPACTED_PREFIX / ".hidden" / "x.parquet").write_bytes(b"x")
    assert layout_damage(lake) is None
