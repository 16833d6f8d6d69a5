"""The live page as a person uses it (issue 26): Debian's Chromium through playwright against a real
uvicorn server on 127.0.0.1 over a simulated garage.

It loads with no console error and no request off the machine, reads at 390 px
and 1,400 px (screenshots kept in build/test-artifacts/), and an event that
frees a bay turns that bay and its zone's count within 2 s, without a reload.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from parking.live.app import create_app
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
def browser_page(width: int, height: int) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A fresh headless Chromium page; yields it, the console errors and every request that left the machine."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make chromium` (make test does)"
    problems: list[str] = []
    outside: list[str] = []
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=ARGS,
                viewport={"width": width, "height": height})
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
    percents = [int(text.split("·")[1].strip().split("%")[0]) for text in rates if "-%" not in text and "- full" not in text]
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
