"""The zones monitor reads the current-state table (moto's S3 and DynamoDB), not Athena (METRICS.md section 8)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

import handler
import zones_handler
from parking.analytics.catalog import CatalogRow, CatalogStore
from parking.state.stores import DynamoState
from tests import reference_live as ref
from tests.conftest import batch, event
from tests.reference import Event
from tests.test_handler import LambdaContext as IngestContext
from tests.test_zones_handler import LambdaContext, clear_caches, emf_records

REGION = "eu-west-1"
BUCKET = "parking-monitoring-data"
CATALOG = [CatalogRow("N1", "North", max_stay_minutes=30), CatalogRow("N2", "North"), CatalogRow("S1", "South"),
           CatalogRow("R1", "Roof")]


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "PARKING_BUCKET": BUCKET,
                        "PARKING_STATE_TABLE": "parking-state"}.items():
        monkeypatch.setenv(name, value)
    clear_caches()
    handler._sink_and_settings.cache_clear()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(TableName="parking-state", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "spot_id", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "spot_id", "KeyType": "HASH"}])
        CatalogStore(bucket=BUCKET, client=s3).replace(CATALOG)
        yield s3, dynamodb
    clear_caches()
    handler._sink_and_settings.cache_clear()


def stamp(instant: datetime) -> str:
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_the_monitor_publishes_from_the_table_what_the_reference_answers(aws, capsys) -> None:
    _, dynamodb = aws
    DynamoState("parking-state", dynamodb).set_complete_from(0)  # a new deployment, empty bucket
    now = datetime.now(timezone.utc)
    values = [event("N1", "occupied", stamp(now - timedelta(hours=2))),
              event("N2", "free", stamp(now - timedelta(minutes=5))),
              event("N2", "occupied", stamp(now - timedelta(minutes=5))),  # a round trip
              event("S1", "free", stamp(now - timedelta(days=2))),  # silent: unknown
              event("X9", "occupied", stamp(now - timedelta(minutes=1)))]  # uncatalogued
    handler.handler(batch(values[:3], partition=0), IngestContext())
    handler.handler(batch(values[3:], partition=1), IngestContext())
    capsys.readouterr()
    summary = zones_handler.handler({}, LambdaContext())
    assert summary["source"] == "table" and summary["scanned_bytes"] == 0
    at = round(datetime.fromisoformat(summary["at"]).timestamp() * 1000)
    events = [Event(v["spot_id"], v["status"],
                    round(datetime.fromisoformat(v["timestamp"].replace("Z", "+00:00")).timestamp() * 1000))
              for v in values]
    catalog = {row.spot_id: (row.zone, row.level, row.bay_type, row.max_stay_minutes) for row in CATALOG}
    expected = ref.availability(events, catalog, at, 86_400_000, "zone")
    overstays = ref.overstays(events, catalog, at, 86_400_000)
    published = {record["zone"]: record for record in emf_records(capsys) if "zone" in record}
    assert set(published) == {"North", "South", "Roof"}
    for zone, record in published.items():
        capacity, occupied, free, unknown, rate = expected[zone]
        assert record["FreeSpots"] == free
        assert record.get("OccupancyRate") == (None if rate is None else rate * 100)
        assert record["Overstays"] == sum(1 for row in overstays if row[1] == zone)
    assert published["North"]["Overstays"] == 1  # N1: two hours in a 30-minute bay


def test_an_incomplete_table_is_not_trusted(aws) -> None:
    """A table never marked complete (started on a bucket with events) sends the monitor to Athena."""
    _, dynamodb = aws
    table = DynamoState("parking-state", dynamodb)
    assert table.complete_from() is None
    now = round(datetime.now(timezone.utc).timestamp() * 1000)
    from parking.state.answers import complete_for

    assert not complete_for(table.complete_from(), now, 86_400_000)
    table.set_complete_from(now - 9 * 86_400_000)
    assert complete_for(table.complete_from(), now, 86_400_000)
    assert json.dumps(table.complete_from())
