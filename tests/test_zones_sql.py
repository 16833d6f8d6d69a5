"""The section 7 queries' SQL as bound: the partitions each reads, joins on an
equality only, and the standard-library binder (the zones Lambda's) writing
exactly the text PyAthena's formatter writes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from pyathena.formatter import DefaultParameterFormatter

from parking.analytics.availability import bind, instant_params
from parking.analytics.registry import named


def pyathena_bind(sql: str, params: dict) -> str:
    """PyAthena's own formatter: the shared binder must write exactly its text."""
    return DefaultParameterFormatter().format(sql, dict(params))

AT = datetime(2024, 3, 20, 12, 34, 56, tzinfo=timezone.utc)
EXTRA = {"availability": {"group_by": "zone"}, "alerts": {"group_by": "level", "threshold": 0.9}, "overstays": {}}


def bound(name: str, at: datetime = AT, lookback_hours: float = 24) -> str:
    params = instant_params(name, at, timedelta(hours=lookback_hours), **EXTRA[name])
    return bind(named(name).sql, params)


def hours_read(sql: str) -> tuple[str, str]:
    return re.search(r"concat\(year, month, day, hour\) BETWEEN '(\d{10})' AND '(\d{10})'", sql).groups()


@pytest.mark.parametrize(
    ("name", "lookback_hours", "first", "last"),
    [
        # (at - 7 days - 2 lookback, at]: the lookback's hours come before the 7 days, and
        # a round trip among them looks one lookback further back (METRICS.md section 4).
        ("availability", 24, "2024031112", "2024032012"),
        ("alerts", 24, "2024031112", "2024032012"),
        ("availability", 1.5, "2024031309", "2024032012"),
        ("availability", 24 * 30, "2024011312", "2024032012"),
        # (at - 30 days - 2 lookback, at]: the stay is read from the 7 days, its sensor_flags
        # are sensor health's, which reads 30 days (and a round trip one lookback more).
        ("overstays", 24, "2024021712", "2024032012"),
        ("overstays", 24 * 30, "2023122112", "2024032012"),
    ],
)
def test_each_query_reads_only_the_hours_its_answer_needs(name, lookback_hours, first, last) -> None:
    sql = bound(name, lookback_hours=lookback_hours)
    assert hours_read(sql) == (first, last)
    days = re.search(r"day IN \(([^)]*)\)", sql).group(1)
    first_day = datetime.strptime(first, "%Y%m%d%H").date()
    expected_days = {(first_day + timedelta(days=n)).strftime("%d") for n in range((AT.date() - first_day).days + 1)}
    assert {d.strip(" '") for d in days.split(",")} == expected_days


def joins(sql: str) -> list[sqlglot.exp.Join]:
    [statement] = sqlglot.parse(sql, read="athena")
    return list(statement.find_all(sqlglot.exp.Join))


@pytest.mark.parametrize("name", EXTRA)
def test_every_join_is_on_an_equality_or_a_one_row_cross_join(name) -> None:
    for join in joins(bound(name)):
        condition = join.args.get("on")
        if condition is None:
            assert join.args.get("kind") == "CROSS" and join.this.alias_or_name == "p", join.sql()
        else:
            equalities = [eq for eq in condition.find_all(sqlglot.exp.EQ)
                          if {c.table for c in eq.find_all(sqlglot.exp.Column)} >= {"c"}]
            assert equalities and all(c.name == "spot_id" for eq in equalities for c in eq.find_all(sqlglot.exp.Column))


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
values = st.one_of(st.integers(-(2**62), 2**62), text, st.lists(text.filter(bool), min_size=1, max_size=4),
                   st.floats(0, 1))


@given(st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), values, min_size=1, max_size=5))
def test_the_standard_library_binder_writes_what_pyathena_writes(params) -> None:
    sql = " AND ".join(f"x = %({key})s" for key in params)
    assert bind(sql, params) == pyathena_bind(sql, params)


@pytest.mark.parametrize("name", EXTRA)
def test_the_bound_queries_match_pyathenas_binding(name) -> None:
    params = instant_params(name, AT, timedelta(hours=24), **EXTRA[name])
    assert bind(named(name).sql, params) == pyathena_bind(named(name).sql, params)
