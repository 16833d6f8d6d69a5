"""The CLI's questions about now read the current-state table (issue 25; METRICS.md section 8).

``status``, ``availability``, ``overstays`` and ``alerts`` without ``--at`` and
with the deployment's lookback answer from the table the ingest path keeps;
``--at``, another ``--lookback`` or ``alerts --ahead`` answer through the
events. Either way the printed answer is the same at the same instant. An
``--at`` after now is answered as now, and a ``Note:`` on stderr says so.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking import queries
from parking.analytics.catalog import CatalogStore, parse
from parking.cli.help import commands
from parking.cli.main import cli
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from parking.simulate import catalog_csv, lines, plan
from parking.state import live

NOW = datetime(2024, 4, 1, 9, 30, tzinfo=timezone.utc)  # a weekday morning: some zones fill, some cars overstay
SPOTS = 120
NOW_QUESTIONS = [
    ["status"],
    ["availability"],
    ["availability", "--by", "level"],
    ["overstays"],
    ["alerts", "--threshold", "0.3"],
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """A week of a garage ingested up to now, with its catalog: the table written by the same ingest."""
    root = tmp_path_factory.mktemp("now")
    stream = lines(plan(SPOTS, 7, date(2024, 3, 25), seed=5, now=NOW))
    ingest_lines((line.encode() for line in stream), LocalSink(root), now=NOW)
    CatalogStore(root).replace(parse(catalog_csv(SPOTS)))
    return root


@pytest.fixture
def at_now(monkeypatch) -> datetime:
    monkeypatch.setattr("parking.cli.context.clock", lambda: NOW)
    monkeypatch.delenv("PARKING_LOOKBACK_HOURS", raising=False)
    return NOW


def ask(lake: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--data-dir", str(lake), *args, "--format", "json"])
    assert result.exit_code in (0, 3), result.output
    return result.exit_code, result.stdout


@pytest.mark.parametrize("args", NOW_QUESTIONS, ids=" ".join)
def test_a_question_about_now_is_answered_from_the_table_as_the_events_answer_it(lake, at_now, monkeypatch,
                                                                                 args) -> None:
    through_events = ask(lake, *args, "--at", NOW.isoformat())
    for name in ("status", "availability", "overstays", "alerts"):
        monkeypatch.setattr(queries, name, lambda *a, name=name, **k: pytest.fail(f"queries.{name} read the events"))
    assert ask(lake, *args) == through_events


@pytest.mark.parametrize("extra", [["--at", (NOW - timedelta(hours=5)).isoformat()], ["--lookback", "6"]],
                         ids=["an instant in the past", "another lookback"])
@pytest.mark.parametrize("args", NOW_QUESTIONS, ids=" ".join)
def test_another_instant_or_lookback_is_answered_through_the_events(lake, at_now, monkeypatch, args, extra) -> None:
    monkeypatch.setattr(live, "live_answer", lambda *a, **k: pytest.fail("the table answered"))
    ask(lake, *args, *extra)


def test_alerts_ahead_read_the_events_for_the_forecast(lake, at_now, monkeypatch) -> None:
    monkeypatch.setattr(live, "live_answer", lambda *a, **k: pytest.fail("the table answered"))
    ask(lake, "alerts", "--threshold", "0.3", "--ahead", "2")


def test_the_table_answers_with_rows(lake, at_now) -> None:
    """The cases above compare answers that say something: spots, zones, an overstay and an alert."""
    for args in (["status"], ["availability"], ["overstays"], ["alerts", "--threshold", "0.3"]):
        code, printed = ask(lake, *args)
        assert printed.strip() not in ("", "[]"), args
    assert code == 3, "alerts at 30 % found a zone"


AS_OF_NOW = "answering as of now"
#: Every command that takes --at, as run here, and how its Note ends (a forecast starts from a whole hour).
AT_COMMANDS = [
    (["status"], AS_OF_NOW),
    (["availability", "--by", "level"], AS_OF_NOW),
    (["overstays"], AS_OF_NOW),
    (["alerts", "--threshold", "0.3"], AS_OF_NOW),
    (["alerts", "--threshold", "0.3", "--ahead", "2"], AS_OF_NOW),
    (["health"], AS_OF_NOW),
    (["plot", "availability", "--out", "{out}"], AS_OF_NOW),
    (["forecast", "--hours", "2"], f"the forecast starts from now's hour, {NOW:%Y-%m-%dT%H:00Z}"),
    (["forecast", "backtest", "--days", "1", "--hours", "1"], f"the backtest ends at now's hour, {NOW:%Y-%m-%dT%H:00Z}"),
]
LATER = NOW + timedelta(days=365)


def path_of(args: list[str]) -> str:
    """The command's path: the words before its first option."""
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    return " ".join(words)


