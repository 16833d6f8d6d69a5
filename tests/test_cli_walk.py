"""Every parking-cli command, found by walking the group, with the group's options before its name.

Each answers ``--help`` after ``--data-dir X --format csv --lookback 5``, and
a cheap real run shows the group's ``--data-dir`` reaching it: a command that
reads the lake names the group's directory when it is missing, one that
writes writes there. A new command must be added to :data:`RUNS` (or to
:data:`NOT_RUN`, saying why).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking.cli.help import commands
from parking.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
GROUP = ("--format", "csv", "--lookback", "5")
PATHS = [path for path, _ in commands(cli) if path]
MISSING = "data directory {lake!r} does not exist"

#: A cheap run per command: its arguments, and what shows that the group's --data-dir reached it.
RUNS: dict[str, tuple[list[str], str]] = {
    **{name: ([], MISSING) for name in ("status", "health", "availability", "overstays", "alerts", "forecast",
                                         "forecast backtest", "lake check", "compact", "spots show")},
    "occupancy": (["--date", "2024-03-20"], MISSING),
    **{name: (["--from", "2024-03-18", "--to", "2024-03-20"], MISSING)
       for name in ("utilization", "patterns", "turnover", "dwell")},
    "plot patterns": (["--from", "2024-03-18", "--to", "2024-03-20", "--out", "{tmp}/p.png"], MISSING),
    "plot occupancy": (["--date", "2024-03-20", "--out", "{tmp}/o.png"], MISSING),
    "plot availability": (["--out", "{tmp}/a.png"], MISSING),
    "report": (["--from", "2024-03-18", "--to", "2024-03-20", "--out", "{tmp}/r.html"], MISSING),
    "serve": (["--port", "0"], MISSING),  # the lake is checked before a server starts
    "ingest": (["{tmp}/events.jsonl"], "ingested into {lake}/"),
    "replay": ([], "replayed into {lake}/"),
    "spots load": (["{tmp}/spots.csv"], "into {lake}"),
    "lake replay-failed": (["{tmp}/failed.json"], "into {lake}/"),
}
NOT_RUN = {
    "plot": "a group: its commands are run",
    "spots": "a group: its commands are run",
    "lake": "a group: its commands are run",
    "simulate": "reads no lake: it writes events to a file or Kafka",
    "consume": "needs a Kafka broker (tests/test_kafka*.py run it)",
}


def test_every_command_is_run_or_says_why_not() -> None:
    assert sorted(PATHS) == sorted([*RUNS, *NOT_RUN])


@pytest.mark.parametrize("path", PATHS)
def test_each_command_answers_help_after_the_group_options(path: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), *GROUP, *path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: cli {path} ")


@pytest.mark.parametrize("path", sorted(RUNS))
def test_the_group_data_dir_reaches_each_command(path: str, tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text(
        json.dumps({"spot_id": "A1", "status": "free", "timestamp": "2024-03-20T08:00:00Z"}) + "\n")
    (tmp_path / "spots.csv").write_text("spot_id,zone\nA1,north\n")
    (tmp_path / "failed.json").write_text(json.dumps({"eventSource": "aws:kafka", "records": {}}))
    args, expected = RUNS[path]
    lake = str(tmp_path / "lake")
    if expected != MISSING:
        (tmp_path / "lake").mkdir()
    filled = [arg.format(tmp=tmp_path) for arg in args]
    result = CliRunner().invoke(cli, ["--data-dir", lake, *GROUP, *path.split(), *filled])
    assert expected.format(lake=lake) in result.output, result.output
    assert result.exit_code == (2 if expected == MISSING else 0), result.output


@pytest.mark.parametrize("module", sorted(path.name for path in (ROOT / "cli").glob("*.py") if path.name != "main.py"))
def test_no_command_module_imports_the_group_back(module: str) -> None:
    """The group's module lists the commands; none reaches back into it (no hidden import circle)."""
    tree = ast.parse((ROOT / "cli" / module).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {f"parking.cli.{alias.name}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module == "parking.cli" for alias in node.names}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "parking.cli.main" not in imported
