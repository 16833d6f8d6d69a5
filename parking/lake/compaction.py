"""Compaction: each closed UTC day of hourly JSON objects becomes one Parquet file.

The lake has two tiers (README, "Two tiers: hourly JSON and daily Parquet"):

    parking-data/year=/month=/day=/hour=/<object>.json.gz     landed events, gzip JSON lines
    parking-compacted/year=/month=/day=/<day>-<digest>.parquet a closed day, zstd Parquet
    parking-compacted-sources/year=/month=/day=/hour=/<object> the JSON objects folded in

Every query reads both tiers (the ``events`` CTE of ``queries/*.sql`` is a
``UNION ALL`` of them). That is correct at every instant of a compaction,
including after a crash, because of one rule of docs/METRICS.md section 3:
exact duplicates change nothing (every query first collapses a spot's events
to one status per distinct instant). So the protocol only has to make sure no
event is ever invisible, and it does so by order:

1. read the day's JSON objects (as text, line by line; only those ``lake check``
   finds clean, :mod:`parking.lake.objects`) and its Parquet files;
2. write their union (deduplicated on the stored line and where it came from)
   as one Parquet file, whole or not at all, named by a digest of its sources;
3. delete the day's other Parquet files (each is contained in the new one);
4. move the JSON objects it holds to ``parking-compacted-sources/`` (copy, then
   delete), where no query reads them and the lifecycle keeps them.

A crash between any two steps leaves a lake whose events are a superset of
the events without duplicates, so every answer is unchanged; the next run
finds the leftovers (JSON objects of a closed day, or several Parquet files
of one day) and finishes. Running it again changes nothing. An event that
lands late for a compacted day is a new JSON object, read by the queries at
once and folded into the day's next Parquet file by the next run.

Each Parquet row keeps the whole stored line (``line``), the object it came
from (``source``, the key below the data prefix) and its line number, so a
compacted day can be turned back into the objects it came from
(:func:`source_lines`).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from parking.config import Settings
from parking.errors import CompactionError, InvalidArgument
from parking.lake.objects import INVALID_LINES, NOT_AS_STORED, WRONG_HOUR, Finding, Inspection, inspect_object
from parking.lake.stores import LocalStore as LocalStore  # re-exported: the stores compaction runs on
from parking.lake.stores import S3Store as S3Store
from parking.lake.stores import Store
from parking.layout import (
    COMPACTED_PREFIX,
    COMPACTED_SOURCES_PREFIX,
    COMPACTED_SUFFIX,
    DATA_PREFIX,
    OBJECT_SUFFIX,
)

if TYPE_CHECKING:
    import duckdb

# Steps after which a crash is survivable; tests inject one at each (``checkpoint``).
STEPS = ("parquet-written", "parquet-removed", "source-copied", "source-moved")
# The steps of a repair (:func:`repair_compacted`): a bad day file is set aside with its bytes.
REPAIR_STEPS = ("parquet-written", "set-aside", "parquet-removed", "source-copied", "source-moved")
REPAIR_COMMAND = "parking-cli lake check --repair"
_DAY = re.compile(r"year=(\d{4})/month=(\d{2})/day=(\d{2})/")
_HOUR = re.compile(r"hour=(\d{2})/")
_DAY_FILE = re.compile(r"year=\d{4}/month=\d{2}/day=\d{2}/(?P<name>\d{4}-\d{2}-\d{2})-[0-9a-f]{16}\.parquet")
# The problems check_compacted finds; a repair rebuilds the day of each, and sets aside the file of all but these.
UNFINISHED, LOST, SHORTENED = "unfinished", "lost", "shortened"
FOREIGN, HIDDEN, UNREADABLE, MISFILED, DISAGREES = "foreign", "hidden", "unreadable", "misfiled", "disagrees"
REBUILT_ONLY = frozenset({UNFINISHED, LOST, SHORTENED})
# A kept source with lines lake check flags is re-filed and its rows left out of its day; one that is only
# damaged as a whole (a bad name, empty, unreadable) is set aside whole: its day file still holds its rows.
LINE_PROBLEMS = frozenset({WRONG_HOUR, INVALID_LINES, NOT_AS_STORED})

# The columns of a compacted day, in file order. year/month/day are its Hive partition.
PARQUET_COLUMNS = ("spot_id", "status", "timestamp", "ts_ms", "hour", "source", "line_number", "line")
_ROWS_JSON_COLUMNS = (
    "{'source': 'VARCHAR', 'line_number': 'BIGINT', 'hour': 'VARCHAR', 'spot_id': 'VARCHAR', "
    "'status': 'VARCHAR', 'timestamp': 'VARCHAR', 'line': 'VARCHAR'}"
)


@dataclass(frozen=True)
class DayResult:
    """What one day's compaction did. ``key`` is the day's Parquet file afterwards."""

    day: date
    key: str | None
    events: int
    lines_read: int
    sources_moved: int
    parquet_removed: int
    left: tuple[tuple[str, str], ...] = ()  # (key, "problem (detail)") of each object lake check flags, left as is

    @property
    def changed(self) -> bool:
        return bool(self.lines_read or self.sources_moved or self.parquet_removed)


@dataclass
class CompactionReport:
    """Every day a run looked at, in order; ``stopped_early`` when it ran out of time."""

    before: date
    days: list[DayResult] = field(default_factory=list)
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        changed = [d for d in self.days if d.changed]
        return {
            "before": self.before.isoformat(),
            "days_compacted": len(changed),
            "events": sum(d.events for d in changed),
            "lines_read": sum(d.lines_read for d in changed),
            "sources_moved": sum(d.sources_moved for d in changed),
            "parquet_removed": sum(d.parquet_removed for d in changed),
            "stopped_early": self.stopped_early,
        }


def latest_before(now: datetime, lateness_days: int) -> date:
    """The first UTC day not yet closed: every day before it ended ``lateness_days`` ago or more."""
    if now.tzinfo is None:
        raise InvalidArgument("now must be timezone-aware")
    return (now.astimezone(timezone.utc) - timedelta(days=lateness_days)).date()


def check_before(before: date | None, now: datetime, lateness_days: int) -> date:
    """``--before``: the default is the lateness allowance's limit; later is refused.

    Raises :class:`InvalidArgument` when ``before`` would compact a day that
    ended less than ``lateness_days`` ago.
    """
    limit = latest_before(now, lateness_days)
    if before is None:
        return limit
    if before > limit:
        raise InvalidArgument(
            f"--before {before} is later than the lateness allowance allows: days must have ended "
            f"{lateness_days} days ago (PARKING_COMPACTION_LATENESS_DAYS), so at most --before {limit}"
        )
    return before


def pending_days(store: Store, before: date, data_prefix: str = DATA_PREFIX) -> list[date]:
    """Days before ``before`` with a JSON object, or with more than one Parquet file (a crash's leftovers)."""
    days = {_day_of(key) for key in store.keys(data_prefix) if key.endswith(OBJECT_SUFFIX)}
    files: dict[date | None, int] = {}
    for key in store.keys(COMPACTED_PREFIX):
        if _day_file_name(key):
            files[_day_of(key)] = files.get(_day_of(key), 0) + 1
    days |= {day for day, count in files.items() if count > 1}
    return sorted(day for day in days if day is not None and day < before)


def compact(
    store: Store,
    before: date,
    *,
    data_prefix: str = DATA_PREFIX,
    settings: Settings | None = None,
    now: datetime | None = None,
    checkpoint: Callable[[str], None] | None = None,
    keep_going: Callable[[], bool] | None = None,
    threads: int | None = None,
) -> CompactionReport:
    """Compact every closed day before ``before`` (see the module docstring for the protocol).

    ``checkpoint(step)`` is called after each step of :data:`STEPS`;
    ``keep_going()`` is asked before each day (a Lambda stops before its
    deadline; the next run continues). Only what ``lake check`` finds clean
    is folded in (:func:`parking.lake.objects.inspect_object`, validated with
    ``settings`` at ``now``): a stored object it would flag is left where it
    is and the rest of its day compacted; a day whose day file is not what
    :func:`compact_day` writes is left exactly as it was. Then
    :class:`CompactionError` names the first such object in one line with
    the repair to run, and carries the run's report as ``report``.
    """
    settings = settings or Settings()
    now = now or datetime.now(timezone.utc)
    report = CompactionReport(before)
    failures: list[str] = []
    with _workspace(threads) as (connection, workdir):
        for day in pending_days(store, before, data_prefix):
            if keep_going is not None and not keep_going():
                report.stopped_early = True
                break
            try:
                result = compact_day(store, day, connection, workdir, data_prefix, checkpoint, settings=settings, now=now)
            except CompactionError as error:
                failures.append(str(error))
                _clear(connection, workdir)
                continue
            except FileNotFoundError as error:  # a local file moved between listing and reading it
                failures.append(f"{error.filename}: gone while this run compacted {day}; another `compact` or "
                                f"`{REPAIR_COMMAND}` is running on {store.where}: let it finish, then run compact again")
                _clear(connection, workdir)
                continue
            report.days.append(result)
            failures += [f"{store.where}{key}: {problem}; left where it is: run `{REPAIR_COMMAND}`, then compact again"
                         for key, problem in result.left]
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        error = CompactionError(f"{failures[0]}{more}")
        error.report = report
        raise error
    return report


@contextmanager
def _workspace(threads: int | None = None) -> Iterator[tuple[duckdb.DuckDBPyConnection, Path]]:
    """A DuckDB connection and a scratch directory, both in temporary directories."""
    import duckdb

    with tempfile.TemporaryDirectory(prefix="parking-compact-") as work, \
            tempfile.TemporaryDirectory(prefix="parking-compact-duckdb-") as spill:
        # Spills and DuckDB's home in the temporary directory: a Lambda may write only to /tmp.
        config: dict[str, Any] = {"temp_directory": spill, "home_directory": spill}
        if threads:
            config["threads"] = threads
        connection = duckdb.connect(config=config)
        connection.execute("SET TimeZone = 'UTC'")
        try:
            yield connection, Path(work)
        finally:
            connection.close()


def compact_day(
    store: Store,
    day: date,
    connection: duckdb.DuckDBPyConnection,
    workdir: Path,
    data_prefix: str = DATA_PREFIX,
    checkpoint: Callable[[str], None] | None = None,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> DayResult:
    """Fold one day's clean JSON objects and Parquet files into one Parquet file (steps 1-4).

    A JSON object ``lake check`` would flag stays where it is (``left`` of
    the result). Raises :class:`CompactionError` before changing anything
    when a day file is not what this function writes (one line naming it
    and the repair).
    """
    settings = settings or Settings()
    now = now or datetime.now(timezone.utc)
    partition = _partition(day)
    keys = [key for key in store.keys(data_prefix + partition) if key.endswith(OBJECT_SUFFIX)]
    files = store.keys(COMPACTED_PREFIX + partition)
    parquets = [key for key in files if _day_file_name(key) == day]
    if not keys and len(parquets) <= 1:
        return DayResult(day, parquets[0] if parquets else None, 0, 0, 0, 0)
    for key in sorted(files, key=lambda k: _day_file_name(k) == day):  # a foreign file first
        problems = _day_file_findings(connection, key, store, day, workdir)
        if problems:
            first = problems[0]
            raise CompactionError(
                f"{store.where}{key}: {first.problem} ({first.detail}); run `{REPAIR_COMMAND}` "
                f"to rebuild {day} from its sources"
            )
    sources, left = _inspected(store, keys, data_prefix, settings, now)
    result = _fold_day(store, day, connection, workdir, data_prefix, sources, [], parquets, {}, checkpoint)
    return replace(result, left=tuple((i.key, i.first_problem()) for i in left))


def _inspected(
    store: Store, keys: list[str], prefix: str, settings: Settings, now: datetime
) -> tuple[list[Inspection], list[Inspection]]:
    """Each object read and inspected as ``lake check`` would: the clean ones, and those it would flag."""
    clean: list[Inspection] = []
    flagged: list[Inspection] = []
    for key in keys:
        inspection = inspect_object(key, store.read(key), prefix, settings, now)
        (clean if inspection.clean else flagged).append(inspection)
    return clean, flagged


def _fold_day(
    store: Store,
    day: date,
    connection: duckdb.DuckDBPyConnection,
    workdir: Path,
    data_prefix: str,
    sources: list[Inspection],
    kept: list[Inspection],
    good: list[str],
    bad: dict[str, Finding],
    checkpoint: Callable[[str], None] | None,
    set_aside: Callable[[str, bytes, Finding], None] | None = None,
    dropped: frozenset[str] = frozenset(),
) -> DayResult:
    """Write one file of the day's lines and good files, then remove what it replaces.

    ``sources`` are clean JSON objects under ``data_prefix`` (moved
    afterwards), ``kept`` clean JSON objects already under the sources prefix
    (read only), ``good`` day files folded in (but their rows from the
    objects named in ``dropped``, keys below the data prefix) and removed,
    ``bad`` day files given to ``set_aside`` (with their bytes) before they
    are removed.
    """
    mark = checkpoint or (lambda step: None)
    partition = _partition(day)
    rows_path = workdir / "rows.ndjson"
    lines_read = _write_rows(
        store, [(i, data_prefix) for i in sources] + [(i, COMPACTED_SOURCES_PREFIX) for i in kept], rows_path
    )
    inputs = [str(store.fetch(key, workdir)) for key in good]
    key = None
    events = 0
    if lines_read or inputs:
        events, digest = _build_day(connection, rows_path, inputs, dropped)
        key = f"{COMPACTED_PREFIX}{partition}{day.isoformat()}-{digest}{COMPACTED_SUFFIX}"
    if key is not None and (key not in good or _rows(connection, inputs[good.index(key)]) != events):
        # (a file of the very name with other rows: shortened in place, its name no longer its digest)
        if key in bad and set_aside is not None:  # the bad file has the very name: its bytes first
            set_aside(key, store.read(key), bad[key])
            mark("set-aside")
        out = workdir / "day.parquet"
        connection.execute(
            f"COPY (SELECT {', '.join(_quoted(c) for c in PARQUET_COLUMNS)} FROM day_rows "
            f"ORDER BY spot_id, ts_ms, source, line_number) TO '{_sql_text(str(out))}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
        store.upload(out, key)
        out.unlink()
        mark("parquet-written")
    for old, finding in sorted(bad.items()):
        if old != key and set_aside is not None:
            set_aside(old, store.read(old), finding)
            store.delete(old)
            mark("set-aside")
    removed = 0
    for old in good:
        if old != key:
            store.delete(old)
            removed += 1
            mark("parquet-removed")
    for source in (i.key for i in sources):
        store.copy(source, COMPACTED_SOURCES_PREFIX + source[len(data_prefix):])
        mark("source-copied")
        store.delete(source)
        mark("source-moved")
    _clear(connection, workdir)
    return DayResult(day, key, events, lines_read, len(sources), removed)


def _rows(connection: duckdb.DuckDBPyConnection, path: str) -> int:
    return connection.execute(f"SELECT count(*) FROM read_parquet('{_sql_text(path)}')").fetchone()[0]


def _clear(connection: duckdb.DuckDBPyConnection, workdir: Path) -> None:
    """Ready for the next day: no table, no scratch file left."""
    connection.execute("DROP TABLE IF EXISTS day_rows")
    for path in workdir.iterdir():
        path.unlink()


@dataclass
class RepairReport:
    """What :func:`repair_compacted` did: days rebuilt and bad files set aside (with their bytes)."""

    days: list[DayResult] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)  # kept sources removed after their events were re-filed
    refiled: int = 0  # events of those kept sources re-filed under the data prefix
    quarantined: int = 0  # records of them quarantined


def returned_sources(findings: list[Finding]) -> set[str]:
    """The kept sources whose lines ``lake check`` flags and that are otherwise whole.

    Their events are re-filed and their rows left out of their day. A kept
    source also damaged as a whole (unreadable, cut short, a bad name) is
    set aside whole instead, and its day file keeps its rows: its lines may
    be only the part that still reads.
    """
    flagged = {f.key for f in findings if f.key.startswith(COMPACTED_SOURCES_PREFIX) and f.problem in LINE_PROBLEMS}
    whole = {f.key for f in findings
             if f.key.startswith(COMPACTED_SOURCES_PREFIX) and f.problem not in LINE_PROBLEMS | REBUILT_ONLY}
    return flagged - whole


def repair_compacted(
    store: Store,
    set_aside: Callable[[str, bytes, Finding], None],
    *,
    data_prefix: str = DATA_PREFIX,
    settings: Settings | None = None,
    now: datetime | None = None,
    findings: list[Finding] | None = None,
    checkpoint: Callable[[str], None] | None = None,
) -> RepairReport:
    """Rebuild every day :func:`check_compacted` reports (``findings``, else checked now); set each bad file aside.

    A day is rebuilt from the clean JSON objects kept under the sources
    prefix, the clean ones still under ``data_prefix``, and its day files
    that check clean, in the order of :func:`compact_day` (the new file
    first, so no event is ever invisible). Each bad file (``foreign``,
    ``hidden``, ``unreadable``, ``misfiled``, ``disagrees``) is given to
    ``set_aside(key, bytes, finding)`` before it is removed, so nothing is
    lost. A kept source whose lines are flagged (:data:`LINE_PROBLEMS`)
    must already have been re-filed (:func:`parking.lake.check.repair_compacted_tier`
    does it): its rows are left out of its day's new file and it is removed
    last; any other flagged kept source is set aside whole. A crash at any
    step is finished by the next repair. Steps: :data:`REPAIR_STEPS`.
    """
    report = RepairReport()
    settings = settings or Settings()
    now = now or datetime.now(timezone.utc)
    if findings is None:
        findings = check_compacted(store, settings, now=now)
    returned = returned_sources(findings)
    bad: dict[str, Finding] = {}
    for finding in findings:
        if finding.key not in returned and finding.problem not in REBUILT_ONLY:
            bad.setdefault(finding.key, finding)
    dropped = frozenset(key[len(COMPACTED_SOURCES_PREFIX):] for key in returned)
    days = sorted({_day_of(f.key) for f in findings} - {None})
    with _workspace() as (connection, workdir):
        for day in days:
            partition = _partition(day)
            in_data = [key for key in store.keys(data_prefix + partition) if key.endswith(OBJECT_SUFFIX)]
            sources, _ = _inspected(store, in_data, data_prefix, settings, now)  # flagged ones: lake check's
            in_kept = [key for key in store.keys(COMPACTED_SOURCES_PREFIX + partition)
                       if key.endswith(OBJECT_SUFFIX) and key not in returned]
            kept, _ = _inspected(store, in_kept, COMPACTED_SOURCES_PREFIX, settings, now)
            files = store.keys(COMPACTED_PREFIX + partition)
            day_bad = {key: finding for key, finding in bad.items() if key in files}
            good = [key for key in files if key not in day_bad and _day_file_name(key) == day]
            report.days.append(_fold_day(store, day, connection, workdir, data_prefix, sources, kept, good, day_bad,
                                         checkpoint, set_aside, dropped))
            report.set_aside += sorted(day_bad)
    for key, finding in sorted(bad.items()):
        if key not in report.set_aside:  # outside any day's folder, or hidden: no day to rebuild
            set_aside(key, store.read(key), finding)
            store.delete(key)
            report.set_aside.append(key)
    for key in sorted(returned):  # re-filed before; now no day file holds its rows
        store.delete(key)
    report.returned = sorted(returned)
    return report


def source_lines(parquet: Path | str) -> dict[str, list[bytes]]:
    """The lines of each JSON object a compacted day holds, in their stored order.

    Keys are object keys below the data prefix, so ``gzip`` of
    ``b"\\n".join(lines) + b"\\n"`` at ``parking-data/<key>`` restores the object.
    """
    import duckdb

    with duckdb.connect() as connection:
        rows = connection.execute(
            f"SELECT source, line FROM read_parquet('{_sql_text(str(parquet))}') ORDER BY source, line_number"
        ).fetchall()
    objects: dict[str, list[bytes]] = {}
    for source, line in rows:
        objects.setdefault(source, []).append(line.encode("utf-8"))
    return objects


def check_compacted(
    store: Store, settings: Settings | None = None, *, now: datetime | None = None
) -> list[Finding]:
    """Everything in the compacted tiers that is not what :func:`compact_day` leaves.

    Under ``parking-compacted/``: ``hidden`` (a name starting ``.`` or
    ``_``, such as a temp file a killed run left: no query reads it),
    ``foreign`` (not ``<day>-<digest>.parquet`` in its own day's folder),
    ``unfinished`` (a day with several files: a run was cut short; answers
    are right, the next run finishes), ``unreadable`` (not Parquet, not its
    columns, or a column that cannot be decoded), ``misfiled`` (an event of
    another UTC day or hour), ``disagrees`` (``spot_id``, ``status``,
    ``timestamp`` or ``ts_ms`` differ from what its stored ``line`` says, a
    row lacks its source, or a row of a kept source differs from it).
    Against ``parking-compacted-sources/``: ``lost`` (a day whose kept
    sources hold events but which has no day file) and ``shortened`` (events
    of its kept sources missing from its day files). Each kept source is
    inspected as a stored object (:func:`parking.lake.objects.inspect_object`)
    and reported with the same problems. For ``lake check``;
    :func:`repair_compacted` mends each.
    """
    settings = settings or Settings()
    now = now or datetime.now(timezone.utc)
    findings: list[Finding] = []
    files: dict[date, list[str]] = {}
    for key in store.keys(COMPACTED_PREFIX, hidden=True):
        if any(part.startswith((".", "_")) for part in key[len(COMPACTED_PREFIX):].split("/")):
            findings.append(Finding(key, HIDDEN, "a hidden name (starts with . or _): no query reads it"))
        elif (day := _day_file_name(key)) is None:
            findings.append(Finding(key, FOREIGN, "not a day file `compact` writes "
                                                           "(year=/month=/day=/<day>-<digest>.parquet)"))
        else:
            files.setdefault(day, []).append(key)
    kept: dict[date | None, list[str]] = {}
    for key in store.keys(COMPACTED_SOURCES_PREFIX, hidden=True):
        kept.setdefault(_day_of(key), []).append(key)
    for key in kept.pop(None, []):
        findings += _kept_findings(store, [key], settings, now)[1]
    with _workspace(threads=1) as (connection, workdir):
        for day in sorted(set(files) | set(kept)):
            keys = files.get(day, [])
            if len(keys) > 1:
                findings.append(Finding(_folder(day), UNFINISHED, f"{len(keys)} files for {day}"))
            readable: dict[str, str] = {}
            for key in keys:
                path = store.fetch(key, workdir)
                problems = _day_file_findings(connection, key, path, day, workdir)
                findings += problems
                if not problems:
                    readable[str(path)] = key
            clean, flagged = _kept_findings(store, kept.get(day, []), settings, now)
            findings += flagged
            if clean:
                findings += _against_sources(connection, store, day, clean, readable, bool(keys), workdir)
            _clear(connection, workdir)
    return findings


def _kept_findings(
    store: Store, keys: list[str], settings: Settings, now: datetime
) -> tuple[list[Inspection], list[Finding]]:
    """The clean kept sources among ``keys``, and the problems of the others (as ``lake check`` reports them)."""
    clean, flagged = _inspected(store, keys, COMPACTED_SOURCES_PREFIX, settings, now)
    return clean, [Finding(i.key, problem, f"{detail} (a kept source)")
                   for i in flagged for problem, detail in i.problems]


def _against_sources(
    connection: duckdb.DuckDBPyConnection, store: Store, day: date, kept: list[Inspection],
    readable: dict[str, str], any_file: bool, workdir: Path,
) -> list[Finding]:
    """``lost``, ``shortened`` and ``disagrees``: the day's files (``readable``, path -> key) against its kept sources."""
    rows_path = workdir / "kept.ndjson"
    events = 0
    with open(rows_path, "wb") as out:  # where each line came from, and the line: all a day file is compared on
        for inspection in kept:
            source = inspection.key[len(COMPACTED_SOURCES_PREFIX):]
            for number, line in enumerate(inspection.lines, start=1):
                out.write(orjson.dumps({"source": source, "line_number": number, "line": line.decode("utf-8")}))
                out.write(b"\n")
                events += 1
    if not readable:
        if any_file:  # its only files are bad: they are reported, and the repair rebuilds the day
            return []
        return [Finding(_folder(day), LOST, f"no day file, though {len(kept)} kept sources hold "
                                                     f"{events} events of {day}")]
    files = ", ".join(f"'{_sql_text(path)}'" for path in readable)
    connection.execute(
        "CREATE OR REPLACE TABLE kept_rows AS SELECT source, line_number, line FROM read_json("
        f"'{_sql_text(str(rows_path))}', format = 'newline_delimited', "
        "columns = {'source': 'VARCHAR', 'line_number': 'BIGINT', 'line': 'VARCHAR'})"
    )
    connection.execute(
        "CREATE OR REPLACE TABLE file_rows AS SELECT source, line_number, line, filename FROM read_parquet("
        f"[{files}], hive_partitioning = false, filename = true) WHERE source IN (SELECT source FROM kept_rows)"
    )
    [missing] = connection.execute(
        "SELECT count(*) FROM (SELECT source, line_number, line FROM kept_rows "
        "EXCEPT SELECT source, line_number, line FROM file_rows)"
    ).fetchone()
    altered = connection.execute(
        "SELECT filename, count(*) FROM file_rows f WHERE NOT EXISTS (SELECT 1 FROM kept_rows k "
        "WHERE k.source = f.source AND k.line_number = f.line_number AND k.line = f.line) GROUP BY filename"
    ).fetchall()
    connection.execute("DROP TABLE kept_rows; DROP TABLE file_rows")
    found = [Finding(readable[path], DISAGREES, f"{count} rows differ from the kept source they came from")
             for path, count in sorted(altered)]
    if missing:
        found.append(Finding(_folder(day), SHORTENED, f"{missing} of {events} events of its kept sources "
                                                               "are not in its day file"))
    return found


def _folder(day: date) -> str:
    return f"{COMPACTED_PREFIX}{_partition(day)}"


def _day_file_name(key: str) -> date | None:
    """The day of a key named as :func:`compact_day` names a day file, else None."""
    match = _DAY_FILE.fullmatch(key[len(COMPACTED_PREFIX):]) if key.startswith(COMPACTED_PREFIX) else None
    day = _day_of(key) if match else None
    return day if day is not None and match["name"] == day.isoformat() else None


def _day_file_findings(
    connection: duckdb.DuckDBPyConnection, key: str, file: Store | Path, day: date | None, workdir: Path
) -> list[Finding]:
    """What is wrong with one day file (nothing: ``[]``); ``file`` is its store, or a local copy of it."""
    import duckdb

    if day is None or _day_file_name(key) != day:
        return [Finding(key, FOREIGN, "not a day file `compact` writes "
                                               "(year=/month=/day=/<day>-<digest>.parquet)")]
    path = _sql_text(str(file if isinstance(file, Path) else file.fetch(key, workdir)))
    try:
        columns = [row[0] for row in connection.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{path}', hive_partitioning = false)").fetchall()]
        if columns != list(PARQUET_COLUMNS):
            return [Finding(key, UNREADABLE, f"columns {columns}")]
        misfiled, disagrees, sourceless = connection.execute(  # every column read: a corrupt page fails here
            "SELECT count(*) FILTER (WHERE CAST(to_timestamp(ts_ms / 1000) AS DATE) <> ? "
            "OR hour IS DISTINCT FROM strftime(to_timestamp(ts_ms // 1000), '%H')), "
            "count(*) FILTER (WHERE spot_id IS DISTINCT FROM json_extract_string(line, '$.spot_id') "
            "OR status IS DISTINCT FROM json_extract_string(line, '$.status') "
            "OR \"timestamp\" IS DISTINCT FROM json_extract_string(line, '$.timestamp') "
            "OR ts_ms IS DISTINCT FROM "
            "CAST(round(epoch(CAST(\"timestamp\" AS TIMESTAMPTZ)) * 1e3) AS BIGINT)), "
            "count(*) FILTER (WHERE source IS NULL OR line_number IS NULL OR hour IS NULL) "
            f"FROM read_parquet('{path}', hive_partitioning = false)",
            [day],
        ).fetchone()
    except duckdb.Error as exc:
        return [Finding(key, UNREADABLE, str(exc).splitlines()[0])]
    found = []
    if misfiled:
        found.append(Finding(key, MISFILED, f"{misfiled} events of another UTC day or hour"))
    if disagrees:
        found.append(Finding(key, DISAGREES, f"{disagrees} rows differ from their stored line"))
    if sourceless:
        found.append(Finding(key, DISAGREES, f"{sourceless} rows lack their source, line number or hour"))
    return found


def _write_rows(store: Store, sources: list[tuple[Inspection, str]], rows_path: Path) -> int:
    """One JSON row per stored line of each ``(object, prefix)``: its fields, where it came from, the line as text."""
    try:
        return _write_rows_to(store, sources, rows_path)
    except OSError as error:
        if error.filename is None:  # a write's error names no file: name the work file
            error.filename = str(rows_path)
        raise


def _write_rows_to(store: Store, sources: list[tuple[Inspection, str]], rows_path: Path) -> int:
    count = 0
    with open(rows_path, "wb") as out:
        for inspection, prefix in sources:
            relative = inspection.key[len(prefix):]
            hour = _HOUR.search(relative)
            if hour is None:
                raise CompactionError(f"{store.where}{inspection.key}: not under an hour=HH/ partition")
            for number, line in enumerate(inspection.lines, start=1):
                out.write(orjson.dumps(_row(store, inspection.key, relative, hour.group(1), number, line)))
                out.write(b"\n")
                count += 1
    return count


def _stored_event(line: bytes) -> Any:
    """A stored line as JSON; a number orjson cannot hold as a double (``1e400``, 400 digits) stays text.

    The ingester stores numbers as their text (docs/METRICS.md section 1), so
    every line it wrote must be readable here too; only the three event fields
    are used, the line itself goes to Parquet unchanged.
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        import json

        return json.loads(line, parse_float=str, parse_int=str, parse_constant=str)


def _row(store: Store, key: str, relative: str, hour: str, number: int, line: bytes) -> dict[str, Any]:
    try:
        text = line.decode("utf-8")
        value = _stored_event(line)
        fields = {name: value[name] for name in ("spot_id", "status", "timestamp")}
    except (UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise CompactionError(f"{store.where}{key} line {number}: not a stored event ({exc})") from exc
    if not all(isinstance(v, str) for v in fields.values()):
        raise CompactionError(
            f"{store.where}{key} line {number}: spot_id, status and timestamp must be strings"
        )
    return {"source": relative, "line_number": number, "hour": hour, **fields, "line": text}


def _build_day(
    connection: duckdb.DuckDBPyConnection, rows_path: Path, inputs: list[str], dropped: frozenset[str] = frozenset()
) -> tuple[int, str]:
    """Table ``day_rows``: the new lines and the existing files (but rows from ``dropped``), once each; size, digest."""
    parts = [
        f"SELECT source, line_number, hour, spot_id, status, \"timestamp\", line FROM read_json("
        f"'{_sql_text(str(rows_path))}', format = 'newline_delimited', columns = {_ROWS_JSON_COLUMNS})"
    ]
    if inputs:
        files = ", ".join(f"'{_sql_text(path)}'" for path in inputs)
        parts.append(
            f"SELECT source, line_number, hour, spot_id, status, \"timestamp\", line "
            f"FROM read_parquet([{files}], hive_partitioning = false)"
            + (f" WHERE source NOT IN ({', '.join(_sql_literal(d) for d in sorted(dropped))})" if dropped else "")
        )
    connection.execute(
        "CREATE OR REPLACE TABLE day_rows AS SELECT DISTINCT spot_id, status, \"timestamp\", "
        # The same instant the queries compute from the text: docs/METRICS.md section 3.
        "CAST(round(epoch(CAST(\"timestamp\" AS TIMESTAMPTZ)) * 1e3) AS BIGINT) AS ts_ms, "
        f"hour, source, line_number, line FROM ({' UNION ALL '.join(parts)})"
    )
    listing = connection.execute(
        "SELECT source, count(*), sum(length(line)) FROM day_rows GROUP BY source ORDER BY source"
    ).fetchall()
    digest = hashlib.sha256("\n".join(f"{s}\t{n}\t{b}" for s, n, b in listing).encode()).hexdigest()[:16]
    return sum(n for _, n, _ in listing), digest


def _partition(day: date) -> str:
    return f"year={day:%Y}/month={day:%m}/day={day:%d}/"


def _day_of(key: str) -> date | None:
    match = _DAY.search(key)
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _quoted(column: str) -> str:
    return f'"{column}"'


def _sql_literal(text: str) -> str:
    return f"'{_sql_text(text)}'"


def _sql_text(text: str) -> str:
    return text.replace("'", "''")
