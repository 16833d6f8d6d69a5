"""Every named query before and after compaction, against the floor: one Parquet file.

Builds 1,000 spots x 365 days with the simulator and the real ingestion path,
times each named query (best of ``ROUNDS``; the compacted lake and the floor
take turns, so both sides of a ratio run under the same load) on three lakes
in the same run:

- ``json``: the hourly JSON objects only, as landed;
- ``compacted``: the same lake after ``compact`` (every day but the last two in Parquet);
- ``floor``: every event in one zstd Parquet file, read by the same SQL.

and the bytes a one-day Athena query (``occupancy --date``) would read: for
JSON the whole objects its partition predicates select, for Parquet the
column chunks of the columns it reads, from the files' metadata. Ends with
``compaction: worst QUERY R x the floor, day-query bytes B1 -> B2``.
Run: ``.venv/bin/python bench/compaction.py [--spots N --days N --threads N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import duckdb  # noqa: E402
import pandas as pd  # noqa: E402

from parking import queries  # noqa: E402
from parking.analytics.engines import COMPACTED_TABLE, QUERY_TABLE, DuckDBEngine  # noqa: E402
from parking.analytics.registry import QUERIES  # noqa: E402
from parking.analytics.windows import days_window, zone  # noqa: E402
from parking.ingest.files import ingest_lines  # noqa: E402
from parking.ingest.sinks import LocalSink  # noqa: E402
from parking.lake.compaction.protocol import compact  # noqa: E402
from parking.lake.compaction.schedule import latest_before  # noqa: E402
from parking.lake.stores import LocalStore  # noqa: E402
from parking.layout import COMPACTED_PREFIX, DATA_PREFIX  # noqa: E402
from parking.simulate import lines, plan  # noqa: E402

ROUNDS = 3
READ_COLUMNS = ("spot_id", "status", "ts_ms", "hour")  # what the Parquet side of the events CTE reads


class FloorEngine(DuckDBEngine):
    """The same SQL over one Parquet file of every event (year/month/day/hour stored as columns)."""

    def __init__(self, parquet: Path, threads: int) -> None:
        self.parquet = parquet
        super().__init__(parquet.parent, threads=threads)

    def _create_view(self) -> None:
        super()._create_view()  # the spot catalog's view (none here: every spot uncatalogued)
        every = f"SELECT * FROM read_parquet('{self.parquet}')"
        self._connection.execute(f"CREATE OR REPLACE VIEW {COMPACTED_TABLE} AS {every}")
        self._connection.execute(
            f"CREATE OR REPLACE VIEW {QUERY_TABLE} AS SELECT spot_id, status, \"timestamp\", year, month, day, hour "
            f"FROM read_parquet('{self.parquet}') WHERE false"
        )


def best(call, rounds: int = ROUNDS) -> tuple[float, pd.DataFrame]:
    """The shortest of ``rounds`` runs, and the answer."""
    return best_of_each([call], rounds)[0]


def best_of_each(calls: list, rounds: int = ROUNDS) -> list[tuple[float, pd.DataFrame]]:
    """The shortest of ``rounds`` runs of each call, and its answer, the calls taking turns.

    Taking turns (a, b, a, b, ...) rather than all of a then all of b puts each
    side of a ratio under the same load when other work shares the CPU.
    """
    timings: list[list[float]] = [[] for _ in calls]
    frames: list[pd.DataFrame] = [pd.DataFrame() for _ in calls]
    for _ in range(rounds):
        for index, call in enumerate(calls):
            started = time.perf_counter()
            frames[index] = call()
            timings[index].append(time.perf_counter() - started)
    return [(min(seconds), frame) for seconds, frame in zip(timings, frames, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spots", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="runs of each query; the best counts")
    args = parser.parse_args()
    start = date(2025, 11, 1)
    now = datetime.combine(start + timedelta(days=args.days), datetime.min.time(), timezone.utc) + timedelta(hours=12)
    last = (now - timedelta(days=1)).date()
    first = max(start, last - timedelta(days=365))
    day = last - timedelta(days=30)

    with tempfile.TemporaryDirectory() as work:
        root, floor_dir = Path(work, "lake"), Path(work, "floor")
        started = time.perf_counter()
        stream = (line.encode() for line in lines(plan(args.spots, args.days, start, now=now)))
        totals = ingest_lines(stream, LocalSink(root), now=now)
        json_bytes = _size(root / DATA_PREFIX, "*.json.gz")
        print(f"data set: {totals.stored:,} events, {args.spots} spots x {args.days} days, "
              f"{totals.objects_written:,} objects, {json_bytes / 1e6:.1f} MB gzip JSON, "
              f"built in {time.perf_counter() - started:.0f} s; DuckDB threads {args.threads}")

        calls = {
            "status": lambda e: queries.status(engine=e, now=now),
            "occupancy": lambda e: queries.occupancy(day, engine=e, now=now),
            "utilization": lambda e: queries.utilization(first, last, engine=e, now=now),
            "patterns": lambda e: queries.patterns(first, last, tz="Europe/Paris", engine=e, now=now),
            "turnover": lambda e: queries.turnover(first, last, engine=e, now=now),
            "dwell": lambda e: queries.dwell(first, last, engine=e, now=now),
            "health": lambda e: queries.health(engine=e, now=now),
        }
        json_engine = DuckDBEngine(root, threads=args.threads)
        timed = {name: best(lambda c=call: c(json_engine), args.rounds) for name, call in calls.items()}
        before = {name: seconds for name, (seconds, _) in timed.items()}
        answers = {name: frame for name, (_, frame) in timed.items()}
        day_json_bytes = _json_bytes_read(root, day, now)

        started = time.perf_counter()
        report = compact(LocalStore(root), latest_before(now, 2), threads=args.threads).as_dict()
        print(f"compact: {report['days_compacted']} days, {report['events']:,} events in "
              f"{time.perf_counter() - started:.0f} s; {_size(root / COMPACTED_PREFIX, '*.parquet') / 1e6:.1f} MB "
              f"Parquet, {len(list((root / DATA_PREFIX).rglob('*.json.gz')))} JSON objects left")

        floor_dir.mkdir()
        floor = floor_dir / "all-events.parquet"
        _write_floor(root, floor)
        compacted_engine = DuckDBEngine(root, threads=args.threads)
        floor_engine = FloorEngine(floor, args.threads)
        worst_name, worst = "", 0.0
        print(f"{'query':<12} {'json':>9} {'compacted':>10} {'floor':>9}  compacted/floor  json/compacted")
        for name, call in calls.items():
            (after, compacted_answer), (floor_seconds, floor_answer) = best_of_each(
                [lambda c=call: c(compacted_engine), lambda c=call: c(floor_engine)], args.rounds
            )
            _same(f"{name} (compacted)", compacted_answer, answers[name])
            _same(f"{name} (floor)", floor_answer, answers[name])
            ratio = after / floor_seconds
            if ratio > worst:
                worst_name, worst = name, ratio
            print(f"{name:<12} {before[name]:>8.3f}s {after:>9.3f}s {floor_seconds:>8.3f}s  {ratio:>14.2f}x"
                  f"  {before[name] / after:>13.1f}x")

        day_parquet_bytes = _parquet_bytes_read(root, day, now) + _json_bytes_read(root, day, now)
        print(f"occupancy --date {day} on Athena would read: JSON {day_json_bytes:,} bytes (whole objects of "
              f"its hours); compacted {day_parquet_bytes:,} bytes (column chunks of {', '.join(READ_COLUMNS)} "
              f"in its days' files, plus JSON left in its hours), {day_json_bytes / max(day_parquet_bytes, 1):.1f}x fewer")
        print("(CPU shared with other work on this machine: timings are noisy)")
        print(f"compaction: worst {worst_name} {worst:.2f} x the floor, "
              f"day-query bytes {day_json_bytes:,} -> {day_parquet_bytes:,}")


def _same(name: str, actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The same rows; floats to 1e-9 relative (DuckDB's parallel sums may add in another order)."""
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9, atol=1e-9, obj=name)
    floats = [c for c in expected.columns if expected[c].dtype == "float64"]
    worst = max((float(((actual[c] - expected[c]).abs() / expected[c].abs().clip(lower=1e-300)).fillna(0).max())
                 for c in floats), default=0.0)
    if worst:
        print(f"  ({name}: floats differ by up to {worst:.1e} relative, the order of parallel sums)")


