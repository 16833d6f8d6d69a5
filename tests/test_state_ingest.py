"""Every ingest path keeps the current-state table, and live_answer equals the events path (METRICS.md section 8).

``ingest`` (files), ``replay``, ``lake check --repair``, ``consume`` (on a
Tansu broker, two handler processes, a spot on two partitions) and the
Lambda (moto's S3 and DynamoDB) all write through ``ingest_batch``; after
each, the live answers from the table equal the queries on DuckDB (or the
reference, where the SQL does not read round trips yet) at the same instant.
"""

from __future__ import annotations

import gzip
import json
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from parking import queries
from parking.analytics.catalog import CatalogRow, CatalogStore, parse
from parking.analytics.engines import DuckDBEngine
from parking.config import Settings
from parking.ingest.files import ingest_lines
from parking.ingest.replay import replay_quarantine
from parking.ingest.sinks import LocalSink
from parking.lake.check import check_lake
from parking.lake.stores import LocalStore
from parking.simulate import catalog_csv, lines, plan
from parking.state import answers
from parking.state.live import live_answer
from parking.state.stores import DynamoState, SqliteState
from tests import reference_live as ref
from tests.conftest import batch, event
from tests.reference import Event

LIVE = ("status", "availability", "overstays", "alerts")


def iso(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def assert_equal_to_queries(root: Path, now: datetime, **options) -> None:
    settings = Settings(data_dir=root)
    engine = DuckDBEngine(root)
    for name in LIVE:
        extra = {"threshold": 0.3} if name == "alerts" else {}
        at, frame = live_answer(name, settings, now=now, **extra, **options)
        expected = getattr(queries, name)(engine=engine, now=at, **extra)
        pd.testing.assert_frame_equal(frame, expected, obj=name)


def test_a_simulated_garage_ingested_from_a_file_answers_as_the_queries(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    garage = plan(120, 3, (now - timedelta(days=2)).date(), seed=4, now=now)
    CatalogStore(tmp_path).replace(parse(catalog_csv(120)))
    ingest_lines((line.encode() for line in lines(garage)), LocalSink(tmp_path), Settings(data_dir=tmp_path),
                 batch_size=97, now=now)
    assert SqliteState(tmp_path).complete_from() is not None and SqliteState(tmp_path).complete_from() < 0
    for later in (timedelta(0), timedelta(hours=5), timedelta(days=3)):
        assert_equal_to_queries(tmp_path, now + later)


def test_a_table_started_on_a_lake_with_events_is_rebuilt_before_it_answers(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sink = LocalSink(tmp_path)
    early = [json.dumps(event(f"S{n}", "occupied", iso(now - timedelta(hours=n + 1)))) for n in range(5)]
    ingest_lines((line.encode() for line in early), sink, Settings(data_dir=tmp_path), now=now)
    (tmp_path / "parking-state" / "live.sqlite3").unlink()  # as if the table came after the lake
    for suffix in ("-wal", "-shm"):
        (tmp_path / "parking-state" / f"live.sqlite3{suffix}").unlink(missing_ok=True)
    from parking.state import update

    update.close_local_states()
    update._started.clear()
    late = [json.dumps(event("S9", "free", iso(now - timedelta(minutes=3))))]
    ingest_lines((line.encode() for line in late), sink, Settings(data_dir=tmp_path), now=now)
    assert SqliteState(tmp_path).complete_from() == round(now.timestamp() * 1000)  # knows it missed the lake
    assert_equal_to_queries(tmp_path, now)
    assert len(list(SqliteState(tmp_path).rows())) == 6


def test_replay_and_lake_repair_write_the_table(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    ahead = now + timedelta(hours=30)  # more than a day ahead: quarantined now, valid a few hours later
    sink = LocalSink(tmp_path)
    first = [json.dumps(event("R1", "occupied", iso(now - timedelta(hours=1)))),
             json.dumps(event("R1", "free", iso(ahead)))]
    ingest_lines((line.encode() for line in first), sink, Settings(data_dir=tmp_path), now=now)
    later = now + timedelta(hours=7)
    replay_quarantine(tmp_path, Settings(data_dir=tmp_path), now=later)
    rows = answers.status_rows(answers.lives(SqliteState(tmp_path).rows(), round(ahead.timestamp() * 1000),
                                             86_400_000), round(ahead.timestamp() * 1000), 86_400_000)
    assert [(row[0], row[1]) for row in rows] == [("R1", "free")]

    # An object another writer left in the wrong hour: the table never saw it; repair re-files it through ingest.
    stray = tmp_path / "parking-data/year=2000/month=01/day=01/hour=00/other+0+" \
        "0000000000000000000+0000000000000000000+000000000000000000000000.json.gz"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(gzip.compress(json.dumps(event("R2", "occupied", iso(later - timedelta(minutes=5))),
                                               separators=(",", ":")).encode() + b"\n"))
    check_lake(LocalStore(tmp_path), Settings(data_dir=tmp_path), repair=True, now=later)
    assert_equal_to_queries(tmp_path, later)
    assert "R2" in {row[0] for row in SqliteState(tmp_path).rows()}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("PARKING_BUCKET", "lake")
    monkeypatch.setenv("PARKING_STATE_TABLE", "parking-state")
    import handler
    from parking.state import update

    handler._sink_and_settings.cache_clear()
    update.dynamo_state.cache_clear()
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        dynamodb.create_table(TableName="parking-state", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "spot_id", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "spot_id", "KeyType": "HASH"}])
        yield s3, dynamodb
    handler._sink_and_settings.cache_clear()
    update.dynamo_state.cache_clear()


def test_the_lambda_writes_dynamodb_and_live_answer_reads_it(aws) -> None:
    import handler
    from tests.test_handler import LambdaContext

    _, dynamodb = aws
    now = datetime.now(timezone.utc)
    values = [event("L1", "occupied", iso(now - timedelta(minutes=10))), event("L1", "free", iso(now - timedelta(minutes=10))),
              event("L2", "free", iso(now - timedelta(hours=2))), {"not": "an event"}]
    handler.handler(batch(values, partition=0), LambdaContext())
    handler.handler(batch(values[:2], partition=1, first_offset=7), LambdaContext())  # the same spot on another partition
    store = DynamoState("parking-state", dynamodb)
    store.set_complete_from(0)  # a new deployment on an empty bucket
    CatalogStore(bucket="lake", client=aws[0]).replace([CatalogRow("L1", "north"), CatalogRow("L2", "north")])
    settings = Settings.from_env()
    at, frame = live_answer("status", settings)
    events = [Event(v["spot_id"], v["status"], round(datetime.fromisoformat(v["timestamp"].replace("Z", "+00:00"))
                                                     .timestamp() * 1000)) for v in values[:3]]
    at_ms = round(at.timestamp() * 1000)
    assert {row.spot_id: (row.status, row.stale) for row in frame.itertuples()} == {
        spot: (state, stale) for spot, (state, _, _, stale) in ref.status(events, at_ms, 86_400_000).items()}
    _, zones = live_answer("availability", settings, now=at)
    expected = ref.availability(events, {"L1": ("north", "", "standard", None), "L2": ("north", "", "standard", None)},
                                at_ms, 86_400_000, "zone")
    assert [tuple(row.values()) for row in zones.to_dict("records")] == [
        ("north", *expected["north"])]  # L1's round trip with nothing before it: occupied


@pytest.mark.kafka
def test_consume_with_two_handler_processes_and_a_spot_on_two_partitions(tmp_path: Path) -> None:
    from confluent_kafka import Producer

    from parking.kafka.consumer import BatchConsumer, ConsumeOptions
    from scripts.tansu_broker import create_topic, spawn, stop

    process, bootstrap = spawn()
    try:
        create_topic(bootstrap, "live")
        now = datetime.now(timezone.utc)
        rng = random.Random(7)
        sent = []
        producer = Producer({"bootstrap.servers": bootstrap})
        for n in range(400):
            spot = rng.choice(["both", "S1", "S2", "S3"])
            stamp = now - timedelta(minutes=rng.randrange(0, 3 * 24 * 60, 15))
            value = event(spot, rng.choice(["occupied", "free"]), iso(stamp))
            partition = rng.randrange(2) if spot == "both" else {"S1": 0, "S2": 1, "S3": 2}[spot]
            for _ in range(1 + (n % 9 == 0)):  # some sent twice
                producer.produce("live", json.dumps(value).encode(), partition=partition)
            sent.append(value)
        producer.flush(30)
        options = ConsumeOptions(bootstrap, "live", group="live", batch_size=37, batching_window=0.2,
                                 until_idle=1.0, workers=2)
        BatchConsumer(options, LocalSink(tmp_path)).run()
    finally:
        stop(process)
    events = [Event(v["spot_id"], v["status"], round(datetime.fromisoformat(v["timestamp"].replace("Z", "+00:00"))
                                                     .timestamp() * 1000)) for v in sent]
    store = SqliteState(tmp_path)
    for later in (timedelta(0), timedelta(hours=20)):
        at = round((datetime.now(timezone.utc) + later).timestamp() * 1000)
        spots = answers.lives(store.rows(), at, 86_400_000)
        got = {row[0]: row[1:] for row in answers.status_rows(spots, at, 86_400_000)}
        assert got == ref.status(events, at, 86_400_000)


def test_no_table_for_a_memory_sink_or_s3_without_a_table_name() -> None:
    from parking.ingest.sinks import MemorySink, S3Sink
    from parking.state.update import state_for

    assert state_for(MemorySink(), Settings()) is None
    assert state_for(S3Sink("lake", client=object()), Settings()) is None


def test_old_events_cost_the_table_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    old = [json.dumps(event("OLD", "occupied", "2024-03-20T10:00:00Z"))]
    ingest_lines((line.encode() for line in old), LocalSink(tmp_path), settings, now=datetime.now(timezone.utc))
    assert list(SqliteState(tmp_path).rows()) == []
    assert date(2024, 3, 20)  # the event is in the lake all the same
    assert list((tmp_path / "parking-data").rglob("*.json.gz"))


@pytest.mark.parametrize("number", ["1e400", "-" + "9" * 5000, "1E2", "-0"])
def test_numbers_orjson_cannot_hold_do_not_stop_the_table(tmp_path: Path, number: str) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    stamp = iso(now - timedelta(minutes=1))
    line = f'{{"spot_id":"N1","status":"occupied","timestamp":"{stamp}","reading":{number}}}'
    totals = ingest_lines([line.encode()], LocalSink(tmp_path), Settings(data_dir=tmp_path), now=now)
    assert totals.as_dict()["stored"] == 1
    assert [row[0] for row in SqliteState(tmp_path).rows()] == ["N1"]


def test_athena_without_a_table_answers_through_the_events(monkeypatch) -> None:
    from parking.state import live

    asked = []
    monkeypatch.setattr(live, "_from_events", lambda name, *args: asked.append(name) or "events")
    settings = Settings(engine="athena", bucket="lake")
    assert live.table_of(settings) is None
    assert live.live_answer("status", settings)[1] == "events"
    assert asked == ["status"]
