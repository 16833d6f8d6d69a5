"""A city as deployed: live answers from the current-state table against the events, and what the zones function costs.

Builds a lake the way the deployed pipeline would (issue 25): the
simulator's stream for ``--spots`` bays over ``--days`` days ending now,
keyed by spot over 3 Kafka partitions, delivered per partition in batches
that close ``mskBatchingWindowSeconds`` after their first record or at
``mskBatchSize`` records (the MSK trigger), each through ``ingest_batch`` at
its closing instant (so the current-state table is written as on AWS). As
the stream advances, the compactions run at their deployed instants with
their deployed settings, as ``compact_handler`` runs them (``compact`` with
an injected now): the hourly one every ``compactionHourlySchedule`` (its
lateness, ``compactionHourLatenessMinutes``) and the daily one at
``compactionSchedule`` (``compactionLatenessDays``), both removing what a
compacted file holds ``compactionRemovalDelayMinutes`` later. Every number
is read from serverless.yml's default stage parameters and the functions'
environments, through :meth:`Settings.from_environment` as the Lambdas read
theirs. A second lake gets the same events in hourly batches (one per
partition and hour, as the project's other benches ingest) under the same
compaction schedule, so the two differ only in how the events were batched.

The store's clock is the simulated one: an object's "last modified" is the
simulated instant it was written or copied (S3's ``LastModified``), which is
what the removal delay is measured against.

Then, at the stream's end, it prints side by side for each now-question
(``status``, ``availability``, ``overstays``, ``alerts``): the live answer
from the table (best of 5, wall and CPU) and the same question through the
events on both lakes (DuckDB, best of 3, the lakes taking turns so both
share the machine's load), that the frames are equal, and the objects each
reads; occupancy today and yesterday through the events; and per zones run
and per month (one run a minute) what the zones function costs: from the
table (a DynamoDB scan of the table's items, the completeness GetItem, one
catalog GET, Lambda time) against asking Athena (S3 GETs of every object
the two queries read, LISTs of their prefixes, bytes scanned) on either
lake. Last, the targets as ratios and counts, each PASS or FAIL.

Prices (eu-west-1 list prices, issue 25): S3 $0.0004 per 1,000 GETs and
$0.005 per 1,000 LISTs, Athena $5 per TB (10 MB minimum a query), DynamoDB
on demand $0.1415 per million read request units (a scan reads 4 KB per
unit, eventually consistent: half a unit) and $0.7063 per million write
units, Lambda $0.0000166667 per GB-second and $0.20 per million requests.

Run: ``nice -n 10 .venv/bin/python bench/city.py [--spots 10000] [--days 8.5] [--dir /dev/shm] [--minute M]``.
The lakes go under ``--dir`` (tmpfs by default: a batch's fsync on this
machine's virtual disk would dominate and measure the disk, not the code).
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import re
import shutil
import sys
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import orjson
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from parking import queries  # noqa: E402
from parking.analytics.catalog import CatalogStore, parse  # noqa: E402
from parking.analytics.engines import DuckDBEngine, layout_damage  # noqa: E402
from parking.analytics.hot_tier import COPY_SUFFIX, MANY_AN_HOUR, NotCopied, copied_hours, copied_view  # noqa: E402
from parking.config import Settings  # noqa: E402
from parking.ingest.batch import ingest_batch  # noqa: E402
from parking.ingest.msk import msk_event, msk_record  # noqa: E402
from parking.ingest.sinks import LocalSink  # noqa: E402
from parking.lake.compaction.protocol import compact  # noqa: E402
from parking.lake.compaction.schedule import latest_before, latest_hour_before  # noqa: E402
from parking.lake.stores import Listed, LocalStore  # noqa: E402
from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX, DATA_PREFIX  # noqa: E402
from parking.simulate import catalog_csv, lines, plan  # noqa: E402
from parking.state import answers, update  # noqa: E402
from parking.state.live import live_answer  # noqa: E402
from parking.state.spot import health_reach, status_reach  # noqa: E402
from parking.state.stores import Row, SqliteState  # noqa: E402

PARTITIONS = 3  # the topic's, keyed by spot (issue 25)
ARRIVAL_DELAY_S = 0.3  # sensor to broker
RUNS_A_MONTH = 60 * 24 * 30  # one zones run a minute
GET_USD, LIST_USD, ATHENA_TB_USD, ATHENA_MIN_BYTES = 0.0004 / 1000, 0.005 / 1000, 5.0, 10 * 2**20
RRU_USD = 0.1415 / 1e6
LAMBDA_GB_S_USD, LAMBDA_REQUEST_USD = 0.0000166667, 0.20 / 1e6
ZONES_MEMORY_GB = 0.25  # the zones function's memory (serverless.yml's provider default, 256 MB)
LIVE = ("status", "availability", "overstays", "alerts")
LAKES = ("5-s batches", "hourly batches")
TABLE_ROUNDS, EVENT_ROUNDS = 5, 3
TARGET_LIVE_MS, TARGET_RATIO, TARGET_ZONES_USD = 50.0, 1.5, 5.0
LIST_PAGE = 1000  # keys a LIST returns


# --- the deployment, as serverless.yml sets it ------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """The trigger's batching and the compactions' schedules and settings, from serverless.yml."""

    window_s: float
    batch_records: int
    hourly_every: timedelta
    daily_at: tuple[int, int]  # (hour, minute) UTC
    schedules: tuple[str, str]  # as written: (hourly, daily)
    settings: Mapping[str, Settings]  # per grain, as the function's environment gives them

    def runs(self, first: datetime, last: datetime) -> list[tuple[datetime, str]]:
        """Every scheduled run in ``(first, last]``: (instant, grain), the daily run first at a shared instant.

        A ``rate()`` schedule's phase is when its rule was made; the runs here fall on whole multiples of
        the rate since the epoch (every 10 minutes: :00, :10, ...).
        """
        step = self.hourly_every.total_seconds()
        found = [(datetime.fromtimestamp(n * step, timezone.utc), "hourly")
                 for n in range(math.floor(first.timestamp() / step) + 1, math.floor(last.timestamp() / step) + 1)]
        day = first.date()
        while day <= last.date():
            at = datetime(day.year, day.month, day.day, *self.daily_at, tzinfo=timezone.utc)
            if first < at <= last:
                found.append((at, "daily"))
            day += timedelta(days=1)
        return sorted(found, key=lambda run: (run[0], run[1] != "daily"))


def deployed(path: Path = ROOT / "serverless.yml") -> Deployment:
    """The default stage's parameters and the compaction functions' environments, ``${param:...}`` resolved."""
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    config = yaml.load(path.read_text(), Loader=loader)
    params = config["params"]["default"]

    def resolved(value: object) -> str:
        return re.sub(r"\$\{param:(\w+)\}", lambda found: str(params[found[1]]), str(value))

    settings = {}
    for grain, function in (("hourly", "compactHourly"), ("daily", "compact")):
        environment = {name: resolved(value) for name, value in config["functions"][function]["environment"].items()
                       if name.startswith("PARKING_")}
        settings[grain] = Settings.from_environment(environment)
    hourly = str(params["compactionHourlySchedule"])
    daily = str(params["compactionSchedule"])
    return Deployment(float(params["mskBatchingWindowSeconds"]), int(params["mskBatchSize"]), rate(hourly),
                      daily_cron(daily), (hourly, daily), settings)


def rate(expression: str) -> timedelta:
    """An EventBridge ``rate(N minutes|hours|days)``."""
    found = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression.strip())
    if not found:
        raise SystemExit(f"bench/city.py: not a rate() schedule it can follow: {expression!r}")
    return timedelta(**{f"{found[2]}s": int(found[1])})


def daily_cron(expression: str) -> tuple[int, int]:
    """(hour, minute) of an EventBridge ``cron(M H * * ? *)``: once a day; other crons are refused."""
    found = re.fullmatch(r"cron\((\d{1,2}) (\d{1,2}) \* \* \? \*\)", expression.strip())
    if not found:
        raise SystemExit(f"bench/city.py: not a once-a-day cron(M H * * ? *) it can follow: {expression!r}")
    return int(found[2]), int(found[1])


# --- the stream and its batches ---------------------------------------------------------------------------------------


class Batch(NamedTuple):
    closing: float  # epoch seconds: when the trigger hands it to the function
    partition: int
    first_offset: int
    values: list[bytes]


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


def trigger_batches(events: list[tuple[float, int, bytes]], window_s: float, most: int) -> list[Batch]:
    """Per partition, a batch closing ``window_s`` after its first record or at ``most`` records."""
    open_: dict[int, tuple[float, int, list[bytes]]] = {}
    offsets: Counter[int] = Counter()
    closed = []
    for arrival, partition, value in events:
        current = open_.get(partition)
        if current is not None and (arrival >= current[0] + window_s or len(current[2]) >= most):
            first_arrival, first_offset, values = open_.pop(partition)
            closing = first_arrival + window_s if len(values) < most else arrival
            closed.append(Batch(closing, partition, first_offset, values))
            current = None
        if current is None:
            open_[partition] = current = (arrival, offsets[partition], [])
        current[2].append(value)
        offsets[partition] += 1
    closed += [Batch(first + window_s, partition, offset, values) for partition, (first, offset, values) in open_.items()]
    return sorted(closed)


def hourly_batches(events: list[tuple[float, int, bytes]]) -> list[Batch]:
    """The same records, one batch per partition and hour of arrival, handed over when the hour ends."""
    grouped: dict[tuple[int, int], list[bytes]] = defaultdict(list)
    offsets: dict[tuple[int, int], int] = {}
    counters: Counter[int] = Counter()
    for arrival, partition, value in events:
        key = (int(arrival // 3600), partition)
        offsets.setdefault(key, counters[partition])
        counters[partition] += 1
        grouped[key].append(value)
    return sorted(Batch((hour + 1) * 3600.0, partition, offsets[(hour, partition)], values)
                  for (hour, partition), values in grouped.items())


# --- a lake on the simulated clock -------------------------------------------------------------------------------------


@dataclass
class Clock:
    """The simulated now, and when (on it) each key was last written: S3's LastModified."""

    now: datetime
    written: dict[str, datetime] = field(default_factory=dict)


