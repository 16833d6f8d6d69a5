"""Numbers and durations as people read them, for tables, reports and messages."""

from __future__ import annotations

import math
import re

# Numbers as the command line, the live API, the settings and the spot catalog read them: ASCII only, since
# Python's int() and float() also read other scripts' digits ('\u0663' is 3), spaces around, and '1_2' as 12.
#: Plain decimal digits (a sign, where one is allowed, is the caller's to strip).
DIGITS = re.compile(r"[0-9]+")
#: A decimal number as people type it: ``0.5``, ``.5``, ``+0.5``, ``2``, ``1e-3`` (not ``nan``, ``inf``, ``1_0``).
DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``1,204 objects``: the count with thousands separators and the right noun."""
    word = noun if count == 1 else (plural_noun or f"{noun}s")
    return f"{count:,} {word}"


def duration(minutes: float | None) -> str:
    """A length of time as people say it: ``45 min``, ``1 h 12 min``, ``3 d 4 h``; ``-`` for none.

    Rounded to the minute below 48 hours, to the hour from then on.
    """
    if minutes is None or (isinstance(minutes, float) and math.isnan(minutes)):
        return "-"
    total = round(float(minutes))
    if total < 0:
        return f"-{duration(-minutes)}"
    if total < 60:
        return f"{total} min"
    hours, rest = divmod(total, 60)
    if hours < 48:
        return f"{hours} h" if rest == 0 else f"{hours} h {rest} min"
    hours = round(minutes / 60)
    days, rest_hours = divmod(hours, 24)
    return f"{days} d" if rest_hours == 0 else f"{days} d {rest_hours} h"


def percent(fraction: float | None, space: str = "") -> str:
    """A fraction as a percentage with one decimal, ``0.45`` as ``45.0%``; ``-`` for none (None, NaN, pandas' NA).

    ``space`` stands between the number and the sign: the HTML report puts a
    no-break space there (``45.0\u00a0%``, never broken across two lines), a
    terminal table nothing.
    """
    try:
        missing = fraction is None or math.isnan(fraction)
    except TypeError:  # pandas' NA or NaT: no number to show
        missing = True
    return "-" if missing or fraction is None else f"{fraction * 100:.1f}{space}%"


def shortened(text: str, limit: int, head: int, tail: int | None = None) -> str:
    """``text`` whole up to ``limit`` characters, else its first ``head`` and last ``tail`` around ``...``.

    For a line that gives back what was typed (a path, a parameter's name):
    its start and its end say which it was, without echoing 20,000
    characters. ``tail`` defaults to what ``limit`` leaves, so the cut text
    is ``limit`` characters long.
    """
    tail = limit - head - 3 if tail is None else tail
    if head < 0 or tail < 0 or head + 3 + tail > limit:
        raise ValueError(f"cannot keep {head} and {tail} characters around '...' within {limit}")
    if len(text) <= limit:
        return text
    return f"{text[:head]}...{text[len(text) - tail:]}"
