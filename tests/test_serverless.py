"""serverless.yml, proven without AWS: the real `sls package`, cfn-lint and
checkov over what it generates, the template's wiring, the Lambda artifact,
and the real `sls deploy` / `sls remove` against a local moto server.

Needs `make test`'s set-up: node_modules (osls), .venv-tools (cfn-lint,
checkov) and build/ingest.zip.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import boto3
import pytest

from parking.analytics.registry import QUERIES
from parking.analytics.saved import saved_sql
from parking.config import EARLIEST_EVENT
from parking.errors import InvalidEvent
from parking.ingest.events import FUTURE_TOLERANCE, canonical_timestamp, format_instant
from parking.layout import DATA_PREFIX, QUARANTINE_PREFIX, location_template
from scripts.build_lambda import handler_modules
from scripts.deploy_local import STACK
from tests.cloudformation import ROOT, resources_of, running_emulator, sls, statements

ARTIFACT = ROOT / "build" / "ingest.zip"
CLUSTER = "arn:aws:kafka:eu-west-1:111122223333:cluster/parking-msk/5c3a5a7e-1f1c-4a4b-9a53-2f7b8a1e0c11-2"

# One worker for every test that runs `sls`: it writes .serverless/ in the repository.
pytestmark = [pytest.mark.serverless, pytest.mark.xdist_group("serverless")]


def test_cfn_lint_finds_no_problem(linted) -> None:
    assert not linted["default"]


def test_checkov_finds_no_failed_check(checked) -> None:
    report = checked["default"]
    assert not report["failed_checks"], [c["check_id"] for c in report["failed_checks"]]
    assert len(report["passed_checks"]) >= 50
    skipped = report["skipped_checks"]
    assert all(check["check_result"]["suppress_comment"].strip() for check in skipped), "every skip gives its reason"
    assert {check["check_id"] for check in skipped} <= {"CKV_AWS_116", "CKV_AWS_18", "CKV_AWS_117"}


def test_the_function_matches_the_design(template: dict) -> None:
    function = template["Resources"]["IngestLambdaFunction"]["Properties"]
    assert (function["Runtime"], function["Handler"], function["MemorySize"], function["Timeout"]) == (
        "python3.12", "handler.handler", 256, 30
    )
    assert function["VpcConfig"] == {
        "SubnetIds": {"Fn::Split": [",", "subnet-0868010d2e66bb7f6,subnet-0e34a279cd23754d4"]},
        "SecurityGroupIds": {"Fn::Split": [",", "sg-085abaf11ad63f400"]},
    }
    assert function["Environment"]["Variables"]["PARKING_BUCKET"] == {"Ref": "DataBucket"}
    assert function["Role"] == {"Fn::Sub": "${ParkingDataIngestionRole.Arn}"}


def test_the_msk_trigger_points_at_the_function_and_topic(template: dict) -> None:
    [mapping] = resources_of(template, "AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    assert properties["EventSourceArn"] == CLUSTER
    assert properties["Topics"] == ["parking-events"]
    assert properties["FunctionName"] == {"Fn::GetAtt": ["IngestLambdaFunction", "Arn"]}
    assert (properties["BatchSize"], properties["MaximumBatchingWindowInSeconds"]) == (1000, 5)
    assert properties["StartingPosition"] == "TRIM_HORIZON"
    assert properties["AmazonManagedKafkaEventSourceConfig"] == {"ConsumerGroupId": "parking-ingest-dev"}


def test_the_msk_trigger_is_bounded_and_keeps_what_fails(template: dict) -> None:
    """Retries, then split, then the whole batch to S3: a partition never waits forever, nothing is dropped."""
    [mapping] = resources_of(template, "AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    assert (properties["MaximumRetryAttempts"], properties["BisectBatchOnFunctionError"]) == (5, True)
    assert properties["ProvisionedPollerConfig"] == {"MinimumPollers": 1, "MaximumPollers": 2}
    assert properties["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailedBatchBucket", "Arn"]}}}
    failed = template["Resources"]["FailedBatchBucket"]["Properties"]
    [rule] = failed["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": ["QuarantineKey", "Arn"]}
    assert all(failed["PublicAccessBlockConfiguration"].values())


def test_every_bound_of_the_trigger_is_a_stage_parameter(packaged, linted) -> None:
    other = json.loads(packaged["trigger-bounds"].read_text())
    [mapping] = resources_of(other, "AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    # A --param arrives as text, which CloudFormation converts to the property's type.
    assert (properties["MaximumRetryAttempts"], properties["BisectBatchOnFunctionError"]) == ("2", "false")
    assert properties["ProvisionedPollerConfig"] == {"MinimumPollers": "2", "MaximumPollers": "4"}
    assert not linted["trigger-bounds"]


def test_the_dead_letter_queue_skip_gives_the_true_reason(template: dict) -> None:
    [skip] = template["Resources"]["IngestLambdaFunction"]["Metadata"]["checkov"]["skip"]
    assert skip["id"] == "CKV_AWS_116"
    assert "dead-letter queue" in skip["comment"] and "asynchronous" in skip["comment"]
    assert "on-failure destination" in skip["comment"]


def test_the_role_holds_only_what_ingestion_needs(template: dict) -> None:
    role = template["Resources"]["ParkingDataIngestionRole"]
    assert role["Properties"].get("ManagedPolicyArns") is None
    allowed = [s for s in statements(role) if s["Effect"] == "Allow"]
    granted = {action for s in allowed for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert granted == {
        "s3:PutObject", "s3:ListBucket", "kms:GenerateDataKey", "logs:CreateLogStream", "logs:PutLogEvents",
        "kafka:DescribeCluster", "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers",
        "kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration",
        "kafka-cluster:DescribeTopic", "kafka-cluster:ReadData", "kafka-cluster:DescribeGroup",
        "kafka-cluster:AlterGroup", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses", "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs",
        "dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "kms:Decrypt", "kms:DescribeKey",
    }
    [denied] = [s for s in statements(role) if s["Effect"] == "Deny"]
    assert denied["Sid"] == "FunctionCodeManagesNoInterface"


def test_the_role_only_adds_objects_never_replaces_them(template: dict) -> None:
    by_sid = {s["Sid"]: s for s in statements(template["Resources"]["ParkingDataIngestionRole"])}
    assert by_sid["PutEventsAndQuarantine"]["Condition"] == {"Null": {"s3:if-none-match": "false"}}


def test_interfaces_are_managed_by_lambda_in_our_subnets_only(template: dict) -> None:
    by_sid = {s["Sid"]: s for s in statements(template["Resources"]["ParkingDataIngestionRole"])}
    manage = by_sid["ManageInterfacesInOurSubnets"]
    assert "ec2:DeleteNetworkInterface" in manage["Action"]
    subnets = manage["Condition"]["ArnLike"]["ec2:Subnet"]
    joined = subnets["Fn::Split"][1]["Fn::Join"][1]
    assert joined[0] == "arn:*:ec2:*:*:subnet/"
    assert joined[1] == {"Fn::Join": [",arn:*:ec2:*:*:subnet/", {"Fn::Split": [",", "subnet-0868010d2e66bb7f6,subnet-0e34a279cd23754d4"]}]}
    deny = by_sid["FunctionCodeManagesNoInterface"]
    assert set(deny["Action"]) == set(manage["Action"])
    assert "lambda:SourceFunctionArn" in deny["Condition"]["ArnEquals"]
    actions = {a for s in statements(template["Resources"]["ParkingDataIngestionRole"]) if s["Effect"] == "Allow"
               and s["Sid"] != "ManageInterfacesInOurSubnets" for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not {"ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"} & actions


def test_the_quarantine_has_a_key_of_its_own(template: dict) -> None:
    resources = template["Resources"]
    assert resources["QuarantineKey"]["Properties"]["EnableKeyRotation"] is True
    function = resources["IngestLambdaFunction"]["Properties"]
    assert function["Environment"]["Variables"]["PARKING_QUARANTINE_KMS_KEY"] == {"Fn::GetAtt": ["QuarantineKey", "Arn"]}
    policy = {s["Sid"]: s for s in resources["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    only = policy["QuarantineOnlyUnderItsOwnKey"]
    assert (only["Effect"], only["Action"], only["Resource"]) == (
        "Deny", "s3:PutObject", {"Fn::Sub": f"${{DataBucket.Arn}}/{QUARANTINE_PREFIX}*"})
    assert only["Condition"] == {"StringNotEquals": {
        "s3:x-amz-server-side-encryption-aws-kms-key-id": {"Fn::GetAtt": ["QuarantineKey", "Arn"]}}}
    analysts = list(resources_of(template, "AWS::IAM::ManagedPolicy").values())
    assert analysts, "one managed policy per analyst team"
    for policy in analysts:  # no team may decrypt the quarantine
        assert all(s["Resource"] != {"Fn::GetAtt": ["QuarantineKey", "Arn"]}
                   for s in policy["Properties"]["PolicyDocument"]["Statement"])


def test_the_access_log_bucket_requires_tls_1_2(template: dict) -> None:
    policy = {s["Sid"]: s for s in template["Resources"]["AccessLogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    assert (policy["DenyTlsBelow12"]["Effect"], policy["DenyTlsBelow12"]["Condition"]) == (
        "Deny", {"NumericLessThan": {"s3:TlsVersion": "1.2"}})


def test_the_role_names_every_resource_it_can(template: dict) -> None:
    by_sid = {s["Sid"]: s for s in statements(template["Resources"]["ParkingDataIngestionRole"])}
    assert by_sid["KeepFailedBatches"]["Resource"] == {"Fn::Sub": "${FailedBatchBucket.Arn}/*"}
    assert by_sid["EncryptQuarantineAndFailedBatches"]["Resource"] == {"Fn::GetAtt": ["QuarantineKey", "Arn"]}
    assert by_sid["PutEventsAndQuarantine"]["Resource"] == [
        {"Fn::Sub": f"${{DataBucket.Arn}}/{DATA_PREFIX}*"}, {"Fn::Sub": f"${{DataBucket.Arn}}/{QUARANTINE_PREFIX}*"},
    ]
    assert by_sid["WriteOwnLogs"]["Resource"] == {"Fn::Sub": "${IngestLogGroup.Arn}"}
    assert by_sid["EncryptWithTheBucketKey"]["Resource"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert by_sid["FindTheCluster"]["Resource"] == CLUSTER
    wildcard = [sid for sid, s in by_sid.items() if s["Resource"] == "*"]
    assert wildcard == ["DescribeNetworkForTheMapping"]
    assert all(action.startswith("ec2:Describe") for action in by_sid["DescribeNetworkForTheMapping"]["Action"])
    assert by_sid["ReadAndWriteSpotsOfTheStateTable"]["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    through = by_sid["UseTheDataKeyThroughDynamoDB"]  # the only decrypt: DynamoDB's, of the state table
    assert through["Condition"] == {"StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}}}


def test_the_bucket_is_encrypted_private_and_tls_only(template: dict) -> None:
    bucket = template["Resources"]["DataBucket"]["Properties"]
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]}}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["athena-results-expire"]["ExpirationInDays"] == 7
    assert [t["StorageClass"] for t in rules["parking-data-tiers-then-expires"]["Transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    deny = template["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_the_table_projection_matches_the_ingester_layout(template: dict) -> None:
    table = template["Resources"]["ParkingEventsTable"]["Properties"]["TableInput"]
    parameters = table["Parameters"]
    sub = parameters["storage.location.template"]["Fn::Sub"]
    rendered = sub.replace("${DataBucket}", "parking-monitoring-data").replace("${!", "${")
    assert rendered == location_template("parking-monitoring-data")
    assert [key["Name"] for key in table["PartitionKeys"]] == ["year", "month", "day", "hour"]
    assert parameters["projection.enabled"] == "true"
    assert (parameters["projection.month.digits"], parameters["projection.hour.range"]) == ("2", "0,23")
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["spot_id", "status", "timestamp"]


def test_the_projection_covers_every_year_the_validator_accepts(template: dict) -> None:
    """Athena sees no partition outside the projected years: they must hold every event ingest stores."""
    parameters = template["Resources"]["ParkingEventsTable"]["Properties"]["TableInput"]["Parameters"]
    first, last = (int(year) for year in parameters["projection.year.range"].split(","))
    latest = datetime.now(timezone.utc) + FUTURE_TOLERANCE
    assert first == EARLIEST_EVENT.year, "the first projected year is the earliest event's"
    assert last >= latest.year + 50
    for instant in (EARLIEST_EVENT, latest):
        stored = canonical_timestamp(format_instant(instant), latest, EARLIEST_EVENT)
        assert first <= int(stored[:4]) <= last, stored
    with pytest.raises(InvalidEvent, match="before"):  # and the instant before the first is refused
        canonical_timestamp(format_instant(EARLIEST_EVENT - timedelta(milliseconds=1)), latest, EARLIEST_EVENT)


def test_every_named_query_is_deployed_from_its_file(template: dict) -> None:
    """Saved as parking.analytics.saved derives it from queries/<name>.sql: runnable as saved."""
    deployed = {r["Properties"]["Name"]: r["Properties"]["QueryString"]
                for r in resources_of(template, "AWS::Athena::NamedQuery").values()}
    assert deployed == {f"parking-{name}": saved_sql(name) for name in QUERIES}


def test_the_workgroup_enforces_encrypted_results_and_a_scan_limit(template: dict) -> None:
    config = template["Resources"]["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] and config["PublishCloudWatchMetricsEnabled"]
    assert config["ResultConfiguration"]["OutputLocation"] == {"Fn::Sub": "s3://${DataBucket}/athena-results/_main/"}
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert config["BytesScannedCutoffPerQuery"] == 10737418240


def team_policies(template: dict) -> dict[str, list[dict]]:
    """Each analyst team's managed policy statements, by team workgroup name."""
    policies = {}
    for resource in resources_of(template, "AWS::IAM::ManagedPolicy").values():
        statements = resource["Properties"]["PolicyDocument"]["Statement"]
        found = [s for s in statements if s["Sid"] == "QueryInTheTeamWorkgroup"]
        if not found:
            continue  # not a team's policy: SpotCatalogPolicy (infra/zones.yml)
        [athena] = found
        workgroup_id = athena["Resource"]["Fn::Sub"].rsplit("${", 1)[1].rstrip("}")
        policies[template["Resources"][workgroup_id]["Properties"]["Name"]] = statements
    return policies


