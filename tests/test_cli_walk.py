"""Every parking-cli command, found by walking the group, with the group's options before its name.

Each answers ``--help`` after ``--data-dir X --format csv --lookback 5``, and
a cheap real run shows the group's ``--data-dir`` reaching it: a command that
reads the lake names the group's directory when it is missing, one that
writes writes there. A new command must be added to :data:`RUNS` (or to
:data:`NOT_RUN`, saying why).

Every integer option and argument found on the walk reads plain decimal
digits (:class:`~parking.cli.options.Integer`), every decimal one a number as
people type it (:class:`~parking.cli.options.Number`): a new one that uses
click's INT or FLOAT fails here, and each refuses the spellings below.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from parking.cli.help import commands
from parking.cli.main import cli
from parking.cli.options import Integer, Number

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


@pytest.mark.parametrize("module", sorted(path.name for path in (ROOT / "cli").glob("*.py")
                                           if path.name not in ("main.py", "entry.py")))
def test_no_command_module_imports_the_group_back(module: str) -> None:
    """The group's module lists the commands; none reaches back into it (no hidden import circle). The console
    entry point (entry.py) sits above the group and loads it."""
    tree = ast.parse((ROOT / "cli" / module).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {f"parking.cli.{alias.name}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module == "parking.cli" for alias in node.names}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "parking.cli.main" not in imported


def _numeric(kind: type[click.ParamType]) -> list[Any]:
    """Every parameter of every command (the group's own too) whose click type is a ``kind``, as pytest cases."""
    return [pytest.param(path, command, param, id=f"{path or 'parking-cli'} {param.opts[0]}")
            for path, command in commands(cli) for param in command.params if isinstance(param.type, kind)]


def _no_negatives(param_type: click.ParamType) -> bool:
    return isinstance(param_type, click.IntRange) and param_type.min is not None and param_type.min >= 0


# click.INT, type=int, an int default and click.IntRange are IntParamTypes; FLOAT and FloatRange FloatParamTypes.
INTEGERS = _numeric(click.types.IntParamType)
FLOATS = _numeric(click.types.FloatParamType)
NO_NEGATIVES = [case for case in INTEGERS if _no_negatives(case.values[2].type)]
NOT_DIGITS = "is not a whole number in decimal digits (0-9)"
NOT_DECIMAL = "is not a decimal number like 0.5, 2 or 1e-3"

#: What no integer option takes, and why Python's int() (click's INT) would have.
NOT_INTEGERS = {
    "+3": "a plus sign", " 3": "a space before", "3 ": "a space after", "3\n": "a new line after",
    "1_2": "int() reads 12", "3.0": "a fraction", "3e0": "an exponent", "0x10": "hexadecimal",
    "\u0663": "an Arabic-Indic three", "\uff13": "a fullwidth three", "": "nothing", "--3": "two minus signs",
}
#: What no decimal option takes, and the end of its message.
NOT_DECIMALS = {
    "1_0": NOT_DECIMAL, "0_5": NOT_DECIMAL, " 0.5": NOT_DECIMAL, "0.5 ": NOT_DECIMAL, "0,5": NOT_DECIMAL,
    "0x1p-1": NOT_DECIMAL, "\u0660.\u0665": NOT_DECIMAL, "": NOT_DECIMAL, "nan": "is not a number",
    "NaN": "is not a number", "inf": "is not a finite number", "-inf": "is not a finite number",
    "Infinity": "is not a finite number", "1e309": "is not a finite number",
}
#: Spellings of one half every decimal option takes (0.5 is in each one's range).
HALVES = ["0.5", ".5", "+0.5", "0.50", "00.5", "5e-1", "5E-1"]


def _spelled(path: str, param: click.Parameter, value: str) -> list[str]:
    """A command line giving ``value`` to ``param`` and nothing else of its command."""
    return [*path.split(), *([] if isinstance(param, click.Argument) else [param.opts[0]]), value]


def _refused(path: str, command: click.Command, param: click.Parameter, value: str, tmp_path: Path) -> str:
    """The one error line of a run giving ``param`` the value ``value``, before anything else ran.

    The data directory does not exist, so a run that went past the arguments
    would say so instead (or write nothing there: it stays missing).
    """
    lake = tmp_path / "missing"
    result = CliRunner().invoke(cli, ["--data-dir", str(lake), *_spelled(path, param, value)])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and not lake.exists()
    [line] = result.stderr.splitlines()
    hint = param.get_error_hint(click.Context(command))
    assert line.startswith(f"Error: Invalid value for {hint}: "), line
    return line.removeprefix(f"Error: Invalid value for {hint}: ")


def test_the_walk_finds_the_numeric_options() -> None:
    """The tables below are not empty: the walk reaches the group's options and those of nested commands."""
    integers = {(case.values[0], case.values[2].opts[0]) for case in INTEGERS}
    floats = {(case.values[0], case.values[2].opts[0]) for case in FLOATS}
    assert {("", "--reuse-results"), ("forecast backtest", "--days"), ("serve", "--port"),
            ("consume", "--workers")} <= integers
    assert {("", "--lookback"), ("alerts", "--threshold"), ("consume", "--until-idle")} <= floats


@pytest.mark.parametrize(("path", "command", "param"), INTEGERS)
def test_every_integer_option_reads_plain_digits(path: str, command: click.Command, param: click.Parameter) -> None:
    assert isinstance(param.type, Integer), f"{path} {param.opts[0]}: use parking.cli.options.Integer"


@pytest.mark.parametrize(("path", "command", "param"), FLOATS)
def test_every_decimal_option_reads_a_typed_number(path: str, command: click.Command, param: click.Parameter) -> None:
    assert isinstance(param.type, Number), f"{path} {param.opts[0]}: use parking.cli.options.Number"


@pytest.mark.parametrize(("path", "command", "param"), INTEGERS)
@pytest.mark.parametrize("value", NOT_INTEGERS, ids=list(NOT_INTEGERS.values()))
def test_an_integer_option_refuses_what_is_not_plain_digits(path: str, command: click.Command,
                                                             param: click.Parameter, value: str,
                                                             tmp_path: Path) -> None:
    assert _refused(path, command, param, value, tmp_path) == f"{value!r} {NOT_DIGITS}"


@pytest.mark.parametrize(("path", "command", "param"), NO_NEGATIVES)
@pytest.mark.parametrize("value", ["-3", "-0"])
def test_a_minus_sign_is_out_of_range_where_none_is_allowed(path: str, command: click.Command,
                                                             param: click.Parameter, value: str,
                                                             tmp_path: Path) -> None:
    """``-0`` too, which int() reads as 0, inside a range from 0."""
    assert _refused(path, command, param, value, tmp_path).startswith(f"{value} is not in the range ")


@pytest.mark.parametrize(("path", "command", "param"), INTEGERS)
@pytest.mark.parametrize("value", ["3", "03"])
def test_an_integer_option_takes_decimal_digits(path: str, command: click.Command, param: click.Parameter,
                                                value: str) -> None:
    assert param.type_cast_value(click.Context(command), value) == 3


@pytest.mark.parametrize(("value", "number"), [("-3", -3), ("-0", 0), ("-007", -7), ("5", 5)])
def test_a_range_with_negatives_reads_a_minus_sign(value: str, number: int) -> None:
    assert Integer(-10, 10).convert(value, None, None) == number


@pytest.mark.parametrize(("path", "command", "param"), FLOATS)
@pytest.mark.parametrize(("value", "message"), NOT_DECIMALS.items(), ids=list(NOT_DECIMALS))
def test_a_decimal_option_refuses_what_is_not_a_typed_number(path: str, command: click.Command,
                                                             param: click.Parameter, value: str, message: str,
                                                             tmp_path: Path) -> None:
    assert _refused(path, command, param, value, tmp_path) == f"{value!r} {message}"


@pytest.mark.parametrize(("path", "command", "param"), FLOATS)
@pytest.mark.parametrize("value", HALVES)
def test_a_decimal_option_takes_a_half_as_people_write_it(path: str, command: click.Command,
                                                          param: click.Parameter, value: str) -> None:
    assert param.type_cast_value(click.Context(command), value) == 0.5
