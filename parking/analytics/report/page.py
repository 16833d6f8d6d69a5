"""What a report page is made of: sections of facts, pictures and tables, and the page that holds them.

Plain values already formatted for people; :mod:`.html` renders them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Figure:
    """One picture, embedded: a ``data:`` URI and the text that stands for it."""

    alt: str
    uri: str


@dataclass(frozen=True)
class Table:
    """Rows already formatted for people; ``columns`` are the headers in order.

    ``more`` is the line under a table cut short (``and 30 more zones``).
    """

    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    more: str = ""


@dataclass(frozen=True)
class Section:
    """A heading, a few facts (label, value), pictures, tables and a note."""

    title: str
    facts: Sequence[tuple[str, str]] = ()
    figures: Sequence[Figure] = ()
    tables: Sequence[Table] = ()
    note: str = ""
    anchor: str = ""


@dataclass(frozen=True)
class ReportContent:
    """What the page shows; ``observed`` is false when no spot's state was known in the window."""

    title: str
    window: str
    generated: str
    observed: bool
    sections: Sequence[Section] = field(default_factory=tuple)
    footnotes: Sequence[str] = field(default_factory=tuple)
