"""The packaged template as a cloud security reviewer reads it (issue 23, item 9).

Network interfaces bounded for every function in the VPC; the S3 gateway
endpoint's policy checked against the S3 calls each function in the VPC
really makes (recorded on a moto S3 while the ingest path and the compaction
run); the zones role's listing, results and GetBucketLocation; the KMS key
policies scoped to the principals and contexts that use them; and the audit
record (CloudTrail data events into an Object Lock bucket, a stage parameter)
with the access logs' and the deployment bucket's hardening. cfn-lint and
checkov run over the default template in tests/test_serverless.py, and here
over the variants the stage parameters give.
"""

from __future__ import annotations

import fnmatch
import json
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from moto import mock_aws

from parking.config import Settings
from parking.ingest.batch import ingest_batch
from parking.ingest.sinks import S3Sink
from parking.lake.compaction.protocol import compact
from parking.lake.stores import S3Store
from tests.cloudformation import resources_of, statements
from tests.conftest import batch, event

pytestmark = [pytest.mark.serverless, pytest.mark.xdist_group("serverless")]

BUCKET = "parking-monitoring-data"  # the dev stage's bucketName
FAILED_BUCKET = f"{BUCKET}-failed-batches"
INTERFACE_ACTIONS = {"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                     "ec2:UnassignPrivateIpAddresses"}
USE_ACTIONS = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:GenerateDataKey",
               "kms:Encrypt*", "kms:Decrypt*"}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def clean(name: str, linted: dict, checked: dict) -> None:
    """The packaged template ``name`` has no cfn-lint finding and no failed checkov check."""
    assert not linted[name]
    assert not checked[name]["failed_checks"], [c["check_id"] for c in checked[name]["failed_checks"]]


@pytest.fixture(scope="module")
def with_endpoints(packaged) -> dict:
    return json.loads(packaged["vpc-endpoints"].read_text())


# --- Network interfaces -----------------------------------------------------------------------

@pytest.mark.parametrize(("role", "function"), [("ParkingDataIngestionRole", "ingest"),
                                                ("ParkingCompactionRole", "compact")])
def test_every_vpc_functions_role_manages_interfaces_in_our_subnets_only(template, role, function) -> None:
    found = statements(template["Resources"][role])
    managing = [s for s in found if s["Effect"] == "Allow" and INTERFACE_ACTIONS & set(as_list(s["Action"]))
                and "network-interface" in json.dumps(s["Resource"])]
    assert managing, "Lambda needs to manage the function's interfaces"
    for statement in managing:
        assert "ec2:Subnet" in statement["Condition"]["ArnLike"], statement["Sid"]
    [deny] = [s for s in found if s["Effect"] == "Deny"]
    assert set(as_list(deny["Action"])) == INTERFACE_ACTIONS
    arn = deny["Condition"]["ArnEquals"]["lambda:SourceFunctionArn"]["Fn::Sub"]
    assert arn.endswith(f":function:${{self:service}}-${{sls:stage}}-{function}") or arn.endswith(f"-dev-{function}")


def test_the_functions_in_the_vpc_are_ingest_and_the_compactions(template) -> None:
    functions = resources_of(template, "AWS::Lambda::Function")
    in_vpc = sorted(name for name, f in functions.items() if f["Properties"].get("VpcConfig"))
    assert in_vpc == ["CompactHourlyLambdaFunction", "CompactLambdaFunction", "IngestLambdaFunction"]


# --- The S3 gateway endpoint against every call made from the VPC --------------------------------

