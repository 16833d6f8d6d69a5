"""infra/zones.yml and the zones monitor's artifact, proven without AWS on the
packaged template (what moto's CloudFormation does not model) and the zip.

Needs `make test`'s set-up: node_modules (osls) and build/zones.zip.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from parking.analytics.catalog import CATALOG_PREFIX, CATALOG_TABLE, COLUMNS
from parking.analytics.registry import named
from scripts.build_lambda import ARTIFACTS, handler_modules
from tests.cloudformation import ROOT, resources_of, schedule_of, sls

ZONES_ZIP = ARTIFACTS["zones"].path

# One worker for every test that runs `sls`: it writes .serverless/ in the repository.
pytestmark = [pytest.mark.serverless, pytest.mark.xdist_group("serverless")]


def statements(role: dict) -> dict[str, dict]:
    return {s["Sid"]: s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_the_monitor_runs_outside_the_vpc_on_its_schedule(template) -> None:
    function = template["Resources"]["ZonesLambdaFunction"]["Properties"]
    assert (function["Handler"], function["Runtime"], function["Timeout"]) == ("zones_handler.handler", "python3.12", 120)
    assert "VpcConfig" not in function
    assert function["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": ["ZonesDeadLetterQueue", "Arn"]}}
    assert function["Role"] == {"Fn::Sub": "${ParkingZonesRole.Arn}"}
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["Code"]["S3Key"].endswith("/zones.zip")
    assert schedule_of(template, "ZonesLambdaFunction")["ScheduleExpression"] == "rate(1 minute)"


def test_its_dead_letter_queue_and_logs_are_encrypted(template) -> None:
    queue = template["Resources"]["ZonesDeadLetterQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Ref": "DataKey"}
    assert template["Resources"]["ZonesLogGroup"]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}


def test_its_role_uses_our_workgroup_reads_our_prefixes_and_writes_only_results(template) -> None:
    by_sid = statements(template["Resources"]["ParkingZonesRole"])
    granted = {a for s in by_sid.values() for a in as_list(s["Action"])}
    assert granted == {
        "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution",
        "glue:GetDatabase", "glue:GetTable", "s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:PutObject",
        "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "kms:Decrypt", "kms:GenerateDataKey",
        "logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage",
        "dynamodb:Scan", "dynamodb:GetItem", "kms:DescribeKey",
    }
    assert all(s["Resource"] != "*" for s in by_sid.values())
    assert by_sid["ScanTheStateTable"]["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    assert by_sid["QueryInOurWorkgroup"]["Resource"]["Fn::Sub"].endswith(":workgroup/${AthenaWorkGroup}")
    assert by_sid["ReadOurDataAndCatalog"]["Resource"] == [
        {"Fn::Sub": "${DataBucket.Arn}/parking-data/*"}, {"Fn::Sub": "${DataBucket.Arn}/parking-compacted/*"},
        {"Fn::Sub": f"${{DataBucket.Arn}}/{CATALOG_PREFIX}*"},
    ]
    writers = [s for s in by_sid.values() if "s3:PutObject" in as_list(s["Action"])]
    assert [w["Resource"] for w in writers] == [{"Fn::Sub": "${DataBucket.Arn}/athena-results/_main/*"}]
    tables = [r["Fn::Sub"] for r in by_sid["ReadOurTables"]["Resource"]]
    assert tables[-3:] == ["arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${GlueDatabase}/"
                           + name for name in ("${ParkingEventsTable}", "${ParkingEventsCompactedTable}",
                                               "${SpotCatalogTable}")]


def test_the_catalog_table_reads_the_stored_file_by_position(template) -> None:
    table = template["Resources"]["SpotCatalogTable"]["Properties"]["TableInput"]
    assert table["Name"] == CATALOG_TABLE
    storage = table["StorageDescriptor"]
    assert [c["Name"] for c in storage["Columns"]] == list(COLUMNS)
    assert {c["Type"] for c in storage["Columns"]} == {"string"}
    assert storage["Location"] == {"Fn::Sub": f"s3://${{DataBucket}}/{CATALOG_PREFIX}"}
    serde = storage["SerdeInfo"]
    assert serde["SerializationLibrary"] == "org.apache.hadoop.hive.serde2.OpenCSVSerde"
    assert serde["Parameters"] == {"separatorChar": ",", "quoteChar": '"', "escapeChar": "\\"}
    assert table["Parameters"]["skip.header.line.count"] == "1"


def test_the_alarms_watch_the_fullest_zone_and_overstays_without_naming_zones(template) -> None:
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    full, over = alarms["ZoneFullAlarm"]["Properties"], alarms["OverstaysAlarm"]["Properties"]
    assert (full["MetricName"], full["Threshold"], full["ComparisonOperator"]) == (
        "MaxZoneOccupancyRate", 90, "GreaterThanOrEqualToThreshold")
    assert (over["MetricName"], over["Threshold"]) == ("Overstays", 1)
    for alarm in (full, over):
        assert alarm["Dimensions"] == [{"Name": "service", "Value": "parking-zones"}]
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_dashboard_searches_every_zones_metrics(template) -> None:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    for metric in ("FreeSpots", "OccupancyRate", "Overstays"):
        assert f"SEARCH('{{ParkingPlatform,service,zone}} MetricName=\\\"{metric}\\\"'" in body


def test_the_schedule_and_threshold_are_stage_parameters(tmp_path: Path) -> None:
    sls("package", "--stage", "dev", "--package", str(tmp_path), "--param", "zonesSchedule=rate(15 minutes)",
        "--param", "zoneFullPercent=80")
    other = json.loads((tmp_path / "cloudformation-template-update-stack.json").read_text())
    assert schedule_of(other, "ZonesLambdaFunction")["ScheduleExpression"] == "rate(15 minutes)"
    assert float(other["Resources"]["ZoneFullAlarm"]["Properties"]["Threshold"]) == 80


def test_the_zones_artifact_holds_its_code_the_sql_it_runs_and_no_dataframe_libraries() -> None:
    names = zipfile.ZipFile(ZONES_ZIP).namelist()
    ours = sorted(n for n in names if n == "zones_handler.py" or n.startswith("parking/"))
    modules = [str(p.relative_to(ROOT)) for p in handler_modules("zones_handler.py")]
    parts = {f"parking/sql/_parts/{part}.sql" for name in ("availability", "overstays") for part in named(name).parts}
    assert ours == sorted([*modules, "parking/sql/__init__.py", "parking/sql/availability.sql",
                           "parking/sql/overstays.sql", *parts])
    assert not {"parking/queries.py", "parking/analytics/engines.py", "parking/analytics/plots.py"} & set(ours)
    top = {n.split("/")[0] for n in names}
    assert not top & {"pandas", "duckdb", "numpy", "pyarrow", "matplotlib"}
    assert "pyathena" in top, "the one Athena client, for the runs the state table cannot answer yet"


def test_the_zones_artifact_imports_on_its_own(tmp_path: Path) -> None:
    with zipfile.ZipFile(ZONES_ZIP) as archive:
        for name in archive.namelist():
            if name == "zones_handler.py" or name.startswith("parking/"):
                archive.extract(name, tmp_path)
    probe = ("import zones_handler, sys; from parking.analytics.registry import named; named('overstays').sql; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in {'pandas', 'duckdb', 'pyathena', 'numpy'}))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)}, check=False)
    assert result.returncode == 0, result.stderr
    assert ast.literal_eval(result.stdout) == []
