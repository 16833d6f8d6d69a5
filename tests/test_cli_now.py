"""The CLI's questions about now read the current-state table (issue 25; METRICS.md section 8).

``status``, ``availability``, ``overstays`` and ``alerts`` without ``--at`` and
with the deployment's lookback answer from the table the ingest path keeps;
``--at``, another ``--lookback`` or ``alerts --ahead`` answer through the
events. Either way the printed answer is the same at the same instant.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking import queries
from parking.analytics.catalog import CatalogStore, parse
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
