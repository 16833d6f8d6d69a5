"""Quarantined records replayed through the ingest path: nothing lost, nothing doubled."""

from __future__ import annotations

import base64
import gzip
import json
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


# --- Values over the size limit: judged by what was stored, quarantined as ingest does ---------

BIG_VALID = json.dumps(event(spot="BIG", timestamp="2024-03-20T10:00:00Z", blob="x" * 100_000)).encode()
BIG_INVALID = json.dumps(event(spot="BAD", status="parked", blob="y" * 100_000)).encode()
RAISED = {"PARKING_MAX_VALUE_BYTES": "200000"}


def cli_in(root: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, [*args, "--data-dir", str(root)], env=env)


@pytest.fixture
def large(tmp_path: Path) -> Path:
    """A file load whose two lines are over the default limit: each a *.value.gz beside its too_large line."""
    source = tmp_path / "large.jsonl"
    source.write_bytes(BIG_VALID + b"\n" + BIG_INVALID + b"\n")
    assert cli_in(tmp_path / "data", "ingest", str(source)).exit_code == 1  # both quarantined
    return tmp_path / "data"


def quarantined(root: Path) -> list[dict]:
    return lines_under(root, "parking-quarantine")


def value_objects(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): gzip.decompress(p.read_bytes()) for p in root.rglob("*.value.gz")}


@pytest.mark.parametrize("check_env", [None, RAISED], ids=["checked with the default limit", "with the raised one"])
def test_an_event_replayed_under_a_raised_limit_checks_clean_under_any(large: Path, check_env) -> None:
    assert cli_in(large, "replay", env=RAISED).exit_code == 0
    assert [line["spot_id"] for line in lines_under(large, "parking-data")] == ["BIG"]
    result = cli_in(large, "lake", "check", env=check_env)
    assert result.exit_code == 0, result.output


def test_lake_repair_refiles_a_large_event_by_the_limit_it_was_stored_under(tmp_path: Path) -> None:
    from parking.config import Settings
    from parking.ingest.sinks import MemorySink
    from parking.lake.check import check_lake
    from parking.lake.stores import LocalStore

    staged = MemorySink()
    ingest_batch(batch([BIG_VALID]), staged, Settings(max_value_bytes=200_000), now=NOW)
    [(key, body)] = staged.objects.items()
    misfiled = tmp_path / key.replace("hour=10", "hour=09")
    misfiled.parent.mkdir(parents=True)
    misfiled.write_bytes(body)
    report = check_lake(LocalStore(tmp_path), repair=True, now=NOW)
    assert (report.refiled, report.quarantined) == (1, 0)
    assert [line["spot_id"] for line in lines_under(tmp_path, "parking-data")] == ["BIG"]


def test_a_value_read_back_and_quarantined_again_stays_in_its_object(large: Path) -> None:
    before = value_objects(large)
    assert cli_in(large, "replay", env=RAISED).exit_code == 0
    [line] = quarantined(large)
    assert (line["reason"], line["value"], line["value_encoding"]) == ("unknown_status", None, "object")
    assert value_objects(large) == {line["value_object"]["key"]: BIG_INVALID}
    assert before[line["value_object"]["key"]] == BIG_INVALID


def test_an_inline_value_over_the_limit_is_requarantined_as_ingest_quarantines_it(tmp_path: Path) -> None:
    """A line quarantined under a raised limit, replayed under the default: a *.value.gz beside its line."""
    from parking.config import Settings

    ingest_batch(batch([BIG_INVALID], first_offset=2), LocalSink(tmp_path / "lake"), Settings(max_value_bytes=200_000),
                 now=NOW)
    [inline] = quarantined(tmp_path / "lake")
    assert inline["value_encoding"] == "utf-8" and len(inline["value"]) > 65536

    totals = replay_quarantine(tmp_path / "lake", now=NOW)
    assert (totals.quarantined, dict(totals.reasons)) == (1, {"too_large": 1})
    [line] = quarantined(tmp_path / "lake")
    assert (line["value"], line["value_encoding"]) == (None, "object")
    assert value_objects(tmp_path / "lake") == {line["value_object"]["key"]: BIG_INVALID}

    source = tmp_path / "one.jsonl"  # what `ingest` writes for the same value
    source.write_bytes(BIG_INVALID + b"\n")
    cli_in(tmp_path / "ingested", "ingest", str(source))
    [ingested] = quarantined(tmp_path / "ingested")
    same = ("reason", "detail", "value", "value_encoding")
    assert {k: line[k] for k in same} == {k: ingested[k] for k in same}
    assert {k: v for k, v in line["value_object"].items() if k != "key"} == \
           {k: v for k, v in ingested["value_object"].items() if k != "key"}
    assert replay_quarantine(tmp_path / "lake", now=NOW).quarantined == 1
    assert quarantined(tmp_path / "lake") == [line | {"ingested_at": quarantined(tmp_path / "lake")[0]["ingested_at"]}]
