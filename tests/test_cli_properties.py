"""Every parking-cli command, driven with generated arguments: never a traceback.

The commands are found by walking click's command tree, so a new command is
covered the day it is added. Each option gets values from a strategy chosen
by its click type: dates and instants (the ends of the calendar included),
zone names (folders of the zone database, paths, over-long names), numbers
(huge, negative, NaN), paths (missing folders, wrong suffixes, files where
folders belong) and junk text. Whatever the arguments, the CLI answers with
an exit code in {0, 1, 2, 3}, and a failure is exactly one line on stderr.

Commands that talk to a Kafka broker (``consume``) or serve until stopped
(``serve``) are parsed only: their
arguments are converted and checked without running them. Options that
reach AWS (any ``--bucket``, ``--engine athena``) or a broker (``simulate
--kafka``) are never generated elsewhere: this test runs with no network.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from parking.cli.errors import OneLineErrors
from parking.cli.main import cli
from parking.cli.options import DateType, InstantType, PictureFile, ZoneType
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from tests.conftest import command_tree

NETWORK_OPTIONS = {"bucket", "bootstrap_servers"}  # S3 or a Kafka broker: never generated, but where parsed only
PARSE_ONLY = {("consume",), ("serve",)}  # would wait for a Kafka broker; would serve until stopped
EXAMPLES_PER_COMMAND = 20
EXAMPLES_PER_SLOW_COMMAND = 8
SLOW = {("report",), ("plot", "occupancy"), ("plot", "patterns")}  # a page or a picture per success


COMMANDS = dict(command_tree(cli))


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, Path]:
    """A small real lake (two spots, 2024-03-18 to 03-21), an empty folder, a file and a work folder."""
    root = tmp_path_factory.mktemp("hostile")
    lines = []
    for day in range(18, 22):
        for hour, status in ((8, "occupied"), (11, "free"), (14, "occupied"), (19, "free")):
            for spot in ("A1", "B2"):
                lines.append(json.dumps({"spot_id": spot, "status": status,
                                         "timestamp": f"2024-03-{day}T{hour:02d}:{7 * (spot == 'B2'):02d}:00Z"}))
    events = root / "events.jsonl"
    events.write_text("\n".join([*lines, "not json"]) + "\n")
    lake = root / "lake"
    ingest_lines((line.encode() for line in events.read_text().splitlines()), LocalSink(lake))
    (root / "empty").mkdir()
    (root / "a-file").write_text("x")
    (root / "work").mkdir()
    return {"root": root, "lake": lake, "events": events, "empty": root / "empty", "file": root / "a-file",
            "work": root / "work"}


JUNK = st.one_of(
    st.text(max_size=24),
    st.text(alphabet=string.printable, max_size=12),
    st.sampled_from(["", " ", "-", "--", "nan", "inf", "-1", "0", "1e309", "'; DROP TABLE x; --", "%(start_ms)s",
                     "\x00", "é", "\n", "../../etc/passwd"]),
)


class Values(NamedTuple):
    """What an option may be given: values that should work, and hostile ones."""

    good: st.SearchStrategy[str]
    bad: st.SearchStrategy[str]


def mostly(good: st.SearchStrategy[str], bad: st.SearchStrategy[str]) -> Values:
    return Values(good, bad)


def dates() -> st.SearchStrategy[str]:
    near = st.dates(min_value=date(2024, 3, 15), max_value=date(2024, 3, 24)).map(str)
    far = st.dates().map(lambda d: d.strftime("%Y-%m-%d").zfill(10))
    ends = st.sampled_from(["0001-01-01", "9999-12-31", "1970-01-01", "1969-12-31", "2261-12-31", "2262-01-01",
                            "2024-02-30", "2024-3-1"])
    return mostly(near, st.one_of(ends, ends, far, JUNK))


def instants() -> st.SearchStrategy[str]:
    offsets = st.sampled_from(["Z", "+00:00", "-01:00", "+05:30", "+14:00", "-23:59", ""])
    near = st.datetimes(min_value=datetime(2024, 3, 17), max_value=datetime(2024, 3, 23)).map(datetime.isoformat)
    far = st.datetimes().map(datetime.isoformat)
    ends = st.sampled_from(["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999Z",
                            "0001-01-01T00:00:00-23:59", "2261-12-31T23:59:59.999999", "2262-04-12T00:00:00Z",
                            "1969-12-31T23:59:59Z"])
    return mostly(st.builds(str.__add__, near, offsets), st.one_of(ends, ends, st.builds(str.__add__, far, offsets), JUNK))


def zones() -> st.SearchStrategy[str]:
    good = st.sampled_from(["UTC", "Europe/Paris", "Asia/Kolkata", "America/St_Johns", "Australia/Lord_Howe",
                            "Pacific/Kiritimati"])
    bad = st.sampled_from(["Europe", "America/Argentina", "right/UTC", "posix/UTC", "posixrules", "localtime",
                           "Factory", "/etc/localtime", "Etc/../UTC", "UTC/", "A" * 300, "Europe/" + "x" * 255])
    return mostly(good, st.one_of(bad, bad, JUNK))


def integers() -> st.SearchStrategy[str]:
    return mostly(st.integers(1, 6).map(str),
                  st.one_of(st.integers(), st.sampled_from([0, -1, 2**31, 2**63, 10**23])).map(str) | JUNK)


def floats() -> st.SearchStrategy[str]:
    return mostly(st.floats(0.01, 48).map(repr), st.floats(allow_nan=True, allow_infinity=True).map(repr) | JUNK)


def paths_for(name: str, param_type: click.ParamType, places: dict[str, Path]) -> st.SearchStrategy[str]:
    root = places["root"]
    if name == "data_dir":
        return mostly(st.just(str(places["lake"])),
                      st.sampled_from([places["empty"], places["file"], root / "typo", root / "lake[12]",
                                       root / "lake\x00"]).map(str) | JUNK)
    if isinstance(param_type, PictureFile):
        folders = st.sampled_from([places["work"], root / "missing-folder", places["file"], root])
        names = st.sampled_from(["x.png", "x.svg", "x.pdf", "x.html", "x.PNG", "x.gif", "x", ".png", "a-file"])
        good = st.sampled_from([f"x.{suffix}" for suffix in param_type.suffixes])
        return mostly(st.builds(lambda folder, file: str(folder / file), st.just(places["work"]), good),
                      st.builds(lambda folder, file: str(folder / file), folders, names) | JUNK)
    if name == "out":  # simulate's JSON-lines output
        return mostly(st.sampled_from([str(places["work"] / "sim.jsonl"), "-"]),
                      st.sampled_from([str(root / "missing-folder" / "x"), str(places["work"])]) | JUNK)
    return mostly(st.sampled_from([str(places["events"]), "-"]),
                  st.sampled_from([str(root / "missing.jsonl"), str(places["empty"]), str(places["file"])]) | JUNK)


def values_for(name: str, param_type: click.ParamType, places: dict[str, Path]) -> Values:
    if isinstance(param_type, DateType):
        return dates()
    if isinstance(param_type, InstantType):
        return instants()
    if isinstance(param_type, ZoneType):
        return zones()
    if isinstance(param_type, (click.Path, click.File, PictureFile)):
        return paths_for(name, param_type, places)
    if isinstance(param_type, click.Choice):
        return mostly(st.sampled_from([c for c in param_type.choices if c != "athena"]), JUNK)
    if isinstance(param_type, click.types.IntParamType):
        return integers()
    if isinstance(param_type, click.types.FloatParamType):
        return floats()
    return mostly(st.text(alphabet=string.ascii_letters + "-_.", min_size=1, max_size=12), JUNK)


class Slot(NamedTuple):
    """One place in a command line: how a value becomes arguments, its values, whether it must be there."""

    spell: Callable[[Any], list[str]]
    values: Values
    required: bool


def slots(path: tuple[str, ...], command: click.Command, places: dict[str, Path]) -> list[Slot]:
    found = []
    names = {param.name for param in command.params}
    in_range = {"first", "last"} <= names
    if in_range:  # a range of days: in order and short when good, so the query runs
        good = st.builds(lambda day, length: (str(day), str(day + timedelta(days=length))),
                         st.dates(date(2024, 3, 15), date(2024, 3, 24)), st.integers(0, 4))
        bad = st.tuples(dates().good | dates().bad, dates().bad | dates().good)
        found.append(Slot(lambda pair: ["--from", pair[0], "--to", pair[1]], Values(good, bad), True))
    for param in command.params:
        network = param.name in NETWORK_OPTIONS and path not in PARSE_ONLY
        if network or param.name == "help" or in_range and param.name in ("first", "last"):
            continue
        values = values_for(param.name, param.type, places)
        if isinstance(param, click.Argument):
            found.append(Slot(lambda v: [v], values, True))
        elif param.is_flag:
            found.append(Slot(lambda v, o=param.opts[0]: [o] if v else [], Values(st.sampled_from(["", "y"]),
                                                                                  st.just("y")), False))
        else:
            found.append(Slot(lambda v, o=param.opts[0]: [o, v], values, param.required))
    return found


@st.composite
def arguments(draw, path: tuple[str, ...], command: click.Command, places: dict[str, Path]) -> list[str]:
    """Group options, the command's names, then its options in any order.

    In about half the runs one slot gets a hostile value, so the run reaches
    the check that value is for instead of stopping at another; the other
    slots get good values, optional ones present or not.
    """
    found = slots(path, command, places)
    hostile = draw(st.one_of(st.just(-1), st.integers(0, len(found) - 1)), label="hostile slot (-1: none)")
    own = []
    for number, slot in enumerate(found):
        if number == hostile:
            own.append(slot.spell(draw(slot.values.bad)))
        elif slot.required or draw(st.booleans()):
            own.append(slot.spell(draw(slot.values.good)))
    group = draw(st.lists(st.sampled_from([
        ["--format", "csv"], ["--format", "json"], ["--format", "table"], ["--lookback", "6"],
        ["--engine", "local"], ["--data-dir", str(places["lake"])], ["--data-dir", str(places["empty"])],
    ]), max_size=2))
    own = draw(st.permutations(own))
    return [part for chunk in group for part in chunk] + list(path) + [part for chunk in own for part in chunk]


# What `ingest -` reads: mostly good records, one bad (a file mostly rejected is exit 1 by design).
STDIN = "\n".join([
    '{"spot_id": "S1", "status": "occupied", "timestamp": "2024-03-20T08:00:00Z"}',
    '{"spot_id": "S1", "status": "free", "timestamp": "2024-03-20T09:00:00Z"}',
    "not json",
]) + "\n"


def invoke(path: tuple[str, ...], args: list[str]) -> click.testing.Result:
    if path in PARSE_ONLY:
        return CliRunner().invoke(_parse_only(path), args[args.index(path[-1]):])
    return CliRunner().invoke(cli, args, input=STDIN)


def _parse_only(path: tuple[str, ...]) -> click.Group:
    """The CLI's error handling around the command with its arguments converted and checked, its body not run."""
    original = COMMANDS[path]
    command = click.Command(original.name, params=original.params, callback=lambda **_: None)
    return OneLineErrors(commands={original.name: command})


