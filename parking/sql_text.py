"""Values written into SQL text: the one rule for quoting a string as a SQL literal.

DuckDB and Athena (Trino) both read a string literal as single quotes around
the text with each quote doubled; every place that splices a path, a glob or
a value into SQL uses this, so the rule lives here once.
"""

from __future__ import annotations


def string_literal(text: str) -> str:
    """``text`` as a SQL string literal: ``it's`` becomes ``'it''s'``."""
    return "'" + text.replace("'", "''") + "'"
