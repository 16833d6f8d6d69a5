"""The wheel, installed as a user would, runs every command from a directory with no source tree.

The wheel is built from a copy of the repository's packaged files and
installed without its dependencies into a fresh virtual environment; that
environment finds the dependencies in the project's own venv through a
``.pth`` line (not its site-packages' own ``.pth`` files, so the editable
install of the repository stays out of sight). Every command is found by
walking the click command tree, so a command added later is run too; a
required option the table below has no value for fails the test, naming it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from uv import find_uv_bin

from parking.analytics.registry import GROUP_COLUMN, QUERIES
from parking.cli.main import cli
from parking.ingest.msk import msk_event, msk_record
from tests.conftest import command_tree

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = ("pyproject.toml", "README.md", "parking", "cli", "queries")  # what the wheel is built from
DEPENDENCIES_PTH = "_project_dependencies.pth"
START, LAST = "2026-10-01", "2026-10-02"

# What each parameter is given, by its click name. Required ones must be here;
# optional ones are given only when listed in OPTIONAL (to keep runs small and on the test's data).
VALUES = {
    "day": START,
    "first": START,
    "last": LAST,
    "at": f"{LAST}T12:00:00Z",
    "data_dir": "{lake}",
    "out": "{out}",
    "file": "{events}",
    "source": "{failed}",
    "bootstrap_servers": "{broker}",
    "topic": "wheel-events",
    "spots": "20",
    "days": "2",
    "start": START,
    "until_idle": "2",
    "workers": "1",
    "connect_timeout": "20",
    "threshold": "0",
}
BY_COMMAND = {("spots", "load"): {"file": "{catalog}"}}  # where a command needs another value than VALUES'
EXIT = {("alerts",): 3}  # alerts says by exit status 3 that it returned rows (docs/METRICS.md section 7)
OPTIONAL = {"data_dir", "at", "out", "topic", "spots", "days", "start", "until_idle", "workers", "connect_timeout",
            "threshold"}
OUT_NAMES = {"plot": "out.png", "report": "out.html"}  # commands that choose a format by the --out suffix
pytestmark = pytest.mark.xdist_group("wheel")  # one build and one install, on one worker


SERVERS = {("serve",)}


def invocations() -> Iterator[object]:
    """One run per command; the output formats taken in turn, so each is run from the wheel by several commands.

    Every format of every command is rendered in-process by test_cli.py; here
    what matters is that each command and each format's code is in the wheel.
    """
    turn = 0
    for path, command in command_tree(cli):
        if path in SERVERS:
            continue  # runs until stopped: test_the_installed_server_answers
        formats = [param for param in command.params if param.name == "output_format"]
        fmt = None
        if formats:
            choices = list(formats[0].type.choices)
            fmt, turn = choices[turn % len(choices)], turn + 1
        needs_kafka = any(param.name == "bootstrap_servers" and param.required for param in command.params)
        marks = [pytest.mark.kafka] if needs_kafka else []
        yield pytest.param(path, fmt, marks=marks, id=" ".join(path) + (f" --format {fmt}" if fmt else ""))


def test_every_output_format_is_run_from_the_wheel_by_a_query() -> None:
    formats = {param.type.choices for _, command in command_tree(cli) for param in command.params
               if param.name == "output_format"}
    run = {fmt for path, fmt in (case.values for case in invocations()) if path[-1] in QUERIES}
    assert set().union(*formats) <= run


def arguments(path: tuple[str, ...], command: click.Command, fmt: str | None, places: dict[str, str]) -> list[str]:
    args = list(path)
    for param in command.params:
        if param.name == "output_format" and fmt is not None:
            args += ["--format", fmt]
            continue
        if not (param.required or param.name in OPTIONAL):
            continue
        if param.name not in VALUES:
            pytest.fail(f"add a value for {param.name!r} of `{' '.join(path)}` to VALUES in {__file__}")
        value = {**VALUES, **BY_COMMAND.get(path, {})}[param.name].format(**places)
        args += [value] if isinstance(param, click.Argument) else [param.opts[0], value]
    return args


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed and nothing else of the project."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in PACKAGED:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(origin, source / name)
    wheels = work / "dist"
    # uv from the dev group (a uv venv has no pip); the build uses the setuptools installed here, offline.
    subprocess.run([find_uv_bin(), "build", "--quiet", "--wheel", "--no-build-isolation", "--no-config",
                    "--python", sys.executable, "--out-dir", str(wheels), str(source)], check=True)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [wheel] = wheels.glob("*.whl")
    subprocess.run([find_uv_bin(), "pip", "install", "--quiet", "--no-config", "--no-deps", "--offline",
                    "--python", str(venv / "bin" / "python"), str(wheel)], check=True)
    (site_packages(venv) / DEPENDENCIES_PTH).write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def site_packages(venv: Path) -> Path:
    [path] = (venv / "lib").glob("python3*/site-packages")
    return path


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with no source tree in it."""
    return tmp_path_factory.mktemp("elsewhere")


