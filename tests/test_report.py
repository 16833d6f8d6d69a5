"""`parking-cli report`: one self-contained HTML page, checked as text and in a real browser."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from datetime import date, datetime, timezone
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking.analytics.engines import DuckDBEngine
from parking.analytics.report import ReportContent, build_report, render_html
from parking.cli.main import cli
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from parking.simulate import lines, plan

NOW = datetime(2024, 4, 1, tzinfo=timezone.utc)
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "test-artifacts"
HOSTILE_SPOT = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """Two weeks of a 40-bay garage, and one bay whose name is HTML."""
    root = tmp_path_factory.mktemp("report")
    stream = [*lines(plan(40, 14, date(2024, 3, 18), seed=5, now=NOW))]  # seed 5: a stuck sensor to visit
    stream += [json.dumps({"spot_id": HOSTILE_SPOT, "status": status, "timestamp": f"2024-03-25T{hour}:00:00Z"})
               for hour, status in (("08", "occupied"), ("09", "free"), ("10", "occupied"))]
    ingest_lines((line.encode() for line in stream), LocalSink(root), now=NOW)
    return root


@pytest.fixture(scope="module")
def week(lake: Path) -> ReportContent:
    """The report of 2024-03-18 to 03-24 (UTC), built once for the tests of its content."""
    return build_report(date(2024, 3, 18), date(2024, 3, 24), engine=DuckDBEngine(lake), now=NOW)


@pytest.fixture(scope="module")
def page(lake: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    args = ["report", "--from", "2024-03-18", "--to", "2024-03-24", "--tz", "Europe/Paris", "--data-dir", str(lake),
            "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out}\n"
    return out


class Page(HTMLParser):
    """What a page refers to: image sources, links, scripts, headings."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.references: list[str] = []
        self.scripts = 0
        self.headings: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values["src"] or "")
        self.references += [value or "" for name, value in attrs if name in ("src", "href")]
        self.scripts += tag == "script"
        self._in_heading = tag == "h2"

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self.headings.append(data.strip())
            self._in_heading = False


def parsed(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_the_report_has_every_section_in_order(page: Path) -> None:
    assert parsed(page).headings == [
        "Availability by zone at 2024-03-24 23:59", "Availability by level at 2024-03-24 23:59",
        "Occupancy over the window", "Occupancy by zone", "Occupancy by level", "Weekday by hour",
        "The last day, 2024-03-24", "Best- and worst-used bays", "Turnover", "Turnover by zone", "Dwell",
        "Dwell by zone", "Overstays at 2024-03-24 23:59", "Sensors that need a visit",
    ]


def test_the_report_needs_no_network_and_no_other_file(page: Path) -> None:
    found = parsed(page)
    assert found.scripts == 0
    assert found.references and all(ref.startswith("data:") for ref in found.references), found.references
    assert "http://" not in page.read_text() and "https://" not in page.read_text()


def test_every_picture_is_an_embedded_png(page: Path) -> None:
    images = parsed(page).images
    assert len(images) == 3
    for source in images:
        prefix, encoded = source.split(",", 1)
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(encoded).startswith(b"\x89PNG\r\n\x1a\n")


def test_names_from_the_data_are_escaped(lake: Path) -> None:
    content = build_report(date(2024, 3, 25), date(2024, 3, 25), engine=DuckDBEngine(lake), now=NOW)
    html = render_html(content)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert HOSTILE_SPOT not in html


def test_the_ten_best_and_worst_used_bays(lake: Path, week: ReportContent) -> None:
    from parking import queries

    [bays] = [section for section in week.sections if section.title == "Best- and worst-used bays"]
    best, worst = bays.tables
    frame = queries.utilization("2024-03-18", "2024-03-24", engine=DuckDBEngine(lake), now=NOW)
    ranked = frame.sort_values(["utilization", "spot_id"], ascending=[False, True])["spot_id"].tolist()
    assert [row[0] for row in best.rows] == ranked[:10]
    assert [row[0] for row in worst.rows] == ranked[::-1][:10]


def test_sensors_that_need_a_visit_are_the_flagged_ones(lake: Path, week: ReportContent) -> None:
    """Asked at the window's end: the last millisecond of 2024-03-24."""
    from parking import queries

    [visit] = [section for section in week.sections if section.title == "Sensors that need a visit"]
    health = queries.health(datetime(2024, 3, 24, 23, 59, 59, 999000, tzinfo=timezone.utc), engine=DuckDBEngine(lake),
                            now=NOW)
    flagged = health[health["flags"] != ""]
    assert len(flagged) > 0, "the simulated garage has silent sensors"
    [table] = visit.tables
    assert sorted(row[0] for row in table.rows) == sorted(flagged["spot_id"])


def test_a_report_of_nothing_observed_is_not_written(lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    result = CliRunner().invoke(cli, ["report", "--from", "2025-01-01", "--to", "2025-01-07", "--data-dir", str(lake),
                                      "--out", str(out)])
    assert result.exit_code == 3 and not out.exists()
    assert result.stderr.startswith("Nothing observed: ")


def test_the_template_ships_as_package_data() -> None:
    assert resources.files("parking.analytics").joinpath("report.html.j2").is_file()


def test_the_report_renders_in_a_real_browser(page: Path) -> None:
    """Debian's Chromium (make chromium), headless: no console error, every picture loaded, a screenshot kept."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make chromium` (make test does)"
    problems: list[str] = []
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(  # a fresh --user-data-dir
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
                viewport={"width": 1280, "height": 900},
            )
            try:
                view = browser.new_page()
                view.on("console", lambda message: message.type in ("error", "warning") and problems.append(message.text))
                view.on("pageerror", lambda error: problems.append(str(error)))
                view.on("requestfailed", lambda request: problems.append(f"failed: {request.url[:80]}"))
                view.goto(page.as_uri(), wait_until="load")
                widths = view.eval_on_selector_all(
                    "img", "images => images.map(image => image.complete ? image.naturalWidth : 0)")
                title = view.title()
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                view.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            finally:
                browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert problems == []
    assert len(widths) == 3 and all(width > 0 for width in widths), widths
    assert title == "Parking report, 2024-03-18 to 2024-03-24 (Europe/Paris)"
    assert (ARTIFACTS / "report.png").read_bytes().startswith(b"\x89PNG")


def test_any_answer_plugs_in_as_a_table_section(lake: Path) -> None:
    """What a zone section (availability, overstays) will be: one call on a query's frame."""
    from parking import queries
    from parking.analytics.report import frame_section

    frame = queries.status("2024-03-25T12:00:00Z", engine=DuckDBEngine(lake), now=NOW).head(3)
    frame = frame.assign(occupancy_rate=[0.5, None, 1.0], observed_seconds=[3600.0, 7200.0, 0.0])
    section = frame_section("Spots", frame, tz="Europe/Paris")
    [table] = section.tables
    assert table.columns == ["spot id", "status", "since", "last event", "stale", "occupancy rate", "observed (h)"]
    first = table.rows[0]
    assert first[5:] == ["50.0 %", "1.00"] and table.rows[1][5] == "-"
    assert first[2] == frame["since"].iloc[0].tz_convert("Europe/Paris").strftime("%Y-%m-%d %H:%M")
    assert frame_section("Nothing", frame.iloc[0:0]) is None
