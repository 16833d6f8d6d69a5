"""Athena through the CLI on moto: result reuse, what each query cost, and --zone names that matched nothing.

Athena reuses a result only for byte-identical SQL, so with ``--reuse-results
MINUTES`` a question about now is asked about now taken down to a multiple
of MINUTES (docs/CHOICES.md, "Queries and windows": reusing Athena results). The SQL moto receives
is captured at the API call.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone

import botocore.client
import pytest
from click.testing import CliRunner

from parking.analytics.engines import AthenaEngine, QueryStats
from parking.analytics.registry import QUERIES
from parking.analytics.windows import reuse_grid
from parking.cli import context, main
from parking.cli.progress import AthenaProgress, cost_line
from parking.config import Settings
from tests.test_queries_athena import athena, seed  # noqa: F401  (athena: a fixture, used by name)

MB = 2**20


@pytest.fixture
def sent(monkeypatch) -> list[dict]:
    """Every StartQueryExecution request, as moto receives it."""
    requests: list[dict] = []
    real_call = botocore.client.BaseClient._make_api_call

    def spy(self, operation, params):
        if operation == "StartQueryExecution":
            requests.append(params)
        return real_call(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    return requests


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


NOW_QUESTIONS = {  # commands asked about now (no --at), and occupancy of today
    "status": ["status"],
    "health": ["health"],
    "availability": ["availability"],
    "overstays": ["overstays"],
    "alerts": ["alerts"],
    "occupancy": ["occupancy", "--date", "2024-03-21"],
}
RUNS = [  # (first run, second run, --reuse-results, same SQL sent?)
    ("2024-03-21T10:45:00", "2024-03-21T10:59:59.999", "15", True),
    ("2024-03-21T10:44:59", "2024-03-21T10:45:00", "15", False),
    ("2024-03-21T10:30:59", "2024-03-21T10:31:00", "1", False),
    ("2024-03-21T00:00:00", "2024-03-21T23:59:59", "1440", True),
]


@pytest.mark.usefixtures("athena")
@pytest.mark.parametrize("name", NOW_QUESTIONS)
@pytest.mark.parametrize(("first", "second", "minutes", "same"), RUNS)
def test_two_runs_within_one_reuse_step_send_identical_sql(sent, monkeypatch, name, first, second, minutes,
                                                           same) -> None:
    for instant in (first, second):
        monkeypatch.setattr(context, "clock", lambda instant=instant: at(instant))
        seed(name, [])
        result = CliRunner().invoke(main.cli, ["--engine", "athena", *NOW_QUESTIONS[name], "--reuse-results", minutes])
        assert result.exit_code == 0, result.output
    assert len(sent) == 2
    assert (sent[0]["QueryString"] == sent[1]["QueryString"]) is same


@pytest.mark.usefixtures("athena")
@pytest.mark.parametrize(("instant", "note"), [
    ("2024-03-21T10:47:31", "Note: answering as of 2024-03-21T10:45Z: --reuse-results 15 takes now down to a "
                            "multiple of 15 minutes, so runs until the next one reuse one result\n"),
    ("2024-03-21T10:45:00", ""),  # now is on the grid: nothing moved, nothing to say
])
def test_a_moved_now_is_said_once_with_its_instant(monkeypatch, instant, note) -> None:
    monkeypatch.setattr(context, "clock", lambda: at(instant))
    seed("status", [])
    result = CliRunner().invoke(main.cli, ["--engine", "athena", "status", "--reuse-results", "15"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("Note: ") == len(note.splitlines())
    assert note in result.stderr


@pytest.mark.usefixtures("athena")
@pytest.mark.parametrize("name", ["status", "availability", "health"])
def test_an_explicit_at_is_never_moved_by_reuse(sent, monkeypatch, name) -> None:
    monkeypatch.setattr(context, "clock", lambda: at("2024-03-21T10:47:31"))
    seed(name, [])
    args = ["--engine", "athena", name, "--at", "2024-03-21T10:22:20Z", "--reuse-results", "60"]
    result = CliRunner().invoke(main.cli, args)
    assert result.exit_code == 0, result.output
    assert "Note: " not in result.stderr
    assert f"CAST({int(at('2024-03-21T10:22:20').timestamp() * 1000)} AS bigint) AS at_ms" in sent[0]["QueryString"]


@pytest.mark.usefixtures("athena")
@pytest.mark.parametrize("name", NOW_QUESTIONS)
def test_without_reuse_now_is_the_instant_itself(sent, monkeypatch, name) -> None:
    for instant in ("2024-03-21T10:30:00", "2024-03-21T10:30:00.001"):
        monkeypatch.setattr(context, "clock", lambda instant=instant: at(instant))
        seed(name, [])
        assert CliRunner().invoke(main.cli, ["--engine", "athena", *NOW_QUESTIONS[name]]).exit_code == 0
    assert sent[0]["QueryString"] != sent[1]["QueryString"]
    assert "ResultReuseConfiguration" not in sent[0] or not sent[0]["ResultReuseConfiguration"][
        "ResultReuseByAgeConfiguration"]["Enabled"]


@pytest.mark.parametrize(
    ("instant", "minutes", "expected"),
    [
        ("2024-03-21T10:47:31.250", 15, "2024-03-21T10:45:00"),
        ("2024-03-21T10:45:00", 15, "2024-03-21T10:45:00"),
        ("2024-03-21T10:47:31", 1, "2024-03-21T10:47:00"),
        ("2024-03-21T10:47:31", 60, "2024-03-21T10:00:00"),
        ("2024-03-21T10:47:31", 1440, "2024-03-21T00:00:00"),
        ("2024-03-21T10:47:31", 7, "2024-03-21T10:44:00"),  # 28,516,964 = 7 x 4,073,852 minutes since 1970
    ],
)
def test_the_reuse_grid_counts_whole_steps_from_the_epoch(instant, minutes, expected) -> None:
    assert reuse_grid(at(instant), minutes) == at(expected)


# --reuse-results: before or after the command name, like --engine; after wins.

ATHENA_COMMANDS = [
    ["status"], ["occupancy"], ["utilization"], ["patterns"], ["turnover"], ["dwell"], ["health"],
    ["availability"], ["overstays"], ["alerts"], ["plot", "patterns"], ["plot", "occupancy"],
    ["plot", "availability"], ["report"],
]


@pytest.mark.parametrize("command", ATHENA_COMMANDS, ids=" ".join)
def test_every_athena_command_lists_reuse_results_in_its_help(command) -> None:
    text = CliRunner().invoke(main.cli, [*command, "--help"]).output
    assert "--reuse-results MINUTES" in text


@pytest.mark.parametrize(
    ("args", "minutes"),
    [
        (["availability", "--reuse-results", "5"], 5),
        (["--reuse-results", "30", "availability"], 30),
        (["--reuse-results", "30", "availability", "--reuse-results", "5"], 5),
    ],
)
@pytest.mark.usefixtures("athena")
def test_reuse_results_is_taken_after_the_command_name_too(sent, args, minutes) -> None:
    seed("availability", [])
    result = CliRunner().invoke(main.cli, ["--engine", "athena", *args])
    assert result.exit_code == 0, result.output
    [request] = sent
    assert request["ResultReuseConfiguration"] == {
        "ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": minutes}
    }


@pytest.mark.parametrize("args", [["--reuse-results", "5", "status"], ["status", "--reuse-results", "5"]])
def test_the_local_engine_says_once_that_reuse_does_not_apply(tmp_path, args) -> None:
    (tmp_path / "parking-data").mkdir()
    result = CliRunner().invoke(main.cli, ["--engine", "local", "--data-dir", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("--reuse-results applies to --engine athena only; ignored") == 1


# The cost line: what each query scanned and what Athena bills.

COST_LINES = [
    (QueryStats("q", 3 * MB, 900, False), "scanned 3.00 MB, billed 10 MB (rounded up, 10 MB minimum), "
                                          "cost $0.000048 at $5/TB, 0.9s"),
    (QueryStats("q", 0, 120, True), "reused the result of an earlier run: nothing scanned, nothing billed ($0), 0.1s"),
    (QueryStats("q", 25 * MB + 1, 0, False, state="CANCELLED"),
     "the query was cancelled after scanning 25.00 MB: billed 26 MB (rounded up, 10 MB minimum), "
     "cost $0.000124 at $5/TB"),
    (QueryStats("q", 25 * MB, 0, False, state="FAILED"),
     "the query failed after scanning 25.00 MB: failed queries are not billed ($0)"),
]


@pytest.mark.parametrize(("stats", "line"), COST_LINES)
def test_the_cost_line_says_what_athena_bills(stats, line) -> None:
    assert cost_line(stats) == line
    assert ("rounded up" in line) is stats.billed


def test_several_queries_end_with_one_total() -> None:
    stream = io.StringIO()
    progress = AthenaProgress(stream)
    for stats in (QueryStats("a", 3 * MB, 0, False), QueryStats("b", 0, 0, True), QueryStats("c", 20 * MB, 0, False)):
        progress.finish(stats)
    progress.summary()
    *_, total = stream.getvalue().splitlines()
    assert total == ("athena: 3 queries, 1 answered from reused results: billed 30 MB in total, "
                     "cost $0.000143 at $5/TB")


def test_one_query_prints_no_total() -> None:
    stream = io.StringIO()
    progress = AthenaProgress(stream)
    progress.finish(QueryStats("a", 3 * MB, 0, False))
    progress.summary()
    assert len(stream.getvalue().splitlines()) == 1


@pytest.mark.usefixtures("athena")
def test_a_report_prints_one_total_after_its_queries(monkeypatch, tmp_path) -> None:
    real_run = AthenaEngine.run

    def run_seeded(self, sql, params):  # queue each query's (empty) result just before it runs
        seed(next(name for name, query in QUERIES.items() if query.sql == sql), [])
        return real_run(self, sql, params)

    monkeypatch.setattr(AthenaEngine, "run", run_seeded)
    result = CliRunner().invoke(main.cli, ["--engine", "athena", "report", "--from", "2024-03-18", "--to", "2024-03-20",
                                           "--out", str(tmp_path / "r.html")])
    costs = [line for line in result.stderr.splitlines() if line.startswith("athena: ")]
    assert len(costs) > 2, result.output
    queries_run = len(costs) - 1
    assert re.fullmatch(rf"athena: {queries_run} queries: billed {queries_run * 10} MB in total, "
                        r"cost \$0\.\d{6} at \$5/TB", costs[-1])


@pytest.mark.usefixtures("athena")
def test_a_reused_result_says_so_on_the_cli(monkeypatch) -> None:
    """moto never reuses a result: its GetQueryExecution answer is given Athena's reuse fields here."""
    real_call = botocore.client.BaseClient._make_api_call

    def reused(self, operation, params):
        response = real_call(self, operation, params)
        if operation == "GetQueryExecution":
            execution = response["QueryExecution"]
            execution["Statistics"]["ResultReuseInformation"] = {"ReusedPreviousResult": True}
            execution["Statistics"]["DataScannedInBytes"] = 0
        return response

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", reused)
    seed("status", [])
    result = CliRunner().invoke(main.cli, ["--engine", "athena", "status", "--reuse-results", "10"])
    assert result.exit_code == 0, result.output
    assert "athena: reused the result of an earlier run: nothing scanned, nothing billed ($0)" in result.stderr
    assert "rounded up" not in result.stderr


