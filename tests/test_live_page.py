"""The live page as a person uses it (issue 26): Debian's Chromium through playwright against a real
uvicorn server on 127.0.0.1 over a simulated garage.

It loads with no console error and no request off the machine, reads at 390 px
and 1,400 px (screenshots kept in build/test-artifacts/), and an event that
frees a bay turns that bay and its zone's count within 2 s, without a reload.
Without a catalog it counts the uncatalogued bays and says how to load one; a
failed refresh greys the figures and keeps their time until one works again;
the forecast's rows are fullest first, its hours in the browser's time; a zone
none of whose bays is known reads "state unknown".
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from parking.analytics.catalog import CatalogStore, parse
from parking.live.app import create_app
from parking.simulate import catalog_csv
from tests.live_support import get, ingest_events, make_garage, serving, source

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "test-artifacts"
SPOTS = 300  # level 0 whole (five zones) and the first zone of level 1
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    return make_garage(tmp_path_factory.mktemp("live-page"), SPOTS)


@pytest.fixture(scope="module")
def base(lake: Path) -> Iterator[str]:
    with serving(create_app(source(lake))) as url:
        yield url


@contextmanager
def browser_page(width: int, height: int, **options: Any) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A fresh headless Chromium page (``options``: playwright's context options, e.g. ``timezone_id``); yields
    it, the console errors and every request that left the machine."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make chromium` (make test does)"
    problems: list[str] = []
    outside: list[str] = []
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=ARGS,
                viewport={"width": width, "height": height}, **options)
            try:
                def watch(route: Any) -> None:
                    host = urlsplit(route.request.url).hostname
                    if route.request.url.startswith("data:") or host == "127.0.0.1":
                        route.continue_()
                    else:
                        outside.append(route.request.url)
                        route.abort()

                context.route("**/*", watch)
                view = context.new_page()
                view.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
                view.on("pageerror", lambda error: problems.append(str(error)))
                view.on("requestfailed", lambda request: problems.append(f"failed: {request.url[:100]}"))
                yield view, problems, outside
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1400, 900)], ids=["phone", "desktop"])
def test_the_page_loads_with_no_error_and_nothing_from_outside(base, width, height) -> None:
    from playwright.sync_api import expect

    with browser_page(width, height) as (view, problems, outside):
        view.goto(base + "/", wait_until="load")
        expect(view.locator("#summary .free-now")).to_contain_text("bays free now", timeout=15_000)
        expect(view.locator("#zones li")).to_have_count(6)
        expect(view.locator("svg.map")).to_have_count(2)  # level 0 and level 1
        expect(view.locator("circle[data-state]")).to_have_count(SPOTS)
        expect(view.locator("#forecast tr[data-zone]")).to_have_count(6, timeout=15_000)  # the next hours per zone
        expect(view.locator("#forecast tr").first.locator("th")).to_have_count(7)  # zone, then 6 hours ahead
        first = view.locator("#summary").bounding_box()
        tiles = view.locator("#zones").bounding_box()
        overflow = view.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        summary = view.locator("#summary").inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"live-{width}.png"
        view.screenshot(path=str(shot), full_page=width > 1000)
        rates = view.eval_on_selector_all(
            "#zones li", "tiles => tiles.map(t => t.querySelector('.detail').textContent)")
    assert problems == [] and outside == []
    assert first["y"] < tiles["y"], "the summary line comes first"
    assert overflow <= 0, f"{overflow} px wider than a {width} px screen"
    assert re.search(r"^[\d,]+ bays free now · .*\d+ stays? to enforce · \d+ sensors? to check$", summary), summary
    percents = [int(text.split("·")[1].strip().split("%")[0])
                for text in rates if "% full" in text and "-%" not in text]
    assert percents == sorted(percents, reverse=True), "fullest zones first"
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_freeing_a_bay_turns_it_and_its_zone_within_two_seconds(lake, base) -> None:
    from playwright.sync_api import expect

    with browser_page(1400, 900) as (view, problems, outside):
        view.goto(base + "/", wait_until="load")
        expect(view.locator("circle[data-state]")).to_have_count(SPOTS, timeout=15_000)
        page = json.loads(get(base + "/api/v1/page")[2])
        taken = [bay for level in page["levels"] for bay in level["bays"] if bay[2] == "occupied"]
        assert taken, "the simulated garage has an occupied bay"
        spot, zone = taken[0][0], taken[0][1]
        bay = view.locator(f'circle[data-spot="{spot}"]')
        count = view.locator(f'#zones li[data-zone="{zone}"] .free')
        expect(bay).to_have_attribute("data-state", "occupied")
        before = int(count.get_attribute("data-free"))
        ingest_events(lake, {"spot_id": spot, "status": "free",
                             "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds")})
        landed = time.monotonic()
        expect(bay).to_have_attribute("data-state", "free", timeout=2_000)
        expect(count).to_have_attribute("data-free", str(before + 1), timeout=max(1, 2_000 - (time.monotonic() - landed) * 1000))
        took = time.monotonic() - landed
        navigations = view.evaluate("performance.getEntriesByType('navigation').length")
    assert took <= 2.0 and navigations == 1 and problems == [] and outside == []


GREY = "rgb(138, 143, 152)"  # --unknown


def test_without_a_catalog_the_page_counts_the_uncatalogued_bays_and_says_how_to_load_one(tmp_path) -> None:
    from playwright.sync_api import expect

    lake = make_garage(tmp_path / "lake", 20, days=1, catalog=False)
    with serving(create_app(source(lake))) as url, browser_page(1400, 900) as (view, problems, outside):
        view.goto(url + "/", wait_until="load")
        expect(view.locator("#summary .free-now")).to_contain_text("bays free now", timeout=15_000)
        rows = json.loads(get(url + "/api/v1/availability")[2])["rows"]
        assert [row["zone"] for row in rows] == [None] and rows[0]["capacity"] == 20
        free = rows[0]["free"]
        tile = view.locator('#zones li[data-zone=""]')
        expect(view.locator("#zones li")).to_have_count(1)
        expect(tile.locator(".name")).to_have_text("(uncatalogued)")
        expect(tile.locator(".free")).to_have_text(f"{free} free")
        expect(view.locator("#summary .free-now")).to_have_text(f"{free} bays free now")
        expect(view.locator("#meta")).to_contain_text("20 bays, 0 unknown · as of ")
        expect(view.locator("#notice")).to_be_visible()
        expect(view.locator("#notice")).to_contain_text("No spot catalog is loaded")
        expect(view.locator("#notice code")).to_have_text("parking-cli spots load FILE")
        expect(view.locator("#maps")).to_contain_text("parking-cli spots load FILE")
        overflow = view.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert problems == [] and outside == [] and overflow <= 0


def test_when_the_server_stops_the_figures_are_greyed_and_keep_their_time(lake) -> None:
    from playwright.sync_api import expect

    with browser_page(1400, 900) as (view, problems, outside):
        with serving(create_app(source(lake))) as url:
            view.goto(url + "/", wait_until="load")
            expect(view.locator("circle[data-state]")).to_have_count(SPOTS, timeout=15_000)
            expect(view.locator("body")).not_to_have_class(re.compile("stale"))
        expect(view.locator("body")).to_have_class(re.compile(r"\bstale\b"), timeout=10_000)
        shown = view.evaluate("new Date(document.body.dataset.at).toLocaleTimeString()")
        meta = view.locator("#meta").inner_text()
        free_now = view.locator("#summary .free-now")
        expect(free_now).to_contain_text("bays free now")  # the figures stay on screen...
        colour = free_now.evaluate("node => getComputedStyle(node).color")
        tiles = view.locator("#zones").evaluate("node => getComputedStyle(node).filter")
    assert meta == f"Not updated since {shown}: Failed to fetch", meta
    assert colour == GREY and "grayscale" in tiles, "...greyed out"
    assert outside == []


def test_a_refresh_that_works_again_clears_the_stale_marking(base) -> None:
    from playwright.sync_api import expect

    with browser_page(1400, 900) as (view, problems, outside):
        view.goto(base + "/", wait_until="load")
        expect(view.locator("circle[data-state]")).to_have_count(SPOTS, timeout=15_000)
        failing = lambda route: route.fulfill(status=503, content_type="application/json",  # noqa: E731
                                              body='{"detail": "the lake could not be read"}')
        view.route("**/api/v1/page", failing)
        expect(view.locator("#meta")).to_have_text(
            re.compile(r"^Not updated since \d.*: the lake could not be read$"), timeout=5_000)
        expect(view.locator("body")).to_have_class(re.compile(r"\bstale\b"))
        view.unroute("**/api/v1/page", failing)
        expect(view.locator("body")).not_to_have_class(re.compile("stale"), timeout=5_000)
        expect(view.locator("#meta")).to_contain_text("unknown · as of ")
        colour = view.locator("#summary .free-now").evaluate("node => getComputedStyle(node).color")
    assert colour != GREY and outside == []


def forecast_rows(view: Any) -> list[str]:
    return view.eval_on_selector_all("#forecast tr[data-zone]", "rows => rows.map(r => r.dataset.zone)")


def test_the_forecast_rows_are_fullest_at_their_peak_first(base) -> None:
    from playwright.sync_api import expect

    with browser_page(1400, 900) as (view, problems, outside):
        view.goto(base + "/", wait_until="load")
        expect(view.locator("#forecast tr[data-zone]")).to_have_count(6, timeout=15_000)
        shown = forecast_rows(view)
    peaks: dict[str | None, float] = {}
    for row in json.loads(get(base + "/api/v1/forecast?by=zone&hours=6")[2])["rows"]:
        rate = row["occupancy_rate"] if row["occupancy_rate"] is not None else -1
        peaks[row["zone"]] = max(peaks.get(row["zone"], -1), rate)
    expected = sorted(peaks, key=lambda zone: (zone is None, -peaks[zone], zone or ""))
    assert shown == [zone or "" for zone in expected]
    assert shown != sorted(shown), "the garage's zones peak in another order than their names'"


def test_the_forecast_hours_are_in_the_browsers_local_time(base) -> None:
    from playwright.sync_api import expect

    with browser_page(1400, 900, timezone_id="Asia/Kolkata", locale="en-GB") as (view, problems, outside):
        view.goto(base + "/", wait_until="load")
        expect(view.locator("#forecast tr[data-zone]")).to_have_count(6, timeout=15_000)
        cells = view.eval_on_selector_all("#forecast tr:first-child th",
                                          "cells => cells.map(c => [c.textContent, c.title])")
    hours = sorted({row["hour"] for row in json.loads(get(base + "/api/v1/forecast?by=zone&hours=6")[2])["rows"]})
    utc = [datetime.fromisoformat(hour.replace("Z", "+00:00")) for hour in hours]
    local = [(hour + timedelta(hours=5, minutes=30)).strftime("%H:%M") for hour in utc]  # India: UTC+05:30
    assert cells[1:] == [[label, f"{hour:%H:%M} UTC"] for label, hour in zip(local, utc, strict=True)]


def test_hours_whose_interval_is_not_calibrated_are_marked_and_a_line_says_why(base) -> None:
    """Two days of history: no interval is calibrated yet (parking.analytics.forecast.UNCALIBRATED)."""
    from playwright.sync_api import expect

    from parking.analytics.forecast import UNCALIBRATED

    with browser_page(390, 844) as (view, problems, outside):
        view.goto(base + "/", wait_until="load")
        expect(view.locator("#forecast tr[data-zone]")).to_have_count(6, timeout=15_000)
        marked = view.eval_on_selector_all("#forecast tr:first-child th.uncalibrated", "cells => cells.map(c => c.dataset.hour)")
        note = view.locator("#forecast-note")
        expect(note).to_be_visible()
        expect(note).to_have_text(f"* The 80 % interval is 0-100 % at every hour: {UNCALIBRATED}.")
        title = view.locator("#forecast td.uncalibrated").first.get_attribute("title")
    answer = json.loads(get(base + "/api/v1/forecast?by=zone&hours=6")[2])
    assert marked == answer["uncalibrated_hours"] == sorted({row["hour"] for row in answer["rows"]})
    assert title == f"80 % interval 0% to 100%: {UNCALIBRATED}"
    assert problems == [] and outside == []


def test_a_zone_none_of_whose_bays_is_known_reads_state_unknown(tmp_path) -> None:
    from playwright.sync_api import expect

    lake = make_garage(tmp_path / "lake", 20, days=1)
    CatalogStore(lake).replace(parse(catalog_csv(20) + "Roof-1,Roof,roof,standard,,,,,\n"))  # never reported
    with serving(create_app(source(lake))) as url, browser_page(390, 844) as (view, problems, outside):
        view.goto(url + "/", wait_until="load")
        tile = view.locator('#zones li[data-zone="Roof"]')
        expect(tile).to_have_count(1, timeout=15_000)
        shown = tile.inner_text()
        overflow = view.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert shown.split("\n") == ["Roof", "state unknown", "1 bay"], shown
    assert problems == [] and outside == [] and overflow <= 0