def test_every_command_that_takes_at_is_in_the_table() -> None:
    taking_at = {path for path, command in commands(cli) if any("--at" in param.opts for param in command.params)}
    assert taking_at == {path_of(args) for args, _ in AT_COMMANDS}


def run_at(lake: Path, tmp_path: Path, args: list[str], *extra: str) -> tuple[int, str, str, bytes]:
    """Exit code, stdout, stderr and the picture written (if it writes one) of ``args`` and ``extra``."""
    out = tmp_path / f"{len(list(tmp_path.iterdir()))}.png"
    picture = "{out}" in args
    typed = [arg.replace("{out}", str(out)) for arg in args]
    result = CliRunner().invoke(cli, ["--data-dir", str(lake), *typed, *extra, *([] if picture else ["--format", "csv"])])
    assert result.exit_code in (0, 3), result.output
    return (result.exit_code, result.stdout.replace(str(out), "OUT"), result.stderr,
            out.read_bytes() if picture else b"")


@pytest.mark.parametrize(("args", "ending"), AT_COMMANDS, ids=[" ".join(a) for a, _ in AT_COMMANDS])
def test_an_at_after_now_is_answered_as_now_and_a_note_says_so(lake, at_now, tmp_path, args, ending) -> None:
    code, stdout, stderr, picture = run_at(lake, tmp_path, args, "--at", LATER.isoformat())
    note = f"Note: --at {LATER:%Y-%m-%dT%H:%M:%SZ} is after now ({NOW:%Y-%m-%dT%H:%M:%SZ}); {ending}."
    assert note in stderr.splitlines(), stderr
    now_code, now_stdout, _, now_picture = run_at(lake, tmp_path, args)
    assert (code, stdout, picture) == (now_code, now_stdout, now_picture), "the answer is now's"


# An --at just after now: (how far after, the two instants as its Note shows them). Shown to the minute, an --at
# 20 s ahead read "--at 09:30Z is after now; answering as of now, 09:30Z".
JUST_AFTER = [
    (timedelta(seconds=20), "2024-04-01T09:30:20Z", "2024-04-01T09:30:00Z"),
    (timedelta(seconds=1), "2024-04-01T09:30:01Z", "2024-04-01T09:30:00Z"),
    (timedelta(milliseconds=250), "2024-04-01T09:30:00.250Z", "2024-04-01T09:30:00.000Z"),
    (timedelta(minutes=1, seconds=5), "2024-04-01T09:31:05Z", "2024-04-01T09:30:00Z"),
]


@pytest.mark.parametrize(("after", "at_shown", "now_shown"), JUST_AFTER, ids=[str(a) for a, _, _ in JUST_AFTER])
def test_the_note_shows_both_instants_so_that_they_differ(lake, at_now, tmp_path, after, at_shown,
                                                           now_shown) -> None:
    stderr = run_at(lake, tmp_path, ["status"], "--at", (NOW + after).isoformat())[2]
    assert f"Note: --at {at_shown} is after now ({now_shown}); answering as of now." in stderr.splitlines(), stderr


@pytest.mark.parametrize("args", [args for args, _ in AT_COMMANDS], ids=[" ".join(a) for a, _ in AT_COMMANDS])
def test_an_at_up_to_now_brings_no_note(lake, at_now, tmp_path, args) -> None:
    for at in (NOW, NOW - timedelta(hours=5)):
        assert "Note:" not in run_at(lake, tmp_path, args, "--at", at.isoformat())[2]
