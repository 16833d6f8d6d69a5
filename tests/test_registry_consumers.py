"""Each consumer of a named query's facts reads them from the registry, not from a copy:
the infra's descriptions, the saved queries' windows and defaults, the section 7
parameters, the Lambda build's SQL files, the library's and the live side's
defaults, the defaults each queries/*.sql header states; and the zones
Lambda's run deadline fits the function's timeout (the deadline itself is
tests/test_athena_client.py's)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import get_args

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from botocore.stub import Stubber

import zones_handler
from parking import queries
from parking.analytics import availability, catalog, forecast, registry, saved, zone_report
from parking.analytics.athena_failures import AthenaSetupError, client_failure, error_name, reason_hint
from parking.analytics.registry import QUERIES
from parking.config import Settings
from parking.errors import QueryError
from parking.live import answers as live_answers
from parking.state import live as state_live
from parking.state import spot
from scripts.build_lambda import LIVE_QUERIES, ZONES_QUERIES

ROOT = Path(__file__).resolve().parent.parent
AT = datetime(2024, 3, 20, 12, 0, tzinfo=timezone.utc)
NODE = shutil.which("node")


def node(script: str) -> object:
    """What ``script`` (run by node in the repository) prints, as JSON; Python is this interpreter."""
    env = {**os.environ, "PARKING_PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([NODE or "node", "-e", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout)


def test_every_query_has_its_facts() -> None:
    for query in QUERIES.values():
        assert query.description.endswith(f"(parking-cli {query.name})")
        assert query.saved_window and query.saved_hours > 0
        assert (query.window is not None) == query.at_instant, "an at-instant query's window is its entry's"
        assert {registry.QUERY_TABLE, registry.COMPACTED_TABLE} <= query.tables
    assert {name for name, query in QUERIES.items() if catalog.CATALOG_TABLE not in query.tables} == {
        "status", "health"}, "every query but status and health joins the spot catalog"


@pytest.mark.skipif(NODE is None, reason="needs node")
def test_the_infra_descriptions_are_the_registrys() -> None:
    expected = {name: query.description for name, query in QUERIES.items()}
    assert node("console.log(JSON.stringify(require('./infra/query_descriptions.js')()))") == expected
    teams = node(
        "require('./infra/analyst_teams.js')({resolveVariable: async (v) => "
        "({'param:analystTeams': 'ops', 'param:athenaWorkGroup': 'wg', 'sls:stage': 'dev', "
        "'param:bytesScannedCutoffPerQuery': '1000'})[v]})"
        ".then((out) => console.log(JSON.stringify(out.Resources)))"
    )
    named = {spec["Properties"]["Name"]: spec["Properties"]["Description"] for spec in teams.values()
             if spec["Type"] == "AWS::Athena::NamedQuery"}
    assert named == {f"parking-{name}": text for name, text in expected.items()}


def test_the_zones_stack_takes_its_descriptions_from_the_registry() -> None:
    text = (ROOT / "infra" / "zones.yml").read_text()
    for name in ("availability", "alerts", "overstays"):
        assert f"Description: ${{file(infra/query_descriptions.js):{name}}}" in text
    assert "QUERY_DESCRIPTIONS" not in (ROOT / "infra" / "analyst_teams.js").read_text()


def test_the_saved_windows_and_options_are_the_registrys() -> None:
    for name, query in QUERIES.items():
        window = saved.WINDOWS[name]
        assert (window.description, window.hours, window.at_instant) == (
            query.saved_window, query.saved_hours, query.at_instant)
    assert saved.WINDOWS["overstays"].read_hours == registry.HEALTH_WINDOW / timedelta(hours=1)
    assert saved.DEFAULT_OPTIONS["threshold"] == str(registry.DEFAULT_THRESHOLD)
    assert saved.DEFAULT_OPTIONS["flapping_changes"] == str(registry.FLAPPING_CHANGES)
    assert saved.DEFAULT_OPTIONS["stuck_ms"] == str(round(registry.STUCK_HOURS * 3_600_000))
    assert saved.descriptions() == {name: query.description for name, query in QUERIES.items()}


def test_the_library_defaults_are_the_registrys() -> None:
    assert catalog.GROUPINGS is registry.GROUPINGS
    assert availability.DEFAULT_THRESHOLD == registry.DEFAULT_THRESHOLD
    assert (queries.STATUS_WINDOW, queries.HEALTH_WINDOW) == (QUERIES["status"].window, QUERIES["health"].window)
    assert registry.DEFAULT_LOOKBACK_HOURS == Settings().lookback_hours
    health = queries.health.__kwdefaults__
    assert (health["flapping_changes"], health["stuck_hours"]) == (registry.FLAPPING_CHANGES, registry.STUCK_HOURS)
    assert queries.alerts.__kwdefaults__["threshold"] == registry.DEFAULT_THRESHOLD


@pytest.mark.parametrize("function", [
    queries.availability, queries.alerts, queries.forecast, queries.forecast_backtest, forecast.forecast,
    forecast.backtest, state_live.live_answer, live_answers.live_answer,
], ids=lambda function: f"{function.__module__}.{function.__name__}")
def test_every_grouping_and_threshold_default_is_the_registrys(function) -> None:
    defaults = function.__kwdefaults__
    assert defaults["by"] == registry.DEFAULT_GROUPING
    assert defaults.get("threshold", registry.DEFAULT_THRESHOLD) == registry.DEFAULT_THRESHOLD


def test_the_live_apis_groupings_are_the_registrys() -> None:
    """A Literal for FastAPI's schema and mypy, so written out: it must say what the registry says."""
    from parking.live.app import Grouping

    assert get_args(Grouping) == registry.GROUPINGS


