"""Compaction's DuckDB workspace and the SQL helpers its steps share.

A run works in a DuckDB connection and a scratch directory, both temporary
(a Lambda may write only to /tmp); each day leaves neither table nor file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parking.sql_text import string_literal

if TYPE_CHECKING:
    import duckdb


@contextmanager
def workspace(threads: int | None = None) -> Iterator[tuple[duckdb.DuckDBPyConnection, Path]]:
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


def clear(connection: duckdb.DuckDBPyConnection, workdir: Path) -> None:
    """Ready for the next day: no table, no scratch file left."""
    connection.execute("DROP TABLE IF EXISTS day_rows")
    for path in workdir.iterdir():
        path.unlink()


def path_list(paths: Iterable[str]) -> str:
    """Local files as a SQL list of string literals, for ``read_parquet([...])``."""
    return "[" + ", ".join(string_literal(path) for path in paths) + "]"


def row_count(connection: duckdb.DuckDBPyConnection, path: str) -> int:
    """The rows of one Parquet file."""
    row = connection.execute(f"SELECT count(*) FROM read_parquet({string_literal(path)})").fetchone()
    assert row is not None  # an aggregate returns one row
    return row[0]


def quoted(column: str) -> str:
    """A column name as a quoted SQL identifier (``timestamp`` is a keyword)."""
    return f'"{column}"'