def run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items()
           if name != "PYTHONPATH" and not name.startswith("PARKING_")}
    return subprocess.run([str(venv / "bin" / "parking-cli"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def lake(venv: Path, elsewhere: Path) -> dict[str, str]:
    """Simulated events, and a data directory they were ingested into, by the installed CLI."""
    events, lake, catalog = elsewhere / "events.jsonl", elsewhere / "lake", elsewhere / "spots.csv"
    simulated = run(venv, elsewhere, "simulate", "--spots", "20", "--days", "2", "--start", START, "--out", str(events),
                    "--catalog", str(catalog))
    assert simulated.returncode == 0, simulated.stderr
    # One bay that has overstayed at VALUES["at"] (12:00 on the last day): a 60-minute bay occupied since 06:00.
    with catalog.open("a") as rows:
        rows.write("Z-OVERSTAY,Z,0,ev,60\n")
    with events.open("a") as lines:
        for hour in ("06", "11"):
            lines.write(json.dumps({"spot_id": "Z-OVERSTAY", "status": "occupied", "timestamp": f"{LAST}T{hour}:00:00Z"}))
            lines.write("\n")
    ingested = run(venv, elsewhere, "ingest", str(events), "--data-dir", str(lake))
    assert ingested.returncode == 0, ingested.stderr
    loaded = run(venv, elsewhere, "spots", "load", str(catalog), "--data-dir", str(lake))
    assert loaded.returncode == 0, loaded.stderr
    # An MSK trigger's on-failure record (lake replay-failed): the batch it gave up on, as its payload.
    failed = elsewhere / "failed-batch.json"
    lines = Path(events).read_bytes().splitlines()[:5]
    failed.write_text(json.dumps({"payload": msk_event(
        msk_record("wheel-events", 0, offset, line, timestamp_ms=0) for offset, line in enumerate(lines))}))
    return {"events": str(events), "lake": str(lake), "failed": str(failed), "catalog": str(catalog)}


@pytest.fixture(scope="module")
def kafka(lake: dict[str, str]) -> Iterator[str]:
    """A Tansu broker whose topic holds the simulated events."""
    from parking.kafka.producer import produce
    from scripts.tansu_broker import create_topic, spawn, stop

    process, bootstrap = spawn()
    try:
        create_topic(bootstrap, VALUES["topic"])
        produce(Path(lake["events"]).read_text().splitlines(), bootstrap, VALUES["topic"])
        yield bootstrap
    finally:
        stop(process)


def test_site_packages_gets_the_parking_package_and_its_metadata_only(venv: Path) -> None:
    names = set(os.listdir(site_packages(venv))) - {DEPENDENCIES_PTH}
    assert {name for name in names if not name.endswith(".dist-info")} == {"parking"}
    assert [name for name in names if name.endswith(".dist-info")] == [
        name for name in names if name.startswith("parking_platform-") and name.endswith(".dist-info")
    ] != []


def test_the_wheel_holds_every_module_the_sql_the_page_and_py_typed(venv: Path) -> None:
    package = site_packages(venv) / "parking"
    installed = {str(path.relative_to(package)) for path in package.rglob("*") if path.is_file()
                 and "__pycache__" not in path.parts}
    wanted = {str(path.relative_to(ROOT / "parking")) for path in (ROOT / "parking").rglob("*.py")}
    wanted |= {f"cli/{path.name}" for path in (ROOT / "cli").glob("*.py")}
    wanted |= {f"sql/{path.name}" for path in (ROOT / "queries").glob("*.sql")} | {"sql/__init__.py", "py.typed"}
    wanted |= {f"sql/_parts/{path.name}" for path in (ROOT / "queries" / "_parts").glob("*.sql")}  # spliced in when read
    wanted |= {f"live/static/{path.name}" for path in (ROOT / "parking" / "live" / "static").iterdir()}  # the page
    assert wanted <= installed, f"missing from the wheel: {sorted(wanted - installed)}"


def test_python_dash_m_parking_runs_the_installed_cli(venv: Path, elsewhere: Path) -> None:
    result = subprocess.run([str(venv / "bin" / "python"), "-c",
                             "import parking, parking.sql, runpy, sys; print(parking.__file__)"],
                            cwd=elsewhere, capture_output=True, text=True, check=True)
    assert Path(result.stdout.strip()).is_relative_to(site_packages(venv)), "imported from the wheel, not the source"
    helped = subprocess.run([str(venv / "bin" / "python"), "-m", "parking", "--help"], cwd=elsewhere,
                            capture_output=True, text=True)
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: parking-cli ")


def test_every_named_query_is_a_command() -> None:
    assert set(QUERIES) <= {path[-1] for path, _ in command_tree(cli)}


@pytest.mark.parametrize(("path", "fmt"), list(invocations()))
def test_the_installed_cli_runs(venv: Path, elsewhere: Path, lake: dict[str, str], request: pytest.FixtureRequest,
                                tmp_path: Path, path: tuple[str, ...], fmt: str | None) -> None:
    command = command_at(path)
    broker = request.getfixturevalue("kafka") if any(p.name == "bootstrap_servers" and p.required
                                                     for p in command.params) else ""
    out = tmp_path / OUT_NAMES.get(path[0], "out")
    result = run(venv, elsewhere, *arguments(path, command, fmt, {**lake, "out": str(out), "broker": broker}))

    assert result.returncode == EXIT.get(path, 0), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.strip() or (out.exists() and out.stat().st_size > 0), "it produced nothing"
    if path[-1] in QUERIES and fmt == "json":
        rows = json.loads(result.stdout)
        wanted = ["zone" if column == GROUP_COLUMN else column for column in QUERIES[path[-1]].columns]  # --by zone
        assert rows and list(rows[0]) == wanted, "the registry's columns, in order"
    if path[0] == "plot":
        assert out.read_bytes().startswith(b"\x89PNG")


def test_the_installed_server_answers(venv: Path, elsewhere: Path, lake: dict[str, str]) -> None:
    """`parking-cli serve` from the wheel serves the live answers until stopped, and stops cleanly when told to."""
    import signal
    import socket
    import time
    from urllib.request import urlopen

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {name: value for name, value in os.environ.items()
           if name != "PYTHONPATH" and not name.startswith("PARKING_")}
    server = subprocess.Popen([str(venv / "bin" / "parking-cli"), "serve", "--port", str(port),
                               "--data-dir", lake["lake"]], cwd=elsewhere, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline, answer = time.monotonic() + 120, None
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urlopen(f"http://127.0.0.1:{port}/api/v1/status", timeout=30) as response:
                    answer = json.loads(response.read())
            except OSError:
                time.sleep(0.2)  # polling for the server to listen, with a deadline
        assert answer is not None and list(answer) == ["at", "lookback_hours", "rows"]  # the lake is of past days
    finally:
        server.send_signal(signal.SIGTERM)  # what a service manager sends (Ctrl-C may be ignored under a CI shell)
        try:
            _, stderr = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    assert "Traceback" not in stderr