def test_each_analyst_team_has_a_workgroup_with_its_own_results_prefix(template: dict) -> None:
    workgroups = {r["Properties"]["Name"]: r["Properties"]["WorkGroupConfiguration"]
                  for r in resources_of(template, "AWS::Athena::WorkGroup").values()}
    for team in ("operations", "planning"):
        config = workgroups[f"parking-analytics-{team}"]
        assert config["EnforceWorkGroupConfiguration"] is True
        assert config["ResultConfiguration"]["OutputLocation"] == {"Fn::Sub": f"s3://${{DataBucket}}/athena-results/{team}/"}
        assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert set(team_policies(template)) == {"parking-analytics-operations", "parking-analytics-planning"}


def test_a_team_reads_and_lists_only_its_results_and_the_events(template: dict) -> None:
    for workgroup, team_statements in team_policies(template).items():
        team = workgroup.removeprefix("parking-analytics-")
        s3 = [s for s in team_statements if any(a.startswith("s3:") for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))]
        resources = [r for s in s3 for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
        objects = {r["Fn::Sub"] for r in resources if isinstance(r, dict) and "Fn::Sub" in r}
        assert objects == {"${DataBucket.Arn}/parking-data/*", "${DataBucket.Arn}/parking-compacted/*",
                           "${DataBucket.Arn}/parking-catalog/*", f"${{DataBucket.Arn}}/athena-results/{team}/*"}
        [listing] = [s for s in s3 if s["Action"] == "s3:ListBucket"]
        assert listing["Condition"] == {"StringLike": {"s3:prefix": [
            "parking-data/*", "parking-compacted/*", "parking-catalog/*", f"athena-results/{team}/*"]}}
        assert not any("quarantine" in json.dumps(s) for s in team_statements)


def tables_read(sql: str) -> set[str]:
    """The tables a named query reads (its CTEs aside), by their names in the SQL."""
    import re

    import sqlglot
    from sqlglot import exp

    statement = sqlglot.parse_one(re.sub(r"%\(\w+\)s", "NULL", sql), read="athena")
    ctes = {cte.alias for cte in statement.find_all(exp.CTE)}
    return {table.name for table in statement.find_all(exp.Table) if table.name and table.name not in ctes}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_a_team_may_run_every_named_query_and_write_only_its_results(template: dict) -> None:
    """Athena needs glue:GetTable on every table a query names and S3 reads under its location:
    occupancy and most others LEFT JOIN spot_catalog even ungrouped."""
    glue_tables = {r["Properties"]["TableInput"]["Name"]: (name, r["Properties"]["TableInput"])
                   for name, r in resources_of(template, "AWS::Glue::Table").items()}
    needed = {table for query in QUERIES.values() for table in tables_read(query.sql)}
    assert {"parking_events", "parking_events_compacted", "spot_catalog"} <= needed
    for workgroup, team_statements in team_policies(template).items():
        allowed = [s for s in team_statements if s["Effect"] == "Allow"]
        glue = {r["Fn::Sub"] for s in allowed if "glue:GetTable" in as_list(s["Action"]) for r in as_list(s["Resource"])}
        reads = {r["Fn::Sub"] for s in allowed if "s3:GetObject" in as_list(s["Action"]) for r in as_list(s["Resource"])}
        [listing] = [s for s in allowed if as_list(s["Action"]) == ["s3:ListBucket"]]
        for table in needed:
            logical_id, table_input = glue_tables[table]
            assert any(arn.endswith(f":table/${{GlueDatabase}}/${{{logical_id}}}") for arn in glue), (workgroup, table)
            prefix = table_input["StorageDescriptor"]["Location"]["Fn::Sub"].removeprefix("s3://${DataBucket}/")
            assert f"${{DataBucket.Arn}}/{prefix}*" in reads, (workgroup, table)
            assert f"{prefix}*" in listing["Condition"]["StringLike"]["s3:prefix"], (workgroup, table)
        team_results = f"${{DataBucket.Arn}}/athena-results/{workgroup.removeprefix('parking-analytics-')}/*"
        for statement in allowed:
            actions = as_list(statement["Action"])
            assert not any(a.startswith("glue:") and not a.startswith("glue:Get") for a in actions), statement
            if any(a.startswith("s3:") and a.split(":")[1].startswith(("Put", "Delete", "Abort")) for a in actions):
                assert as_list(statement["Resource"]) == [{"Fn::Sub": team_results}], statement


def test_another_stage_names_its_own_analyst_teams(tmp_path: Path) -> None:
    sls("package", "--stage", "dev", "--package", str(tmp_path), "--param", "analystTeams=city-ops,finance,research")
    other = json.loads((tmp_path / "cloudformation-template-update-stack.json").read_text())
    assert set(team_policies(other)) == {f"parking-analytics-{team}" for team in ("city-ops", "finance", "research")}


def test_alarms_cover_the_design(template: dict) -> None:
    alarms = {r["Properties"]["MetricName"] for r in resources_of(template, "AWS::CloudWatch::Alarm").values()}
    assert alarms == {"Errors", "Throttles", "Duration", "OffsetLag", "RecordsQuarantined", "BucketSizeBytes",
                      "MaxZoneOccupancyRate", "Overstays", "ApproximateNumberOfMessagesVisible"}
    assert all(r["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
               for r in resources_of(template, "AWS::CloudWatch::Alarm").values())


def test_vpc_endpoints_come_only_when_asked(template: dict, packaged, linted) -> None:
    assert not resources_of(template, "AWS::EC2::VPCEndpoint")
    with_endpoints = json.loads(packaged["vpc-endpoints"].read_text())
    kinds = sorted(r["Properties"]["VpcEndpointType"] for r in resources_of(with_endpoints, "AWS::EC2::VPCEndpoint").values())
    assert kinds == ["Gateway", "Gateway", "Interface"]  # S3, DynamoDB (the state table), Logs
    [dynamodb] = with_endpoints["Resources"]["DynamoDBGatewayEndpoint"]["Properties"]["PolicyDocument"]["Statement"]
    assert dynamodb["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    assert sorted(dynamodb["Action"]) == ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem"]
    assert dynamodb["Condition"] == {"StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}}
    [statement] = with_endpoints["Resources"]["S3GatewayEndpoint"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}}
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["DataBucket", "Arn"]}, {"Fn::Sub": "${DataBucket.Arn}/*"},
        {"Fn::GetAtt": ["FailedBatchBucket", "Arn"]}, {"Fn::Sub": "${FailedBatchBucket.Arn}/*"},
    ]
    assert not linted["vpc-endpoints"]


