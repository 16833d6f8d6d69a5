"""The named queries as Athena will plan them: valid Trino SQL, and no join without an equality.

Each query is bound with sample parameters exactly as the CLI binds them and
parsed twice, with sqlglot's Athena dialect and with Trino's own grammar.
Trino plans a join with no equality between its sides as a cross join plus a
filter, which over a year of events exceeds Athena's time limit, so every join
must have one (METRICS.md sections 3, 4 and 6 define what the queries return).
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlglot import exp

from parking import queries
from parking.analytics.engines import bind
from parking.analytics.registry import QUERIES
from parking.analytics.windows import days_window, zone
from tests.sql_shape import (
    parse_sqlglot,
    parse_trino,
    sqlglot_joins_without_equality,
    trino_joins_without_equality,
)
from trino_query_parser.error import TrinoSyntaxError

NOW = datetime(2024, 3, 21, 6, 30, tzinfo=timezone.utc)
SAMPLE_EXTRA = {
    "day_end_ms": 1710979200000, "time_zone": "Asia/Kolkata", "at_ms": 1710936000000, "window_ms": 604800000,
    "silent_ms": 86400000, "flapping_changes": 20, "stuck_ms": 259200000,
}


def bound(name: str) -> str:
    window = days_window(date(2024, 3, 18), date(2024, 3, 20), zone("UTC"), NOW)
    return bind(QUERIES[name].sql, queries.query_params(QUERIES[name], window, queries._lookback(24), SAMPLE_EXTRA))


@pytest.mark.parametrize("name", QUERIES)
def test_every_query_parses_with_trinos_grammar(name) -> None:
    tree = parse_trino(bound(name))
    assert tree.statement() is not None


@pytest.mark.parametrize("name", QUERIES)
def test_every_query_parses_as_athena_sql_in_sqlglot(name) -> None:
    statement = parse_sqlglot(bound(name))
    assert statement.find(exp.Select) is not None
    assert "approx_percentile" not in bound(name).lower()


@pytest.mark.parametrize("name", QUERIES)
def test_every_join_has_an_equality_in_trinos_grammar(name) -> None:
    assert trino_joins_without_equality(parse_trino(bound(name))) == []


@pytest.mark.parametrize("name", QUERIES)
def test_every_join_has_an_equality_in_sqlglot(name) -> None:
    assert sqlglot_joins_without_equality(parse_sqlglot(bound(name))) == []


JOINS = [
    ("SELECT 1 FROM a x JOIN b y ON x.k = y.k", True),
    ("SELECT 1 FROM a x LEFT JOIN b y ON y.k = x.k AND x.t < y.t", True),
    ("SELECT 1 FROM a x JOIN b y USING (k)", True),
    ("SELECT 1 FROM a x CROSS JOIN params p", True),
    ("SELECT 1 FROM a x CROSS JOIN UNNEST(sequence(x.f, x.t, 1)) AS t (n)", True),
    ("SELECT 1 FROM a x JOIN b y ON x.f < y.t AND x.t > y.f", False),
    ("SELECT 1 FROM a x JOIN b y ON x.k = y.k OR x.j = y.j", False),
    ("SELECT 1 FROM a x JOIN b y ON x.k = x.j", False),
    ("SELECT 1 FROM a x JOIN b y ON x.k = 1", False),
    ("SELECT 1 FROM a x CROSS JOIN b y", False),
    ("SELECT 1 FROM a x, b y WHERE x.k = y.k", False),
    ("WITH c AS (SELECT 1 FROM a x JOIN b y ON x.f < y.t) SELECT * FROM c", False),
]


@pytest.mark.parametrize(("sql", "planned_with_equality"), JOINS)
def test_the_join_check_tells_equality_joins_from_the_rest(sql: str, planned_with_equality: bool) -> None:
    assert (trino_joins_without_equality(parse_trino(sql)) == []) is planned_with_equality
    assert (sqlglot_joins_without_equality(parse_sqlglot(sql)) == []) is planned_with_equality


def test_trinos_grammar_rejects_what_trino_rejects() -> None:
    with pytest.raises(TrinoSyntaxError):
        parse_trino("SELECT spot_id FROM parking_events WHERE year IN %(years)s")
