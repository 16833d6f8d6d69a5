"""parking-cli in an operator's daily use (issue 28): Ctrl-C, formats, long tables, help, exit codes.

Real parts throughout: DuckDB over a simulated lake, Athena on moto,
librdkafka against a port where no broker listens, and child processes on a
pseudo-terminal where what a terminal shows is the point.
"""

from __future__ import annotations

import json
import os
import pty
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
import tomllib
from datetime import date, datetime, timezone
from pathlib import Path

import botocore.client
import click
import pytest
from click.testing import CliRunner

from parking.analytics.catalog import CatalogStore, parse
from parking.analytics.engines import DuckDBEngine
from parking.cli.context import CliContext
from parking.cli.help import EXAMPLES, commands
from parking.cli.main import cli
from parking.cli.options import Number
from parking.errors import QueryCancelled
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from parking.simulate import catalog_csv, lines, plan
from parking.text import duration, plural, shortened
from tests.test_queries_athena import athena, seed  # noqa: F401  (athena: a fixture, used by name)

NOW = datetime(2024, 4, 1, tzinfo=timezone.utc)
SPOTS = 150  # more bays than a table shows on a terminal (TABLE_ROWS = 100)
README = Path(__file__).resolve().parents[1] / "README.md"
PYPROJECT = README.with_name("pyproject.toml")


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """Two weeks of a 150-bay garage with its spot catalog."""
    root = tmp_path_factory.mktemp("operator")
    stream = lines(plan(SPOTS, 14, date(2024, 3, 18), seed=2, now=NOW))
    ingest_lines((line.encode() for line in stream), LocalSink(root), now=NOW)
    CatalogStore(root).replace(parse(catalog_csv(SPOTS)))
    return root


def on_a_terminal(args: list[str], *, interrupt_after: str | None = None,
                  env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run parking-cli with stdout and stderr on pseudo-terminals: (exit code, stdout, stderr) as shown.

    With ``interrupt_after``, Ctrl-C (SIGINT) is sent once stderr has shown that text.
    """
    out_controller, out_terminal = pty.openpty()
    err_controller, err_terminal = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "parking", *args], stdin=subprocess.DEVNULL, stdout=out_terminal,
                             stderr=err_terminal, env={**os.environ, "COLUMNS": "120", **(env or {})},
                             preexec_fn=ctrl_c_as_on_a_terminal)
    os.close(out_terminal)
    os.close(err_terminal)
    seen = {out_controller: b"", err_controller: b""}
    interrupted = interrupt_after is None
    with selectors.DefaultSelector() as ends:  # epoll: select() fails on a descriptor numbered past 1023
        for end in seen:
            ends.register(end, selectors.EVENT_READ)
        while ends.get_map():
            ready = ends.select(120)
            assert ready, "the child printed nothing for 120 s"
            for key, _ in ready:
                try:
                    chunk = os.read(key.fd, 65536)
                except OSError:  # EIO: the child's end is closed and drained
                    chunk = b""
                if not chunk:
                    ends.unregister(key.fd)
                    continue
                seen[key.fd] += chunk
                if not interrupted and interrupt_after.encode() in seen[err_controller]:
                    child.send_signal(signal.SIGINT)
                    interrupted = True
    code = child.wait(timeout=120)
    os.close(out_controller)
    os.close(err_controller)
    return code, seen[out_controller].decode(errors="replace"), seen[err_controller].decode(errors="replace")


def ctrl_c_as_on_a_terminal() -> None:
    """SIGINT as a terminal's shell leaves it (a background job, as a test may run in, ignores it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def after_live_lines(text: str) -> str:
    """What a terminal shows once its live lines are erased (the text after the last erase-line, ESC [2K)."""
    return plain(text.rsplit("\x1b[2K", 1)[-1])


def plain(text: str) -> str:
    """What a terminal's text says, without its control sequences and carriage returns."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", text)


# Ctrl-C


@pytest.mark.parametrize("args", [
    ["status"],
    ["dwell", "--from", "2024-03-18", "--to", "2024-03-24", "--by", "zone"],
    ["availability"],
    ["plot", "occupancy", "--date", "2024-03-20", "--out", "{tmp}/occupancy.png"],
    ["report", "--from", "2024-03-18", "--to", "2024-03-24", "--out", "{tmp}/report.html"],
], ids=lambda args: " ".join(args[:2]))
def test_ctrl_c_in_any_query_command_is_one_line_and_exit_130(lake: Path, tmp_path: Path, monkeypatch, args) -> None:
    """Ctrl-C arrives as KeyboardInterrupt wherever Python is when it comes: here, as a query starts."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(DuckDBEngine, "run", interrupted)
    monkeypatch.setattr("parking.state.live.live_answer", interrupted)  # status and availability now: the table
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(lake)])
    assert result.exit_code == 130
    assert result.stderr == "Error: aborted\n"
    assert list(tmp_path.iterdir()) == [], "nothing half written"


