"""Repair and restore: a damaged day rebuilt from its sources, and a compacted file turned back into its objects.

The repair mends what :func:`parking.lake.compaction.tier_check.check_compacted`
reports, with the protocol's own fold (the new file first, so no event is
ever invisible); each bad file is set aside with its bytes, never lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from parking.config import Settings
from parking.lake.compaction.dayfiles import day_file_name, day_of, partition
from parking.lake.compaction.protocol import DayResult, fold_day
from parking.lake.compaction.sql import workspace
from parking.lake.compaction.tier_check import REBUILT_ONLY, check_compacted, inspected
from parking.lake.objects import INVALID_LINES, NOT_AS_STORED, WRONG_HOUR, Finding
from parking.lake.stores import Store
from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX, DATA_PREFIX, OBJECT_SUFFIX
from parking.sql_text import string_literal

# The steps of a repair (:func:`repair_compacted`): a bad day file is set aside with its bytes.
REPAIR_STEPS = ("parquet-written", "set-aside", "parquet-removed", "source-copied", "source-moved")
# A kept source with lines lake check flags is re-filed and its rows left out of its day; one that is only
# damaged as a whole (a bad name, empty, unreadable) is set aside whole: its day file still holds its rows.
LINE_PROBLEMS = frozenset({WRONG_HOUR, INVALID_LINES, NOT_AS_STORED})


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
    days = sorted({day for f in findings if (day := day_of(f.key)) is not None})
    with workspace() as (connection, workdir):
        for day in days:
            where = partition(day)
            in_data = [key for key in store.keys(data_prefix + where) if key.endswith(OBJECT_SUFFIX)]
            sources, _ = inspected(store, in_data, data_prefix, settings, now)  # flagged ones: lake check's
            in_kept = [key for key in store.keys(COMPACTED_SOURCES_PREFIX + where)
                       if key.endswith(OBJECT_SUFFIX) and key not in returned]
            kept, _ = inspected(store, in_kept, COMPACTED_SOURCES_PREFIX, settings, now)
            files = store.keys(COMPACTED_PREFIX + where)
            day_bad = {key: finding for key, finding in bad.items() if key in files}
            good = [key for key in files if key not in day_bad and day_file_name(key) == day]
            report.days.append(fold_day(store, day, connection, workdir, data_prefix, sources, kept, good, day_bad,
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
            f"SELECT source, line FROM read_parquet({string_literal(str(parquet))}) ORDER BY source, line_number"
        ).fetchall()
    objects: dict[str, list[bytes]] = {}
    for source, line in rows:
        objects.setdefault(source, []).append(line.encode("utf-8"))
    return objects
