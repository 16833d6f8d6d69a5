"""DuckDB's errors read for what they say about the lake: a file gone, an object unreadable.

DuckDB reports these only as text, so this is the one place that parses it:
a file ``compact`` moved away between listing and reading (the query is
run again), and a lake object or day file DuckDB cannot decode (one line
naming it and the repair).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from parking.layout import glob_escape

# "Cannot open file" of a file listed a moment before; "No files found" of a glob that matched at the check.
_VANISHED = re.compile(r'(?:Cannot open file "(?P<file>[^"]+)": No such file or directory'
                       r'|No files found that match the pattern "(?P<glob>[^"]+)")')


def vanished(exc: duckdb.Error, data_dir: Path) -> bool:
    """Whether a DuckDB error is a file under ``data_dir`` gone between listing and reading."""
    found = _VANISHED.search(str(exc)) if isinstance(exc, duckdb.IOException) else None
    if found is None:
        return False
    root = str(data_dir.resolve())
    path = found["file"] or found["glob"]
    return path.startswith((root + "/", glob_escape(root) + "/")) and not Path(path).exists()


_OBJECT_IN_ERROR = re.compile(r'(?:in file "|: )(/[^"\n]+?\.json\.gz)')
_DAY_FILE_IN_ERROR = re.compile(r"""['"](/[^'"\n]+?\.parquet)['"]""")  # 'file' or "file": DuckDB uses both


def unreadable_object(message: str) -> str | None:
    """One line naming the lake object a DuckDB error is about, and the check that repairs it."""
    found = _OBJECT_IN_ERROR.search(message)
    if found is None:
        return _unreadable_day_file(message)
    reason = message[: found.start()].split("Error:", 1)[-1].strip().removesuffix("in file").strip()
    return (f"cannot read lake object {found.group(1)} ({reason}); "
            "run `parking-cli lake check --repair` to quarantine what it holds")


def _unreadable_day_file(message: str) -> str | None:
    """One line for a compacted day file DuckDB cannot read as Parquet, and the repair that rebuilds its day."""
    first = message.splitlines()[0] if message else ""
    found = _DAY_FILE_IN_ERROR.search(first)
    if found is not None:
        reason = first.split("Error:", 1)[-1].replace(found.group(0), "").strip()
        return (f"cannot read compacted day file {found.group(1)} ({reason}); "
                "run `parking-cli lake check --repair` to rebuild its day from its sources")
    if "TProtocolException" in first:  # a Parquet footer DuckDB cannot decode does not name its file
        return (f"local query failed: {first} (a damaged Parquet day file); "
                "run `parking-cli lake check --repair` to find it and rebuild its day")
    return None