def console_script() -> tuple[str, str]:
    """``parking-cli`` as an installer writes it from pyproject.toml's [project.scripts], and its entry's module."""
    module, function = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]["parking-cli"].split(":")
    return f"import sys\nfrom {module} import {function}\nsys.exit({function}())\n", module


#: Where a Ctrl-C lands as a module loads, as Python code that sends its own process SIGINT there: in the import
#: itself; in a ``__set_name__`` (Python 3.11 turns the KeyboardInterrupt into a RuntimeError it caused); in a
#: finalizer (Python prints the KeyboardInterrupt as "Exception ignored", drops it, and the command carried on).
CTRL_C = {
    "in the import": "os.kill(os.getpid(), signal.SIGINT)",
    "in a __set_name__": ("class Named:\n"
                          "    def __set_name__(self, owner, name):\n"
                          "        os.kill(os.getpid(), signal.SIGINT)\n"
                          "        for _ in range(1000): pass\n"
                          "class Owner:\n"
                          "    named = Named()"),
    "in a finalizer": ("class Finalized:\n"
                       "    def __del__(self):\n"
                       "        os.kill(os.getpid(), signal.SIGINT)\n"
                       "        for _ in range(1000): pass\n"
                       "Finalized()"),
}


def ctrl_c_when_loading(module: str, where: str) -> str:
    """Python code that sends its process SIGINT as ``module`` starts to load, in the place ``where`` names."""
    return ("import os, signal, sys\n"
            "class CtrlC:\n"
            "    @staticmethod\n"
            "    def find_spec(name, path=None, target=None):\n"
            f"        if name == {module!r}:\n"
            "            sys.meta_path.remove(CtrlC)\n"
            f"            exec({CTRL_C[where]!r}, {{'os': os, 'signal': signal}})\n"
            "sys.meta_path.insert(0, CtrlC)\n")


#: Modules the CLI loads as it starts, after its entry point (a KeyboardInterrupt traceback and death by SIGINT
#: when the entry point was parking.cli.main:cli: the script loaded them before any handling of Ctrl-C).
LOADING = ["parking.cli.main", "click", "parking.cli.errors", "parking.cli.ingest", "parking.cli.help"]