def check_one_run(places: dict[str, Path], path: tuple[str, ...], data: st.DataObject, monkeypatch) -> None:
    for variable in ("PARKING_ENGINE", "PARKING_DATA_DIR", "PARKING_BUCKET"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(places["work"])
    args = data.draw(arguments(path, COMMANDS[path], places), label="args")
    result = invoke(path, args)
    event(f"exit {result.exit_code}")  # pytest --hypothesis-show-statistics shows how the runs ended
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2, 3), result.stderr
    # Exit 1 is a failure outside the user's control: here (local files, no network) there is none,
    # so an engine error or an OSError the arguments provoked shows up as a wrong exit code.
    assert result.exit_code != 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    if result.exit_code != 0:  # one line, after at most a note (--reuse-results on the local engine)
        lines = [line for line in result.stderr.splitlines() if not line.startswith("Note: ")]
        assert len(lines) == 1 and lines[0].startswith(("Error: ", "Nothing observed: ")), result.stderr


QUICK = [path for path in COMMANDS if path not in SLOW]


@pytest.mark.parametrize("path", QUICK, ids=[" ".join(p) for p in QUICK])
@settings(max_examples=EXAMPLES_PER_COMMAND, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_command_answers_in_one_line_whatever_its_arguments(places, path, data, monkeypatch) -> None:
    check_one_run(places, path, data, monkeypatch)


@pytest.mark.parametrize("path", sorted(SLOW), ids=[" ".join(p) for p in sorted(SLOW)])
@settings(max_examples=EXAMPLES_PER_SLOW_COMMAND, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_slow_command_answers_in_one_line_whatever_its_arguments(places, path, data, monkeypatch) -> None:
    """The same property, fewer runs: these draw pictures or pages when they succeed."""
    check_one_run(places, path, data, monkeypatch)
