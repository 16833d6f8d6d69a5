"""`parking-cli report`: one self-contained HTML page, checked as text and in a real browser."""

from __future__ import annotations

import base64
import json
import re
import shutil
import tempfile
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from click.testing import CliRunner

from parking import queries
from parking.analytics.catalog import CatalogStore, parse
from parking.analytics.engines import DuckDBEngine
from parking.analytics.forecast import UNCALIBRATED
from parking.analytics.report import (
    GROUP_ROWS,
    ReportContent,
    ReportInputs,
    Section,
    build_report,
    forecast_section,
    frame_section,
    render_html,
)
from parking.cli.main import cli
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from parking.simulate import lines, plan

NOW = datetime(2024, 4, 1, tzinfo=timezone.utc)
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "test-artifacts"
HOSTILE_SPOT = "<img src=x onerror=alert(1)>"
ZONES = 40  # one bay a zone: a garage whose zone tables must be cut short
TZ = "Europe/Paris"
FIRST, LAST = date(2024, 3, 25), date(2024, 3, 31)  # the second week of the lake; its last day changes to CEST
DURATION = re.compile(r"^(-|\d+ min|\d+ h( \d+ min)?|\d+ d( \d+ h)?)$")


def catalog() -> str:
    """40 bays in 40 zones on two levels; every third bay allows 2 hours at most."""
    rows = ["spot_id,zone,level,bay_type,max_stay_minutes"]
    for number in range(ZONES):
        rows.append(f"A-{number + 1:03d},Zone {number:02d},{number % 2},standard,{120 if number % 3 == 0 else ''}")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """Two weeks of a 40-bay garage in 40 zones, and one uncatalogued bay whose name is HTML."""
    root = tmp_path_factory.mktemp("report")
    stream = [*lines(plan(ZONES, 14, date(2024, 3, 18), seed=5, now=NOW))]  # seed 5: a stuck sensor to visit
    stream += [json.dumps({"spot_id": HOSTILE_SPOT, "status": status, "timestamp": f"2024-03-25T{hour}:00:00Z"})
               for hour, status in (("08", "occupied"), ("09", "free"), ("10", "occupied"))]
    ingest_lines((line.encode() for line in stream), LocalSink(root), now=NOW)
    CatalogStore(root).replace(parse(catalog()))
    return root


@pytest.fixture(scope="module")
def week(lake: Path) -> ReportContent:
    """The report of 2024-03-25 to 03-31 in Paris, built once for the tests of its content."""
    return build_report(FIRST, LAST, tz=TZ, engine=DuckDBEngine(lake), now=NOW)