@pytest.mark.parametrize("where", list(CTRL_C))
@pytest.mark.parametrize("module", LOADING)
def test_ctrl_c_while_the_cli_loads_is_one_line_and_exit_130(tmp_path: Path, module: str, where: str) -> None:
    script, _ = console_script()
    child = subprocess.Popen([sys.executable, "-c", ctrl_c_when_loading(module, where) + script, "--data-dir",
                              str(tmp_path), "ingest", "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_as_on_a_terminal)
    assert child.stderr is not None and child.stdin is not None
    try:
        code = child.wait(timeout=30)  # stdin stays open: `ingest -` waits on it until Ctrl-C stops it
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        code = None
    said = child.stderr.read()
    child.stdin.close()
    assert code is not None, f"the Ctrl-C was lost: the command still waited on stdin 30 s later; it said {said!r}"
    assert (code, said) == (130, "Error: aborted\n"), said[-2000:]


#: Seconds from the moment the console script has loaded its entry point's module to Ctrl-C: while the CLI's
#: modules load (~0.1-0.2 s; a KeyboardInterrupt traceback and death by SIGINT when the entry point was
#: parking.cli.main:cli, whose loading was that), and once `ingest -` waits on stdin.
STARTING = [0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3]


@pytest.mark.parametrize("delay", STARTING)
def test_ctrl_c_while_the_cli_starts_is_one_line_and_exit_130(tmp_path: Path, delay: float) -> None:
    """The console script's entry point loads the CLI inside the CLI's handling of Ctrl-C.

    Before that, Python starts (~15-30 ms here; a Ctrl-C then is Python's own
    fatal error) and the script loads the entry point's module (~0.2 ms: it
    imports nothing), no code of ours to handle it; `-X importtime` says on
    stderr when both are done.
    """
    script, module = console_script()
    child = subprocess.Popen([sys.executable, "-X", "importtime", "-c", script, "--data-dir", str(tmp_path),
                              "ingest", "-"], bufsize=0, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, preexec_fn=ctrl_c_as_on_a_terminal)
    assert child.stderr is not None and child.stdin is not None
    loaded = b""
    while not loaded.rstrip().endswith(f"| {module}".encode()):  # the entry point is loaded: it runs next
        loaded = child.stderr.readline()
        assert loaded, "the child ended before it loaded its entry point"
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    said = child.stderr.read().decode()  # stdin stays open: `ingest -` would end at its end
    code = child.wait(timeout=60)
    child.stdin.close()
    shown = [line for line in said.splitlines() if not line.startswith("import time:")]
    assert (code, shown) == (130, ["Error: aborted"]), "\n".join(shown)[-3000:]


def _ctrl_c_while_the_group_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    import parking.cli.main as main

    def context(*args):
        click.get_current_context().call_on_close(interrupted)
        return CliContext(*args)

    monkeypatch.setattr(main, "CliContext", context)


def interrupted(*args, **kwargs):
    raise KeyboardInterrupt


# Where click's own main meets a Ctrl-C (it printed a blank line before the CLI's line), and how to make one come.
IN_CLICK = {
    "while the group's options are read": lambda mp: mp.setattr(Number, "convert", interrupted),
    "while the command runs": lambda mp: mp.setattr(DuckDBEngine, "run", interrupted),
    "while the group's context closes": _ctrl_c_while_the_group_closes,
}


@pytest.mark.parametrize("where", list(IN_CLICK))
def test_ctrl_c_anywhere_in_click_is_one_line_and_exit_130(lake: Path, monkeypatch, where: str) -> None:
    IN_CLICK[where](monkeypatch)
    result = CliRunner().invoke(cli, ["--lookback", "24", "dwell", "--from", "2024-03-18", "--to", "2024-03-24",
                                      "--data-dir", str(lake)])
    assert (result.exit_code, result.stderr) == (130, "Error: aborted\n")


def test_ctrl_c_that_python_made_another_error_is_one_line_and_exit_130(lake: Path, monkeypatch) -> None:
    """Python 3.11 raises a Ctrl-C in a ``__set_name__`` (a module a command loads late, say) as a RuntimeError it caused."""

    def interrupted(*args, **kwargs):
        raise RuntimeError("Error calling __set_name__ on 'cached_property' instance") from KeyboardInterrupt()

    monkeypatch.setattr(DuckDBEngine, "run", interrupted)
    result = CliRunner().invoke(cli, ["dwell", "--from", "2024-03-18", "--to", "2024-03-24", "--data-dir", str(lake)])
    assert (result.exit_code, result.stderr) == (130, "Error: aborted\n")


def test_a_local_query_stopped_by_ctrl_c_is_cancelled() -> None:
    """A query that would run for hours, interrupted by a real SIGINT: DuckDB stops and says so."""
    engine = DuckDBEngine(Path("/nonexistent-lake"))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own, even in a background job
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))  # the query never ends by itself
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(QueryCancelled, match="the local query was stopped"):
            engine.run("SELECT count(*) FROM range(1000000000000) a", {})
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 30, "stopped when Ctrl-C came, not when the query (~100 s) ended"


def test_ctrl_c_during_a_report_on_a_terminal_stops_it_with_one_line(lake: Path, tmp_path: Path) -> None:
    """A real SIGINT once the report's progress shows: exit 130, one line after the live display is gone."""
    out = tmp_path / "report.html"
    code, stdout, stderr = on_a_terminal(
        ["report", "--from", "2024-03-18", "--to", "2024-03-31", "--data-dir", str(lake), "--out", str(out)],
        interrupt_after="report: ")
    assert code == 130, stderr
    assert stdout == ""
    assert "report: " in plain(stderr), "the progress line was up when Ctrl-C came"
    assert after_live_lines(stderr) == "Error: aborted\n"
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert not out.exists()