class ClockedSink(LocalSink):
    """The local sink; each object it stores is stamped with the simulated now (an existing one keeps its stamp)."""

    def __init__(self, root: Path, clock: Clock) -> None:
        super().__init__(root)
        self.clock = clock

    def write(self, objects: Mapping[str, bytes]) -> None:
        super().write(objects)
        for key in objects:
            self.clock.written.setdefault(key, self.clock.now)


class ClockedStore(LocalStore):
    """The local store, listing each key's simulated write time (the file's own times are the wall clock's)."""

    def __init__(self, root: Path, clock: Clock) -> None:
        super().__init__(root)
        self.clock = clock

    def listing(self, prefix: str) -> dict[str, Listed]:
        return {key: Listed(self.clock.written.get(key, item.modified), item.size)
                for key, item in super().listing(prefix).items()}

    def upload(self, path: Path, key: str) -> None:
        super().upload(path, key)
        self.clock.written[key] = self.clock.now

    def copy(self, key: str, new_key: str) -> None:
        super().copy(key, new_key)
        self.clock.written[new_key] = self.clock.now

    def delete(self, key: str) -> None:
        super().delete(key)
        self.clock.written.pop(key, None)


@dataclass
class Built:
    """What building one lake took and did."""

    batches: int = 0
    ingest_s: float = 0.0
    table_s: float = 0.0
    runs: Counter[str] = field(default_factory=Counter)
    run_s: Counter[str] = field(default_factory=Counter)
    slowest: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    done: Counter[str] = field(default_factory=Counter)


