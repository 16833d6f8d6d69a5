"""The compaction protocol: a closed day's (or hour's) objects and files folded into one Parquet file, in order.

The order of the steps, and why every answer holds at every instant of a run
(a crash included), is in the package's docstring (:mod:`parking.lake.compaction`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parking.config import Settings
from parking.errors import CompactionError, InvalidArgument
from parking.lake.compaction.dayfiles import PARQUET_COLUMNS, day_file_name, file_hour, folder, grain_name, partition
from parking.lake.compaction.removal import Removed, remove_folded
from parking.lake.compaction.rows import build_day, write_rows
from parking.lake.compaction.schedule import kept_copies, pending_days, pending_hours
from parking.lake.compaction.sql import clear, quoted, row_count, workspace
from parking.lake.compaction.tier_check import day_file_findings, inspected
from parking.lake.objects import Finding, Inspection
from parking.lake.stores import Listed, Store
from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX, COMPACTED_SUFFIX, DATA_PREFIX, OBJECT_SUFFIX
from parking.sql_text import string_literal

if TYPE_CHECKING:
    import duckdb

# Steps after which a crash is survivable; tests inject one at each (``checkpoint``).
STEPS = ("parquet-written", "parquet-removed", "source-copied", "source-moved")
# What a message tells the user to run when a day is left for the repair.
REPAIR_COMMAND = "parking-cli lake check --repair"


@dataclass(frozen=True)
class DayResult:
    """What one day's (or, with ``hour``, one hour's) compaction did. ``key`` is its Parquet file afterwards.

    ``sources_kept`` JSON objects were copied to the sources prefix; of them
    ``sources_moved`` were removed from the data prefix at once (no removal
    delay), the others are removed by a later run (:func:`remove_folded`).
    """

    day: date
    key: str | None
    events: int
    lines_read: int
    sources_moved: int
    parquet_removed: int
    left: tuple[tuple[str, str], ...] = ()  # (key, "problem (detail)") of each object lake check flags, left as is
    hour: int | None = None
    sources_kept: int = 0
    written: bool = False  # a new file was written (as when a day folds only its hour files)

    @property
    def changed(self) -> bool:
        return bool(self.lines_read or self.sources_moved or self.parquet_removed or self.sources_kept or self.written)


@dataclass
class CompactionReport:
    """Every day and hour a run looked at, in order; ``stopped_early`` when it ran out of time.

    ``before`` is the first day the daily grain left alone (None: it did not
    run), ``hours_before`` the first hour the hourly grain left alone;
    ``removed`` counts the folded objects and the files a newer one holds
    that the run removed once the removal delay had passed.
    """

    before: date | None
    days: list[DayResult] = field(default_factory=list)
    stopped_early: bool = False
    hours_before: datetime | None = None
    removed: Removed = field(default_factory=lambda: Removed(0, 0))

    def as_dict(self) -> dict[str, Any]:
        changed = [d for d in self.days if d.changed]
        return {
            "before": self.before.isoformat() if self.before else None,
            "hours_before": self.hours_before.isoformat().replace("+00:00", "Z") if self.hours_before else None,
            "days_compacted": sum(1 for d in changed if d.hour is None),
            "hours_compacted": sum(1 for d in changed if d.hour is not None),
            "events": sum(d.events for d in changed),
            "lines_read": sum(d.lines_read for d in changed),
            "sources_kept": sum(d.sources_kept for d in changed),
            "sources_moved": sum(d.sources_moved for d in changed) + self.removed.objects,
            "parquet_removed": sum(d.parquet_removed for d in changed) + self.removed.files,
            "stopped_early": self.stopped_early,
        }


def compact(
    store: Store,
    before: date | None,
    *,
    hours_before: datetime | None = None,
    removal_delay: timedelta = timedelta(0),
    data_prefix: str = DATA_PREFIX,
    settings: Settings | None = None,
    now: datetime | None = None,
    checkpoint: Callable[[str], None] | None = None,
    keep_going: Callable[[], bool] | None = None,
    threads: int | None = None,
    on_day: Callable[[date | str, int, int], None] | None = None,
) -> CompactionReport:
    """Compact every closed day before ``before``, then every closed hour before ``hours_before``.

    See the module docstring for the protocol. ``on_day(what, done, total)`` is
    called before each day or hour is folded (for progress). Either grain may be None (not
    run). First, what a compacted file already holds and was folded at least
    ``removal_delay`` ago is removed (:func:`remove_folded`); with no delay a
    fold removes what it replaces at once. ``checkpoint(step)`` is called
    after each step of :data:`STEPS`; ``keep_going()`` is asked before each
    day and hour (a Lambda stops before its deadline; the next run continues). Only what ``lake check`` finds clean
    is folded in (:func:`parking.lake.objects.inspect_object`, validated with
    ``settings`` at ``now``): a stored object it would flag is left where it
    is and the rest of its day compacted; a day whose day file is not what
    :func:`compact_day` writes is left exactly as it was. Then
    :class:`CompactionError` names the first such object in one line with
    the repair to run, and carries the run's report as ``report``.
    """
    settings = settings or Settings()
    now = now or datetime.now(timezone.utc)
    if hours_before is not None and (hours_before.tzinfo is None or hours_before.minute or hours_before.second
                                     or hours_before.microsecond):
        raise InvalidArgument(f"hours_before must be a whole UTC hour: {hours_before}")
    report = CompactionReport(before, hours_before=hours_before)
    failures: list[str] = []
    with workspace(threads) as (connection, workdir):
        report.removed = remove_folded(store, connection, workdir, now=now, delay=removal_delay,
                                       data_prefix=data_prefix, checkpoint=checkpoint, keep_going=keep_going)
        report.stopped_early = report.removed.stopped

        def groups() -> Iterator[tuple[date, int | None, int, int]]:
            """(day, hour or None, how many of its grain came before, how many in all)."""
            if before is not None:
                days = pending_days(store, before, data_prefix)
                yield from ((day, None, done, len(days)) for done, day in enumerate(days))
            if hours_before is not None:  # listed once the days are done: their hours are folded by then
                hours = pending_hours(store, hours_before, data_prefix)
                yield from ((hour.date(), hour.hour, done, len(hours)) for done, hour in enumerate(hours))

        failed: set[date] = set()  # a day left for the repair: its hours are left too, and named once
        clean: dict[str, Listed] = {}  # the files this run found clean, as they were listed then
        for day, hour, done, total in iter(()) if report.stopped_early else groups():
            if on_day is not None:
                on_day(day if hour is None else f"{day}T{hour:02d}", done, total)
            if day in failed:
                continue
            if keep_going is not None and not keep_going():
                report.stopped_early = True
                break
            what = grain_name(day, hour)
            try:
                result = compact_day(store, day, connection, workdir, data_prefix, checkpoint, settings=settings,
                                     now=now, hour=hour, remove_now=not removal_delay, clean=clean)
            except CompactionError as error:
                failures.append(str(error))
                failed.add(day)
                clear(connection, workdir)
                continue
            except FileNotFoundError as error:  # a local file moved between listing and reading it
                failures.append(f"{error.filename}: gone while this run compacted {what}; another `compact` or "
                                f"`{REPAIR_COMMAND}` is running on {store.where}: let it finish, then run compact again")
                clear(connection, workdir)
                continue
            report.days.append(result)
            failures += [f"{store.where}{key}: {problem}; left where it is: run `{REPAIR_COMMAND}`, then compact again"
                         for key, problem in result.left]
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise CompactionError(f"{failures[0]}{more}", report=report)
    return report


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
    hour: int | None = None,
    remove_now: bool = True,
    clean: dict[str, Listed] | None = None,
) -> DayResult:
    """Fold one day's (or one ``hour``'s) clean JSON objects and Parquet files into one Parquet file (steps 1-4).

    A day folds its JSON objects not yet folded, its hour files and its day
    files into a day file; an hour folds its JSON objects not yet folded and
    its own hour files into an hour file (``<day>T<HH>-<digest>.parquet``,
    in the day's folder). With ``remove_now`` the files and objects folded
    are removed at once (steps 3 and 4), else by a later run once the
    removal delay has passed (:func:`remove_folded`). A JSON object ``lake
    check`` would flag stays where it is (``left`` of the result). Raises
    :class:`CompactionError` before changing anything when a file in the
    day's folder is not what this function writes (one line naming it and
    the repair). ``clean`` (key: listing) holds the files a run found clean
    before, and gains those found clean here: a file listed as it was then is
    not read again (each hour checks every file of its day's folder, so a
    backlog of a day's hours would read each file once an hour).
    """
    settings = settings or Settings()
    now = now or datetime.now(timezone.utc)
    where = partition(day) + (f"hour={hour:02d}/" if hour is not None else "")
    listed = {key: item for key, item in store.listing(data_prefix + where).items() if key.endswith(OBJECT_SUFFIX)}
    kept = kept_copies(store, listed, data_prefix)
    keys = [key for key in sorted(listed) if key not in kept]
    files = dict(sorted(store.listing(COMPACTED_PREFIX + partition(day)).items()))
    parquets = [key for key in files if day_file_name(key) == day and (hour is None or file_hour(key) == hour)]
    if not keys and len(parquets) <= 1 and all(file_hour(key) == hour for key in parquets):
        return DayResult(day, parquets[0] if parquets else None, 0, 0, 0, 0, hour=hour)
    # a foreign file first: a day with a bad file is left as it is, by both grains, for the repair
    checked = sorted(files, key=lambda k: day_file_name(k) == day)
    fetched: dict[str, Path] = {}  # the fold reads the very copy the check read (and the bucket once)
    for key in checked:
        if clean is not None and clean.get(key) == files[key]:
            continue
        if day_file_name(key) == day:  # (any other name is foreign, unread)
            fetched[key] = store.fetch(key, workdir)
        problems = day_file_findings(connection, key, fetched.get(key, store), day, workdir)
        if problems:
            first = problems[0]
            what = grain_name(day, hour)
            raise CompactionError(
                f"{store.where}{key}: {first.problem} ({first.detail}); run `{REPAIR_COMMAND}` "
                f"to rebuild {what} from its sources"
            )
        if clean is not None:
            clean[key] = files[key]
    sources, left = inspected(store, keys, data_prefix, settings, now)
    result = fold_day(store, day, connection, workdir, data_prefix, sources, [], parquets, {}, checkpoint,
                       hour=hour, remove_now=remove_now, fetched=fetched)
    return replace(result, left=tuple((i.key, i.first_problem()) for i in left))


def fold_day(
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
    *,
    hour: int | None = None,
    remove_now: bool = True,
    fetched: dict[str, Path] | None = None,
) -> DayResult:
    """Write one file of the day's lines and good files, then remove what it replaces.

    ``sources`` are clean JSON objects under ``data_prefix`` (moved
    afterwards), ``kept`` clean JSON objects already under the sources prefix
    (read only), ``good`` day files folded in (but their rows from the
    objects named in ``dropped``, keys below the data prefix) and removed,
    ``bad`` day files given to ``set_aside`` (with their bytes) before they
    are removed. With ``hour`` the file written is that hour's file; without
    ``remove_now`` the good files and the sources are left for
    :func:`remove_folded` (the sources are kept at once). ``fetched`` holds
    local copies of good files already read (the others are fetched here).
    """
    mark = checkpoint or (lambda step: None)
    day_folder = folder(day)
    rows_path = workdir / "rows.ndjson"
    lines_read = write_rows(
        store, [(i, data_prefix) for i in sources] + [(i, COMPACTED_SOURCES_PREFIX) for i in kept], rows_path
    )
    inputs = [str((fetched or {}).get(key) or store.fetch(key, workdir)) for key in good]
    key = None
    events = 0
    written = False
    if lines_read or inputs:
        events, digest = build_day(connection, rows_path, inputs, dropped)
        name = grain_name(day, hour)
        key = f"{day_folder}{name}-{digest}{COMPACTED_SUFFIX}"
    if key is not None and (key not in good or row_count(connection, inputs[good.index(key)]) != events):
        # (a file of the very name with other rows: shortened in place, its name no longer its digest)
        if key in bad and set_aside is not None:  # the bad file has the very name: its bytes first
            set_aside(key, store.read(key), bad[key])
            mark("set-aside")
        out = workdir / "day.parquet"
        connection.execute(
            f"COPY (SELECT {', '.join(quoted(c) for c in PARQUET_COLUMNS)} FROM day_rows "
            f"ORDER BY spot_id, ts_ms, source, line_number) TO {string_literal(str(out))} "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
        store.upload(out, key)
        out.unlink()
        written = True
        mark("parquet-written")
    for old, finding in sorted(bad.items()):
        if old != key and set_aside is not None:
            set_aside(old, store.read(old), finding)
            store.delete(old)
            mark("set-aside")
    removed = 0
    for old in good if remove_now else []:
        if old != key:
            store.delete(old)
            removed += 1
            mark("parquet-removed")
    for source in (i.key for i in sources):
        store.copy(source, COMPACTED_SOURCES_PREFIX + source[len(data_prefix):])
        mark("source-copied")
        if remove_now:
            store.delete(source)
            mark("source-moved")
    clear(connection, workdir)
    return DayResult(day, key, events, lines_read, len(sources) if remove_now else 0, removed, hour=hour,
                     sources_kept=len(sources), written=written)
