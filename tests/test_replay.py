"""Quarantined records replayed through the ingest path: nothing lost, nothing doubled."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from parking.cli.main import cli
from parking.ingest.batch import ingest_batch
from parking.ingest.replay import kafka_record, replay_quarantine
from parking.ingest.sinks import LocalSink
from tests.conftest import batch, event, read_lines

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=timezone.utc)
AHEAD = "2024-03-21T18:00:00Z"  # 30 hours ahead of NOW: quarantined, valid two days later


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    values = [event(timestamp="2024-03-20T10:00:00Z"), event(spot="B", timestamp=AHEAD), b"\xff\xfe not utf-8",
              event(spot="C", status="parked")]
    ingest_batch(batch(values, first_offset=40), LocalSink(tmp_path), now=NOW)
    return tmp_path


def lines_under(root: Path, prefix: str) -> list[dict]:
    return [line for path in sorted((root / prefix).rglob("*.json.gz")) for line in read_lines(path.read_bytes())]


def test_a_record_whose_reason_has_passed_is_stored(lake: Path) -> None:
    totals = replay_quarantine(lake, now=NOW + timedelta(days=2))
    assert (totals.records_in, totals.stored, totals.quarantined) == (3, 1, 2)
    assert [line["spot_id"] for line in lines_under(lake, "parking-data")] == ["A1", "B"]
    assert sorted(line["reason"] for line in lines_under(lake, "parking-quarantine")) == ["not_utf8", "unknown_status"]


def test_replaying_twice_changes_nothing_more(lake: Path) -> None:
    replay_quarantine(lake, now=NOW + timedelta(days=2))
    before = sorted(str(p.relative_to(lake)) for p in lake.rglob("*.json.gz"))
    totals = replay_quarantine(lake, now=NOW + timedelta(days=3))
    assert (totals.stored, totals.quarantined) == (0, 2)
    assert sorted(str(p.relative_to(lake)) for p in lake.rglob("*.json.gz")) == before


def test_a_record_still_invalid_keeps_its_raw_value_and_origin(lake: Path) -> None:
    replay_quarantine(lake, now=NOW)
    quarantined = {line["reason"]: line for line in lines_under(lake, "parking-quarantine")}
    assert set(quarantined) == {"future_timestamp", "not_utf8", "unknown_status"}
    assert base64.b64decode(quarantined["not_utf8"]["value"]) == b"\xff\xfe not utf-8"
    assert (quarantined["unknown_status"]["topic"], quarantined["unknown_status"]["offset"]) == ("parking-events", 43)


def test_a_quarantine_line_rebuilds_its_kafka_record(lake: Path) -> None:
    original = batch([event(spot="C", status="parked")], first_offset=43)["records"]["parking-events-0"][0]
    [line] = [line for line in lines_under(lake, "parking-quarantine") if line["reason"] == "unknown_status"]
    assert kafka_record(line) == original


def test_cli_replay_prints_what_it_did(lake: Path) -> None:
    result = CliRunner().invoke(cli, ["replay", "--data-dir", str(lake)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"replayed into {lake}/"
    assert "records in              3" in result.output