@pytest.mark.usefixtures("athena")
def test_a_cancelled_query_reports_what_it_scanned() -> None:
    from parking import queries
    from parking.errors import QueryCancelled

    ended: list[QueryStats] = []

    def interrupt(progress) -> None:  # Ctrl-C at the first poll (moto's queries end at once)
        raise KeyboardInterrupt

    seed("occupancy", [])
    engine = AthenaEngine(Settings.from_env(), poll_interval=0.01, on_progress=interrupt, on_finished=ended.append)
    with pytest.raises(QueryCancelled):
        queries.occupancy("2024-03-20", engine=engine, now=at("2024-03-21T06:30:00"))
    [stats] = ended
    assert (stats.state, stats.data_scanned_bytes, stats.billed_megabytes) == ("CANCELLED", 0, 10)


@pytest.mark.usefixtures("athena")
def test_a_failed_query_reports_that_it_is_not_billed(monkeypatch) -> None:
    """moto's queries never fail: a GetQueryExecution answer says FAILED after 4 MB, as Athena's would."""
    from parking import queries
    from parking.errors import QueryError

    real_call = botocore.client.BaseClient._make_api_call

    def failing(self, operation, params):
        response = real_call(self, operation, params)
        if operation == "GetQueryExecution":
            execution = response["QueryExecution"]
            execution["Status"] = {**execution["Status"], "State": "FAILED",
                                   "StateChangeReason": "COLUMN_NOT_FOUND: line 1:8"}
            execution["Statistics"]["DataScannedInBytes"] = 4 * MB
        return response

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", failing)
    ended: list[QueryStats] = []
    engine = AthenaEngine(Settings.from_env(), poll_interval=0.01, on_finished=ended.append)
    with pytest.raises(QueryError):
        queries.occupancy("2024-03-20", engine=engine, now=at("2024-03-21T06:30:00"))
    [stats] = ended
    assert (stats.state, stats.data_scanned_bytes, stats.billed_megabytes) == ("FAILED", 4 * MB, 0)


@pytest.mark.usefixtures("athena")
def test_on_athena_a_zone_that_matched_nothing_is_named(monkeypatch) -> None:
    """Athena does not read the catalog first: an empty answer names the zones and what they match."""
    seed("utilization", [])
    result = CliRunner().invoke(main.cli, ["--engine", "athena", "utilization", "--from", "2024-03-18", "--to",
                                           "2024-03-20", "--zone", "O'Brien"])
    assert result.exit_code == 0, result.output
    assert ("Nothing observed: no spot was observed in that window (no catalogued bay of zone \"O'Brien\" was "
            "observed: a zone not in the spot catalog matches no bay; see the catalog Athena reads with parking-cli spots show --bucket BUCKET).") in result.stderr
