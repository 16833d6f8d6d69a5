"""PARKING_LOOKBACK_HOURS: the deployment's default lookback (METRICS.md section 3).

Every query, saved query, the zones function and the CLI use it unless told
otherwise; an explicit --lookback (or argument) beats it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking import queries
from parking.analytics.engines import DuckDBEngine
from parking.analytics.saved import saved_sql
from parking.cli.main import cli
from parking.config import lookback_hours_from_env
from parking.errors import ConfigurationError
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=timezone.utc)
VARIABLE = "PARKING_LOOKBACK_HOURS"


@pytest.mark.parametrize(("value", "hours"), [(None, 24.0), ("", 24.0), ("48", 48.0), ("1.5", 1.5), ("8784", 8784.0)])
def test_the_variable_sets_the_default_lookback(value: str | None, hours: float) -> None:
    env = {} if value is None else {VARIABLE: value}
    assert lookback_hours_from_env(env) == hours


@pytest.mark.parametrize("value", ["abc", "0", "-1", "8784.5", "nan", "inf"])
def test_a_bad_value_is_named_in_one_line(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        lookback_hours_from_env({VARIABLE: value})
    assert str(caught.value).startswith(VARIABLE) and "\n" not in str(caught.value)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A spot last heard 30 hours before NOW, free: unknown with 24 hours, free with 48."""
    line = {"spot_id": "W1", "status": "free", "timestamp": f"{NOW - timedelta(hours=30):%Y-%m-%dT%H:%M:%SZ}"}
    ingest_lines([json.dumps(line).encode()], LocalSink(tmp_path), now=NOW)
    return tmp_path


@pytest.mark.parametrize(("value", "stale"), [(None, True), ("48", False)])
def test_a_query_without_a_lookback_uses_the_deployments(lake: Path, monkeypatch, value, stale) -> None:
    if value is not None:
        monkeypatch.setenv(VARIABLE, value)
    frame = queries.status(engine=DuckDBEngine(lake), now=NOW)
    assert frame["stale"].tolist() == [stale]


def test_an_explicit_lookback_beats_the_deployments(lake: Path, monkeypatch) -> None:
    monkeypatch.setenv(VARIABLE, "48")
    frame = queries.status(lookback_hours=24, engine=DuckDBEngine(lake), now=NOW)
    assert frame["stale"].tolist() == [True]


@pytest.mark.parametrize(("value", "args", "free"), [
    ("48", [], 1),  # the deployment's lookback
    ("48", ["--lookback", "24"], 0),  # the option beats it
    (None, [], 0),  # 24 hours
])
def test_the_cli_uses_the_deployments_lookback(lake: Path, monkeypatch, value, args, free) -> None:
    if value is not None:
        monkeypatch.setenv(VARIABLE, value)
    result = CliRunner().invoke(cli, ["--data-dir", str(lake), "--format", "json", "availability",
                                      "--at", f"{NOW:%Y-%m-%dT%H:%M:%SZ}", *args])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["free"] == free


def test_a_bad_value_stops_the_cli_with_exit_2_naming_it(lake: Path, monkeypatch) -> None:
    monkeypatch.setenv(VARIABLE, "two days")
    result = CliRunner().invoke(cli, ["--data-dir", str(lake), "status"])
    assert result.exit_code == 2
    assert VARIABLE in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("value", "lookback_ms"), [(None, 86_400_000), ("48", 172_800_000), ("1.5", 5_400_000)])
def test_the_saved_queries_use_the_deployments_lookback(monkeypatch, value, lookback_ms) -> None:
    if value is not None:
        monkeypatch.setenv(VARIABLE, value)
    text = saved_sql("status")
    assert f"CAST({lookback_ms} AS bigint) AS lookback_ms" in text
    assert re.search(rf"-- lookback {float(value or 24):g} hours", text)
