"""SQL parameters bound as literals, with the standard library only: the one binder of every engine.

Both engines and the zones Lambda send a query's text with its parameters
written in as literals (client-side binding, the way PyAthena's pyformat
cursors do it), so the local engine runs exactly the text Athena gets, and
the zones Lambda binds its queries without the query engines. A test checks
the text equals what PyAthena's own formatter writes for every parameter the
queries bind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from parking.errors import InvalidArgument
from parking.sql_text import string_literal


def literal(value: Any) -> str:
    """One SQL literal, as PyAthena's default formatter writes it (a test compares them)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(f"not a finite number: {value}")
        return repr(value)
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, Sequence):
        return "(" + ", ".join(literal(item) for item in value) + ")"
    raise InvalidArgument(f"cannot bind a {type(value).__name__} as SQL")


def bind(sql: str, params: Mapping[str, Any]) -> str:
    """The SQL, stripped, with every ``%(name)s`` replaced by its literal (``%%`` is a percent sign)."""
    return sql.strip() % {key: literal(value) for key, value in params.items()}
