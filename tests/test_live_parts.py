"""The live side's parts: the cache, the maps' layout, the live answers' module and `parking-cli serve`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking.analytics.catalog import CatalogRow
from parking.cli.main import cli
from parking.errors import InvalidArgument
from parking.live.answers import live_answer
from parking.live.cache import LiveCache
from parking.live.page import layout
from tests.live_support import get, make_garage, source


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_keeps_an_answer_until_the_version_changes_or_it_ages() -> None:
    clock, version, made = Clock(), [1], []
    cache = LiveCache(lambda: version[0], max_age=5, check_every=0.2, clock=clock)

    def make() -> int:
        made.append(clock.now)
        return len(made)

    assert [cache.get("k", make) for _ in range(3)] == [1, 1, 1]
    version[0] = 2
    assert cache.get("k", make) == 1, "the version is looked at once per check_every"
    clock.now = 0.25
    assert cache.get("k", make) == 2, "a new version makes it again"
    clock.now = 5.2
    assert cache.get("k", make) == 2
    clock.now = 5.3
    assert cache.get("k", make) == 3, "older than max_age"
    assert cache.get("other", make) == 4 and made == [0.0, 0.25, 5.3, 5.3]


def test_while_one_caller_makes_an_answer_the_others_get_the_kept_one() -> None:
    clock, version = Clock(), [1]
    cache = LiveCache(lambda: version[0], check_every=0, clock=clock)
    assert cache.get("k", lambda: "old") == "old"
    version[0] = 2
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(30)
        return "new"

    maker = threading.Thread(target=lambda: cache.get("k", slow))
    maker.start()
    assert started.wait(30)
    assert cache.get("k", lambda: "never") == "old"
    release.set()
    maker.join(30)
    assert cache.get("k", lambda: "never") == "new"


def row(spot: str, zone: str, level: str = "0", **position: float) -> CatalogRow:
    return CatalogRow(spot, zone, level, **position)


def test_a_level_is_drawn_from_x_y_then_lat_lon_then_a_grid_by_zone() -> None:
    rows = [row("P1", "Z", "1", x=0, y=0), row("P2", "Z", "1", x=3, y=0),
            row("G1", "Z", "2", lat=48.0, lon=11.0), row("G2", "Z", "2", lat=48.0, lon=11.0001),
            row("N1", "North", "-1"), row("N2", "North", "-1"), row("S1", "South", "-1", x=1, y=1)]
    levels = {level.name: level for level in layout(rows)}
    assert [level.name for level in layout(rows)] == ["-1", "1", "2"]
    assert (levels["1"].kind, levels["1"].xs, levels["1"].ys) == ("plan", (0.0, 3.0), (0.0, 0.0))
    assert levels["1"].radius == pytest.approx(0.42 * 3)
    geo = levels["2"]
    assert geo.kind == "geo" and geo.xs[1] - geo.xs[0] == pytest.approx(7.45, abs=0.05)  # metres east
    grid = levels["-1"]  # one bay without a position: the whole level is a grid by zone
    assert grid.kind == "grid" and grid.spots == ("N1", "N2", "S1")
    assert grid.xs[:2] == (0.0, 1.0) and grid.ys[2] > grid.ys[0] + 1, "South is a block of its own"


@pytest.mark.parametrize("bays", [1, 2, 5, 40], ids=lambda n: f"{n}-bays")
def test_a_map_of_a_few_bays_draws_them_small_and_centred(bays) -> None:
    [level] = layout([row(f"B{n}", "Z", x=3 * n, y=0) for n in range(bays)])
    left, _, width, _ = level.bounds
    assert level.radius / width <= 1 / 24, "a bay is at most a 24th of the map's width"
    assert left <= min(level.xs) - 2 * level.radius and left + width >= max(level.xs) + 2 * level.radius
    assert left + width / 2 == pytest.approx((min(level.xs) + max(level.xs)) / 2)


def test_only_the_four_live_answers_exist(tmp_path) -> None:
    with pytest.raises(InvalidArgument, match="'health' is not a live answer"):
        live_answer(source(tmp_path), "health")


BAD_SERVE = [
    (["--port", "70000"], "Error: Invalid value for '--port': 70000 is not in the range 0<=x<=65535."),
    (["--host", "a b"], "Error: Invalid value for '--host': 'a b' is not an IP address or a host name"),
    (["--lookback", "0"], "Error: Invalid value for '--lookback'"),
    (["--data-dir", "/nonexistent/lake"], "Error: data directory '/nonexistent/lake' does not exist"),
]


@pytest.mark.parametrize(("args", "line"), BAD_SERVE, ids=[a[0] for a, _ in BAD_SERVE])
def test_a_bad_serve_argument_is_one_line_and_exit_2(args, line) -> None:
    result = CliRunner().invoke(cli, ["serve", *args])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(line) and result.stderr.count("\n") == 1, result.stderr


def test_serve_says_where_it_listens_and_answers_there(tmp_path) -> None:
    lake = make_garage(tmp_path / "lake", 20, days=1)
    command = [str(Path(sys.executable).with_name("parking-cli")), "serve", "--data-dir", str(lake), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = process.stdout.readline()  # blocks until the server listens (or exits)
        assert line.startswith(f"serving {lake}/ on http://127.0.0.1:"), (line, process.stderr.read() if process.poll() else "")
        url = line.split(" on ")[1].split()[0]
        code, _, body = get(url + "api/v1/availability?by=level")
        assert code == 200 and json.loads(body)["rows"][0]["level"] == "0"
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory) -> Path:
    return make_garage(tmp_path_factory.mktemp("serve") / "lake", 20, days=1)


@pytest.mark.parametrize(("stop", "said"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C (SIGINT)")],
                         ids=["SIGTERM", "Ctrl-C"])
def test_serve_stops_cleanly_on_a_signal_and_says_so(small_lake, stop, said) -> None:
    command = [str(Path(sys.executable).with_name("parking-cli")), "serve", "--data-dir", str(small_lake),
               "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout.readline().startswith("serving ")  # listening: the signal handlers are in place
    finally:
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and stderr == f"stopped cleanly on {said}\n"


def test_serve_on_a_port_in_use_is_one_line_and_exit_1(small_lake) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--data-dir", str(small_lake), "--port", str(port)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (f"Error: cannot listen on 127.0.0.1 port {port}: Address already in use "
                             "(another program uses it: choose another --port)\n")


def test_serve_on_an_address_not_of_this_machine_is_exit_2_before_any_warning(small_lake) -> None:
    result = CliRunner().invoke(cli, ["serve", "--data-dir", str(small_lake), "--host", "192.0.2.1"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "Error: Invalid value for '--host': '192.0.2.1' is not an address of this machine\n"


def test_a_broken_state_table_is_a_503_naming_the_file_and_the_remedy(small_lake, tmp_path, caplog) -> None:
    from parking.analytics.catalog import CatalogStore
    from parking.analytics.engines import DuckDBEngine
    from parking.config import Settings
    from parking.live.answers import LiveSource
    from parking.live.app import create_app
    from tests.live_support import serving

    lake = tmp_path / "lake"
    shutil.copytree(small_lake, lake)
    table = lake / "parking-state" / "live.sqlite3"
    for leftover in table.parent.glob("live.sqlite3*"):
        leftover.unlink()
    table.write_bytes(b"not a database, " * 512)
    settings = Settings.from_environment(engine="local", data_dir=str(lake))
    live = LiveSource(DuckDBEngine(lake), CatalogStore(lake), 24.0, data_dir=lake, settings=settings)
    with serving(create_app(live)) as base:
        code, _, body = get(base + "/api/v1/status")
    detail = json.loads(body)["detail"]
    assert code == 503 and str(table) in detail and detail.endswith("remove the file, and it is rebuilt from "
                                                                     "the lake when next asked")
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]  # and one line in the server's log
    assert record.getMessage().startswith("live request /api/v1/status failed: ") and str(table) in record.getMessage()


def test_an_unexpected_failure_is_a_503_and_one_log_line_without_a_traceback(small_lake, monkeypatch,
                                                                             caplog) -> None:
    from parking.live.app import Live, create_app
    from tests.live_support import serving

    def broken(self, name, **params):
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(Live, "answer", broken)
    with serving(create_app(source(small_lake))) as base:
        code, _, body = get(base + "/api/v1/overstays")
    assert code == 503 and json.loads(body) == {"detail": "the live answer could not be made (RuntimeError)"}
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == "live request /api/v1/overstays failed: RuntimeError: a bug over two lines"
    assert not record.exc_info, "no traceback in the log"


@pytest.mark.parametrize("path", ["/", "/api/v1/status", "/api/v1/availability?by=level", "/feeds/parkapi.json",
                                  "/feeds/datex2.xml", "/static/live.js", "/openapi.json"])
def test_every_get_answers_head_with_its_headers_and_no_body(small_lake, path) -> None:
    from urllib.request import Request, urlopen

    from parking.live.app import create_app
    from tests.live_support import serving

    with serving(create_app(source(small_lake))) as base:
        got = get(base + path)
        with urlopen(Request(base + path, method="HEAD"), timeout=60) as head:
            assert head.status == 200 and head.read() == b""
            assert head.headers["content-type"] == got[1]["content-type"]


def test_there_is_no_redoc_page_it_would_fetch_a_logo_from_a_cdn(small_lake) -> None:
    from parking.live.app import create_app
    from tests.live_support import serving

    with serving(create_app(source(small_lake))) as base:
        assert get(base + "/redoc")[0] == 404
