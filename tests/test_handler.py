"""The Lambda entry point on moto's S3: storage, logs, metrics and failure."""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

import handler
from parking.errors import ConfigurationError, SinkWriteError
from tests.conftest import batch, event, merge, read_lines

BUCKET = "parking-monitoring-data"


@dataclass
class LambdaContext:
    """The attributes Powertools reads from Lambda's context object."""

    function_name: str = "parking-ingest"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:parking-ingest"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("PARKING_BUCKET", BUCKET)
    handler._sink_and_settings.cache_clear()
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client
    handler._sink_and_settings.cache_clear()


def log_lines(caplog) -> list[dict]:
    """The JSON lines Powertools' own formatter makes of the captured records."""
    formatter = handler.logger.registered_formatter
    return [json.loads(formatter.format(record)) for record in caplog.records]


def stdout_json(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def objects(client) -> dict[str, bytes]:
    listing = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listing}


def test_handler_stores_a_batch_in_s3(s3, msk_file) -> None:
    result = handler.handler(msk_file("msk_parking.json"), LambdaContext())
    stored = objects(s3)
    assert (result["records_in"], result["stored"], result["quarantined"]) == (4, 3, 1)
    assert len(stored) == result["objects_written"] == 4
    data_lines = [line for key, body in stored.items() if key.startswith("parking-data/") for line in read_lines(body)]
    assert sorted(line["timestamp"] for line in data_lines) == [
        "2024-03-20T10:00:00Z", "2024-03-20T10:59:59.999Z", "2024-03-20T11:00:01Z",
    ]


def test_handler_logs_one_structured_line_per_batch(s3, msk_file, caplog) -> None:
    handler.handler(msk_file("msk_parking.json"), LambdaContext())
    logs = [line for line in log_lines(caplog) if line.get("message") == "batch ingested"]
    assert len(logs) == 1
    [log] = logs
    assert (log["records_in"], log["stored"], log["quarantined"], log["objects_written"]) == (4, 3, 1, 4)
    assert log["hours_touched"] == ["2024-03-20T10", "2024-03-20T11"]
    assert log["milliseconds"] >= 0 and log["function_request_id"] == LambdaContext.aws_request_id


def test_handler_emits_embedded_metric_format(s3, msk_file, capsys) -> None:
    handler.handler(msk_file("msk_parking.json"), LambdaContext())
    [emf] = [line for line in stdout_json(capsys) if "_aws" in line]
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "ParkingPlatform"
    names = {metric["Name"] for metric in directive["Metrics"]}
    assert {"RecordsIn", "RecordsStored", "RecordsQuarantined", "ObjectsWritten", "HoursTouched"} <= names
    assert (emf["RecordsIn"], emf["RecordsStored"], emf["RecordsQuarantined"]) == ([4.0], [3.0], [1.0])


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_write_that_keeps_failing_raises_and_reports_nothing_stored(s3, capsys, caplog) -> None:
    s3.delete_bucket(Bucket=BUCKET)  # every PutObject now fails, retries included
    with pytest.raises(SinkWriteError, match="2 of 2 objects not written"):
        handler.handler(merge(batch([event()]), batch([b"junk"], partition=1)), LambdaContext())
    logs = log_lines(caplog)
    assert not [line for line in logs if line.get("message") == "batch ingested"]
    assert [line for line in logs if line["level"] == "ERROR" and "NoSuchBucket" in line["exception"]]
    assert not [line for line in stdout_json(capsys) if "RecordsStored" in line]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_handler_requires_a_bucket(monkeypatch) -> None:
    monkeypatch.delenv("PARKING_BUCKET", raising=False)
    handler._sink_and_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="PARKING_BUCKET"):
        handler.handler(batch([event()]), LambdaContext())
    handler._sink_and_settings.cache_clear()


def test_quarantine_objects_are_written_under_the_quarantine_key(s3, msk_file, monkeypatch) -> None:
    """The deployed bucket refuses quarantine objects under any other key (infra/storage.yml)."""
    kms = boto3.client("kms", region_name="eu-west-1")
    key_arn = kms.create_key(Description="quarantine")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("PARKING_QUARANTINE_KMS_KEY", key_arn)
    handler._sink_and_settings.cache_clear()
    handler.handler(msk_file("msk_parking.json"), LambdaContext())
    encryption = {
        item["Key"].split("/")[0]: s3.head_object(Bucket=BUCKET, Key=item["Key"]).get("SSEKMSKeyId")
        for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    }
    assert encryption == {"parking-data": None, "parking-quarantine": key_arn}


def test_a_redelivered_batch_finds_its_objects_and_replaces_none(s3, msk_file) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = handler.handler(msk_file("msk_parking.json"), LambdaContext())
    before = objects(s3)
    again = handler.handler(msk_file("msk_parking.json"), LambdaContext())
    assert again["objects_written"] == first["objects_written"]
    assert objects(s3) == before
    versions = s3.list_object_versions(Bucket=BUCKET).get("Versions", [])
    assert len(versions) == len(before), "no object got a second version"