@pytest.mark.usefixtures("athena")
def test_ctrl_c_during_an_athena_query_stops_it(monkeypatch) -> None:
    """Ctrl-C while the CLI waits for Athena: StopQueryExecution is sent for that query, then exit 130."""
    from parking.cli.progress import AthenaProgress

    operations: list[tuple[str, dict]] = []
    real_call = botocore.client.BaseClient._make_api_call

    def spy(self, operation, params):
        operations.append((operation, params))
        return real_call(self, operation, params)

    def ctrl_c(self, progress) -> None:  # Ctrl-C at the first poll: the query is running
        raise KeyboardInterrupt

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    monkeypatch.setattr(AthenaProgress, "update", ctrl_c)
    seed("dwell", [])
    result = CliRunner().invoke(cli, ["dwell", "--from", "2024-03-18", "--to", "2024-03-24", "--by", "zone"])
    assert result.exit_code == 130, result.output
    [started] = [params for operation, params in operations if operation == "StartQueryExecution"]
    stopped = [params["QueryExecutionId"] for operation, params in operations if operation == "StopQueryExecution"]
    assert len(stopped) == 1
    error = result.stderr.splitlines()[-1]
    assert error == f"Error: aborted: Athena was asked to stop query {stopped[0]} (StopQueryExecution)"
    assert "Traceback" not in result.stderr and started


# Formats


def test_ndjson_is_one_json_object_a_line_with_the_json_rows(lake: Path) -> None:
    args = ["dwell", "--from", "2024-03-18", "--to", "2024-03-24", "--by", "zone", "--data-dir", str(lake)]
    as_json = json.loads(CliRunner().invoke(cli, [*args, "--format", "json"]).stdout)
    result = CliRunner().invoke(cli, [*args, "--format", "ndjson"])
    assert result.exit_code == 0
    assert [json.loads(line) for line in result.stdout.splitlines()] == as_json
    assert len(as_json) > 1 and all(line.startswith("{") for line in result.stdout.splitlines())


def test_ndjson_of_nothing_observed_prints_no_line(lake: Path) -> None:
    result = CliRunner().invoke(cli, ["dwell", "--from", "2023-01-02", "--to", "2023-01-03", "--format", "ndjson",
                                      "--data-dir", str(lake)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.startswith("Nothing observed")


@pytest.mark.parametrize(("env", "args", "expected"), [
    ({"PARKING_FORMAT": "csv"}, [], "csv"),
    ({"PARKING_FORMAT": "NDJSON"}, [], "ndjson"),
    ({"PARKING_FORMAT": "csv"}, ["--format", "json"], "json"),
    ({"PARKING_FORMAT": "csv"}, ["--format", "table"], "table"),
    ({}, [], "table"),
])
def test_parking_format_sets_the_default_format(lake: Path, env, args, expected) -> None:
    result = CliRunner().invoke(cli, ["availability", "--at", "2024-03-25T12:00", *args, "--data-dir", str(lake)],
                                env=env)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    looks = {"csv": first.startswith("zone,capacity,"), "json": first == "[",
             "ndjson": first.startswith('{"zone": '), "table": first.split()[:2] == ["zone", "capacity"]}
    assert [name for name, matches in looks.items() if matches] == [expected]


@pytest.mark.parametrize("args", [["availability"], ["spots", "show"]], ids=" ".join)
def test_a_bad_parking_format_is_exit_2_naming_the_variable_before_any_query(lake: Path, monkeypatch, args) -> None:
    ran: list[str] = []
    monkeypatch.setattr(DuckDBEngine, "run", lambda self, sql, params: ran.append(sql))
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(lake)], env={"PARKING_FORMAT": "yaml"})
    assert result.exit_code == 2
    assert result.stderr == ("Error: PARKING_FORMAT='yaml' is not a format: use one of table, csv, json, ndjson\n")
    assert ran == []


@pytest.mark.parametrize("args", [["--format", "csv", "availability"], ["availability", "--format", "csv"]],
                         ids=["before", "after"])
def test_a_format_given_makes_parking_format_irrelevant(lake: Path, args) -> None:
    result = CliRunner().invoke(cli, [*args, "--at", "2024-03-25T12:00", "--data-dir", str(lake)],
                                env={"PARKING_FORMAT": "yaml"})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("zone,capacity,")


def test_a_bad_parking_format_does_not_stop_a_command_that_prints_no_rows(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--spots", "2", "--days", "1", "--out", str(tmp_path / "e.jsonl")],
                                env={"PARKING_FORMAT": "yaml"})
    assert result.exit_code == 0, result.output


