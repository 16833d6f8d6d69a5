"""A city at the deployed trigger's grain: live answers from the current-state table against the events.

Builds a lake the way the deployed pipeline would (issue 25): the
simulator's stream for ``--spots`` bays over ``--days`` days, ending now,
keyed by spot over 3 Kafka partitions, delivered per partition in batches
that close 5 s after their first record or at 1,000 records (the MSK
trigger's batching window), each through ``ingest_batch`` at its closing
instant (so the current-state table is written as on AWS); then the daily
compaction as deployed (every day that ended 2 days ago; the hourly
compaction is issue 25's other half). A second lake gets the same events in
hourly batches, as the project's other benches ingest.

Then, at the stream's end, it prints side by side for each now-question
(``status``, ``availability``, ``overstays``, ``alerts``): the live answer
from the table (best of 3) and the same question through the events on both
lakes (DuckDB, best of 3), that the frames are equal, and the objects each
reads; occupancy today and yesterday through the events; and per zones run
and per month (one run a minute) what the zones function costs: from the
table (a DynamoDB scan of the table's items, one catalog GET, Lambda time)
against asking Athena as before (S3 GETs of every object the two queries
read, LISTs of their hour prefixes, bytes scanned).

Prices (eu-west-1 list prices): S3 $0.0004 per 1,000 GETs and $0.005 per
1,000 LISTs, Athena $5 per TB (10 MB minimum a query), DynamoDB on demand
$0.1415 per million read request units (a scan reads 4 KB per unit,
eventually consistent: half a unit) and $0.7063 per million write units,
Lambda $0.0000166667 per GB-second and $0.20 per million requests.

Run: ``.venv/bin/python bench/city.py [--spots 10000] [--days 8.5] [--dir /dev/shm]``.
The lake goes under ``--dir`` (tmpfs by default: a batch's fsync on this
machine's virtual disk would dominate and measure the disk, not the code).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from parking import queries  # noqa: E402
from parking.analytics.catalog import CatalogStore, parse  # noqa: E402
from parking.analytics.engines import DuckDBEngine  # noqa: E402
from parking.config import Settings  # noqa: E402
from parking.ingest.batch import ingest_batch  # noqa: E402
from parking.ingest.msk import msk_event, msk_record  # noqa: E402
from parking.ingest.sinks import LocalSink  # noqa: E402
from parking.lake.compaction.protocol import compact  # noqa: E402
from parking.lake.compaction.schedule import latest_before  # noqa: E402
from parking.lake.stores import LocalStore  # noqa: E402
from parking.simulate import catalog_csv, lines, plan  # noqa: E402
from parking.state import update  # noqa: E402
from parking.state.live import live_answer  # noqa: E402
from parking.state.spot import status_reach  # noqa: E402
from parking.state.stores import Row, SqliteState  # noqa: E402

PARTITIONS = 3
WINDOW_S = 5.0
BATCH_RECORDS = 1000
ARRIVAL_DELAY_S = 0.3  # sensor to broker
RUNS_A_MONTH = 60 * 24 * 30  # one zones run a minute
GET_USD, LIST_USD, ATHENA_TB_USD = 0.0004 / 1000, 0.005 / 1000, 5.0
RRU_USD, WRU_USD = 0.1415 / 1e6, 0.7063 / 1e6
LAMBDA_GB_S_USD, LAMBDA_REQUEST_USD = 0.0000166667, 0.20 / 1e6
ZONES_MEMORY_GB = 0.25
LIVE = ("status", "availability", "overstays", "alerts")
ROUNDS = {"5-s batches": 1, "hourly batches": 3}  # a question over tens of thousands of objects takes minutes


def stream(spots: int, days: float, now: datetime) -> list[tuple[float, int, bytes]]:
    """(arrival epoch seconds, partition, value) in arrival order; the stream ends now."""
    start = now - timedelta(days=days)
    found = []
    last = start.timestamp()
    for line in lines(plan(spots, math.ceil(days) + 1, start.date(), seed=25, now=now)):
        try:
            event = orjson.loads(line)
            moment = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
            key = str(event["spot_id"]).encode()
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            moment, key = last, line.encode()[:16]  # a broken record: its neighbour's moment
        if moment < start.timestamp():
            continue
        last = moment
        found.append((moment + ARRIVAL_DELAY_S, zlib.crc32(key) % PARTITIONS, line.encode()))
    found.sort(key=lambda item: item[0])
    return found


def trigger_batches(events: list[tuple[float, int, bytes]]) -> list[tuple[float, int, int, list[bytes]]]:
    """(closing instant, partition, first offset, values): per partition, 5 s after the first record or 1,000."""
    open_: dict[int, tuple[float, int, list[bytes]]] = {}
    offsets = defaultdict(int)
    closed = []
    for arrival, partition, value in events:
        current = open_.get(partition)
        if current is not None and (arrival >= current[0] + WINDOW_S or len(current[2]) >= BATCH_RECORDS):
            first_arrival, first_offset, values = open_.pop(partition)
            closing = first_arrival + WINDOW_S if len(values) < BATCH_RECORDS else arrival
            closed.append((closing, partition, first_offset, values))
            current = None
        if current is None:
            open_[partition] = current = (arrival, offsets[partition], [])
        current[2].append(value)
        offsets[partition] += 1
    closed += [(first + WINDOW_S, partition, offset, values) for partition, (first, offset, values) in open_.items()]
    return sorted(closed)


def hourly_batches(events: list[tuple[float, int, bytes]]) -> list[tuple[float, int, int, list[bytes]]]:
    """The same records, one batch per partition and hour of arrival."""
    grouped: dict[tuple[int, int], list[bytes]] = defaultdict(list)
    offsets: dict[tuple[int, int], int] = {}
    counters = defaultdict(int)
    for arrival, partition, value in events:
        key = (int(arrival // 3600), partition)
        offsets.setdefault(key, counters[partition])
        counters[partition] += 1
        grouped[key].append(value)
    return sorted(((hour + 1) * 3600.0, partition, offsets[(hour, partition)], values)
                  for (hour, partition), values in grouped.items())


def ingest(root: Path, batches, settings: Settings) -> tuple[float, float]:
    """Ingest every batch at its closing instant; (seconds in all, seconds in the table's update)."""
    sink = LocalSink(root)
    spent = [0.0]
    record = update.record_batch

    def timed(*args, **kwargs):
        started = time.perf_counter()
        record(*args, **kwargs)
        spent[0] += time.perf_counter() - started

    update_module = sys.modules["parking.ingest.batch"]
    update_module.record_batch = timed
    started = time.perf_counter()
    try:
        for closing, partition, first, values in batches:
            records = [msk_record("parking-events", partition, first + n, value) for n, value in enumerate(values)]
            ingest_batch(msk_event(records), sink, settings, now=datetime.fromtimestamp(closing, timezone.utc))
    finally:
        update_module.record_batch = record
    return time.perf_counter() - started, spent[0]


def best(run: Callable[[], object], rounds: int = 3, clock: Callable[[], float] = time.perf_counter,
         ) -> tuple[float, object]:
    """The shortest of ``rounds`` runs by ``clock`` (wall by default), and the last result."""
    times, result = [], None
    for _ in range(rounds):
        started = clock()
        result = run()
        times.append(clock() - started)
    return min(times), result


def objects_read(root: Path, first: datetime, last: datetime) -> tuple[int, int, int]:
    """(objects, bytes, hour prefixes) a query over event hours ``first`` to ``last`` reads, both tiers."""
    count = size = prefixes = 0
    hour = first.replace(minute=0, second=0, microsecond=0)
    days = set()
    while hour <= last:
        prefixes += 1
        folder = root / f"parking-data/year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}"
        if folder.is_dir():
            for path in folder.iterdir():
                count, size = count + 1, size + path.stat().st_size
        days.add(hour.date())
        hour += timedelta(hours=1)
    for day in days:
        folder = root / f"parking-compacted/year={day:%Y}/month={day:%m}/day={day:%d}"
        prefixes += 1
        if folder.is_dir():
            for path in folder.iterdir():
                count, size = count + 1, size + path.stat().st_size
    return count, size, prefixes


def table_bytes(store: SqliteState) -> tuple[int, int]:
    """(items, bytes) as DynamoDB counts an item: attribute names and values."""
    items = size = 0
    for row in map(Row._make, store.rows()):
        items += 1
        size += (len("spot_id") + len(row.spot_id.encode()) + len("v") + len(str(row.version)) + len("lb")
                 + len(str(row.lookback)) + len("h") + len(row.instants) + len("s") + len(row.summary))
    return items, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spots", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=8.5)
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    options = parser.parse_args()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    work = Path(tempfile.mkdtemp(prefix="city-", dir=options.dir))
    try:
        run(options.spots, options.days, now, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(spots: int, days: float, now: datetime, work: Path) -> None:
    started = time.perf_counter()
    events = stream(spots, days, now)
    trigger, hourly = trigger_batches(events), hourly_batches(events)
    print(f"city: {spots:,} bays, {days:g} days to {now:%Y-%m-%d %H:%M} UTC, {len(events):,} records, "
          f"{len(events) / spots / days:.1f} a bay a day, {PARTITIONS} partitions "
          f"(stream built in {time.perf_counter() - started:.0f} s)")
    lakes = {"5-s batches": work / "trigger", "hourly batches": work / "hourly"}
    catalog = parse(catalog_csv(spots))
    for (label, root), batches in zip(lakes.items(), (trigger, hourly), strict=True):
        CatalogStore(root).replace(catalog)
        seconds, in_table = ingest(root, batches, Settings(data_dir=root))
        report = compact(LocalStore(root), latest_before(now, 2), now=now)
        objects = sum(1 for _ in (root / "parking-data").rglob("*.json.gz"))
        print(f"{label}: {len(batches):,} batches ingested in {seconds:.1f} s ({in_table:.1f} s of it writing the "
              f"table, {in_table / seconds:.0%}); compaction folded {report.as_dict()['days_compacted']} "
              f"days; {objects:,} JSON objects left")
    at = now
    settings = Settings(data_dir=lakes["5-s batches"])
    store = SqliteState(lakes["5-s batches"])
    lookback = update.lookback_ms(settings)
    complete = store.complete_from()
    print(f"table: complete from {'the start' if complete is not None and complete < 0 else complete}; "
          f"answers at {at:%Y-%m-%d %H:%M:%S} UTC, lookback {settings.lookback_hours:g} h")
    print()
    print(f"{'question':<14}{'table ms (cpu)':>16}{'events ms (5 s)':>17}{'objects':>9}{'events ms (hourly)':>20}"
          f"{'objects':>9}{'ratio':>7}  equal")
    engines = {label: DuckDBEngine(root) for label, root in lakes.items()}
    reach = timedelta(milliseconds=status_reach(lookback))
    for name in LIVE:
        extra = {"threshold": 0.9} if name == "alerts" else {}
        table_s, (answered_at, frame) = best(lambda name=name, extra=extra: live_answer(name, settings, now=at, **extra))
        table_cpu, _ = best(lambda name=name, extra=extra: live_answer(name, settings, now=at, **extra),
                            clock=time.process_time)
        figures = []
        for label, root in lakes.items():
            seconds, expected = best(lambda label=label, name=name, extra=extra, answered_at=answered_at:
                                     getattr(queries, name)(engine=engines[label], now=answered_at, **extra),
                                     rounds=ROUNDS[label])
            reads = objects_read(root, answered_at - (timedelta(days=7) if name == "overstays" else reach), answered_at)
            figures.append((seconds, reads[0], expected))
        same = all(_equal(frame, expected) for _, _, expected in figures)
        print(f"{name:<14}{table_s * 1000:>8.1f} ({table_cpu * 1000:4.1f}){figures[0][0] * 1000:>17.0f}{figures[0][1]:>9,}"
              f"{figures[1][0] * 1000:>20.0f}{figures[1][1]:>9,}{figures[0][0] / figures[1][0]:>7.2f}  {same}")
    for label_day, day in (("today", at.date()), ("yesterday", at.date() - timedelta(days=1))):
        row = []
        for label, root in lakes.items():
            seconds, _ = best(lambda label=label, day=day: queries.occupancy(day, engine=engines[label], now=at),
                              rounds=ROUNDS[label])
            first = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) - timedelta(hours=24)
            row.append((seconds, objects_read(root, first, min(at, first + timedelta(hours=48)))[0]))
        print(f"occupancy {label_day:<9}{'-':>11}{row[0][0] * 1000:>17.0f}{row[0][1]:>9,}{row[1][0] * 1000:>20.0f}"
              f"{row[1][1]:>9,}{row[0][0] / row[1][0]:>7.2f}")
    zones_cost(store, lakes["5-s batches"], at, lookback, settings)


def zones_cost(store: SqliteState, root: Path, at: datetime, lookback: int, settings: Settings) -> None:
    items, size = table_bytes(store)
    rru = math.ceil(size / 4096) * 0.5
    seconds, _ = best(lambda: (live_answer("availability", settings, now=at), live_answer("overstays", settings, now=at)))
    table_month = rru * RRU_USD * RUNS_A_MONTH
    lambda_month = RUNS_A_MONTH * (LAMBDA_REQUEST_USD + seconds * ZONES_MEMORY_GB * LAMBDA_GB_S_USD)
    catalog_month = RUNS_A_MONTH * GET_USD
    reach = timedelta(milliseconds=status_reach(lookback))
    gets = lists = scanned = 0
    for first in (at - reach, at - timedelta(days=7)):  # availability, overstays
        count, size_read, prefixes = objects_read(root, first, at)
        gets, lists, scanned = gets + count, lists + 2 * prefixes, scanned + max(size_read, 10 * 2**20)
    athena_month = RUNS_A_MONTH * (gets * GET_USD + lists * LIST_USD + scanned / 2**40 * ATHENA_TB_USD)
    print()
    print(f"zones function, per run: from the table a scan of {items:,} items, {size / 1e6:.2f} MB, {rru:,.0f} read "
          f"units, 1 catalog GET, {seconds * 1000:.0f} ms here; through Athena as before {gets:,} GETs, "
          f"~{lists:,} LISTs, {scanned / 1e6:.1f} MB scanned")
    print(f"zones function, per month at one run a minute: table ${table_month:.2f} + Lambda ${lambda_month:.2f} + "
          f"catalog ${catalog_month:.2f} = ${table_month + lambda_month + catalog_month:.2f} (target $5); "
          f"Athena as before ${athena_month:,.2f}")
    if items and items != 10_000:
        scale = 10_000 / items
        print(f"zones function, per month at 10,000 bays of these ({size / items:.0f} bytes an item): table "
              f"${table_month * scale:.2f} + Lambda ${lambda_month * scale:.2f} + catalog ${catalog_month:.2f} = "
              f"${(table_month + lambda_month) * scale + catalog_month:.2f}")


def _equal(left: pd.DataFrame, right: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(left, right)
    except AssertionError:
        return False
    return True


if __name__ == "__main__":
    main()
