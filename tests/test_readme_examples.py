"""The README's examples run as written, in order, and print what the README shows.

Every ``$ parking-cli ...`` line of a console block in README.md is run
verbatim (its comment and any ``|| ...`` cut off), in order, in a fresh
working directory with no ``PARKING_*`` setting and the real clock, as a
newcomer pastes them after ``make demo`` on any date. What the README shows
under a command is compared with what it printed: a table's header exactly,
its rows by shape (a header that counts its rows, by shape; the README shows a sample: at most as many rows as printed,
each like a printed one), and every other line (the ingest summary, the count
line under ``status``, an error) like a printed line. "Like" means equal once
numbers, dates and per-row values (free/occupied, True/False, flags,
weekdays) are masked, since those change with the day the examples run.

The Kafka example runs against the project's Tansu broker, started for the
test, its address put where the README says ``localhost:9092``. The examples
that cannot run here are listed in :data:`NOT_RUN` with why.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"

# (start of the command line, why it is not run here).
NOT_RUN = (
    ("lake replay-failed s3://", "needs the deployed bucket; tests/test_replay.py replays on moto"),
    ("occupancy --date 2024-03-20", "the Athena example (PARKING_ENGINE=athena set above it); "
                                    "tests/test_athena_cli.py runs it on moto"),
    ("serve", "a server that runs until stopped; tests/test_live_api.py and tests/test_live_page.py run it"),
    ("availability --reuse-results", "Athena's result reuse; tests/test_athena_cli.py runs it on moto"),
)
TABLE_COMMANDS = ("status", "occupancy", "utilization", "patterns", "turnover", "dwell", "health", "availability",
                  "overstays", "alerts", "spots show", "forecast")
_VALUES = r"free|occupied|unknown|True|False|silent|stuck|flapping|Mon|Tue|Wed|Thu|Fri|Sat|Sun"


@dataclass
class Example:
    command: str
    shown: list[str] = field(default_factory=list)


def examples() -> list[Example]:
    """Every parking-cli line of the README's console blocks, in order, with the lines shown under it."""
    found: list[Example] = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL):
        current: Example | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = None
                command = re.match(r"\$ parking-cli (.*?)(?:\s+#.*|\s+\|\|.*)?$", line)
                if command:
                    current = Example(command.group(1))
                    found.append(current)
            elif current is not None and line.strip():
                current.shown.append(line)
            else:
                current = None
    return found


EXAMPLES = examples()
RUN = [example for example in EXAMPLES if not example.command.startswith(tuple(start for start, _ in NOT_RUN))]


def masked(line: str) -> str:
    """A line with what changes from day to day replaced by placeholders, white space folded."""
    line = re.sub(r"[0-9][0-9,.:%]*(?:[T-][0-9][0-9,.:%+-]*Z?)*", "0", line)
    line = re.sub(rf"\b(?:{_VALUES})\b", "V", line)
    return " ".join(line.split())


def test_the_readme_runs_examples_of_every_kind() -> None:
    assert len(RUN) >= 25, [example.command for example in RUN]
    assert sum(bool(example.shown) for example in RUN) >= 15


def test_every_example_not_run_is_still_in_the_readme() -> None:
    for start, _ in NOT_RUN:
        assert any(example.command.startswith(start) for example in EXAMPLES), start


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[int, list[str]]]:
    """Each example's exit code and printed lines, run in order in one fresh directory."""
    import os

    from scripts.tansu_broker import create_topic, spawn, stop

    broker, bootstrap = spawn()
    create_topic(bootstrap, "parking-events")
    work = tmp_path_factory.mktemp("newcomer")
    environment = {name: None for name in os.environ if name.startswith("PARKING_")}
    runner = CliRunner(env=environment)
    results: dict[int, tuple[int, list[str]]] = {}
    before = Path.cwd()
    os.chdir(work)
    try:
        for number, example in enumerate(RUN):
            command = example.command.replace("localhost:9092", bootstrap)
            result = runner.invoke(main.cli, shlex.split(command))
            results[number] = (result.exit_code, result.output.splitlines())
    finally:
        os.chdir(before)
        stop(broker)
    return results


@pytest.mark.parametrize("number", range(len(RUN)), ids=[example.command for example in RUN])
def test_a_readme_example_prints_what_the_readme_shows(printed, number: int) -> None:
    example = RUN[number]
    code, lines = printed[number]
    fails = bool(example.shown) and example.shown[0].startswith("Error:")
    assert code in ((1, 2) if fails else (0, 3)), lines  # 3: alerts found a zone at the threshold
    if not example.shown:
        return
    if example.command.startswith(TABLE_COMMANDS) and code in (0, 3):
        header, *rows = lines
        assert masked(header) == masked(example.shown[0])  # a list's header may carry its count
        shape = {len(row.split()) for row in rows}
        table_rows = [line for line in example.shown[1:] if len(line.split()) in shape]
        assert len(table_rows) <= len(rows)
        others = [line for line in example.shown[1:] if len(line.split()) not in shape]
    else:
        others = example.shown
    printed_shapes = {masked(line) for line in lines}
    for line in others:
        assert masked(line) in printed_shapes, (line, lines)