def test_another_stage_takes_its_cluster_and_network_from_params(tmp_path: Path) -> None:
    cluster = "arn:aws:kafka:eu-west-1:123456789012:cluster/prod/0b6c1a2e-1111-2222-3333-444455556666-1"
    sls("package", "--stage", "prod", "--package", str(tmp_path), "--param", f"mskClusterArn={cluster}",
        "--param", "subnetIds=subnet-01,subnet-02,subnet-03", "--param", "securityGroupIds=sg-01")
    prod = json.loads((tmp_path / "cloudformation-template-update-stack.json").read_text())
    vpc = prod["Resources"]["IngestLambdaFunction"]["Properties"]["VpcConfig"]
    assert vpc["SubnetIds"] == {"Fn::Split": [",", "subnet-01,subnet-02,subnet-03"]}
    [mapping] = resources_of(prod, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["EventSourceArn"] == cluster


def test_the_artifact_holds_only_the_ingest_code_and_its_dependencies() -> None:
    names = zipfile.ZipFile(ARTIFACT).namelist()
    ours = sorted(n for n in names if n == "handler.py" or n.startswith("parking/"))
    assert ours == sorted(str(p.relative_to(ROOT)) for p in handler_modules())
    assert "parking/queries.py" not in ours and "parking/engines.py" not in ours
    top = {n.split("/")[0] for n in names} - {"handler.py", "parking"}
    packages = {t for t in top if not t.endswith(".dist-info")}
    assert packages == {"aws_lambda_powertools", "isal", "orjson", "jmespath", "typing_extensions.py"}
    assert any(n.startswith("orjson/orjson.cpython-312-x86_64-linux-gnu") for n in names), "built for Lambda"


def test_the_artifact_imports_on_its_own(tmp_path: Path) -> None:
    """Only handler.py and parking/ from the zip, with this machine's own
    dependencies: proves no module the handler needs was left out."""
    with zipfile.ZipFile(ARTIFACT) as archive:
        for name in archive.namelist():
            if name == "handler.py" or name.startswith("parking/"):
                archive.extract(name, tmp_path)
    probe = ("import handler, sys; print(sorted(m for m in sys.modules "
             "if m.split('.')[0] in {'parking', 'pandas', 'duckdb', 'matplotlib', 'pyathena', 'click'}))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)}, check=False)
    assert result.returncode == 0, result.stderr
    imported = set(ast.literal_eval(result.stdout))
    assert imported == {module.replace("/", ".").removesuffix(".py").removesuffix(".__init__")
                        for module in (str(p.relative_to(ROOT)) for p in handler_modules()[1:])}


fresh_emulator = pytest.fixture(running_emulator)


def client(env: dict[str, str], name: str):
    return boto3.client(
        name, endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def test_deploy_rehearsal_creates_the_stack(deployed) -> None:
    emulator = deployed
    stack = client(emulator, "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")

    lam = client(emulator, "lambda")
    function = lam.get_function(FunctionName=f"{STACK}-ingest")
    config = function["Configuration"]
    assert (config["Runtime"], config["Handler"], config["MemorySize"], config["Timeout"]) == (
        "python3.12", "handler.handler", 256, 30
    )
    assert config["VpcConfig"]["SubnetIds"] == ["subnet-0868010d2e66bb7f6", "subnet-0e34a279cd23754d4"]
    assert config["VpcConfig"]["SecurityGroupIds"] == ["sg-085abaf11ad63f400"]
    assert config["Environment"]["Variables"]["PARKING_BUCKET"] == "parking-monitoring-data"
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 10

    [mapping] = lam.list_event_source_mappings()["EventSourceMappings"]
    assert (mapping["EventSourceArn"], mapping["Topics"]) == (CLUSTER, ["parking-events"])
    assert (mapping["BatchSize"], mapping["StartingPosition"]) == (1000, "TRIM_HORIZON")
    assert mapping["FunctionArn"] == config["FunctionArn"]
    assert (mapping["MaximumRetryAttempts"], mapping["BisectBatchOnFunctionError"]) == (5, True)
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Destination": "arn:aws:s3:::parking-monitoring-data-failed-batches"}}
    assert mapping["ProvisionedPollerConfig"] == {"MinimumPollers": 1, "MaximumPollers": 2}
    assert "parking-monitoring-data-failed-batches" in [b["Name"] for b in client(emulator, "s3").list_buckets()["Buckets"]]

    iam = client(emulator, "iam")
    role = config["Role"].rsplit("/", 1)[1]
    assert sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]) == [
        "current-state-table", "msk-event-source", "own-log-group", "vpc-network-interfaces", "write-parking-objects",
    ]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    written = iam.get_role_policy(RoleName=role, PolicyName="write-parking-objects")["PolicyDocument"]
    if isinstance(written, str):  # moto's CloudFormation stores the document as a Python literal
        written = ast.literal_eval(unquote(written))
    assert written["Statement"][0]["Resource"] == [
        "arn:aws:s3:::parking-monitoring-data/parking-data/*", "arn:aws:s3:::parking-monitoring-data/parking-quarantine/*",
    ]

    s3 = client(emulator, "s3")
    [rule] = s3.get_bucket_encryption(Bucket="parking-monitoring-data")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    # moto's CloudFormation skips versioning, public access block, lifecycle, logging and the
    # bucket policy: test_the_bucket_is_encrypted_private_and_tls_only checks them on the template.

    topics = client(emulator, "sns").list_topics()["Topics"]
    assert [t["TopicArn"].rsplit(":", 1)[1] for t in topics] == [f"{STACK}-alarms"]
    dashboard = client(emulator, "cloudwatch").get_dashboard(DashboardName=STACK)
    titles = [w["properties"]["title"] for w in json.loads(dashboard["DashboardBody"])["widgets"]]
    assert "MSK offset lag" in titles and "Free bays per zone" in titles and len(titles) == 9
    groups = client(emulator, "logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{STACK}")["logGroups"]
    assert sorted(g["logGroupName"] for g in groups) == [
        f"/aws/lambda/{STACK}-{name}" for name in ("compact", "compactHourly", "feeds", "ingest", "live", "zones")]
    assert {g["retentionInDays"] for g in groups} == {365}


def test_deploy_rehearsal_creates_the_hourly_compaction(deployed) -> None:
    config = client(deployed, "lambda").get_function(FunctionName=f"{STACK}-compactHourly")["Configuration"]
    assert (config["Handler"], config["Timeout"]) == ("compact_handler.hourly_handler", 600)
    assert config["Role"].endswith("/ParkingHourlyCompactionRole-dev")


def test_deploy_rehearsal_creates_the_daily_compaction(deployed) -> None:
    lam = client(deployed, "lambda")
    function = lam.get_function(FunctionName=f"{STACK}-compact")
    config = function["Configuration"]
    assert (config["Runtime"], config["Handler"], config["Timeout"]) == ("python3.12", "compact_handler.handler", 900)
    assert config["Environment"]["Variables"]["PARKING_BUCKET"] == "parking-monitoring-data"
    assert config["Role"].endswith("/ParkingCompactionRole-dev")
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 1
    [rule] = client(deployed, "events").list_rule_names_by_target(TargetArn=config["FunctionArn"])["RuleNames"]
    assert client(deployed, "events").describe_rule(Name=rule)["ScheduleExpression"] == "cron(30 2 * * ? *)"


def test_deploy_rehearsal_creates_the_zones_monitor(deployed) -> None:
    """The scheduled function of infra/zones.yml: outside the VPC, its own role, queue and schedule."""
    lam = client(deployed, "lambda")
    config = lam.get_function(FunctionName=f"{STACK}-zones")["Configuration"]
    assert (config["Runtime"], config["Handler"], config["Timeout"]) == ("python3.12", "zones_handler.handler", 120)
    assert not config.get("VpcConfig", {}).get("SubnetIds")
    # moto's CloudFormation drops DeadLetterConfig: tests/test_zones_serverless.py checks it on the template.
    assert client(deployed, "sqs").get_queue_url(QueueName=f"{STACK}-zones-failed")["QueueUrl"]
    assert config["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "parking-zones"
    assert config["Role"].rsplit("/", 1)[1] == "ParkingZonesRole-dev"
    iam = client(deployed, "iam")
    assert sorted(iam.list_role_policies(RoleName="ParkingZonesRole-dev")["PolicyNames"]) == [
        "own-log-group-and-dead-letters", "query-zones", "read-current-state",
    ]
    events = client(deployed, "events")
    [name] = events.list_rule_names_by_target(TargetArn=config["FunctionArn"])["RuleNames"]
    rule = events.describe_rule(Name=name)
    assert (rule["ScheduleExpression"], rule["State"]) == ("rate(1 minute)", "ENABLED")
    [target] = client(deployed, "events").list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == config["FunctionArn"]


def test_a_second_deploy_changes_nothing(deployed) -> None:
    assert "No changes to deploy. Deployment skipped." in sls("deploy", "--stage", "dev", env=deployed)


def test_remove_deletes_the_stack(fresh_emulator) -> None:
    sls("deploy", "--stage", "dev", env=fresh_emulator)
    sls("remove", "--stage", "dev", env=fresh_emulator)
    cloudformation = client(fresh_emulator, "cloudformation")
    statuses = {s["StackName"]: s["StackStatus"] for s in cloudformation.list_stacks()["StackSummaries"]}
    assert statuses[STACK] == "DELETE_COMPLETE"
    assert client(fresh_emulator, "lambda").list_functions()["Functions"] == []