def test_the_current_state_tables_windows_and_thresholds_are_the_registrys() -> None:
    milliseconds = timedelta(milliseconds=1)
    assert (spot.STATUS_WINDOW_MS, spot.HEALTH_WINDOW_MS) == (
        registry.SEEN_WINDOW / milliseconds, registry.HEALTH_WINDOW / milliseconds)
    assert (spot.FLAPPING_CHANGES, spot.STUCK_MS) == (registry.FLAPPING_CHANGES, registry.STUCK_HOURS * 3_600_000)
    assert live_answers.LiveSource.lookback_hours == registry.DEFAULT_LOOKBACK_HOURS


def test_how_far_an_instant_query_reads_is_its_entrys(monkeypatch) -> None:
    """No branch on a query's name: give availability overstays' read window and it reads as far."""
    lookback = timedelta(hours=24)
    overstays = availability.instant_params("overstays", AT, lookback)
    monkeypatch.setitem(QUERIES, "availability", replace(QUERIES["availability"], reads=registry.HEALTH_WINDOW))
    widened = availability.instant_params("availability", AT, lookback, group_by="zone")
    assert widened["first_hour"] == overstays["first_hour"]


def test_the_zones_build_ships_the_sql_of_what_a_run_asks(monkeypatch) -> None:
    asked: list[str] = []
    real = zone_report.named
    monkeypatch.setattr(zone_report, "named", lambda name: asked.append(name) or real(name))
    zone_report.zone_figures(lambda sql: [], AT, timedelta(hours=24))
    assert tuple(asked) == ZONES_QUERIES == zone_report.ZONES_QUERIES
    assert set(LIVE_QUERIES) <= set(QUERIES)


# The header of each queries/*.sql: the parameters it binds, and the defaults it states in words.

_ENTRY = re.compile(r"^--   (?P<names>\w+(?:, \w+)*)(?: {2,}(?P<text>\S.*))?$")  # "--   window_ms   how far ..."
_MORE = re.compile(r"^-- {10,}(?P<text>\S.*)$")  # an entry's next line
_STATED = re.compile(r"\((?P<stated>[^()]*\d[^()]*)\)$")  # "... (7 days)": a default, said last in its entry


def header(sql: str) -> dict[str, str]:
    """The entries of the query's "Bound parameters" comment: names (as written) -> what they are."""
    lines = sql.splitlines()
    entries: dict[str, str] = {}
    names = ""
    for line in lines[next(i for i, line in enumerate(lines) if line.startswith("-- Bound parameters")) + 1:]:
        if entry := _ENTRY.match(line):
            names = entry["names"]
            entries[names] = entry["text"] or ""
        elif (more := _MORE.match(line)) and names:
            entries[names] = f"{entries[names]} {more['text']}".strip()
        else:
            break
    return entries


_UNITS = {"days": 86_400_000, "hours": 3_600_000}


def as_bound(said: str) -> str:
    """What a header's words for a default bind: ``the lookback``, ``N days`` or ``N hours`` (in ms), a number."""
    if said == "the lookback":
        return "lookback_ms"
    number, _, unit = said.partition(" ")
    return str(round(float(number) * _UNITS.get(unit, 1)))


