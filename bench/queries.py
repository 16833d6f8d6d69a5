"""Every named query on the local engine, over 1,000 spots for 30 days.

Builds the data set with the simulator and the real ingestion path, then
times each query (best of three) against a baseline measured in the same
run: one full scan of every event in the lake. For `occupancy --date` it
also reports the files and bytes DuckDB read against the whole data set.
Run: ``.venv/bin/python bench/queries.py``.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from parking import queries  # noqa: E402
from parking.analytics.engines import DuckDBEngine  # noqa: E402
from parking.analytics.registry import QUERIES  # noqa: E402
from parking.analytics.windows import days_window, zone  # noqa: E402
from parking.ingest.files import ingest_lines  # noqa: E402
from parking.ingest.sinks import LocalSink  # noqa: E402
from parking.simulate import lines, plan  # noqa: E402

SPOTS, DAYS = 1000, 30
START = date(2026, 10, 1)
NOW = datetime(2026, 10, 31, 12, tzinfo=timezone.utc)
DAY = date(2026, 10, 20)
FIRST, LAST = date(2026, 10, 1), date(2026, 10, 30)


def best_of_three(call) -> float:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        stream = (line.encode() for line in lines(plan(SPOTS, DAYS, START, now=NOW)))
        totals = ingest_lines(stream, LocalSink(root), now=NOW)
        print(f"data set: {totals.stored:,} events from {SPOTS} spots over {DAYS} days, "
              f"{totals.objects_written:,} objects, built in {time.perf_counter() - started:.1f} s")
        engine = DuckDBEngine(root)
        baseline = best_of_three(lambda: engine.run("SELECT count(*) AS n FROM parking_events", {}))
        print(f"baseline: full scan of every event {baseline:.3f} s")
        calls = {
            "status": lambda: queries.status(engine=engine, now=NOW),
            "occupancy": lambda: queries.occupancy(DAY, engine=engine, now=NOW),
            "utilization": lambda: queries.utilization(FIRST, LAST, engine=engine, now=NOW),
            "patterns": lambda: queries.patterns(FIRST, LAST, tz="Europe/Paris", engine=engine, now=NOW),
            "turnover": lambda: queries.turnover(FIRST, LAST, engine=engine, now=NOW),
            "dwell": lambda: queries.dwell(FIRST, LAST, engine=engine, now=NOW),
            "health": lambda: queries.health(engine=engine, now=NOW),
        }
        for name, call in calls.items():
            seconds = best_of_three(call)
            print(f"{name:<12} {seconds:.3f} s  ({seconds / baseline:.2f} x full scan)")

        files = list(Path(root, "parking-data").rglob("*.json.gz"))
        window = days_window(DAY, DAY, zone("UTC"), NOW)
        params = queries.query_params(QUERIES["occupancy"], window, timedelta(hours=24), {"day_end_ms": 0})
        profile = engine.explain_analyze(QUERIES["occupancy"].sql, params)
        read_files = int(re.search(r"Total Files Read:\s*(\d+)", profile).group(1))
        read_bytes = re.search(r"Data Read:\s*([\d.]+ \w+)", profile).group(1)
        needed = [f for f in files if _day_of(f) in (DAY, DAY - timedelta(days=1))]
        print(f"occupancy --date {DAY}: DuckDB read {read_files} of {len(files)} files "
              f"({read_files / len(files):.1%}) and {read_bytes} of {_megabytes(files)} on disk; "
              f"the day and its lookback day hold {len(needed)} files, {_megabytes(needed)}")


def _day_of(path: Path) -> date:
    parts = dict(part.split("=") for part in path.parts if "=" in part)
    return date(int(parts["year"]), int(parts["month"]), int(parts["day"]))


def _megabytes(files: list[Path]) -> str:
    return f"{sum(f.stat().st_size for f in files) / 1e6:.2f} MB"


if __name__ == "__main__":
    main()
