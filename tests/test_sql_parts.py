"""SQL from shared parts (issue 22): queries/_parts/*.sql spliced into each query's text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from parking.analytics.registry import QUERIES, splice

PARTS = Path(__file__).resolve().parents[1] / "queries" / "_parts"
TOY = {
    "a": "a AS (SELECT 1)",
    "b": "{{a}},\nb AS (SELECT * FROM a)",
    "c": "{{a}},\nc AS (SELECT * FROM a)",
    "loop": "{{loop}},\nx AS (SELECT 1)",
}


@pytest.mark.parametrize(
    ("text", "spliced", "used"),
    [
        ("WITH {{a}}\nSELECT 1", "WITH {{a}}\nSELECT 1", ()),  # not a line of its own: left as it is
        ("WITH\n{{a}}\nSELECT * FROM a", "WITH\na AS (SELECT 1)\nSELECT * FROM a", ("a",)),
        ("WITH\n  {{b}},\nz AS (SELECT 2)\n", "WITH\na AS (SELECT 1),\nb AS (SELECT * FROM a),\nz AS (SELECT 2)\n",
         ("b", "a")),
        # a part named twice is defined once, where it is first named
        ("WITH\n{{b}},\n{{c}}\nSELECT 1", "WITH\na AS (SELECT 1),\nb AS (SELECT * FROM a),\nc AS (SELECT * FROM a)\nSELECT 1",
         ("b", "a", "c")),
    ],
)
def test_a_part_line_becomes_the_parts_text(text: str, spliced: str, used: tuple[str, ...]) -> None:
    assert splice(text, TOY.__getitem__) == (spliced, used)


def test_a_part_that_names_itself_is_refused() -> None:
    with pytest.raises(ValueError, match="'loop' names itself"):
        splice("WITH\n{{loop}}\nSELECT 1", TOY.__getitem__)


def test_an_unknown_part_is_refused_by_name() -> None:
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        splice("WITH\n{{nothing_here}}\nSELECT 1")


@pytest.mark.parametrize("name", QUERIES)
def test_each_query_is_one_standalone_text(name: str) -> None:
    sql = QUERIES[name].sql
    assert "{{" not in sql
    defined = re.findall(r"^(\w+) AS \($", sql, re.MULTILINE)
    assert len(defined) == len(set(defined)), "every CTE defined once"
    assert defined.count("events") == 1 and "instants" in defined


def test_every_part_serves_a_query() -> None:
    used = {part for query in QUERIES.values() for part in query.parts}
    assert used == {path.stem for path in PARTS.glob("*.sql")}