def stated_defaults(name: str, sql: str) -> dict[str, tuple[list[str], list[str]]]:
    """Per header entry that states a default: what its words bind, and what the saved query binds.

    The saved query binds the registry's defaults (:func:`saved.saved_parameters`);
    the lookback is named, not counted, so it is compared by name.
    """
    defaults = saved.saved_parameters(name, lookback_hours=1.5)
    found = {}
    for names, text in header(sql).items():
        if stated := _STATED.search(text):
            bound = ["lookback_ms" if defaults[n] == defaults["lookback_ms"] else defaults[n] for n in names.split(", ")]
            found[f"{name}: {names}"] = ([as_bound(said) for said in stated["stated"].split(", ")], bound)
    return found


@pytest.mark.parametrize("query", [*QUERIES.values(), forecast.HISTORY], ids=lambda query: query.name)
def test_a_query_files_header_names_every_parameter_it_binds(query) -> None:
    assert {name for names in header(query.sql) for name in names.split(", ")} == query.placeholders()


def test_every_default_a_query_files_header_states_is_the_registrys() -> None:
    stated = {entry: pair for name, query in QUERIES.items() for entry, pair in stated_defaults(name, query.sql).items()}
    assert {entry: said for entry, (said, _) in stated.items()} == {entry: bound for entry, (_, bound) in stated.items()}
    assert set(stated) >= {"status: window_ms", "health: window_ms", "overstays: health_window_ms",
                           "overstays: silent_ms, flapping_changes, stuck_ms"}


@pytest.mark.parametrize(("binds", "said", "entry"), [
    ("7 days", "8 days", "overstays: window_ms"),
    ("the lookback, 20, 72 hours", "the lookback, 20, 48 hours", "overstays: silent_ms, flapping_changes, stuck_ms"),
    ("the lookback, 20, 72 hours", "24 hours, 20, 72 hours", "overstays: silent_ms, flapping_changes, stuck_ms"),
])
def test_a_header_stating_another_default_is_told_apart(binds: str, said: str, entry: str) -> None:
    sql = QUERIES["overstays"].sql.replace(f"({binds})", f"({said})", 1)
    stated, bound = stated_defaults("overstays", sql)[entry]
    assert stated != bound


# The zones Lambda: one deadline for a run, inside the function's timeout.


class _Ignore(yaml.SafeLoader):
    """serverless.yml's own tags read as plain values."""


_Ignore.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_the_run_deadline_leaves_the_function_time_to_stop_a_query() -> None:
    config = yaml.load((ROOT / "serverless.yml").read_text(), Loader=_Ignore)
    timeout = config["functions"]["zones"]["timeout"]
    assert zones_handler.RUN_BUDGET_SECONDS + zones_handler.STOP_RESERVE_SECONDS <= timeout

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return timeout * 1000

    assert zones_handler.run_deadline(Context(), lambda: 1000.0) == 1000.0 + timeout - zones_handler.STOP_RESERVE_SECONDS
    assert zones_handler.run_deadline(object(), lambda: 0.0) == zones_handler.RUN_BUDGET_SECONDS


def _client():
    return boto3.client("athena", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


# Failures by code, not by the words of a message.


def _refused(code: str, message: str, operation: str = "StartQueryExecution") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_a_refused_query_is_a_missing_workgroup_only_when_athena_says_it_has_none() -> None:
    settings = Settings(workgroup="wg")
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("get_work_group", "InvalidRequestException", "WorkGroup wg is not found")
        failure = client_failure(_refused("InvalidRequestException", "anything at all"), settings, client)
    assert isinstance(failure, AthenaSetupError) and "workgroup 'wg' does not exist" in str(failure)
    with Stubber(client) as stub:
        stub.add_response("get_work_group", {"WorkGroup": {"Name": "wg"}})
        failure = client_failure(_refused("InvalidRequestException", "WorkGroup wg is not found"), settings, client)
    assert type(failure) is QueryError, "the words say missing, Athena says it exists"


def test_a_failed_querys_hint_comes_from_its_error_name() -> None:
    settings = Settings(database="db")
    assert error_name("SCHEMA_NOT_FOUND: line 1:8: Schema 'db' does not exist") == "SCHEMA_NOT_FOUND"
    assert "check PARKING_DATABASE (now 'db')" in reason_hint("SCHEMA_NOT_FOUND: line 1:8: x", settings)
    assert "PARKING_TABLE" in reason_hint("TABLE_NOT_FOUND: line 1:8: x", settings)
    assert reason_hint("GENERIC_INTERNAL_ERROR: Schema 'db' does not exist", settings) == ""
