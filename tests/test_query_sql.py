"""The named queries as Athena will plan them: valid Trino SQL, and no join without an equality.

Each query is bound with sample parameters exactly as the CLI binds them and
parsed twice, with sqlglot's Athena dialect and with Trino's own grammar.
Trino plans a join with no equality between its sides as a cross join plus a
filter, which over a year of events exceeds Athena's time limit, so every join
must have one (METRICS.md sections 3, 4 and 6 define what the queries return).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlglot import exp
from trino_query_parser.error import TrinoSyntaxError

from parking import queries
from parking.analytics.catalog import CatalogStore, parse
from parking.analytics.engines import DuckDBEngine, bind
from parking.analytics.registry import GROUP_COLUMN, QUERIES
from parking.analytics.saved import GROUPED_BY, UNGROUPED, saved_columns, saved_sql
from parking.analytics.windows import days_window, zone
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from parking.simulate import catalog_csv, lines, plan
from tests.sql_shape import (
    parse_sqlglot,
    parse_trino,
    sqlglot_joins_without_equality,
    trino_joins_without_equality,
)

NOW = datetime(2024, 3, 21, 6, 30, tzinfo=timezone.utc)
SAMPLE_EXTRA = {
    "day_end_ms": 1710979200000, "time_zone": "Asia/Kolkata", "at_ms": 1710936000000, "window_ms": 604800000,
    "health_window_ms": 2592000000,
    "silent_ms": 86400000, "flapping_changes": 20, "stuck_ms": 259200000, "group_by": "zone", "threshold": 0.9,
    "filter_zones": 1, "zones": ["North", "O'Hare"],
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


# Saved named queries (infra/catalog.yml): the same files, runnable as saved in the Athena console.


@pytest.mark.parametrize("name", QUERIES)
def test_a_saved_query_has_no_placeholder_and_parses_with_both_grammars(name) -> None:
    text = saved_sql(name)
    assert "%(" not in text and "%s" not in text
    assert trino_joins_without_equality(parse_trino(text)) == []
    assert sqlglot_joins_without_equality(parse_sqlglot(text)) == []


@pytest.mark.parametrize("name", QUERIES)
def test_a_saved_query_is_its_file_with_only_the_placeholders_and_the_group_column_replaced(name) -> None:
    pattern = re.escape(saved_columns(name, QUERIES[name].sql))
    for placeholder in set(re.findall(r"%\\\(\w+\\\)s", pattern)):
        pattern = pattern.replace(placeholder, r"[^%]+?")
    assert re.fullmatch(r"(?:--[^\n]*\n)*" + pattern, saved_sql(name), re.DOTALL)


def console_columns(name: str) -> list[str]:
    """The columns the CLI prints for the saved query's options: no group column ungrouped, ``zone`` by zone."""
    columns = list(QUERIES[name].columns)
    if name in UNGROUPED:
        return [c for c in columns if c != GROUP_COLUMN]
    return [GROUPED_BY.get(name, c) if c == GROUP_COLUMN else c for c in columns]


@pytest.mark.parametrize("name", QUERIES)
def test_a_saved_query_returns_the_clis_columns(name) -> None:
    """As the Athena console shows them (METRICS.md section 7: availability and alerts name the zone column)."""
    assert parse_sqlglot(saved_sql(name)).named_selects == console_columns(name)


def test_every_grouped_query_has_its_group_column_first_in_its_final_select() -> None:
    """What saved_columns rewrites: the five window queries and availability and alerts, once each."""
    for name in UNGROUPED | set(GROUPED_BY):
        assert re.search(r"^SELECT\n    (\w+\.)?group_value,\n", QUERIES[name].sql, re.MULTILINE), name


@pytest.fixture(scope="module")
def recent(tmp_path_factory) -> DuckDBEngine:
    """25 simulated spots over the 12 days up to the real now: the saved queries read current_timestamp."""
    now = datetime.now(timezone.utc)
    root = tmp_path_factory.mktemp("recent")
    stream = (line.encode() for line in lines(plan(25, 13, (now - timedelta(days=12)).date(), now=now)))
    ingest_lines(stream, LocalSink(root), now=now)
    # Section 7: the garage's catalog, and a kerb bay whose car has overstayed (a full zone).
    overstay = {"spot_id": "KERB-1", "status": "occupied", "timestamp": f"{now - timedelta(hours=5):%Y-%m-%dT%H:%M:%SZ}"}
    ingest_lines([json.dumps(overstay).encode()], LocalSink(root), now=now, partition=1)
    CatalogStore(root).replace(parse(catalog_csv(25) + "KERB-1,Kerb,,ev,60\n"))
    return DuckDBEngine(root)


def _last_seven_days(now: datetime) -> tuple[date, date]:
    return now.date() - timedelta(days=7), now.date() - timedelta(days=1)


DEFAULT_WINDOW_CALLS = {
    "status": lambda e, now: queries.status(engine=e, now=now),
    "occupancy": lambda e, now: queries.occupancy(now.date() - timedelta(days=1), engine=e, now=now),
    "utilization": lambda e, now: queries.utilization(*_last_seven_days(now), engine=e, now=now),
    "patterns": lambda e, now: queries.patterns(*_last_seven_days(now), engine=e, now=now),
    "turnover": lambda e, now: queries.turnover(*_last_seven_days(now), engine=e, now=now),
    "dwell": lambda e, now: queries.dwell(*_last_seven_days(now), engine=e, now=now),
    "health": lambda e, now: queries.health(engine=e, now=now),
    "availability": lambda e, now: queries.availability(engine=e, now=now),
    "alerts": lambda e, now: queries.alerts(engine=e, now=now),
    "overstays": lambda e, now: queries.overstays(engine=e, now=now),
}


@pytest.mark.parametrize("name", QUERIES)
def test_a_saved_query_answers_for_its_documented_default_window(recent, name) -> None:
    """Run as saved (DuckDB with the Trino macros), it gives the CLI's answer for the default window.

    Both run in one DuckDB transaction, whose start is the saved query's
    current_timestamp and the CLI's now (to the millisecond).
    """
    connection = recent._connection
    connection.execute("BEGIN TRANSACTION")
    try:
        [(now,)] = connection.execute("SELECT current_timestamp").fetchall()
        answer = recent.run(saved_sql(name), {})
        expected = DEFAULT_WINDOW_CALLS[name](recent, now.astimezone(timezone.utc))
    finally:
        connection.execute("ROLLBACK")
    assert list(answer.columns) == list(expected.columns) == console_columns(name)
    shape = {column: QUERIES[name].columns[GROUP_COLUMN if column in GROUPED_BY.values() and name in GROUPED_BY
                                            else column] for column in answer.columns}
    saved = queries.typed(answer, replace(QUERIES[name], columns=shape))
    assert len(expected) > 0
    pd.testing.assert_frame_equal(saved, expected, check_exact=False, atol=1e-3, rtol=0)
