"""The zones monitor's entry point on moto's Athena: the SQL it sends, the metrics
it publishes per zone and for the alarms, and failures. The Athena client it
shares with the CLI, and its deadline, are tests/test_athena_client.py's."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import boto3
import pytest
import requests
from moto import mock_aws

import zones_handler
from parking.analytics.registry import QUERIES
from parking.errors import QueryError

REGION = "eu-west-1"
WORKGROUP = "parking-analytics"
OUTPUT = "s3://parking-monitoring-data/athena-results/"


@dataclass
class LambdaContext:
    function_name: str = "parking-zones"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:parking-zones"
    aws_request_id: str = "7c5f1a7e-2182-154f-163f-5f0f9a621d72"


@pytest.fixture
def athena(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("PARKING_WORKGROUP", WORKGROUP)
    # A current-state table that was never written: until it is complete the monitor asks Athena.
    monkeypatch.setenv("PARKING_BUCKET", "parking-monitoring-data")
    monkeypatch.setenv("PARKING_STATE_TABLE", "parking-state")
    clear_caches()
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName="parking-state", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "spot_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "spot_id", "KeyType": "HASH"}])
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(Name=WORKGROUP, Configuration={"ResultConfiguration": {"OutputLocation": OUTPUT}})
        yield client
    clear_caches()


def clear_caches() -> None:
    from parking.state import update

    for cached in (zones_handler._athena, zones_handler._settings, zones_handler._table, update.dynamo_state):
        cached.cache_clear()


def seed(*results: tuple[str, list[list[str | None]]]) -> None:
    """Queue the rows moto returns for the next queries, in order."""
    queued = []
    for name, rows in results:
        columns = list(QUERIES[name].columns)
        header = [{"Data": [{"VarCharValue": c} for c in columns]}]
        data = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
        info = [{"Name": c, "Label": c, "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "NULLABLE"}
                for c in columns]
        queued.append({"rows": header + data, "column_info": info})
    response = requests.post("http://motoapi.amazonaws.com/moto-api/static/athena/query-results",
                             json={"region": REGION, "results": queued}, timeout=10)
    assert response.status_code == 201


def sent_queries(client) -> list[str]:
    ids = client.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    executions = [client.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    return [e["Query"] for e in sorted(executions, key=lambda e: e["Status"]["SubmissionDateTime"])]


def emf_records(capsys) -> list[dict]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [{key: value[0] if isinstance(value, list) and len(value) == 1 else value for key, value in line.items()}
            for line in lines if "_aws" in line]


AVAILABILITY = [
    ["North", "40", "30", "8", "2", "0.7894736842105263"],
    ["Roof", "10", "0", "0", "10", None],  # every sensor silent
    ["South", "20", "19", "1", "0", "0.95"],
    [None, "3", "1", "2", "0", "0.3333333333333333"],  # uncatalogued: no zone to publish
]
OVERSTAYS = [
    ["S-9", "South", "2024-03-17 08:00:00.000", "5000.5", "240", "4760.5", "stuck"],  # the sensor's fault, likely
    ["S-7", "South", "2024-03-20 08:00:00.000", "300.5", "240", "60.5", ""],
    ["S-2", "South", "2024-03-20 09:00:00.000", "200.0", "180", "20.0", ""],
    ["N-1", "North", "2024-03-20 10:00:00.000", "65.0", "60", "5.0", ""],
]


def test_it_publishes_each_zones_figures_with_the_zone_as_a_dimension(athena, capsys) -> None:
    seed(("availability", AVAILABILITY), ("overstays", OVERSTAYS))
    summary = zones_handler.handler({"source": "aws.events"}, LambdaContext())
    records = emf_records(capsys)
    per_zone = {r["zone"]: r for r in records if "zone" in r}
    assert set(per_zone) == {"North", "Roof", "South"}
    assert (per_zone["North"]["FreeSpots"], per_zone["North"]["Overstays"]) == (8.0, 1.0)
    assert per_zone["North"]["OccupancyRate"] == pytest.approx(78.94736842105263)
    assert (per_zone["South"]["FreeSpots"], per_zone["South"]["OccupancyRate"], per_zone["South"]["Overstays"]) == (
        1.0, 95.0, 2.0), "only stays whose sensor looks healthy are to enforce"
    assert (per_zone["South"]["OverstaysToCheck"], per_zone["North"]["OverstaysToCheck"]) == (1.0, 0.0)
    assert "OccupancyRate" not in per_zone["Roof"], "no rate where nothing is known"
    [dimensions] = per_zone["North"]["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert "zone" in dimensions
    [overall] = [r for r in records if "zone" not in r]
    assert (overall["MaxZoneOccupancyRate"], overall["Overstays"], overall["ZonesReported"]) == (95.0, 3.0, 3.0)
    assert overall["OverstaysToCheck"] == 1.0
    assert "zone" not in overall["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert (summary["zones"], summary["overstays"], summary["max_occupancy_rate"]) == (3, 3, 0.95)


def test_it_sends_availability_by_zone_and_overstays_with_sensor_healths_days(athena, capsys) -> None:
    seed(("availability", []), ("overstays", []))
    before = datetime.now(timezone.utc)
    zones_handler.handler({}, LambdaContext())
    availability, overstays = sent_queries(athena)
    assert availability.startswith("-- availability") and "CAST('zone' AS varchar) AS group_by" in availability
    assert overstays.startswith("-- overstays") and "%(" not in availability + overstays
    first, last = re.search(r"BETWEEN '(\d{10})' AND '(\d{10})'", overstays).groups()
    assert datetime.strptime(last, "%Y%m%d%H").replace(tzinfo=timezone.utc) >= before - timedelta(hours=1)
    # Sensor health's 30 days, and two lookbacks (24 hours by default) before them: a round trip looks back.
    assert datetime.strptime(last, "%Y%m%d%H") - datetime.strptime(first, "%Y%m%d%H") == timedelta(days=32)
    [overall] = emf_records(capsys)
    assert "MaxZoneOccupancyRate" not in overall and overall["ZonesReported"] == 0.0


@pytest.mark.parametrize(("value", "lookback_ms"), [(None, 86_400_000), ("48", 172_800_000)])
def test_it_asks_with_the_deployments_lookback(athena, capsys, monkeypatch, value, lookback_ms) -> None:
    """PARKING_LOOKBACK_HOURS (serverless.yml's lookbackHours) is the scheduled function's lookback."""
    if value is not None:
        monkeypatch.setenv("PARKING_LOOKBACK_HOURS", value)
    seed(("availability", []), ("overstays", []))
    zones_handler.handler({}, LambdaContext())
    for sent in sent_queries(athena):
        assert f"CAST({lookback_ms} AS bigint) AS lookback_ms" in sent


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_failed_query_fails_the_run_so_lambda_retries_it(athena, monkeypatch) -> None:
    monkeypatch.setenv("PARKING_WORKGROUP", "no-such-workgroup")
    with pytest.raises(QueryError, match="WorkGroup does not exist"):
        zones_handler.handler({}, LambdaContext())