# What each S3 API operation is authorized as: (IAM action, the resource it names).
def authorized_as(operation: str, params: dict) -> list[tuple[str, str]]:
    bucket = params["Bucket"]
    obj = f"arn:aws:s3:::{bucket}/{params.get('Key', '')}"
    if operation in ("ListObjectsV2", "ListObjects"):
        return [("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
    if operation in ("GetObject", "HeadObject"):
        return [("s3:GetObject", obj)]
    if operation in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        return [("s3:PutObject", obj)]
    if operation == "CopyObject":
        source = params["CopySource"]
        copied = f"{source['Bucket']}/{source['Key']}" if isinstance(source, dict) else unquote(source.lstrip("/"))
        return [("s3:GetObject", f"arn:aws:s3:::{copied}"), ("s3:PutObject", obj)]
    if operation == "DeleteObject":
        return [("s3:DeleteObject", obj)]
    if operation == "AbortMultipartUpload":
        return [("s3:AbortMultipartUpload", obj)]
    raise AssertionError(f"an S3 call this test does not know how IAM authorizes: {operation}")


def recording_client(calls: list[tuple[str, str]]):
    client = boto3.client("s3", region_name="eu-west-1")

    def record(model, params, **_) -> None:
        calls.extend(authorized_as(model.name, params))

    client.meta.events.register("before-parameter-build.s3", record)
    return client


def resolved(resource: Any) -> str:
    """A bucket ARN the template names, for the dev stage's buckets."""
    names = {"DataBucket": BUCKET, "FailedBatchBucket": FAILED_BUCKET}
    if "Fn::GetAtt" in resource:
        return f"arn:aws:s3:::{names[resource['Fn::GetAtt'][0]]}"
    text = resource["Fn::Sub"]
    for logical, name in names.items():
        text = text.replace(f"${{{logical}.Arn}}", f"arn:aws:s3:::{name}")
    return text


def allowed_by(policy: dict, action: str, arn: str) -> bool:
    return any(
        s["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(action, pattern) for pattern in as_list(s["Action"]))
        and any(fnmatch.fnmatchcase(arn, resolved(r)) for r in as_list(s["Resource"]))
        for s in policy["Statement"]
    )


@pytest.fixture(scope="module")
def calls_from_the_vpc() -> dict[str, list[tuple[str, str]]]:
    """Every S3 call the ingest function and the compaction make, recorded on moto, as (IAM action, resource)."""
    made: dict[str, list[tuple[str, str]]] = {"ingest": [], "compact": []}
    with mock_aws():
        boto3.client("s3", region_name="eu-west-1").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        now = datetime(2024, 3, 25, tzinfo=timezone.utc)
        events = [event(spot=f"S{i}", timestamp=f"2024-03-{20 + i % 3}T{i % 24:02d}:00:00Z") for i in range(60)]
        sink = S3Sink(BUCKET, recording_client(made["ingest"]), quarantine_prefix=Settings().quarantine_prefix)
        ingest_batch(batch([*events, {"spot_id": "X", "status": "parked"}]), sink, now=now)
        store = S3Store(BUCKET, recording_client(made["compact"]))
        assert compact(store, date(2024, 3, 23), now=now).days
    # The MSK trigger's on-failure destination, written by Lambda with the function's role (README).
    made["ingest"] += [("s3:PutObject", f"arn:aws:s3:::{FAILED_BUCKET}/a-failed-batch"),
                       ("s3:ListBucket", f"arn:aws:s3:::{FAILED_BUCKET}")]
    return made


def test_the_compaction_deletes_and_copies_from_the_vpc(calls_from_the_vpc) -> None:
    actions = {action for action, _ in calls_from_the_vpc["compact"]}
    assert {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= actions


@pytest.mark.parametrize("function", ["ingest", "compact"])
def test_the_s3_endpoint_allows_every_call_each_function_in_the_vpc_makes(with_endpoints, calls_from_the_vpc,
                                                                          function) -> None:
    policy = with_endpoints["Resources"]["S3GatewayEndpoint"]["Properties"]["PolicyDocument"]
    refused = sorted({call for call in calls_from_the_vpc[function] if not allowed_by(policy, *call)})
    assert not refused, f"the endpoint would refuse {function}'s calls: {refused[:5]}"


def test_the_s3_endpoint_allows_nothing_else(with_endpoints) -> None:
    policy = with_endpoints["Resources"]["S3GatewayEndpoint"]["Properties"]["PolicyDocument"]
    assert not allowed_by(policy, "s3:DeleteObject", "arn:aws:s3:::someone-elses-bucket/x")
    assert not allowed_by(policy, "s3:PutBucketPolicy", f"arn:aws:s3:::{BUCKET}")
    assert not allowed_by(policy, "s3:DeleteObjectVersion", f"arn:aws:s3:::{BUCKET}/parking-data/x")


def test_the_template_with_endpoints_passes_cfn_lint_and_checkov(linted, checked) -> None:
    clean("vpc-endpoints", linted, checked)


# --- The zones role ---------------------------------------------------------------------------

def test_the_zones_role_lists_only_the_prefixes_it_reads_and_its_results(template) -> None:
    by_sid = {s["Sid"]: s for s in statements(template["Resources"]["ParkingZonesRole"])}
    listing = [s for s in by_sid.values() if "s3:ListBucket" in as_list(s["Action"])]
    [only] = listing
    prefixes = only["Condition"]["StringLike"]["s3:prefix"]
    assert prefixes == ["parking-data/*", "parking-compacted/*", "parking-catalog/*", "athena-results/_main/*"]
    assert "" not in prefixes and not any(p.startswith("parking-quarantine") for p in prefixes)


def test_the_zones_role_reads_only_its_own_workgroups_results(template) -> None:
    by_sid = {s["Sid"]: s for s in statements(template["Resources"]["ParkingZonesRole"])}
    results = [r for s in by_sid.values() for r in as_list(s["Resource"]) if "athena-results" in json.dumps(r)]
    assert results == [{"Fn::Sub": "${DataBucket.Arn}/athena-results/_main/*"}]
    workgroup = template["Resources"]["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert workgroup["ResultConfiguration"]["OutputLocation"] == {"Fn::Sub": "s3://${DataBucket}/athena-results/_main/"}


def test_the_zones_role_may_find_the_buckets_region(template) -> None:
    """GetBucketLocation carries no s3:prefix: under a prefix condition it would never be allowed."""
    [locating] = [s for s in statements(template["Resources"]["ParkingZonesRole"])
                  if "s3:GetBucketLocation" in as_list(s["Action"])]
    assert as_list(locating["Action"]) == ["s3:GetBucketLocation"]
    assert "Condition" not in locating


# --- KMS key policies ------------------------------------------------------------------------

def key_statements(template: dict) -> dict[str, list[dict]]:
    return {name: r["Properties"]["KeyPolicy"]["Statement"] for name, r in resources_of(template, "AWS::KMS::Key").items()}


def test_no_key_grants_every_action(template) -> None:
    for name, found in key_statements(template).items():
        for statement in found:
            assert "kms:*" not in as_list(statement["Action"]), f"{name} {statement['Sid']}"


def test_the_account_administers_the_keys_without_using_them_directly(template) -> None:
    for name, found in key_statements(template).items():
        [admin] = [s for s in found if s["Sid"] == "AccountAdministers"]
        assert not USE_ACTIONS & set(as_list(admin["Action"])), name
        assert {"kms:Put*", "kms:ScheduleKeyDeletion", "kms:Describe*"} <= set(as_list(admin["Action"]))


def test_every_use_of_a_key_is_bound_to_a_service_or_context(template) -> None:
    for name, found in key_statements(template).items():
        for statement in found:
            if not USE_ACTIONS & set(as_list(statement["Action"])):
                continue
            condition = json.dumps(statement.get("Condition", {}))
            assert any(word in condition for word in ("kms:ViaService", "kms:EncryptionContext", "aws:SourceArn")), (
                f"{name} {statement['Sid']}")


def test_the_data_key_serves_our_log_groups_by_name(template) -> None:
    [logs] = [s for s in key_statements(template)["DataKey"] if "logs." in json.dumps(s["Principal"])]
    arns = [a["Fn::Sub"] for a in logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]]
    assert all("*" not in arn for arn in arns)
    assert sorted(arn.split("log-group:", 1)[1].removeprefix("/aws/").replace("${self:service}-${sls:stage}", "")
                  .replace("parking-platform-dev", "") for arn in arns) == ["http-api/", "lambda/-compact", "lambda/-compactHourly", "lambda/-feeds",
                                       "lambda/-ingest", "lambda/-live", "lambda/-zones"]
    groups = {r["Properties"].get("LogGroupName") for r in resources_of(template, "AWS::Logs::LogGroup").values()}
    assert {arn.split("log-group:", 1)[1].replace("${self:service}-${sls:stage}", "parking-platform-dev")
            for arn in arns} == {g for g in groups if g}


def test_the_data_key_is_used_through_our_services_only(template) -> None:
    [use] = [s for s in key_statements(template)["DataKey"] if s["Sid"] == "AccountUsesItThroughOurServices"]
    services = sorted(v["Fn::Sub"].split(".")[0] for v in use["Condition"]["StringEquals"]["kms:ViaService"])
    assert services == ["dynamodb", "lambda", "s3", "sns", "sqs"]


# --- Audit: logs and data nobody can rewrite ----------------------------------------------------

def test_data_events_of_the_data_bucket_go_to_a_locked_bucket(template) -> None:
    [trail] = resources_of(template, "AWS::CloudTrail::Trail").values()
    properties = trail["Properties"]
    assert properties["EnableLogFileValidation"] is True and properties["IsLogging"] is True
    [selector] = properties["EventSelectors"]
    assert selector["ReadWriteType"] == "WriteOnly" and selector["IncludeManagementEvents"] is False
    assert selector["DataResources"] == [{"Type": "AWS::S3::Object", "Values": [{"Fn::Sub": "${DataBucket.Arn}/"}]}]
    bucket = template["Resources"][properties["S3BucketName"]["Ref"]]["Properties"]
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"] >= 365


@pytest.mark.parametrize(("variant", "trails", "kind"), [
    ("no-audit-trail", 0, None),
    ("audit-all-data-events", 1, "All"),
    ("audit-400-days", 1, "WriteOnly"),
])
def test_the_audit_trail_is_a_stage_parameter(packaged, linted, checked, variant, trails, kind) -> None:
    found = list(resources_of(json.loads(packaged[variant].read_text()), "AWS::CloudTrail::Trail").values())
    assert len(found) == trails
    if found:
        assert found[0]["Properties"]["EventSelectors"][0]["ReadWriteType"] == kind
    clean(variant, linted, checked)


def test_a_deleted_access_log_is_kept_as_long_as_the_log(template) -> None:
    [rule] = template["Resources"]["AccessLogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == rule["ExpirationInDays"]


def test_the_deployment_bucket_requires_tls_1_2(template) -> None:
    policy = template["Resources"]["ServerlessDeploymentBucketPolicy"]["Properties"]["PolicyDocument"]
    by_sid = {s.get("Sid"): s for s in policy["Statement"]}
    assert by_sid["DenyTlsBelow12"]["Effect"] == "Deny"
    assert by_sid["DenyTlsBelow12"]["Condition"] == {"NumericLessThan": {"s3:TlsVersion": "1.2"}}
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy["Statement"])
