"""`ingest --bucket` against an S3 that fails 30% of PUTs with a 500 after storing them (issue 23).

A moto server stands for S3. Each faulted PUT really lands there first (sent
on by the fault injector), then the client sees a 500: the retried
conditional PUT is answered 412, which is success for us, but which never
refunds botocore's retry quota. Every run must still succeed, with the same
objects as a run without faults, its retries bounded and said on stderr.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse
from botocore.httpsession import URLLib3Session
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from parking.cli.main import cli
from parking.ingest import sinks
from parking.simulate import lines, plan
from scripts.tansu_broker import free_port

REGION = "eu-west-1"
FAULT_RATE = 0.3
FAILED = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"


class _Raw:
    """The raw body AWSResponse reads a canned answer from."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self.body


class LandedThenFailed:
    """A before-send hook: at ``rate``, send the PUT on (it lands), then answer the client 500 InternalError."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.http = URLLib3Session()
        self.puts = self.faults = 0

    def __call__(self, request, **_: object) -> AWSResponse | None:
        self.puts += 1
        if self.random.random() >= self.rate:
            return None
        self.faults += 1
        landed = self.http.send(request)
        assert landed.status_code in (200, 412), landed.status_code
        return AWSResponse(request.url, 500, {"Content-Type": "application/xml"}, _Raw(FAILED))


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()


@pytest.fixture
def aws(endpoint, monkeypatch) -> str:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_REGION": REGION, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)
    return endpoint


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> Path:
    """The README's garage: 300 bays for a week (about 170 objects)."""
    path = tmp_path_factory.mktemp("week") / "week.jsonl"
    now = datetime(2026, 11, 25, tzinfo=timezone.utc)
    path.write_text("\n".join(lines(plan(300, 7, date(2026, 11, 17), seed=1, now=now))) + "\n")
    return path


def bucket_objects(bucket: str) -> dict[str, bytes]:
    client = sinks.s3_client(REGION)
    keys = [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", [])]
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def ingest(week: Path, bucket: str, monkeypatch, injector: LandedThenFailed | None):
    client = sinks.s3_client(REGION)
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    original = sinks.s3_client

    def faulty_client(*args, **kwargs):
        made = original(*args, **kwargs)
        if injector is not None:
            made.meta.events.register_first("before-send.s3.PutObject", injector)
        return made

    monkeypatch.setattr(sinks, "s3_client", faulty_client)
    return CliRunner().invoke(cli, ["ingest", str(week), "--bucket", bucket])


@pytest.fixture(scope="module")
def fault_free(week, endpoint) -> dict[str, bytes]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_REGION": REGION, "AWS_ENDPOINT_URL": endpoint}.items():
            patch.setenv(name, value)
        result = ingest(week, "fault-free", patch, None)
        assert result.exit_code == 0, result.output
        return bucket_objects("fault-free")


@pytest.mark.parametrize("seed", range(6))
def test_ingest_survives_500s_after_the_put_landed(aws, week, fault_free, monkeypatch, seed) -> None:
    injector = LandedThenFailed(FAULT_RATE, seed)
    result = ingest(week, f"faulty-{seed}", monkeypatch, injector)
    assert result.exit_code == 0, result.output
    stored = bucket_objects(f"faulty-{seed}")
    assert stored.keys() == fault_free.keys(), "every object, once, as without faults"
    assert {key: body for key, body in stored.items() if key.startswith("parking-data/")} == {
        key: body for key, body in fault_free.items() if key.startswith("parking-data/")}
    assert injector.faults > 50, "the faults were injected"
    said = [line for line in result.stderr.splitlines() if line.startswith("S3 answered InternalError (HTTP 500)")]
    assert said, "the retries are said on stderr"
    assert all(f"of {sinks.PUT_ATTEMPTS} in " in line for line in said)
    assert injector.puts <= len(fault_free) * sinks.PUT_ATTEMPTS * 5, "bounded"
