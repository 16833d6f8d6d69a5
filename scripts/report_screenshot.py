"""Refresh docs/report.png: the top of the report of a simulated week, as Chromium shows it at 1,400 px.

Run from the repository with the dev environment: ``.venv/bin/python scripts/report_screenshot.py``.
A 300-bay garage in six zones (the README's), a week in Europe/Paris;
Debian's Chromium through playwright, as tests/test_report.py uses it.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path

from playwright.sync_api import sync_playwright

from parking.analytics.catalog import CatalogStore, parse
from parking.analytics.engines import DuckDBEngine
from parking.analytics.report import build_report, write_report
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from parking.simulate import catalog_csv, lines, plan

OUT = Path(__file__).resolve().parents[1] / "docs" / "report.png"
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)
WIDTH, HEIGHT = 1400, 1700


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="report-screenshot-"))
    try:
        lake = work / "data"
        ingest_lines((line.encode() for line in lines(plan(300, 14, date(2026, 11, 16), seed=1, now=NOW))),
                     LocalSink(lake), now=NOW)
        CatalogStore(lake).replace(parse(catalog_csv(300)))
        page = write_report(build_report(date(2026, 11, 23), date(2026, 11, 29), tz="Europe/Paris",
                                         engine=DuckDBEngine(lake), now=NOW), work / "report.html")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            try:
                view = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
                view.goto(page.as_uri(), wait_until="load")
                view.screenshot(path=str(OUT), clip={"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT})
            finally:
                browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