def _write_floor(root: Path, floor: Path) -> None:
    """Every event of the lake in one zstd Parquet file, sorted by spot and time."""
    compacted = (
        f"SELECT spot_id, status, \"timestamp\", ts_ms, year, month, day, hour FROM read_parquet("
        f"'{root}/{COMPACTED_PREFIX}year=*/month=*/day=*/*.parquet', hive_partitioning = true, "
        "hive_types = {'year': 'VARCHAR', 'month': 'VARCHAR', 'day': 'VARCHAR'})"
    )
    remaining = (
        "SELECT spot_id, status, \"timestamp\", CAST(round(epoch(CAST(\"timestamp\" AS TIMESTAMPTZ)) * 1e3) AS BIGINT), "
        f"year, month, day, hour FROM read_json('{root}/{DATA_PREFIX}year=*/month=*/day=*/hour=*/*.json.gz', "
        "format = 'newline_delimited', columns = {'spot_id': 'VARCHAR', 'status': 'VARCHAR', 'timestamp': 'VARCHAR'}, "
        "hive_partitioning = true, hive_types = {'year': 'VARCHAR', 'month': 'VARCHAR', 'day': 'VARCHAR', "
        "'hour': 'VARCHAR'})"
    )
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute(
            f"COPY ({compacted} UNION ALL {remaining} ORDER BY spot_id, ts_ms) TO '{floor}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )


def _read_hours(day: date, now: datetime) -> tuple[str, str, list[date]]:
    """The hour range the one-day query's partition predicates select (the day and its lookback)."""
    window = days_window(day, day, zone("UTC"), now)
    params = queries.query_params(QUERIES["occupancy"], window, timedelta(hours=24), {"day_end_ms": 0})
    days = [day - timedelta(days=1), day]
    return params["first_hour"], params["last_hour"], days


def _json_bytes_read(root: Path, day: date, now: datetime) -> int:
    first, last, days = _read_hours(day, now)
    total = 0
    for path in (root / DATA_PREFIX).rglob("*.json.gz"):
        parts = dict(part.split("=") for part in path.parts if "=" in part)
        if first <= parts["year"] + parts["month"] + parts["day"] + parts["hour"] <= last:
            total += path.stat().st_size
    return total


def _parquet_bytes_read(root: Path, day: date, now: datetime) -> int:
    _, _, days = _read_hours(day, now)
    files = [p for d in days for p in (root / COMPACTED_PREFIX / f"year={d:%Y}/month={d:%m}/day={d:%d}").glob("*.parquet")]
    columns = ", ".join(f"'{c}'" for c in READ_COLUMNS)
    with duckdb.connect() as connection:
        return sum(
            connection.execute(
                f"SELECT sum(total_compressed_size) FROM parquet_metadata('{path}') WHERE path_in_schema IN ({columns})"
            ).fetchone()[0]
            for path in files
        )


def _size(folder: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern))


if __name__ == "__main__":
    main()