def test_a_long_table_on_a_terminal_says_how_many_rows_it_left_out(lake: Path) -> None:
    code, stdout, _ = on_a_terminal(["status", "--at", "2024-03-25T12:00", "--data-dir", str(lake)])
    assert code == 0
    shown = plain(stdout).splitlines()
    assert shown[-2] == f"... and {SPOTS - 100} more rows not shown (--all shows them, --format csv for a program)"
    assert len([line for line in shown if line.strip().startswith("A-")]) == 100
    assert shown[-1].startswith(f"{SPOTS} spots: ")


@pytest.mark.parametrize("where", ["after", "before"])
def test_all_shows_every_row_on_a_terminal(lake: Path, where: str) -> None:
    args = ["status", "--at", "2024-03-25T12:00", "--data-dir", str(lake)]
    args = [*args, "--all"] if where == "after" else ["--all", *args]
    code, stdout, _ = on_a_terminal(args)
    assert code == 0
    assert len([line for line in plain(stdout).splitlines() if line.strip().startswith("A-")]) == SPOTS
    assert "not shown" not in stdout


def test_a_long_table_into_a_pipe_keeps_every_row(lake: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "--at", "2024-03-25T12:00", "--data-dir", str(lake)])
    assert len([line for line in result.stdout.splitlines() if line.strip().startswith("A-")]) == SPOTS
    assert "not shown" not in result.stdout


# Progress


