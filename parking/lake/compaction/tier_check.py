"""The compacted-tier check: everything under the compacted prefixes that is not what compaction leaves.

For ``lake check`` (:func:`check_compacted`); compaction runs the same check
on a day's files before it folds them (:func:`day_file_findings`), and reads
JSON objects only as ``lake check`` finds them clean (:func:`inspected`).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from parking.config import Settings
from parking.lake.compaction.dayfiles import PARQUET_COLUMNS, day_file_name, day_of, file_hour, folder
from parking.lake.compaction.sql import clear, path_list, workspace
from parking.lake.objects import Finding, Inspection, inspect_object
from parking.lake.stores import Store, in_progress
from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX
from parking.sql_text import string_literal

if TYPE_CHECKING:
    import duckdb

# The problems check_compacted finds; a repair rebuilds the day of each, and sets aside the file of all but these.
UNFINISHED, LOST, SHORTENED = "unfinished", "lost", "shortened"
FOREIGN, HIDDEN, UNREADABLE, MISFILED, DISAGREES = "foreign", "hidden", "unreadable", "misfiled", "disagrees"
REBUILT_ONLY = frozenset({UNFINISHED, LOST, SHORTENED})


def check_compacted(
    store: Store, settings: Settings | None = None, *, now: datetime | None = None
) -> list[Finding]:
    """Everything in the compacted tiers that is not what :func:`compact_day` leaves.

    A running writer's temporary file is work in progress, not a finding
    (:func:`parking.lake.stores.in_progress`).
    Under ``parking-compacted/``: ``hidden`` (a name starting ``.`` or
    ``_``, such as a temp file a killed run left: no query reads it),
    ``foreign`` (not ``<day>[T<HH>]-<digest>.parquet`` in its own day's
    folder), ``unreadable`` (not Parquet, not its
    columns, or a column that cannot be decoded), ``misfiled`` (an event of
    another UTC day or hour), ``disagrees`` (``spot_id``, ``status``,
    ``timestamp`` or ``ts_ms`` differ from what its stored ``line`` says, a
    row lacks its source, or a row of a kept source differs from it).
    Against ``parking-compacted-sources/``: ``lost`` (a day whose kept
    sources hold events but which has no day file) and ``shortened`` (events
    of its kept sources missing from its day files). Each kept source is
    inspected as a stored object (:func:`parking.lake.objects.inspect_object`)
    and reported with the same problems. Several files in a day's folder are
    healthy: hour files, and files a newer one holds, which
    :func:`remove_folded` removes once the removal delay has passed (as it
    does a JSON object still under the data prefix once it is kept). For
    ``lake check``; :func:`repair_compacted` mends each.
    """
    settings = settings or Settings()
    now = now or datetime.now(timezone.utc)
    findings: list[Finding] = []
    files: dict[date, list[str]] = {}
    for key in store.keys(COMPACTED_PREFIX, hidden=True):
        if in_progress(store, key):
            continue
        if any(part.startswith((".", "_")) for part in key[len(COMPACTED_PREFIX):].split("/")):
            findings.append(Finding(key, HIDDEN, "a hidden name (starts with . or _): no query reads it"))
        elif (day := day_file_name(key)) is None:
            findings.append(Finding(key, FOREIGN, "not a day or hour file `compact` writes "
                                                  "(year=/month=/day=/<day>[T<HH>]-<digest>.parquet)"))
        else:
            files.setdefault(day, []).append(key)
    kept: dict[date, list[str]] = {}
    undated: list[str] = []  # outside any day's folder
    for key in store.keys(COMPACTED_SOURCES_PREFIX, hidden=True):
        if in_progress(store, key):
            continue
        day = day_of(key)
        (undated if day is None else kept.setdefault(day, [])).append(key)
    for key in undated:
        findings += _kept_findings(store, [key], settings, now)[1]
    with workspace(threads=1) as (connection, workdir):
        for day in sorted(set(files) | set(kept)):
            keys = files.get(day, [])  # several: hour files, and files a newer one holds until their removal
            readable: dict[str, str] = {}
            for key in keys:
                path = store.fetch(key, workdir)
                problems = day_file_findings(connection, key, path, day, workdir)
                findings += problems
                if not problems:
                    readable[str(path)] = key
            clean, flagged = _kept_findings(store, kept.get(day, []), settings, now)
            findings += flagged
            if clean:
                findings += _against_sources(connection, store, day, clean, readable, bool(keys), workdir)
            clear(connection, workdir)
    return findings


def inspected(
    store: Store, keys: list[str], prefix: str, settings: Settings, now: datetime
) -> tuple[list[Inspection], list[Inspection]]:
    """Each object read and inspected as ``lake check`` would: the clean ones, and those it would flag."""
    clean: list[Inspection] = []
    flagged: list[Inspection] = []
    for key in keys:
        inspection = inspect_object(key, store.read(key), prefix, settings, now)
        (clean if inspection.clean else flagged).append(inspection)
    return clean, flagged


def _kept_findings(
    store: Store, keys: list[str], settings: Settings, now: datetime
) -> tuple[list[Inspection], list[Finding]]:
    """The clean kept sources among ``keys``, and the problems of the others (as ``lake check`` reports them)."""
    clean, flagged = inspected(store, keys, COMPACTED_SOURCES_PREFIX, settings, now)
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
        return [Finding(folder(day), LOST, f"no day file, though {len(kept)} kept sources hold "
                                                     f"{events} events of {day}")]
    files = path_list(readable)
    connection.execute(
        "CREATE OR REPLACE TABLE kept_rows AS SELECT source, line_number, line FROM read_json("
        f"{string_literal(str(rows_path))}, format = 'newline_delimited', "
        "columns = {'source': 'VARCHAR', 'line_number': 'BIGINT', 'line': 'VARCHAR'})"
    )
    connection.execute(
        "CREATE OR REPLACE TABLE file_rows AS SELECT source, line_number, line, filename FROM read_parquet("
        f"{files}, hive_partitioning = false, filename = true) WHERE source IN (SELECT source FROM kept_rows)"
    )
    counted = connection.execute(
        "SELECT count(*) FROM (SELECT source, line_number, line FROM kept_rows "
        "EXCEPT SELECT source, line_number, line FROM file_rows)"
    ).fetchone()
    assert counted is not None  # an aggregate returns one row
    [missing] = counted
    altered = connection.execute(
        "SELECT filename, count(*) FROM file_rows f WHERE NOT EXISTS (SELECT 1 FROM kept_rows k "
        "WHERE k.source = f.source AND k.line_number = f.line_number AND k.line = f.line) GROUP BY filename"
    ).fetchall()
    connection.execute("DROP TABLE kept_rows; DROP TABLE file_rows")
    found = [Finding(readable[path], DISAGREES, f"{count} rows differ from the kept source they came from")
             for path, count in sorted(altered)]
    if missing:
        found.append(Finding(folder(day), SHORTENED, f"{missing} of {events} events of its kept sources "
                                                               "are not in its day file"))
    return found


def day_file_findings(
    connection: duckdb.DuckDBPyConnection, key: str, file: Store | Path, day: date | None, workdir: Path
) -> list[Finding]:
    """What is wrong with one day file (nothing: ``[]``); ``file`` is its store, or a local copy of it."""
    import duckdb

    if day is None or day_file_name(key) != day:
        return [Finding(key, FOREIGN, "not a day or hour file `compact` writes "
                                      "(year=/month=/day=/<day>[T<HH>]-<digest>.parquet)")]
    path = string_literal(str(file if isinstance(file, Path) else file.fetch(key, workdir)))
    try:
        columns = [row[0] for row in connection.execute(
            f"DESCRIBE SELECT * FROM read_parquet({path}, hive_partitioning = false)").fetchall()]
        if columns != list(PARQUET_COLUMNS):
            return [Finding(key, UNREADABLE, f"columns {columns}")]
        counts = connection.execute(  # every column read: a corrupt page fails here
            "SELECT count(*) FILTER (WHERE CAST(to_timestamp(ts_ms / 1000) AS DATE) <> ? "
            "OR hour IS DISTINCT FROM strftime(to_timestamp(ts_ms // 1000), '%H') "
            "OR hour IS DISTINCT FROM coalesce(?, hour)), "
            "count(*) FILTER (WHERE spot_id IS DISTINCT FROM json_extract_string(line, '$.spot_id') "
            "OR status IS DISTINCT FROM json_extract_string(line, '$.status') "
            "OR \"timestamp\" IS DISTINCT FROM json_extract_string(line, '$.timestamp') "
            "OR ts_ms IS DISTINCT FROM "
            "CAST(round(epoch(CAST(\"timestamp\" AS TIMESTAMPTZ)) * 1e3) AS BIGINT)), "
            "count(*) FILTER (WHERE source IS NULL OR line_number IS NULL OR hour IS NULL) "
            f"FROM read_parquet({path}, hive_partitioning = false)",
            [day, None if file_hour(key) is None else f"{file_hour(key):02d}"],
        ).fetchone()
        assert counts is not None  # an aggregate returns one row
        misfiled, disagrees, sourceless = counts
    except duckdb.Error as exc:
        return [Finding(key, UNREADABLE, str(exc).splitlines()[0])]
    found = []
    if misfiled:
        found.append(Finding(key, MISFILED, f"{misfiled} events of another UTC day or hour"
                                            + (" than its name's" if file_hour(key) is not None else "")))
    if disagrees:
        found.append(Finding(key, DISAGREES, f"{disagrees} rows differ from their stored line"))
    if sourceless:
        found.append(Finding(key, DISAGREES, f"{sourceless} rows lack their source, line number or hour"))
    return found
