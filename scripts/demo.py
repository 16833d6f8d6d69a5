"""`make demo`: simulate a week of a garage, ingest it, and ask it questions.

Runs the real parking-cli, showing each command before its output, against
./data (or PARKING_DATA_DIR). It only ever replaces data it made itself,
which it marks with a `.demo` file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from parking.text import plural

CLI = str(Path(sys.executable).with_name("parking-cli"))
SPOTS, DAYS = 300, 7
SHOWN_ROWS = 12


def run(*args: str, rows: int | None = None, footer: int = 0) -> None:
    """Show a parking-cli command and its output, its table cut to ``rows`` rows (see :func:`trimmed`)."""
    print(f"\n$ parking-cli {' '.join(args)}", flush=True)
    result = subprocess.run([CLI, *args], capture_output=True, text=True, check=False)
    sys.stderr.write(result.stderr)
    lines = result.stdout.splitlines()
    if rows is not None:
        lines = trimmed(lines, rows, footer)
    print("\n".join(lines), flush=True)
    if result.returncode != 0:
        sys.exit(result.returncode)


def trimmed(lines: list[str], rows: int, footer: int = 0) -> list[str]:
    """A table's header and first ``rows`` rows, a line counting the rows left out, then its ``footer`` lines.

    The footer (``status``'s ``300 spots: ...`` under its table) is no row:
    counted as one, 12 of 300 rows shown said ``... 289 more rows``.
    """
    table, below = lines[:max(len(lines) - footer, 0)], lines[max(len(lines) - footer, 0):]
    left_out = len(table) - 1 - rows
    if left_out <= 0:
        return lines
    return [*table[: rows + 1], f"... {plural(left_out, 'more row')}", *below]


def main() -> None:
    data = Path(os.environ.get("PARKING_DATA_DIR", "data"))
    marker = data / ".demo"
    if data.exists() and any(data.iterdir()) and not marker.exists():
        sys.exit(f"{data}/ holds data the demo did not make; set PARKING_DATA_DIR to another directory")
    for made in ("parking-data", "parking-quarantine", "parking-catalog"):
        shutil.rmtree(data / made, ignore_errors=True)
    data.mkdir(parents=True, exist_ok=True)
    marker.write_text("made by `make demo`; safe to delete\n")

    today = date.today()
    start, yesterday = today - timedelta(days=DAYS), today - timedelta(days=1)
    stream, catalog = data / "simulated.jsonl", data / "spots.csv"
    run("simulate", "--spots", str(SPOTS), "--days", str(DAYS + 1), "--start", str(start), "--out", str(stream),
        "--catalog", str(catalog))
    run("ingest", str(stream), "--data-dir", str(data))
    run("spots", "load", str(catalog), "--data-dir", str(data))
    run("--data-dir", str(data), "status", rows=SHOWN_ROWS, footer=1)
    run("--data-dir", str(data), "occupancy", "--date", str(yesterday))
    run("--data-dir", str(data), "patterns", "--from", str(start), "--to", str(yesterday), rows=30)
    run("--data-dir", str(data), "health", rows=SHOWN_ROWS)
    run("--data-dir", str(data), "availability", "--by", "level")
    run("--data-dir", str(data), "availability")
    run("--data-dir", str(data), "overstays", rows=SHOWN_ROWS)
    heatmap = data / "patterns.png"
    run("--data-dir", str(data), "plot", "patterns", "--from", str(start), "--to", str(yesterday),
        "--out", str(heatmap))
    report = data / "report.html"
    run("--data-dir", str(data), "report", "--from", str(start), "--to", str(yesterday), "--out", str(report))
    print(f"\nThe report: {report.resolve().as_uri()}", flush=True)
    cli = Path(sys.executable).with_name("parking-cli")
    print("\nThe live page (bay map, zones, summary; it updates itself):\n"
          f"    {os.path.relpath(cli)} serve --data-dir {data}\n"
          "then open http://127.0.0.1:8000/ (API docs at /docs, feeds at /feeds/parkapi.json and /feeds/datex2.xml)",
          flush=True)


if __name__ == "__main__":
    main()