def compaction_run(store: ClockedStore, grain: str, at: datetime, deployment: Deployment) -> dict[str, Any]:
    """One scheduled run, as ``compact_handler`` makes it (``handler`` daily, ``hourly_handler`` hourly) at ``at``."""
    settings = deployment.settings[grain]
    bounds: dict[str, Any] = (
        {"before": latest_before(at, settings.compaction_lateness_days)} if grain == "daily"
        else {"hours_before": latest_hour_before(at, settings.compaction_hour_lateness_minutes)})
    return compact(store, data_prefix=settings.data_prefix, settings=settings, now=at,
                   removal_delay=settings.removal_delay(on_s3=True), **{"before": None, **bounds}).as_dict()


def build(root: Path, batches: list[Batch], runs: list[tuple[datetime, str]], deployment: Deployment) -> Built:
    """Ingest every batch at its closing instant and run each compaction at its instant, in time order."""
    clock = Clock(datetime.fromtimestamp(batches[0].closing, timezone.utc) if batches else datetime.now(timezone.utc))
    sink, store = ClockedSink(root, clock), ClockedStore(root, clock)
    settings = Settings(data_dir=root)
    built = Built()
    record = update.record_batch
    ingest_module = sys.modules["parking.ingest.batch"]

    def timed(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        record(*args, **kwargs)
        built.table_s += time.perf_counter() - started

    events: Iterator[tuple[float, int, Any]] = heapq.merge(
        ((batch.closing, 1, batch) for batch in batches), ((at.timestamp(), 0, (at, grain)) for at, grain in runs))
    ingest_module.record_batch = timed  # type: ignore[attr-defined]
    try:
        for instant, kind, item in events:
            clock.now = datetime.fromtimestamp(instant, timezone.utc)
            started = time.perf_counter()
            if kind:
                records = [msk_record("parking-events", item.partition, item.first_offset + n, value)
                           for n, value in enumerate(item.values)]
                ingest_batch(msk_event(records), sink, settings, now=clock.now)
                built.batches += 1
                built.ingest_s += time.perf_counter() - started
            else:
                at, grain = item
                report = compaction_run(store, grain, at, deployment)
                took = time.perf_counter() - started
                built.runs[grain] += 1
                built.run_s[grain] += took
                built.slowest[grain] = max(built.slowest[grain], took)
                built.done.update({name: value for name, value in report.items()
                                   if isinstance(value, int) and not isinstance(value, bool)})
    finally:
        ingest_module.record_batch = record  # type: ignore[attr-defined]
    return built


# --- what a question reads ---------------------------------------------------------------------------------------------


class Reads(NamedTuple):
    objects: int
    json_objects: int
    size: int
    prefixes: int  # hour folders of the hot tier and day folders of the compacted tier
    lists: int  # LIST requests: a page of 1,000 keys per prefix


def objects_read(root: Path, first: datetime, last: datetime) -> Reads:
    """What a query over event hours ``first`` to ``last`` reads, both tiers (what DuckDB and Athena prune to)."""
    count = json_count = size = prefixes = lists = 0
    hour = first.replace(minute=0, second=0, microsecond=0)
    days: set[date] = set()
    while hour <= last:
        folder = root / f"{DATA_PREFIX}year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}"
        files = [path.stat().st_size for path in folder.iterdir()] if folder.is_dir() else []
        count, json_count, size = count + len(files), json_count + len(files), size + sum(files)
        prefixes, lists = prefixes + 1, lists + max(1, math.ceil(len(files) / LIST_PAGE))
        days.add(hour.date())
        hour += timedelta(hours=1)
    for day in days:
        folder = root / f"{COMPACTED_PREFIX}year={day:%Y}/month={day:%m}/day={day:%d}"
        files = [path.stat().st_size for path in folder.iterdir()] if folder.is_dir() else []
        count, size = count + len(files), size + sum(files)
        prefixes, lists = prefixes + 1, lists + max(1, math.ceil(len(files) / LIST_PAGE))
    return Reads(count, json_count, size, prefixes, lists)


def tiers(root: Path) -> str:
    """What the lake holds: hot JSON objects, hour files, day files, kept sources."""
    hot = sum(1 for _ in (root / DATA_PREFIX).rglob("*.json.gz"))
    files = [path.name for path in (root / COMPACTED_PREFIX).rglob("*.parquet")]
    hour_files = sum(1 for name in files if re.match(r"\d{4}-\d\d-\d\dT\d\d-", name))
    kept = sum(1 for _ in (root / COMPACTED_SOURCES_PREFIX).rglob("*.json.gz"))
    return f"{hot:,} JSON objects, {hour_files:,} hour files, {len(files) - hour_files:,} day files, {kept:,} kept sources"


def question_reads(root: Path, name: str, at: datetime, lookback: int) -> Reads:
    """The objects each now-question reads: status, availability, alerts their 7 days and two lookbacks;
    overstays sensor health's 30 days and two lookbacks (its flags)."""
    reach = health_reach(lookback) if name == "overstays" else status_reach(lookback)
    return objects_read(root, at - timedelta(milliseconds=reach), at)


# --- timing --------------------------------------------------------------------------------------------------------


def best(run: Callable[[], object], rounds: int, clock: Callable[[], float] = time.perf_counter) -> tuple[float, object]:
    """The shortest of ``rounds`` runs by ``clock`` (wall by default), and the last result."""
    times, result = [], None
    for _ in range(rounds):
        started = clock()
        result = run()
        times.append(clock() - started)
    return min(times), result


def in_turns(runs: Mapping[str, Callable[[], object]], rounds: int) -> dict[str, tuple[float, object]]:
    """Each run's shortest wall time of ``rounds``, the runs taking turns (each round under the same load)."""
    times: dict[str, list[float]] = defaultdict(list)
    results: dict[str, object] = {}
    for _ in range(rounds):
        for label, run in runs.items():
            started = time.perf_counter()
            results[label] = run()
            times[label].append(time.perf_counter() - started)
    return {label: (min(times[label]), results[label]) for label in runs}


def _equal(left: object, right: object) -> bool:
    try:
        pd.testing.assert_frame_equal(left, right)  # type: ignore[arg-type]
    except AssertionError:
        return False
    return True


# --- the run ---------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spots", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=8.5)
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    parser.add_argument("--minute", type=int, help="end the stream and ask at this minute past the hour, the latest "
                        "such instant before now (default: now); the hot tier's size follows the minute")
    options = parser.parse_args()
    if options.spots < 1 or not 0 < options.days <= 30:
        parser.error("--spots must be at least 1 and --days above 0 and at most 30")
    if options.minute is not None and not 0 <= options.minute <= 59:
        parser.error("--minute must be from 0 to 59")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    if options.minute is not None:
        asked = now.replace(minute=options.minute, second=0)
        now = asked if asked <= now else asked - timedelta(hours=1)
    work = Path(tempfile.mkdtemp(prefix="city-", dir=options.dir))
    try:
        run(options.spots, options.days, now, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(spots: int, days: float, now: datetime, work: Path) -> None:
    began = time.perf_counter()
    deployment = deployed()
    events = stream(spots, days, now)
    batched = {LAKES[0]: trigger_batches(events, deployment.window_s, deployment.batch_records),
               LAKES[1]: hourly_batches(events)}
    hourly, daily = (deployment.settings[grain] for grain in ("hourly", "daily"))
    print(f"city: {spots:,} bays, {days:g} days to {now:%Y-%m-%d %H:%M:%S} UTC, {len(events):,} records "
          f"({len(events) / spots / days:.1f} a bay a day), {PARTITIONS} partitions; stream built in "
          f"{time.perf_counter() - began:.0f} s")
    print(f"deployed (serverless.yml): batches of {deployment.window_s:g} s or {deployment.batch_records:,} records; "
          f"hourly compaction {deployment.schedules[0]}, lateness {hourly.compaction_hour_lateness_minutes} min; daily "
          f"{deployment.schedules[1]}, lateness {daily.compaction_lateness_days} days; removal delay "
          f"{hourly.removal_delay(on_s3=True).total_seconds() / 60:g} min")
    runs = deployment.runs(now - timedelta(days=days), now)
    lakes = {label: work / label.split()[0] for label in LAKES}
    catalog = parse(catalog_csv(spots))
    for label, root in lakes.items():
        CatalogStore(root).replace(catalog)
        built = build(root, batched[label], runs, deployment)
        print(f"{label}: {built.batches:,} batches ingested in {built.ingest_s:.0f} s ({built.table_s:.0f} s of it "
              f"writing the table, {built.table_s / max(built.ingest_s, 1e-9):.0%}); "
              + "; ".join(f"{built.runs[grain]:,} {grain} runs {built.run_s[grain]:.0f} s (slowest "
                          f"{built.slowest[grain]:.1f} s)" for grain in ("hourly", "daily"))
              + f"; folded {built.done['hours_compacted']:,} hours, {built.done['days_compacted']:,} days, "
              f"removed {built.done['sources_moved']:,} objects and {built.done['parquet_removed']:,} files; "
              f"left {tiers(root)}")
    print(f"built in {time.perf_counter() - began:.0f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    answer(lakes, now, spots)


def answer(lakes: Mapping[str, Path], at: datetime, spots: int) -> None:
    """The comparison at ``at``, and the targets."""
    root = lakes[LAKES[0]]
    settings = Settings(data_dir=root)
    store = SqliteState(root)
    lookback = update.lookback_ms(settings)
    complete = store.complete_from()
    minutes = at.minute + at.second / 60
    print(f"table: complete from {'the start' if complete is not None and complete < 0 else complete}; answers at "
          f"{at:%Y-%m-%d %H:%M:%S} UTC ({minutes:.0f} min into the hour: the hot tier holds this hour, the last "
          f"one until its fold, and what was folded in the last removal delay), lookback {settings.lookback_hours:g} h")
    print()
    print(f"{'question':<18}{'table ms':>9}{'(cpu)':>7}{'events s (5-s)':>16}{'objects':>9}{'json':>8}"
          f"{'events s (hourly)':>19}{'objects':>9}{'json':>6}{'ratio':>7}  equal")
    engines = {label: DuckDBEngine(path) for label, path in lakes.items()}
    live_ms: dict[str, float] = {}
    live_cpu_ms: dict[str, float] = {}
    ratios: dict[str, float] = {}
    for name in LIVE:
        extra = {"threshold": 0.9} if name == "alerts" else {}

        def ask(name: str = name, extra: dict[str, float] = extra) -> tuple[datetime, pd.DataFrame]:
            return live_answer(name, settings, now=at, **extra)

        wall, (answered_at, frame) = best(ask, TABLE_ROUNDS)  # type: ignore[misc]
        cpu, _ = best(ask, TABLE_ROUNDS, clock=time.process_time)
        timed = in_turns({label: (lambda label=label, name=name, extra=extra, answered_at=answered_at:
                                  getattr(queries, name)(engine=engines[label], now=answered_at, **extra))
                          for label in lakes}, EVENT_ROUNDS)
        reads = {label: question_reads(path, name, answered_at, lookback) for label, path in lakes.items()}
        same = all(_equal(frame, result) for _, result in timed.values())
        (fast, _), (slow, _) = timed[LAKES[0]], timed[LAKES[1]]
        live_ms[name], live_cpu_ms[name], ratios[name] = wall * 1000, cpu * 1000, fast / slow
        print(f"{name:<18}{wall * 1000:>9.1f}{cpu * 1000:>7.1f}{fast:>16.2f}{reads[LAKES[0]].objects:>9,}"
              f"{reads[LAKES[0]].json_objects:>8,}{slow:>19.2f}{reads[LAKES[1]].objects:>9,}"
              f"{reads[LAKES[1]].json_objects:>6,}{fast / slow:>7.2f}  {same}")
    for label_day, day in (("today", at.date()), ("yesterday", at.date() - timedelta(days=1))):
        timed = in_turns({label: (lambda label=label, day=day: queries.occupancy(day, engine=engines[label], now=at))
                          for label in lakes}, EVENT_ROUNDS)
        first = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) - 2 * timedelta(milliseconds=lookback)
        reads = {label: objects_read(path, first, min(at, first + timedelta(days=1) + 2 * timedelta(milliseconds=lookback)))
                 for label, path in lakes.items()}
        (fast, frame), (slow, other) = timed[LAKES[0]], timed[LAKES[1]]
        print(f"{'occupancy ' + label_day:<18}{'-':>9}{'-':>7}{fast:>16.2f}{reads[LAKES[0]].objects:>9,}"
              f"{reads[LAKES[0]].json_objects:>8,}{slow:>19.2f}{reads[LAKES[1]].objects:>9,}"
              f"{reads[LAKES[1]].json_objects:>6,}{fast / slow:>7.2f}  {_equal(frame, other)}")
    walks = in_turns({label: (lambda path=path: layout_damage(path)) for label, path in lakes.items()}, EVENT_ROUNDS)
    files = {label: sum(len(names) for _, _, names in os.walk(path)) for label, path in lakes.items()}
    print("of each events query, the engine's walk of the lake's folders first (layout_damage): "
          + ", ".join(f"{walks[label][0] * 1000:.0f} ms on the {label} lake ({files[label]:,} files)" for label in lakes))
    hot = {label: hot_tier_read(path) for label, path in lakes.items()}
    print("of each events query, the hot tier's objects copied into a file an hour and read (DuckDB reading each "
          "object instead): " + ", ".join(
              (f"{copy_s * 1000:.0f} ms ({each_s * 1000:.0f} ms) on the {label} lake ({count:,} objects, "
               f"{copy_s * 1000 / max(count, 1):.3f} ms ({each_s * 1000 / max(count, 1):.3f} ms) an object)")
              if copy_s is not None else
              (f"not copied ({each_s * 1000:.0f} ms) on the {label} lake ({count:,} objects: fewer than "
               f"{MANY_AN_HOUR} an hour)")
              for label, (copy_s, each_s, count) in hot.items()))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    zones_usd = zones_cost(store, lakes, at, lookback, spots)
    print()
    scale = 10_000 / spots
    scaled = "" if spots == 10_000 else f"; measured at {spots:,} bays, scaled linearly to 10,000"
    worst_live, worst_cpu = max(live_ms.values()) * scale, max(live_cpu_ms.values()) * scale
    worst_ratio = max(ratios.values())
    print("targets:")
    print(f"  each live answer <= {TARGET_LIVE_MS:g} ms at 10,000 bays: "
          + ", ".join(f"{name} {ms * scale:.0f} ms ({live_cpu_ms[name] * scale:.0f} CPU)" for name, ms in live_ms.items())
          + f"{scaled} (best of {TABLE_ROUNDS}): wall {verdict(worst_live <= TARGET_LIVE_MS)}, CPU "
          f"{verdict(worst_cpu <= TARGET_LIVE_MS)} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"  each now-question through the events within {TARGET_RATIO:g}x of the hourly-batch lake: "
          + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios.items())
          + f": {verdict(worst_ratio <= TARGET_RATIO)}")
    print(f"  the zones function <= ${TARGET_ZONES_USD:g} a month at one run a minute: ${zones_usd:.2f}"
          f"{' (at 10,000 bays)' if spots != 10_000 else ''}: {verdict(zones_usd <= TARGET_ZONES_USD)}")


def hot_tier_read(root: Path) -> tuple[float | None, float, int]:
    """(best wall seconds of 3 to copy every hot object into a file an hour and count its rows, as the local engine
    reads a query's hours, None when the engine would not copy them; the same for DuckDB reading each object
    instead; objects)."""
    files = sorted(str(path) for path in (root / DATA_PREFIX).rglob("*.json.gz"))
    if not files:
        return None, 0.0, 0
    hours = sorted(re.search(r"year=(\d{4})/month=(\d\d)/day=(\d\d)/hour=(\d\d)", path).groups() for path in files)  # type: ignore[union-attr]
    params = {"first_hour": "".join(hours[0]), "last_hour": "".join(hours[-1])}
    connection = duckdb.connect()
    columns = "columns = {'spot_id': 'VARCHAR', 'status': 'VARCHAR', 'timestamp': 'VARCHAR'}, hive_partitioning = true"

    def copied() -> object:
        with copied_hours(root, DATA_PREFIX, params) as copy:
            return connection.execute(f"SELECT count(*) FROM ({copied_view(repr(f'{copy}/*{COPY_SUFFIX}'))})").fetchall()

    each = f"SELECT count(*) FROM read_json({files!r}, format = 'newline_delimited', compression = 'gzip', {columns})"
    try:
        copy_s: float | None = best(copied, EVENT_ROUNDS)[0]
    except NotCopied:
        copy_s = None
    each_s, _ = best(lambda: connection.execute(each).fetchall(), EVENT_ROUNDS)
    return copy_s, each_s, len(files)


def verdict(met: bool) -> str:
    return "PASS" if met else "FAIL"


def table_bytes(store: SqliteState) -> tuple[int, int]:
    """(items, bytes) as DynamoDB counts an item: attribute names and values."""
    items = size = 0
    for row in map(Row._make, store.rows()):
        items += 1
        size += (len("spot_id") + len(row.spot_id.encode()) + len("v") + len(str(row.version)) + len("lb")
                 + len(str(row.lookback)) + len("h") + len(row.instants) + len("s") + len(row.summary))
    return items, size


def zones_cost(store: SqliteState, lakes: Mapping[str, Path], at: datetime, lookback: int, spots: int) -> float:
    """Print the zones function's cost per run and per month; return the month's at 10,000 bays (scaled)."""
    root = lakes[LAKES[0]]
    items, size = table_bytes(store)
    rru = math.ceil(size / 4096) * 0.5 + 1  # the scan, eventually consistent; the strongly consistent meta GetItem
    catalog = CatalogStore(root).read() or []
    at_ms = round(at.timestamp() * 1000)

    def zones_run() -> object:  # what zones_handler does with the table's rows and the catalog
        spots_now = answers.lives(store.rows(), at_ms, lookback)
        return answers.zone_figures(spots_now, catalog, at_ms, lookback)

    seconds, _ = best(zones_run, TABLE_ROUNDS)
    table_month = rru * RRU_USD * RUNS_A_MONTH
    lambda_month = RUNS_A_MONTH * (LAMBDA_REQUEST_USD + seconds * ZONES_MEMORY_GB * LAMBDA_GB_S_USD)
    catalog_month = RUNS_A_MONTH * GET_USD
    print()
    print(f"zones function, per run from the table: a scan of {items:,} items, {size / 1e6:.2f} MB, {rru:,.0f} read "
          f"units; 1 catalog GET, 0 LISTs, 0 Athena bytes; {seconds * 1000:.0f} ms of compute here")
    print(f"  per month at one run a minute: table ${table_month:.2f} + Lambda ${lambda_month:.2f} + catalog "
          f"${catalog_month:.2f} = ${table_month + lambda_month + catalog_month:.2f}")
    for label, path in lakes.items():
        gets = lists = scanned = 0
        for name in ("availability", "overstays"):
            reads = question_reads(path, name, at, lookback)
            gets, lists, scanned = gets + reads.objects, lists + reads.lists, scanned + max(reads.size, ATHENA_MIN_BYTES)
        month = RUNS_A_MONTH * (gets * GET_USD + lists * LIST_USD + scanned / 2**40 * ATHENA_TB_USD)
        print(f"  through Athena on the {label} lake, per run: {gets:,} GETs (at least one an object), {lists:,} "
              f"LISTs, {scanned / 1e6:.1f} MB scanned (at most); per month ${month:,.2f}")
    scale = 10_000 / items if items else 1.0
    usd = (table_month + lambda_month) * scale + catalog_month
    if spots != 10_000:
        print(f"  at 10,000 bays of these ({size / max(items, 1):.0f} bytes an item): table ${table_month * scale:.2f} "
              f"+ Lambda ${lambda_month * scale:.2f} + catalog ${catalog_month:.2f} = ${usd:.2f} a month")
    return usd


if __name__ == "__main__":
    main()
