"""Now-questions on a lake ingested in 5-second batches: daily compaction only, then hourly compaction too.

Builds a city with the simulator (default 10,000 spots, 8.5 days up to 12:30
UTC) and the real ingestion path. The days the daily compaction has already
folded (those that ended ``PARKING_COMPACTION_LATENESS_DAYS`` ago) are
ingested in hourly batches and compacted by day; the rest, the hot tier, is
ingested as the deployed trigger delivers it: per Kafka partition (3, keyed
by spot), one ``ingest_batch`` for each 5 seconds of arrivals (the trigger's
window; 1,000 records never fill first at a city's rate). Then, at 12:30, it
asks each now-question (``status``, ``availability``, ``overstays``,
``alerts``) and ``occupancy`` today on the local engine, best of
``ROUNDS``, in three states of the same lake:

- ``daily only``: as deployed before the hourly compaction;
- ``hourly, removals waiting``: right after the hourly compaction, every
  folded JSON object still in place (the removal delay has not passed):
  the worst moment, every event read twice;
- ``hourly``: once the delay has passed, the steady state (the last closed
  hours' objects and the open hour stay JSON).

For each it prints the objects the query reads (the JSON objects of the hour
partitions and the Parquet files of the day folders in its read range) and
its time. Run: ``.venv/bin/python bench/hourly.py [--spots N --days N --threads N]``.
"""

from __future__ import annotations

import argparse
import heapq
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import pandas as pd  # noqa: E402

from parking import queries  # noqa: E402
from parking.analytics.engines import DuckDBEngine  # noqa: E402
from parking.config import Settings  # noqa: E402
from parking.ingest.batch import ingest_batch  # noqa: E402
from parking.ingest.msk import DEFAULT_TOPIC, msk_event, msk_record  # noqa: E402
from parking.ingest.sinks import LocalSink  # noqa: E402
from parking.lake.compaction.protocol import compact  # noqa: E402
from parking.lake.compaction.schedule import latest_before, latest_hour_before  # noqa: E402
from parking.lake.stores import LocalStore  # noqa: E402
from parking.layout import COMPACTED_PREFIX, DATA_PREFIX  # noqa: E402
from parking.simulate import _spot_lines, plan  # noqa: E402

ROUNDS = 3
PARTITIONS = 3
WINDOW_SECONDS = 5
LOOKBACK = timedelta(hours=24)
WEEK = timedelta(days=7)


def build(root: Path, spots: int, days: float, at: datetime) -> dict[str, float]:
    """The city lake under ``root`` as the deployed trigger and the daily compaction leave it at ``at``."""
    settings = Settings()
    start = (at - timedelta(days=days)).date()
    simulation = plan(spots, int(days) + 2, start, now=at)
    hot_from = datetime.combine(latest_before(at, settings.compaction_lateness_days), datetime.min.time(),
                                tzinfo=timezone.utc)
    sink = LocalSink(root)
    offsets = [0] * PARTITIONS
    pending: list[list[dict]] = [[] for _ in range(PARTITIONS)]
    window = [0.0] * PARTITIONS
    figures = {"events": 0, "batches": 0}
    began = time.perf_counter()

    def flush(partition: int, now: datetime) -> None:
        if pending[partition]:
            ingest_batch(msk_event(pending[partition]), sink, settings, now=now)
            figures["batches"] += 1
            pending[partition] = []

    def stream(number: int):  # keyed by spot, as the sensors' producer does
        return ((moment, tie, number, text) for moment, tie, text in _spot_lines(simulation, number))

    for moment, _, number, text in heapq.merge(*(stream(number) for number in range(spots))):
        arrived = datetime.fromtimestamp(moment, timezone.utc)
        partition = number % PARTITIONS
        cold = arrived < hot_from
        # the cold days in hourly batches (what the daily compaction folds anyway), the hot tier in 5-second ones
        span = 3600 if cold else WINDOW_SECONDS
        if pending[partition] and moment >= window[partition] + span:
            flush(partition, datetime.fromtimestamp(window[partition] + span, timezone.utc))
        if not pending[partition]:
            window[partition] = moment - moment % span
        offsets[partition] += 1
        pending[partition].append(msk_record(DEFAULT_TOPIC, partition, offsets[partition], text.encode(),
                                             timestamp_ms=int(moment * 1000)))
        figures["events"] += 1
    for partition in range(PARTITIONS):
        flush(partition, at)
    figures["ingest_s"] = time.perf_counter() - began
    began = time.perf_counter()
    compact(LocalStore(root), latest_before(at, settings.compaction_lateness_days), now=at)
    figures["daily_s"] = time.perf_counter() - began
    return figures


