"""Every named query on the local engine, at three sizes, against a scan of its own window.

Data sets (simulator + the real ingestion path into the Hive layout):
1,000 spots x 30 days, 1,000 spots x 365 days (~3 M events) and 10,000
spots x 30 days (~2.5 M events). Each is built once into
``build/bench-queries/<spots>x<days>`` (or ``$PARKING_BENCH_CACHE``) and reused
while its ``complete.json`` marker is there.

Each query is timed (best of three, ``--repeat``) against a baseline measured in the same
run: a full scan of the events of the same window, i.e. the query's own
``events`` CTE with the same bound parameters (same files, every column read
and every timestamp parsed), then ``count(*)``. The target is every query
within 3x of that scan. For ``occupancy --date`` it also reports the files
and bytes DuckDB read (EXPLAIN ANALYZE) against the whole data set: it must
read only the day and its lookback day.

Run: ``.venv/bin/python bench/queries.py [--sets 1000x30,1000x365,10000x30]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from parking import queries  # noqa: E402
from parking.analytics.availability import grouping_params, instant_params  # noqa: E402
from parking.analytics.catalog import CatalogStore, parse  # noqa: E402
from parking.analytics.engines import DuckDBEngine  # noqa: E402
from parking.analytics.registry import QUERIES  # noqa: E402
from parking.analytics.windows import days_window, instant_window, to_ms, zone  # noqa: E402  # noqa: E402
from parking.ingest.files import ingest_lines  # noqa: E402
from parking.ingest.sinks import LocalSink  # noqa: E402
from parking.simulate import catalog_csv, lines, plan  # noqa: E402

TARGET_RATIO = 3.0
LOOKBACK = timedelta(hours=24)
CACHE = Path(os.environ.get("PARKING_BENCH_CACHE", Path(__file__).resolve().parent.parent / "build" / "bench-queries"))


@dataclass(frozen=True)
class DataSet:
    spots: int
    days: int
    start: date

    @property
    def key(self) -> str:
        return f"{self.spots}x{self.days}"

    @property
    def now(self) -> datetime:
        """Half a day after the last simulated day."""
        end = self.start + timedelta(days=self.days)
        return datetime(end.year, end.month, end.day, 12, tzinfo=timezone.utc)

    @property
    def first(self) -> date:
        return self.start

    @property
    def last(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    @property
    def day(self) -> date:
        """The occupancy day: two thirds into the set."""
        return self.start + timedelta(days=self.days * 2 // 3)


SETS = {
    data.key: data
    for data in (
        DataSet(1000, 30, date(2026, 10, 1)),
        DataSet(1000, 365, date(2025, 10, 1)),
        DataSet(10000, 30, date(2026, 10, 1)),
    )
}


def build(data: DataSet) -> Path:
    """The set's lake directory, simulated and ingested unless a complete copy is cached."""
    root = CACHE / data.key
    marker = root / "complete.json"
    if marker.exists():
        totals = json.loads(marker.read_text())
        print(f"data set {data.key}: {totals['stored']:,} events, {totals['objects']:,} objects (cached in {root})")
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    started = time.perf_counter()
    stream = (line.encode() for line in lines(plan(data.spots, data.days, data.start, now=data.now)))
    totals = ingest_lines(stream, LocalSink(root), now=data.now)
    marker.write_text(json.dumps({"stored": totals.stored, "objects": totals.objects_written}))
    print(f"data set {data.key}: {totals.stored:,} events, {totals.objects_written:,} objects, "
          f"built in {time.perf_counter() - started:.1f} s into {root}")
    return root


REPEAT = 3


def best_of(call: Callable[[], object]) -> float:
    """The best of REPEAT runs (``--repeat``), in seconds."""
    timings = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return min(timings)


def scan_sql(name: str) -> str:
    """The query's own params and events CTEs, then a count: a full scan of its window's events."""
    sql = QUERIES[name].sql
    head = sql[: sql.index("\n),\n", sql.index("\nevents AS (")) + 2]
    return head + "\nSELECT count(*) AS events, max(spot_id) AS spot, max(status) AS status, max(ts_ms) AS ts FROM events"


def window_of(name: str, data: DataSet) -> tuple[object, dict]:
    """The window and extra parameters each query is benchmarked with."""
    if name in ("status", "health"):
        length = queries.STATUS_WINDOW if name == "status" else queries.HEALTH_WINDOW
        extra = {"at_ms": to_ms(data.now), "window_ms": queries.to_ms_delta(length), "silent_ms": 0,
                 "flapping_changes": 0, "stuck_ms": 0}
        return instant_window(data.now, length), extra
    if name == "occupancy":
        return days_window(data.day, data.day, zone("UTC"), data.now), {"day_end_ms": 0}
    tz = "Europe/Paris" if name == "patterns" else "UTC"
    return days_window(data.first, data.last, zone(tz), data.now), {"time_zone": tz}


def calls(data: DataSet, engine: DuckDBEngine) -> dict[str, Callable[[], object]]:
    now, first, last = data.now, data.first, data.last
    return {
        "status": lambda: queries.status(engine=engine, now=now),
        "occupancy": lambda: queries.occupancy(data.day, engine=engine, now=now),
        "utilization": lambda: queries.utilization(first, last, engine=engine, now=now),
        "patterns": lambda: queries.patterns(first, last, tz="Europe/Paris", engine=engine, now=now),
        "turnover": lambda: queries.turnover(first, last, engine=engine, now=now),
        "dwell": lambda: queries.dwell(first, last, engine=engine, now=now),
        "health": lambda: queries.health(engine=engine, now=now),
    }


