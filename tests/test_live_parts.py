"""The live side's parts: the cache, the maps' layout, the live answers' module and `parking-cli serve`."""

from __future__ import annotations

import json
import os
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
