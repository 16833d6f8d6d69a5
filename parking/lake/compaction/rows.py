"""A day's rows: each stored line as a JSON row, and the table ``day_rows`` a compacted file is written from.

Each row keeps the whole stored line, the object it came from and its line
number, so a compacted file can be turned back into its objects
(:func:`parking.lake.compaction.repair.source_lines`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from parking.errors import CompactionError
from parking.lake.compaction.dayfiles import HOUR_PARTITION
from parking.lake.compaction.sql import path_list
from parking.lake.objects import Inspection
from parking.lake.stores import Store
from parking.sql_text import string_literal

if TYPE_CHECKING:
    import duckdb

_ROWS_JSON_COLUMNS = (
    "{'source': 'VARCHAR', 'line_number': 'BIGINT', 'hour': 'VARCHAR', 'spot_id': 'VARCHAR', "
    "'status': 'VARCHAR', 'timestamp': 'VARCHAR', 'line': 'VARCHAR'}"
)


def write_rows(store: Store, sources: list[tuple[Inspection, str]], rows_path: Path) -> int:
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
            hour = HOUR_PARTITION.search(relative)
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


def build_day(
    connection: duckdb.DuckDBPyConnection, rows_path: Path, inputs: list[str], dropped: frozenset[str] = frozenset()
) -> tuple[int, str]:
    """Table ``day_rows``: the new lines and the existing files (but rows from ``dropped``), once each; size, digest."""
    parts = [
        f"SELECT source, line_number, hour, spot_id, status, \"timestamp\", line FROM read_json("
        f"{string_literal(str(rows_path))}, format = 'newline_delimited', columns = {_ROWS_JSON_COLUMNS})"
    ]
    if inputs:
        files = path_list(inputs)
        parts.append(
            f"SELECT source, line_number, hour, spot_id, status, \"timestamp\", line "
            f"FROM read_parquet({files}, hive_partitioning = false)"
            + (f" WHERE source NOT IN ({', '.join(string_literal(d) for d in sorted(dropped))})" if dropped else "")
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