def run_set(data: DataSet) -> list[tuple[str, str, float, float]]:
    root = build(data)
    engine = DuckDBEngine(root)
    results = []
    print(f"{'query':<12} {'window':<26} {'query s':>8} {'scan s':>8} {'ratio':>6}")
    for name, call in calls(data, engine).items():
        window, extra = window_of(name, data)
        params = queries.query_params(QUERIES[name], window, LOOKBACK, {**UNGROUPED, **extra})
        scan = best_of(lambda name=name, params=params: engine.run(scan_sql(name), params))
        seconds = best_of(call)
        ratio = seconds / scan
        span = f"{(window.end - window.start) / timedelta(days=1):.0f} days"
        mark = "" if ratio <= TARGET_RATIO else f"  over {TARGET_RATIO:g}x"
        print(f"{name:<12} {span:<26} {seconds:8.3f} {scan:8.3f} {ratio:6.2f}{mark}")
        results.append((data.key, name, seconds, ratio))
    occupancy_files(data, engine, root)
    return results


def occupancy_files(data: DataSet, engine: DuckDBEngine, root: Path) -> None:
    files = list(Path(root, "parking-data").rglob("*.json.gz"))
    window = days_window(data.day, data.day, zone("UTC"), data.now)
    params = queries.query_params(QUERIES["occupancy"], window, LOOKBACK, {**UNGROUPED, "day_end_ms": 0})
    profile = engine.explain_analyze(QUERIES["occupancy"].sql, params)
    read_files = int(re.search(r"Total Files Read:\s*(\d+)", profile).group(1))
    read_bytes = re.search(r"Data Read:\s*([\d.]+ \w+)", profile).group(1)
    needed = [f for f in files if _day_of(f) in (data.day, data.day - timedelta(days=1))]
    verdict = "only its two days" if read_files <= len(needed) else "MORE than its two days"
    print(f"occupancy --date {data.day}: DuckDB read {read_files} of {len(files)} files "
          f"({read_files / len(files):.1%}) and {read_bytes} of {_megabytes(files)} on disk; "
          f"the day and its lookback day hold {len(needed)} files, {_megabytes(needed)}: {verdict}")


def _day_of(path: Path) -> date:
    parts = dict(part.split("=") for part in path.parts if "=" in part)
    return date(int(parts["year"]), int(parts["month"]), int(parts["day"]))


def _megabytes(files: list[Path]) -> str:
    return f"{sum(f.stat().st_size for f in files) / 1e6:.2f} MB"


# Section 7 (METRICS.md): the catalog's queries on the 1,000-spot sets, with the
# simulator's catalog loaded (5 zones a level, EV and accessible bays): the
# three asked about one instant against a scan of their own read range, and the
# five window queries grouped --by zone against the same scan as above.
UNGROUPED = grouping_params(None)


def zone_calls(data: DataSet, engine: DuckDBEngine) -> dict[str, tuple[Callable[[], object], str, dict]]:
    now, first, last = data.now, data.first, data.last
    instant = {name: instant_params(name, now, LOOKBACK, group_by="zone", threshold=0.9)
               for name in ("availability", "alerts", "overstays")}
    window = days_window(first, last, zone("UTC"), now)
    grouped = queries.query_params(QUERIES["utilization"], window, LOOKBACK, grouping_params("zone"))
    return {
        "availability": (lambda: queries.availability(engine=engine, now=now), "availability", instant["availability"]),
        "alerts": (lambda: queries.alerts(threshold=0.5, engine=engine, now=now), "alerts", instant["alerts"]),
        "overstays": (lambda: queries.overstays(engine=engine, now=now), "overstays", instant["overstays"]),
        "utilization --by zone": (lambda: queries.utilization(first, last, by="zone", engine=engine, now=now),
                                  "utilization", grouped),
        "turnover --by zone": (lambda: queries.turnover(first, last, by="zone", engine=engine, now=now),
                               "utilization", grouped),
        "dwell --by zone": (lambda: queries.dwell(first, last, by="zone", engine=engine, now=now),
                            "utilization", grouped),
        "patterns --by zone": (lambda: queries.patterns(first, last, by="zone", engine=engine, now=now),
                               "utilization", grouped),
    }


def run_zones(data: DataSet) -> list[tuple[str, str, float, float]]:
    root = build(data)
    CatalogStore(root).replace(parse(catalog_csv(data.spots)))
    engine = DuckDBEngine(root)
    results = []
    print(f"section 7 on {data.key}, catalog of {data.spots:,} spots loaded")
    for label, (call, scan_of, params) in zone_calls(data, engine).items():
        if data.days > 31 and "--by" in label:
            continue  # the year-long window queries are timed ungrouped above
        scan = best_of(lambda scan_of=scan_of, params=params: engine.run(scan_sql(scan_of), params))
        seconds = best_of(call)
        mark = "" if seconds / scan <= TARGET_RATIO else f"  over {TARGET_RATIO:g}x"
        print(f"{label:<22} {seconds:8.3f} {scan:8.3f} {seconds / scan:6.2f}{mark}")
        results.append((data.key, label, seconds, seconds / scan))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing; the best counts")
    arguments = parser.parse_args()
    global REPEAT
    REPEAT = arguments.repeat
    chosen = [SETS[key] for key in arguments.sets.split(",")]
    results = []
    for data in chosen:
        print()
        results.extend(run_set(data))
        if data.spots == 1000:
            results.extend(run_zones(data))
    over = [(key, name, ratio) for key, name, _, ratio in results if ratio > TARGET_RATIO]
    print()
    if over:
        print("over the 3x target: " + ", ".join(f"{name} on {key} ({ratio:.2f}x)" for key, name, ratio in over))
    else:
        print(f"every query within {TARGET_RATIO:g}x of a scan of its window's events")


if __name__ == "__main__":
    main()
