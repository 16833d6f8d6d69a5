"""build/ingest.zip and build/zones.zip as Lambda runs them: on python3.12, with only what the zip holds plus boto3.

The Lambda runtime provides boto3 and nothing else, so each handler runs here
on a python3.12 interpreter whose path holds the unzipped artifact and the
pure-Python boto3 stack of this venv, and no site-packages: the compiled
dependencies (orjson, isal) must be the zip's own cp312 builds. The ingest
function stores a sample MSK batch in a bucket on a moto server; the zones
function, its state table not complete yet, asks that server's Athena through
the one Athena client (the zip's PyAthena, no pandas).
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from scripts.build_lambda import ARTIFACTS
from scripts.tansu_broker import free_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "build" / "ingest.zip"
EVENT = ROOT / "tests" / "events" / "msk_parking.json"
BOTO = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six")  # what the runtime has beside the zip
BUCKET = "parking-monitoring-data"
pytestmark = [pytest.mark.serverless, pytest.mark.xdist_group("serverless")]  # with the other tests of `make package`'s artifact

INVOKE = """
import json, sys
import handler, orjson

class Context:
    function_name = "ingest"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:ingest"
    aws_request_id = "test"

    def get_remaining_time_in_millis(self):
        return 30000

result = handler.handler(json.load(open(sys.argv[1])), Context())
print(json.dumps({"result": result, "version": sys.version_info[:2], "orjson": orjson.__file__}))
"""

INVOKE_ZONES = """
import json, sys
import zones_handler

class Context:
    function_name = "zones"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:zones"
    aws_request_id = "test"

    def get_remaining_time_in_millis(self):
        return 120000

result = zones_handler.handler({}, Context())
loaded = {name.split(".")[0]: module for name, module in sys.modules.items()}
print(json.dumps({"result": result, "version": sys.version_info[:2], "pyathena": loaded["pyathena"].__file__,
                  "heavy": sorted(set(loaded) & {"pandas", "numpy", "pyarrow", "duckdb"})}))
"""
ZONES_WORKGROUP = "parking-analytics"
AVAILABILITY = {"group_value": "varchar", "capacity": "bigint", "occupied": "bigint", "free": "bigint",
                "unknown": "bigint", "occupancy_rate": "double"}


def python312() -> str:
    """The python3.12 interpreter: $LAMBDA_PYTHON, python3.12 on PATH when it runs, or pyenv's."""
    candidates = [os.environ.get("LAMBDA_PYTHON"), shutil.which("python3.12"),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    pytest.fail("no python3.12 to run the Lambda artifact on: install it or set LAMBDA_PYTHON")


@pytest.fixture
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server._server.server_port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield endpoint
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)  # moto's state is the process's, not the server's
    finally:
        server.stop()


def runtime_path(tmp_path: Path, artifact: Path) -> dict[str, str]:
    """The artifact unzipped and the runtime's boto3 stack linked: the PYTHONPATH of a Lambda."""
    code, runtime = tmp_path / "task", tmp_path / "runtime"
    zipfile.ZipFile(artifact).extractall(code)
    runtime.mkdir()
    for name in BOTO:
        origin = Path(importlib.util.find_spec(name).origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return {"PATH": os.environ["PATH"], "PYTHONPATH": f"{code}{os.pathsep}{runtime}", "PYTHONNOUSERSITE": "1"}


def test_the_artifact_stores_a_batch_on_python_3_12(tmp_path: Path, s3_endpoint: str) -> None:
    code = tmp_path / "task"
    environment = {
        **runtime_path(tmp_path, ARTIFACT), "AWS_ENDPOINT_URL_S3": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "eu-west-1", "PARKING_BUCKET": BUCKET,
        "POWERTOOLS_SERVICE_NAME": "parking-ingest", "POWERTOOLS_METRICS_NAMESPACE": "ParkingPlatform",
    }
    run = subprocess.run([python312(), "-S", "-c", INVOKE, str(EVENT)], cwd=tmp_path, env=environment,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout.splitlines()[-1])  # after Powertools' log and metric lines
    assert answer["version"] == [3, 12]
    assert Path(answer["orjson"]).is_relative_to(code), "the zip's own cp312 orjson"
    assert (answer["result"]["records_in"], answer["result"]["stored"], answer["result"]["quarantined"]) == (4, 3, 1)
    keys = [item["Key"] for item in boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="eu-west-1", aws_access_key_id="testing",
        aws_secret_access_key="testing").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(key.split("/")[0] for key in keys) == ["parking-data"] * 3 + ["parking-quarantine"]


def test_the_zones_artifact_asks_athena_on_python_3_12_without_pandas(tmp_path: Path, s3_endpoint: str) -> None:
    aws = {"endpoint_url": s3_endpoint, "region_name": "eu-west-1", "aws_access_key_id": "testing",
           "aws_secret_access_key": "testing"}
    boto3.client("dynamodb", **aws).create_table(
        TableName="parking-state", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "spot_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "spot_id", "KeyType": "HASH"}])
    boto3.client("athena", **aws).create_work_group(
        Name=ZONES_WORKGROUP, Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/results/"}})
    rows = [["North", "40", "30", "8", "2", "0.7894736842105263"], [None, "3", "1", "2", "0", "0.5"]]
    results = [[list(AVAILABILITY), *rows], [["spot_id", "zone", "since", "stay_minutes", "max_stay_minutes",
                                               "over_minutes", "sensor_flags"]]]
    types = [AVAILABILITY, dict.fromkeys(results[1][0], "varchar")]
    queued = [{"rows": [{"Data": [{} if value is None else {"VarCharValue": value} for value in row]}
                        for row in result],
               "column_info": [{"Name": name, "Label": name, "Type": kind, "Precision": 0, "Scale": 0,
                                "Nullable": "NULLABLE"} for name, kind in columns.items()]}
              for result, columns in zip(results, types, strict=True)]
    response = requests.post(f"{s3_endpoint}/moto-api/static/athena/query-results",
                             json={"region": "eu-west-1", "results": queued}, timeout=10)
    assert response.status_code == 201
    environment = {
        **runtime_path(tmp_path, ARTIFACTS["zones"].path), "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "eu-west-1",
        "PARKING_BUCKET": BUCKET, "PARKING_STATE_TABLE": "parking-state", "PARKING_WORKGROUP": ZONES_WORKGROUP,
        "POWERTOOLS_SERVICE_NAME": "parking-zones", "POWERTOOLS_METRICS_NAMESPACE": "ParkingPlatform",
    }
    run = subprocess.run([python312(), "-S", "-c", INVOKE_ZONES], cwd=tmp_path, env=environment,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout.splitlines()[-1])  # after Powertools' log and metric lines
    assert answer["version"] == [3, 12]
    assert Path(answer["pyathena"]).is_relative_to(tmp_path / "task"), "the zip's own PyAthena"
    assert answer["heavy"] == []
    result = answer["result"]
    assert (result["source"], result["zones"], result["max_occupancy_rate"]) == ("athena", 1, 0.7894736842105263)
