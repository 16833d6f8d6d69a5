"""The README's example commands print the columns the README shows.

Each ``$ parking-cli ...`` line of a console block in README.md that is
followed by a table is run (the local engine, a simulated garage with its
spot catalog, the clock set to the morning after the README's last day) and
the header it prints is compared with the README's.
"""

from __future__ import annotations

import re
import shlex
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking.analytics.catalog import CatalogStore, parse
from parking.cli import main
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from parking.simulate import catalog_csv, lines, plan

README = Path(__file__).resolve().parents[1] / "README.md"
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)  # the README's examples were run that morning
SPOTS = 300  # README: a 300-bay garage, levels 0 and 1, six zones
TABLE_COMMANDS = ("status", "occupancy", "utilization", "patterns", "turnover", "dwell", "health", "availability",
                  "overstays", "alerts", "spots show", "forecast")


def examples() -> list[tuple[str, list[str], list[str]]]:
    """(command line, README's header columns, README's rows) for each local example followed by a table.

    An example followed by ``athena ...`` lines shows Athena's progress on stderr, not a table.
    """
    found = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL):
        shown = block.splitlines()
        for number, line in enumerate(shown):
            command = re.match(r"\$ parking-cli (.*?)(?:\s+#.*|\s+\|\|.*)?$", line)
            if not command or not command.group(1).startswith(TABLE_COMMANDS):
                continue
            output = []
            for text in shown[number + 1:]:
                if not text.strip() or text.startswith("$"):
                    break
                output.append(text)
            if output and not output[0].startswith("athena"):
                found.append((command.group(1), output[0].split(), output[1:]))
    return found


EXAMPLES = examples()


def test_the_readme_has_table_examples_to_check() -> None:
    assert len(EXAMPLES) >= 10, EXAMPLES


@pytest.fixture(scope="module")
def garage(tmp_path_factory) -> Path:
    """Two weeks of the README's garage up to NOW, with its catalog loaded."""
    root = tmp_path_factory.mktemp("readme")
    stream = (line.encode() for line in lines(plan(SPOTS, 14, date(2026, 11, 16), now=NOW)))
    ingest_lines(stream, LocalSink(root), now=NOW)
    CatalogStore(root).replace(parse(catalog_csv(SPOTS)))
    return root


def run(garage: Path, command: str) -> list[str]:
    result = CliRunner().invoke(main.cli, ["--data-dir", str(garage), *shlex.split(command)])
    assert result.exit_code in (0, 3), result.output
    return result.stdout.splitlines()


@pytest.mark.parametrize(("command", "header"), [example[:2] for example in EXAMPLES],
                         ids=[example[0] for example in EXAMPLES])
def test_a_readme_example_prints_the_readmes_columns(garage, monkeypatch, command, header) -> None:
    monkeypatch.setattr(main, "clock", lambda: NOW)
    assert run(garage, command)[0].split() == header


def test_spots_show_prints_the_readmes_rows(garage) -> None:
    """The catalog is the simulator's, so its rows are the README's, a bay without a maximum stay shown as -."""
    [(command, _, rows)] = [example for example in EXAMPLES if example[0] == "spots show"]
    printed = {line.split()[0]: line.split() for line in run(garage, command)[1:]}
    assert rows and all(printed[row.split()[0]] == row.split() for row in rows)
