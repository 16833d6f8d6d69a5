"""The live side's deployment (infra/live.yml, infra/live_feeds.yml, functions.live and functions.feeds),
proven without AWS on the packaged templates: private by default behind a JWT authorizer, the feeds
public only with publicFeeds=enabled, read-only behind CloudFront; least privilege; cfn-lint and
checkov clean, every skip with its reason; and build/live.zip.

Needs `make test`'s set-up: node_modules (osls), .venv-tools and build/live.zip.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from scripts.build_lambda import ARTIFACTS
from tests.cloudformation import resources_of

pytestmark = [pytest.mark.serverless, pytest.mark.xdist_group("serverless")]
DATA_ROUTES = {"GET /api/v1/{answer}", "GET /feeds/{feed}"}
OPEN_ROUTES = {"GET /", "GET /static/{file}", "GET /openapi.json", "GET /docs", "GET /docs-assets/{file}"}


@pytest.fixture(scope="module")
def public(packaged) -> Path:
    return packaged["public-feeds"]


def statements(role: dict) -> dict[str, dict]:
    return {s["Sid"]: s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]}


def test_every_route_with_data_needs_an_operators_token(template) -> None:
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in resources_of(template, "AWS::ApiGatewayV2::Route").values()}
    assert set(routes) == DATA_ROUTES | OPEN_ROUTES
    for key in DATA_ROUTES:
        assert routes[key]["AuthorizationType"] == "JWT", key
    for key in OPEN_ROUTES:  # the page's own files and the API's description: no data
        assert routes[key].get("AuthorizationType", "NONE") == "NONE", key
    [authorizer] = resources_of(template, "AWS::ApiGatewayV2::Authorizer").values()
    jwt = authorizer["Properties"]["JwtConfiguration"]
    assert jwt["Audience"] == [{"Ref": "OperatorsUserPoolClient"}]
    assert jwt["Issuer"] == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${OperatorsUserPool}"}


def test_operators_are_made_by_an_administrator_and_sign_in_with_pkce(template) -> None:
    pool = template["Resources"]["OperatorsUserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    client = template["Resources"]["OperatorsUserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False and client["AllowedOAuthFlows"] == ["code"]
    assert client["CallbackURLs"] == [{"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com/"}]


def test_by_default_nothing_is_public(template) -> None:
    for kind in ("AWS::CloudFront::Distribution", "AWS::Lambda::Url", "AWS::Lambda::Permission"):
        found = resources_of(template, kind)
        assert all("Feeds" not in name for name in found), found


def test_the_live_functions_read_only_what_the_answers_need(template) -> None:
    by_sid = statements(template["Resources"]["ParkingLiveRole"])
    granted = {a for s in by_sid.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert granted == {
        "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution",
        "glue:GetDatabase", "glue:GetTable", "s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:PutObject",
        "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "kms:Decrypt", "kms:GenerateDataKey",
        "logs:CreateLogStream", "logs:PutLogEvents", "dynamodb:Scan", "dynamodb:GetItem",
    }
    assert all(s["Resource"] != "*" for s in by_sid.values())
    assert by_sid["ReadTheStateTable"]["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}  # the live answers' table
    writers = [s for s in by_sid.values() if "s3:PutObject" in s["Action"]]
    assert [w["Resource"] for w in writers] == [{"Fn::Sub": "${DataBucket.Arn}/athena-results/*"}]
    for name in ("LiveLambdaFunction", "FeedsLambdaFunction"):
        function = template["Resources"][name]["Properties"]
        assert function["Role"] == {"Fn::Sub": "${ParkingLiveRole.Arn}"} and "VpcConfig" not in function
        assert function["Code"]["S3Key"].endswith("/live.zip") and function["ReservedConcurrentExecutions"] > 0
        assert function["KmsKeyArn"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    for group in ("LiveLogGroup", "FeedsLogGroup", "HttpApiLogGroup"):
        assert template["Resources"][group]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}


def test_public_feeds_are_read_only_cached_and_reach_the_function_only_through_cloudfront(public: Path) -> None:
    template = json.loads(public.read_text())
    resources = template["Resources"]
    url = resources["FeedsFunctionUrl"]["Properties"]
    assert url == {"TargetFunctionArn": {"Fn::GetAtt": ["FeedsLambdaFunction", "Arn"]}, "AuthType": "AWS_IAM"}
    permission = resources["FeedsInvokeFromCloudFront"]["Properties"]
    assert (permission["Principal"], permission["Action"]) == ("cloudfront.amazonaws.com", "lambda:InvokeFunctionUrl")
    assert "${FeedsDistribution}" in permission["SourceArn"]["Fn::Sub"]
    access = resources["FeedsOriginAccess"]["Properties"]["OriginAccessControlConfig"]
    assert (access["OriginAccessControlOriginType"], access["SigningBehavior"]) == ("lambda", "always")
    cache = resources["FeedsCachePolicy"]["Properties"]["CachePolicyConfig"]
    assert 1 <= cache["DefaultTTL"] == cache["MaxTTL"] <= 10
    config = resources["FeedsDistribution"]["Properties"]["DistributionConfig"]
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"] and behaviour["ViewerProtocolPolicy"] == "https-only"
    assert config["Origins"][0]["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert resources["FeedsLambdaFunction"]["Properties"]["Handler"] == "live_handler.feeds"


def test_the_public_feeds_template_is_lint_and_checkov_clean(linted, checked) -> None:
    assert not linted["public-feeds"]
    report = checked["public-feeds"]
    assert not report["failed_checks"], [c["check_id"] for c in report["failed_checks"]]
    skipped = report["skipped_checks"]
    assert all(len(check["check_result"]["suppress_comment"].strip()) > 40 for check in skipped)
    assert {check["check_id"] for check in skipped} <= {"CKV_AWS_116", "CKV_AWS_18", "CKV_AWS_117", "CKV_AWS_68",
                                                        "CKV_AWS_86", "CKV_AWS_174"}


def test_the_live_artifact_holds_the_page_the_sql_and_the_json_rendering() -> None:
    with zipfile.ZipFile(ARTIFACTS["live"].path) as archive:
        names = set(archive.namelist())
    assert {"live_handler.py", "parking/live/app.py", "parking/live/static/index.html", "parking/live/static/live.js",
            "parking/live/static/live.css", "parking/sql/availability.sql", "parking/sql/status.sql",
            "parking/cli/render.py", "fastapi_offline/static/swagger-ui-bundle.js", "mangum/__init__.py",
            "parking/state/live.py"} <= names  # now-answers from the current-state table
    assert not any(name.startswith(("boto3/", "botocore/")) for name in names), "the runtime provides boto3"
    assert not any(name.startswith(("parking/kafka/", "parking/ingest/files.py", "parking/ingest/batch.py"))
                   for name in names), "the live app reads; it never ingests"


def test_deploy_rehearsal_creates_the_live_functions_and_their_api(deployed) -> None:
    """The real `sls deploy` against moto creates both functions from live.zip with their role and settings."""
    from tests.test_serverless import STACK, client

    lam = client(deployed, "lambda")
    for name, handler in (("live", "live_handler.handler"), ("feeds", "live_handler.feeds")):
        config = lam.get_function(FunctionName=f"{STACK}-{name}")["Configuration"]
        assert (config["Runtime"], config["Handler"]) == ("python3.12", handler)
        assert config["Role"].endswith("/ParkingLiveRole-dev")
        assert config["Environment"]["Variables"]["PARKING_LOOKBACK_HOURS"] == "24"
    # moto's CloudFormation does not create the HTTP API, its routes or its authorizer:
    # test_every_route_with_data_needs_an_operators_token checks them on the template.