@pytest.mark.parametrize("args", [
    ["report", "--from", "2024-03-18", "--to", "2024-03-24", "--out", "{tmp}/report.html"],
    ["compact", "--before", "2024-03-25"],
], ids=["report", "compact"])
def test_long_work_shows_progress_on_a_terminal_and_nothing_in_a_pipe(lake: Path, tmp_path: Path, args) -> None:
    copy = tmp_path / "lake"
    subprocess.run(["cp", "-r", str(lake), str(copy)], check=True)
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args] + ["--data-dir", str(copy)]
    code, stdout, stderr = on_a_terminal(args)
    assert code == 0, stderr
    assert f"{args[0]}: " in plain(stderr), "a progress line"
    assert "\x1b[" in stderr, "drawn live on the terminal"
    again = subprocess.run([sys.executable, "-m", "parking", *args], capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""


# Help


def test_every_command_s_help_ends_with_an_example() -> None:
    seen = []
    for path, _ in commands(cli):
        result = CliRunner().invoke(cli, [*path.split(), "--help"])
        assert result.exit_code == 0, path
        last = result.stdout.rstrip("\n").splitlines()
        assert last[-2].strip() == "Example:", path
        assert last[-1].strip() == EXAMPLES[path] and last[-1].strip().startswith("parking-cli"), path
        seen.append(path)
    assert sorted(seen) == sorted(EXAMPLES), "an example for each command, and no example of no command"


@pytest.mark.parametrize("path", [path for path, command in commands(cli)
                                  if any(param.name == "reuse_minutes" for param in command.params)])
def test_athena_only_options_come_last_in_help(path: str) -> None:
    text = CliRunner().invoke(cli, [*path.split(), "--help"]).stdout
    listed = text.split("\nOptions:\n", 1)[1].split("\n  Example:", 1)[0]
    options = re.findall(r"^  (-h, --help|--[\w-]+)", listed, re.MULTILINE)
    assert options[-2:] == ["--reuse-results", "-h, --help"], options


@pytest.mark.parametrize("option", ["--spots", "--days", "--seed", "--connect-timeout"])
def test_simulate_describes_its_options(option: str) -> None:
    text = CliRunner().invoke(cli, ["simulate", "--help"]).stdout
    described = re.search(rf"^  {option} [A-Z ]+\S*\s+(\S.*)$", text, re.MULTILINE)
    assert described and not described.group(1).startswith("["), text


def test_shell_completion_completes_command_names() -> None:
    env = {**os.environ, "_PARKING_CLI_COMPLETE": "bash_complete", "COMP_WORDS": "parking-cli sta",
           "COMP_CWORD": "1"}
    completed = subprocess.run([str(Path(sys.executable).with_name("parking-cli"))], env=env, capture_output=True,
                               text=True, check=False)
    assert completed.returncode == 0
    assert completed.stdout.splitlines() == ["plain,status"]


def test_the_readme_documents_shell_completion() -> None:
    text = README.read_text(encoding="utf-8")
    for shell in ("bash", "zsh", "fish"):
        assert f'_PARKING_CLI_COMPLETE={shell}_source parking-cli' in text, shell


# Exit codes a script can trust


def readme_alerts_idiom() -> str:
    [block] = [block for block in re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
               if "parking-cli alerts" in block and "$?" in block]
    return block


@pytest.mark.parametrize(("code", "stdout", "stderr"), [
    (0, "", ""),
    (3, "a zone is full\n", ""),
    (1, "", "alerts failed (exit 1)\n"),
    (2, "", "alerts failed (exit 2)\n"),
])
def test_the_readme_alerts_idiom_tells_a_full_zone_from_a_failure(code: int, stdout: str, stderr: str) -> None:
    """The README's snippet, run by bash with parking-cli standing for an alerts run that exits ``code``."""
    script = f"parking-cli() {{ return {code}; }}\n{readme_alerts_idiom()}"
    ran = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert (ran.stdout, ran.stderr) == (stdout, stderr)


# Smaller


def test_simulate_kafka_with_no_broker_gives_up_after_connect_timeout(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "parking", "simulate", "--spots", "2", "--days", "1", "--kafka", "127.0.0.1:9",
         "--connect-timeout", "0.5"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: no Kafka broker reachable at 127.0.0.1:9 in 0.5 s")


def test_consume_lag_is_unknown_before_a_partition_is_assigned() -> None:
    from parking.kafka.consumer import BatchConsumer

    class Unassigned:
        def assignment(self):
            return []

    consumer = BatchConsumer.__new__(BatchConsumer)
    consumer._consumer = Unassigned()
    assert consumer._lag() is None


@pytest.mark.parametrize(("count", "noun", "expected"), [
    (0, "object", "0 objects"), (1, "object", "1 object"), (2, "object", "2 objects"),
    (1204, "row", "1,204 rows"), (1, "row", "1 row"),
])
def test_plural(count: int, noun: str, expected: str) -> None:
    assert plural(count, noun) == expected


@pytest.mark.parametrize(("minutes", "expected"), [
    (0, "0 min"), (0.4, "0 min"), (45, "45 min"), (59.6, "1 h"), (60, "1 h"), (72, "1 h 12 min"),
    (72.4, "1 h 12 min"), (1439, "23 h 59 min"), (47 * 60 + 59, "47 h 59 min"), (48 * 60, "2 d"),
    (6678.67, "4 d 15 h"), (4931.85, "3 d 10 h"), (float("nan"), "-"), (None, "-"),
])
def test_durations_are_written_as_people_read_them(minutes, expected: str) -> None:
    assert duration(minutes) == expected


@pytest.mark.parametrize(("text", "limit", "head", "tail", "expected"), [
    ("a" * 80, 80, 20, None, "a" * 80),  # whole up to the limit
    ("a" * 20 + "b" * 61, 80, 20, None, "a" * 20 + "..." + "b" * 57),  # one over: cut to the limit
    ("/srv/" + "d/" * 100 + "week.jsonl", 80, 20, None, "/srv/d/d/d/d/d/d/d/d..." + "/d" * 23 + "/week.jsonl"),
    ("q" * 64, 64, 30, 30, "q" * 64),
    ("p" * 30 + "x" * 5 + "s" * 30, 64, 30, 30, "p" * 30 + "..." + "s" * 30),  # 65: 63 characters
    ("abcdef", 4, 1, 0, "a..."),  # no end kept
])
def test_a_long_text_keeps_its_start_and_end_around_dots(text: str, limit: int, head: int, tail: int | None,
                                                         expected: str) -> None:
    assert shortened(text, limit, head, tail) == expected


@pytest.mark.parametrize(("limit", "head", "tail"), [(10, 8, None), (10, 4, 4), (10, -1, 2), (10, 2, -1)])
def test_ends_that_do_not_fit_the_limit_are_refused(limit: int, head: int, tail: int | None) -> None:
    with pytest.raises(ValueError, match="around '...'"):
        shortened("x" * 100, limit, head, tail)


def test_a_zone_on_an_empty_local_window_says_the_window_holds_no_events(lake: Path) -> None:
    zone = parse(catalog_csv(SPOTS))[0].zone
    result = CliRunner().invoke(cli, ["dwell", "--from", "2023-01-02", "--to", "2023-01-03", "--zone", zone,
                                      "--data-dir", str(lake)])
    assert result.exit_code == 0
    assert result.stderr == (f"Nothing observed: no complete parking session in that window (zone {zone!r} is in the spot "
                             "catalog: the window holds no events of its bays).\n")
    assert "bucket" not in result.stderr