def objects_read(root: Path, first: datetime, last: datetime) -> tuple[int, int]:
    """JSON objects in the hour partitions, and Parquet files in the day folders, from ``first`` to ``last``."""
    json_objects = parquet = 0
    for path in (root / DATA_PREFIX).rglob("*.json.gz"):
        parts = dict(part.split("=") for part in path.relative_to(root / DATA_PREFIX).parts[:4])
        hour = datetime(int(parts["year"]), int(parts["month"]), int(parts["day"]), int(parts["hour"]),
                        tzinfo=timezone.utc)
        json_objects += first - timedelta(hours=1) < hour <= last
    for path in (root / COMPACTED_PREFIX).rglob("*.parquet"):
        parts = dict(part.split("=") for part in path.relative_to(root / COMPACTED_PREFIX).parts[:3])
        day = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
        parquet += first.date() <= day <= last.date()
    return json_objects, parquet


def questions(at: datetime, engine: DuckDBEngine) -> dict[str, tuple[Callable[[], pd.DataFrame], datetime]]:
    """Each question, and the first instant its events are read from (METRICS.md section 4)."""
    today = at.date()
    midnight = datetime.combine(today, datetime.min.time(), tzinfo=timezone.utc)
    asked = {"engine": engine, "now": at}
    return {
        "status": (lambda: queries.status(at, **asked), at - WEEK - LOOKBACK),
        "availability": (lambda: queries.availability(at, **asked), at - WEEK - LOOKBACK),
        "overstays": (lambda: queries.overstays(at, **asked), at - WEEK - LOOKBACK),
        "alerts": (lambda: queries.alerts(at, threshold=0.9, **asked), at - WEEK - LOOKBACK),
        "occupancy today": (lambda: queries.occupancy(today, **asked), midnight - 2 * LOOKBACK),
    }


def measure(root: Path, at: datetime, threads: int) -> dict[str, tuple[int, int, float, pd.DataFrame]]:
    engine = DuckDBEngine(root, threads=threads)
    results = {}
    for name, (ask, first) in questions(at, engine).items():
        best = float("inf")
        frame = None
        for _ in range(ROUNDS):
            began = time.perf_counter()
            frame = ask()
            best = min(best, time.perf_counter() - began)
        results[name] = (*objects_read(root, first, at), best, frame)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spots", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=8.5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    at = datetime(2026, 11, 30, 12, 30, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory(prefix="bench-hourly-") as work:
        root = Path(work)
        figures = build(root, args.spots, args.days, at)
        hot = len(list((root / DATA_PREFIX).rglob("*.json.gz")))
        print(f"{args.spots:,} spots, {args.days} days to {at:%Y-%m-%d %H:%M}Z: {figures['events']:,} events in "
              f"{figures['batches']:,} batches ({figures['ingest_s']:.0f} s); daily compaction {figures['daily_s']:.0f} s; "
              f"hot tier {hot:,} objects")
        states = {"daily only": measure(root, at, args.threads)}

        began = time.perf_counter()
        delay = timedelta(minutes=60)
        report = compact(LocalStore(root), None, hours_before=latest_hour_before(at, 10), removal_delay=delay,
                         now=datetime.now(timezone.utc)).as_dict()
        took = time.perf_counter() - began
        print(f"hourly compaction: {report['hours_compacted']:,} hours, {report['sources_kept']:,} objects kept, "
              f"{took:.0f} s")
        states["hourly, removals waiting"] = measure(root, at, args.threads)
        report = compact(LocalStore(root), None, hours_before=latest_hour_before(at, 10), removal_delay=delay,
                         now=datetime.now(timezone.utc) + delay).as_dict()
        print(f"after the delay: {report['sources_moved']:,} objects removed; hot tier "
              f"{len(list((root / DATA_PREFIX).rglob('*.json.gz'))):,} objects")
        states["hourly"] = measure(root, at, args.threads)

    print(f"\n{'question':<16}" + "".join(f"{state:>34}" for state in states) + f"{'speed-up':>10}")
    print(f"{'':<16}" + "".join(f"{'json + parquet objects, s':>34}" for _ in states))
    for name in states["daily only"]:
        row = f"{name:<16}"
        for results in states.values():
            json_objects, parquet, seconds, _ = results[name]
            row += f"{json_objects:>14,} + {parquet:>3,} {seconds:>12.2f} s"
        base, after = states["daily only"][name][2], states["hourly"][name][2]
        row += f"{base / after:>9.1f}x"
        print(row)
        frames = [results[name][3] for results in states.values()]
        for frame in frames[1:]:
            pd.testing.assert_frame_equal(frame, frames[0], check_exact=True, obj=name)
    print("every state gave the same answers")


if __name__ == "__main__":
    main()