@pytest.fixture(scope="module")
def page(lake: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    args = ["report", "--from", str(FIRST), "--to", str(LAST), "--tz", TZ, "--data-dir", str(lake), "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out}\n"
    return out


def section(content: ReportContent, title: str) -> Section:
    [found] = [section for section in content.sections if section.title == title]
    return found


def percent(cell: str) -> float:
    return float(cell.removesuffix("\u00a0%"))


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


def test_the_forecast_shows_each_zones_next_hours_as_the_forecast_query_gives_them(lake: Path, week) -> None:
    """From the window's end, per zone fullest first: the rate and its 80 % interval of each hour (section 8)."""
    end = datetime.combine(LAST + timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo(TZ)) - timedelta(milliseconds=1)
    want = queries.forecast(end, tz=TZ, engine=DuckDBEngine(lake), now=NOW)
    shown = section(week, "The next 6 hours by zone, from 2024-03-31 23:00")
    [table] = shown.tables
    assert table.columns == ["zone", *(f"{hour:%H:%M}" for hour in want["hour"].unique())]
    assert len(table.columns) == 7
    peaks = want.groupby("zone")["occupancy_rate"].max().sort_values(ascending=False, kind="stable")
    assert [row[0] for row in table.rows] == [zone for zone in peaks.index[:GROUP_ROWS]]
    first = want[want["zone"] == table.rows[0][0]].iloc[0]
    assert table.rows[0][1] == (f"{first.occupancy_rate * 100:.0f}\u00a0%\n"
                                f"{first.low * 100:.0f}\u2013{first.high * 100:.0f}")


@pytest.mark.parametrize(("last", "marked"), [(date(2024, 3, 20), True), (LAST, False)])
def test_an_interval_with_too_little_history_to_calibrate_it_is_marked_and_the_note_says_why(
        lake: Path, last: date, marked: bool) -> None:
    """Three days into the lake (from 2024-03-18) no interval is calibrated; two weeks in, every one is."""
    inputs = ReportInputs(last, last, TZ, None, DuckDBEngine(lake), NOW)
    shown = forecast_section(inputs)
    assert shown is not None
    [table] = shown.tables
    cells = [cell for row in table.rows for cell in row[1:]]
    assert {cell.endswith("\u00a0*") for cell in cells} == {marked}
    assert all(cell.split("\n")[1] == "0\u2013100\u00a0*" for cell in cells) or not marked
    assert (f"* The 80 % interval is 0-100 % at every hour: {UNCALIBRATED}." in shown.note) is marked


def test_the_report_has_every_section_in_order(page: Path) -> None:
    assert parsed(page).headings == [
        "Summary", "Availability by zone at 2024-03-31 23:59", "Availability by level at 2024-03-31 23:59",
        "The next 6 hours by zone, from 2024-03-31 23:00", "Occupancy over the window", "This week against last week", "Occupancy by zone", "Occupancy by level",
        "Weekday by hour", "The last day, 2024-03-31", "Best- and worst-used bays", "Turnover", "Turnover by zone",
        "Dwell", "Dwell by zone", "Overstays at 2024-03-31 23:59", "Sensors to check",
    ]


def test_the_report_needs_no_network_and_no_other_file(page: Path) -> None:
    found = parsed(page)
    assert found.scripts == 0
    assert found.references and all(ref.startswith("data:") for ref in found.references), found.references
    assert "http://" not in page.read_text() and "https://" not in page.read_text()


def test_every_picture_is_an_embedded_png(page: Path) -> None:
    images = parsed(page).images
    assert len(images) == 4
    for source in images:
        prefix, encoded = source.split(",", 1)
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(encoded).startswith(b"\x89PNG\r\n\x1a\n")


def test_names_from_the_data_are_escaped(lake: Path) -> None:
    content = build_report(date(2024, 3, 25), date(2024, 3, 25), engine=DuckDBEngine(lake), now=NOW)
    html = render_html(content)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert HOSTILE_SPOT not in html


def test_the_ten_best_and_worst_used_bays_count_the_report_s_local_days(lake: Path, week: ReportContent) -> None:
    best, worst = section(week, "Best- and worst-used bays").tables
    local = queries.utilization(FIRST, LAST, tz=TZ, engine=DuckDBEngine(lake), now=NOW)
    utc = queries.utilization(FIRST, LAST, engine=DuckDBEngine(lake), now=NOW)
    ranked = local.sort_values(["utilization", "spot_id"], ascending=[False, True])
    assert [row[0] for row in best.rows] == ranked["spot_id"].tolist()[:10]
    assert [row[0] for row in worst.rows] == ranked["spot_id"].tolist()[::-1][:10]
    assert [row[1] for row in best.rows] == [f"{value * 100:.1f}\u00a0%" for value in ranked["utilization"][:10]]
    differs = local.set_index("spot_id")["utilization"] - utc.set_index("spot_id")["utilization"]
    assert differs.abs().max() > 1e-3, "Paris days are not UTC days: the test tells them apart"


def test_sensors_to_check_are_the_flagged_ones(lake: Path, week: ReportContent) -> None:
    """Asked at the window's end: the last millisecond of 2024-03-31 in Paris."""
    health = queries.health(datetime(2024, 3, 31, 21, 59, 59, 999000, tzinfo=timezone.utc), engine=DuckDBEngine(lake),
                            now=NOW)
    flagged = health[health["flags"] != ""]
    assert len(flagged) > 0, "the simulated garage has silent sensors"
    [table] = section(week, "Sensors to check").tables
    assert sorted(row[0] for row in table.rows) == sorted(flagged["spot_id"])


def test_the_summary_comes_first_and_keeps_enforcing_and_checking_apart(lake: Path, week: ReportContent) -> None:
    """METRICS.md section 7: a stay on a flagged sensor is the technician's, not the officer's."""
    engine = DuckDBEngine(lake)
    end = datetime(2024, 3, 31, 21, 59, 59, 999000, tzinfo=timezone.utc)
    health = queries.health(end, engine=engine, now=NOW)
    flagged = set(health.loc[health["flags"] != "", "spot_id"])
    overstays = queries.overstays(end, engine=engine, now=NOW)
    assert week.sections[0].title == "Summary"
    facts = dict(week.sections[0].facts)
    assert facts["sensors to check"] == f"{len(flagged):,}"
    assert facts["stays to enforce"] == f"{len(set(overstays['spot_id']) - flagged):,}"
    zones = queries.utilization(FIRST, LAST, by="zone", tz=TZ, engine=engine, now=NOW).dropna(subset=["zone"])
    top = zones.sort_values(["utilization", "zone"], ascending=[False, True]).head(3)
    assert facts["fullest zones"] == "\n".join(f"{row.zone}: {row.utilization * 100:.1f}\u00a0%" for row in top.itertuples())
    hourly = pd.concat([queries.occupancy(FIRST + timedelta(days=n), tz=TZ, engine=engine, now=NOW) for n in range(7)],
                       ignore_index=True)
    peak = hourly.loc[hourly["occupancy_rate"].idxmax()]
    assert facts["busiest hour"] == f"{peak['hour']:%a %d %b %H:00}, {peak['occupancy_rate'] * 100:.1f}\u00a0%"


def test_this_week_is_set_against_the_same_weekday_last_week(lake: Path, week: ReportContent) -> None:
    engine = DuckDBEngine(lake)
    [table] = section(week, "This week against last week").tables
    assert len(table.rows) == 7
    for offset, row in enumerate(table.rows):
        day, before = FIRST + timedelta(days=offset), FIRST - timedelta(days=7 - offset)
        now_rate = queries.occupancy(day, tz=TZ, engine=engine, now=NOW)["occupancy_rate"].mean()
        then_rate = queries.occupancy(before, tz=TZ, engine=engine, now=NOW)["occupancy_rate"].mean()
        assert row[0] == f"{day:%a %d %b}" and row[2] == f"{before:%a %d %b}"
        assert (row[1], row[3]) == (f"{now_rate * 100:.1f}\u00a0%", f"{then_rate * 100:.1f}\u00a0%")
        assert row[4] == f"{(now_rate - then_rate) * 100:+.1f} pts"
    hourly = [queries.occupancy(FIRST + timedelta(days=n), tz=TZ, engine=engine, now=NOW) for n in range(-7, 7)]
    this, last = (pd.concat(part, ignore_index=True)["occupancy_rate"].mean() for part in (hourly[7:], hourly[:7]))
    assert dict(week.sections[0].facts)["last 7 days vs the 7 before"] == (
        f"{this * 100:.1f}\u00a0% vs {last * 100:.1f}\u00a0% ({(this - last) * 100:+.1f} pts)")


@pytest.mark.parametrize(("title", "order"), [
    ("Availability by zone at 2024-03-31 23:59", "occupancy"),
    ("Occupancy by zone", "occupancy"),
])
def test_forty_zones_show_the_fullest_and_say_how_many_more(week: ReportContent, title: str, order: str) -> None:
    [table] = section(week, title).tables
    assert len(table.rows) == GROUP_ROWS
    assert table.caption == f"The {GROUP_ROWS} fullest of {ZONES + 1} zones"  # and the uncatalogued bay's null group
    assert table.more == f"and {ZONES + 1 - GROUP_ROWS} more zones"
    rates = [percent(row[table.columns.index(order)]) for row in table.rows]
    assert rates == sorted(rates, reverse=True)


def test_occupancy_by_zone_and_level_shows_occupancy_not_raw_seconds(week: ReportContent) -> None:
    for title in ("Occupancy by zone", "Occupancy by level"):
        [table] = section(week, title).tables
        assert list(table.columns[1:]) == ["occupancy", "occupied bay-hours", "observed bay-hours"]


def test_every_duration_is_written_one_way(week: ReportContent, page: Path) -> None:
    durations = {"Dwell": ("median", "90th percentile", "longest"), "Dwell by zone": ("median", "90th percentile",
                 "longest"), "Best- and worst-used bays": ("occupied", "observed"),
                 "Sensors to check": ("silent for", "in this state for")}
    for title, columns in durations.items():
        for table in section(week, title).tables:
            for column in columns:
                cells = [row[list(table.columns).index(column)] for row in table.rows]
                assert cells and all(DURATION.match(cell) for cell in cells), (title, column, cells)
    assert all(DURATION.match(value) for label, value in section(week, "Dwell").facts if label.endswith(" stay"))
    text = page.read_text()
    assert "(h)" not in text and "minutes" not in re.sub(r"<[^>]+>", "", text)


@pytest.mark.parametrize(("rows", "caption"), [(1, "1 row"), (2, "2 rows"), (60, "the first 50 of 60 rows")])
def test_a_table_caption_counts_its_rows_in_good_english(rows: int, caption: str) -> None:
    frame = pd.DataFrame({"spot_id": [f"A-{n}" for n in range(rows)], "stay_minutes": [72.0] * rows})
    [table] = frame_section("Stays", frame).tables
    assert table.caption == caption
    assert table.columns == ["spot id", "stay"] and table.rows[0] == ["A-0", "1 h 12 min"]


def test_the_catalog_footnote_is_said_once(page: Path) -> None:
    assert page.read_text().count("spot catalog in force") == 1


def test_report_progress_counts_up_to_its_total(lake: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    build_report(FIRST, LAST, tz=TZ, engine=DuckDBEngine(lake), now=NOW, on_step=lambda *step: seen.append(step))
    done = [step[1] for step in seen]
    assert done == sorted(done) and all(step[1] < step[2] for step in seen)
    assert seen[0][0] == f"occupancy of {FIRST}" and len(seen) > 7


def test_a_report_of_nothing_observed_is_not_written(lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    result = CliRunner().invoke(cli, ["report", "--from", "2025-01-01", "--to", "2025-01-07", "--data-dir", str(lake),
                                      "--out", str(out)])
    assert result.exit_code == 3 and not out.exists()
    assert result.stderr.startswith("Nothing observed: ")


def test_the_template_ships_as_package_data() -> None:
    assert resources.files("parking.analytics").joinpath("report.html.j2").is_file()


# What the page looks like at a width: whatever is wider than its box, and the pictures' widths.
LAYOUT = """() => {
  const cut = element => element.scrollWidth > element.clientWidth + 1;
  return {
    page: document.documentElement.scrollWidth,
    tables: [...document.querySelectorAll('.table')].filter(cut).map(box => box.querySelector('caption').textContent),
    tiles: [...document.querySelectorAll('dl.facts dt, dl.facts dd')].filter(cut).map(tile => tile.textContent),
    images: [...document.images].map(image => image.complete ? image.naturalWidth : 0),
    widest_image: Math.max(...[...document.images].map(image => image.getBoundingClientRect().right)),
  };
}"""


@pytest.mark.parametrize("width", [390, 1400])
def test_the_report_renders_in_a_real_browser(page: Path, width: int) -> None:
    """Debian's Chromium (make chromium), headless, on a phone and on a desktop: nothing wider than the
    screen, no table or tile cut, every picture loaded, no console error; a screenshot kept."""
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
                viewport={"width": width, "height": 900},
            )
            try:
                view = browser.new_page()
                view.on("console", lambda message: message.type in ("error", "warning") and problems.append(message.text))
                view.on("pageerror", lambda error: problems.append(str(error)))
                view.on("requestfailed", lambda request: problems.append(f"failed: {request.url[:80]}"))
                view.goto(page.as_uri(), wait_until="load")
                layout = view.evaluate(LAYOUT)
                title = view.title()
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                view.screenshot(path=str(ARTIFACTS / f"report-{width}.png"), full_page=True)
            finally:
                browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert problems == []
    assert layout["page"] <= width, "the page scrolls sideways"
    assert layout["tables"] == [], "tables wider than their box"
    assert layout["tiles"] == [], "tile text cut"
    assert len(layout["images"]) == 4 and all(w > 0 for w in layout["images"]), layout["images"]
    assert layout["widest_image"] <= width
    assert title == "Parking report, 2024-03-25 to 2024-03-31 (Europe/Paris)"
    assert (ARTIFACTS / f"report-{width}.png").read_bytes().startswith(b"\x89PNG")


def test_thirty_days_of_dates_never_overlap_on_the_occupancy_chart() -> None:
    """The x-axis labels of a 30-day window, as drawn: no two touch."""
    from parking.analytics import plots

    hours = pd.date_range("2024-03-01", periods=30 * 24, freq="h", tz=TZ)
    frame = pd.DataFrame({"hour": hours, "occupancy_rate": [0.5] * len(hours)})
    figure = plots.occupancy_line(frame, "30 days")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    labels = [label for label in figure.axes[0].get_xticklabels() if label.get_text()]
    boxes = sorted((label.get_window_extent(renderer) for label in labels), key=lambda box: box.x0)
    assert len(boxes) >= 3
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:], strict=False))


def test_any_answer_plugs_in_as_a_table_section(lake: Path) -> None:
    """What a zone section (availability, overstays) will be: one call on a query's frame."""
    frame = queries.status("2024-03-25T12:00:00Z", engine=DuckDBEngine(lake), now=NOW).head(3)
    frame = frame.assign(occupancy_rate=[0.5, None, 1.0], observed_seconds=[3600.0, 7200.0, 0.0])
    section = frame_section("Spots", frame, tz="Europe/Paris")
    [table] = section.tables
    assert table.columns == ["spot id", "status", "since", "last event", "stale", "occupancy rate", "observed"]
    first = table.rows[0]
    assert first[5:] == ["50.0\u00a0%", "1 h"] and table.rows[1][5] == "-" and table.rows[1][6] == "2 h"
    assert first[2] == frame["since"].iloc[0].tz_convert("Europe/Paris").strftime("%Y-%m-%d %H:%M")
    assert frame_section("Nothing", frame.iloc[0:0]) is None
