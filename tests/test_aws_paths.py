"""Every AWS path of the CLI meets every AWS set-up problem with one line saying what to set.

The paths: the Athena queries, plots and report; the S3 paths (`--bucket` of
lake check, compact, spots show and load, ingest, consume, lake
replay-failed, and an s3:// source). One classifier (parking/aws.py) serves
them all. Local problems (region, credentials, profile, a broken config
file) need no AWS; moto answers for a missing bucket, denied access and
rejected credentials; botocore's Stubber makes the errors moto cannot.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import (
    ConfigParseError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    UnauthorizedSSOTokenError,
)
from botocore.stub import Stubber
from click.testing import CliRunner
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from parking.aws import explain
from parking.cli.main import cli
from tests.conftest import batch, command_tree, event

REGION = "eu-west-1"
LAKE = "parking-lake-bucket"
WINDOW = ["--from", "2024-03-18", "--to", "2024-03-20"]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """The inputs the paths read: events, a catalog, an MSK on-failure record."""
    (tmp_path / "events.jsonl").write_text(json.dumps(event()) + "\n")
    (tmp_path / "spots.csv").write_text("spot_id,zone\nA1,North\n")
    failure = {"requestContext": {"condition": "RetryAttemptsExhausted"}, "version": "1.0",
               "KafkaBatchInfo": {"batchSize": 1, "topic": "parking-events", "partition": 0},
               "payload": batch([event()])}
    (tmp_path / "failed.json").write_text(json.dumps(failure))
    return tmp_path


def s3_paths(tmp: Path, bucket: str = LAKE) -> dict[str, list[str]]:
    return {
        "lake check": ["lake", "check", "--bucket", bucket],
        "compact": ["compact", "--bucket", bucket],
        "spots show": ["spots", "show", "--bucket", bucket],
        "spots load": ["spots", "load", str(tmp / "spots.csv"), "--bucket", bucket],
        "ingest": ["ingest", str(tmp / "events.jsonl"), "--bucket", bucket],
        "replay-failed": ["lake", "replay-failed", str(tmp / "failed.json"), "--bucket", bucket],
        "replay-failed s3 source": ["lake", "replay-failed", f"s3://{bucket}/failed.json", "--data-dir", str(tmp)],
    }


def athena_paths(tmp: Path) -> dict[str, list[str]]:
    return {
        "occupancy": ["--engine", "athena", "occupancy", "--date", "2024-03-20"],
        "plot patterns": ["plot", "patterns", *WINDOW, "--out", str(tmp / "p.png"), "--engine", "athena"],
        "report": ["report", *WINDOW, "--out", str(tmp / "r.html"), "--engine", "athena"],
    }


def all_paths(tmp: Path) -> dict[str, list[str]]:
    consume = ["consume", "--bootstrap-servers", "127.0.0.1:9", "--bucket", LAKE, "--until-idle", "1"]
    return {**s3_paths(tmp), "consume": consume, **athena_paths(tmp)}


PATHS = list(all_paths(Path("x")))


@pytest.fixture
def no_aws(monkeypatch, tmp_path: Path) -> Path:
    """No AWS settings: no AWS_* variables, a HOME and AWS config files of the test's own, no instance metadata."""
    for name in [name for name in os.environ if name.startswith(("AWS_", "PARKING_"))]:
        monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return home


def one_error_line(args: list[str]) -> tuple[int, str]:
    """Run the CLI: its exit code and its one ``Error:`` line (progress lines aside)."""
    result = CliRunner().invoke(cli, args)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert "internal error" not in errors[0] and "Traceback" not in result.stderr
    return result.exit_code, errors[0]


LOCAL_PROBLEMS = {
    "no region": ({}, None, "no AWS region: {who} needs AWS_REGION"),
    "no credentials": ({"AWS_REGION": REGION}, None, "no AWS credentials: {who} needs AWS_REGION"),
    "unknown profile": ({"AWS_REGION": REGION, "AWS_PROFILE": "nobody"}, None,
                        "AWS profile 'nobody' is not in the AWS config files: set AWS_PROFILE"),
    "broken config file": ({"AWS_REGION": REGION}, "[profile broken\nregion = eu-west-1\n",
                           "the AWS config file cannot be read (Unable to parse config file"),
    "partial credentials": ({"AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, None,
                            "AWS credentials could not be loaded (Partial credentials found in env"),
}


def who(path: str) -> str:
    if path in athena_paths(Path("x")):
        return "--engine athena"
    return "an s3:// SOURCE" if path.endswith("s3 source") else "--bucket"


@pytest.mark.parametrize("problem", LOCAL_PROBLEMS)
@pytest.mark.parametrize("path", PATHS)
def test_a_local_aws_set_up_problem_is_one_line_saying_what_to_set(no_aws, monkeypatch, files, path,
                                                                     problem) -> None:
    env, config, message = LOCAL_PROBLEMS[problem]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if config is not None:
        (no_aws / ".aws" / "config").write_text(config)
    code, line = one_error_line(all_paths(files)[path])
    assert code == 1
    assert message.format(who=who(path)) in line


@pytest.fixture
def aws(no_aws, monkeypatch):
    """moto in-process, with a region and test credentials; the lake bucket exists."""
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=LAKE, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield s3


@pytest.mark.parametrize("path", list(s3_paths(Path("x"))))
def test_a_missing_bucket_is_named(aws, files, path) -> None:
    code, line = one_error_line(s3_paths(files, "no-such-bucket")[path])
    assert code == 1
    assert "S3 bucket 'no-such-bucket' does not exist (NoSuchBucket" in line
    assert "check the bucket name and AWS_REGION" in line


@pytest.fixture
def user_without_rights(aws, monkeypatch) -> None:
    """The credentials of an IAM user no policy allows anything (moto checks them from the next request)."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])


@pytest.mark.parametrize("path", list(s3_paths(Path("x"))))
def test_denied_access_says_the_credentials_lack_the_permission(user_without_rights, files, path) -> None:
    @set_initial_no_auth_action_count(0)
    def denied() -> tuple[int, str]:
        return one_error_line(s3_paths(files)[path])

    code, line = denied()
    assert code == 1
    assert "(AccessDenied): the credentials in use (AWS_PROFILE, or AWS_ACCESS_KEY_ID) lack the permission" in line


@pytest.mark.parametrize("path", ["lake check", "spots load", "ingest"])
def test_credentials_aws_rejects_say_what_to_set(aws, files, monkeypatch, path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAREALKEY00000")

    @set_initial_no_auth_action_count(0)
    def rejected() -> tuple[int, str]:
        return one_error_line(s3_paths(files)[path])

    code, line = rejected()
    assert code == 1
    assert "AWS rejected the credentials (InvalidAccessKeyId): AWS needs AWS_REGION" in line
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in line


def test_an_unreachable_endpoint_names_aws_endpoint_url(no_aws, files, monkeypatch) -> None:
    for name, value in {"AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}.items():
        monkeypatch.setenv(name, value)
    code, line = one_error_line(s3_paths(files)["spots show"])
    assert code == 1
    assert "AWS could not be reached at http://127.0.0.1:1" in line
    assert "check AWS_ENDPOINT_URL (set to http://127.0.0.1:1) and the network" in line


# The classifier itself, over the errors botocore raises.


def client_error(code: str, status: int, operation: str = "list_objects_v2", **params) -> Exception:
    """The ClientError a real S3 client raises when AWS answers ``code`` (Stubber gives the answer)."""
    client = boto3.client("s3", region_name=REGION, aws_access_key_id="k", aws_secret_access_key="s")
    with Stubber(client) as stubber:
        stubber.add_client_error(operation, code, "message", status)
        with pytest.raises(Exception) as raised:
            getattr(client, operation)(Bucket=LAKE, **params)
    return raised.value


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: NoCredentialsError(), "no AWS credentials: --bucket needs AWS_REGION"),
        (lambda: NoRegionError(), "no AWS region: --bucket needs AWS_REGION"),
        (lambda: ProfileNotFound(profile="ops"), "AWS profile 'ops' is not in the AWS config files: set AWS_PROFILE"),
        (lambda: ConfigParseError(path="/home/u/.aws/config"), "the AWS config file cannot be read"),
        (lambda: PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
         "AWS credentials could not be loaded"),
        (lambda: UnauthorizedSSOTokenError(), "run `aws sso login` for AWS_PROFILE"),
        (lambda: EndpointConnectionError(endpoint_url="https://s3.eu-west-1.amazonaws.com/"),
         "AWS could not be reached at https://s3.eu-west-1.amazonaws.com/ (Could not connect to the endpoint URL"),
        (lambda: client_error("SlowDown", 503), "AWS kept throttling the requests (SlowDown on ListObjectsV2)"),
        (lambda: client_error("ThrottlingException", 400), "AWS kept throttling the requests (ThrottlingException"),
        (lambda: client_error("AccessDenied", 403), "AWS denied ListObjectsV2 (AccessDenied)"),
        (lambda: client_error("403", 403, "head_bucket"), "AWS denied HeadBucket (403)"),
        (lambda: client_error("InvalidAccessKeyId", 403), "AWS rejected the credentials (InvalidAccessKeyId)"),
        (lambda: client_error("ExpiredToken", 400), "AWS rejected the credentials (ExpiredToken)"),
        (lambda: client_error("NoSuchBucket", 404), "the S3 bucket does not exist (NoSuchBucket on ListObjectsV2)"),
        (lambda: client_error("PermanentRedirect", 301), "set AWS_REGION to the bucket's region"),
    ],
)
def test_each_aws_problem_reads_as_what_to_do(make, expected) -> None:
    assert expected in explain(make(), "--bucket")


@pytest.mark.parametrize(
    "make",
    [lambda: client_error("NoSuchKey", 404, "get_object", Key="k"), lambda: ValueError("not AWS"),
     lambda: client_error("InternalError", 500), lambda: ParamValidationError(report="Bucket is required")],
)
def test_what_no_setting_can_fix_is_left_to_the_caller(make) -> None:
    assert explain(make(), "--bucket") is None


def test_the_cause_of_a_wrapped_error_is_explained() -> None:
    from parking.errors import SinkWriteError

    try:
        try:
            raise NoCredentialsError()
        except NoCredentialsError as error:
            raise SinkWriteError("1 of 1 objects not written") from error
    except SinkWriteError as wrapped:
        assert explain(wrapped).startswith("no AWS credentials: AWS needs AWS_REGION")


def test_every_bucket_option_says_what_aws_needs() -> None:
    helps = {path: param.help for path, command in command_tree(cli) for param in command.params
             if param.name == "bucket"}
    assert set(helps) >= {("lake", "check"), ("compact",), ("spots", "show"), ("spots", "load"), ("ingest",),
                          ("consume",), ("lake", "replay-failed")}
    for path, text in helps.items():
        assert "AWS_REGION" in text and "AWS_PROFILE" in text and "AWS_ACCESS_KEY_ID" in text, path


@pytest.mark.parametrize(
    ("make", "endpoint_url", "expected"),
    [
        (lambda: client_error("InternalError", 500), None,
         "AWS answered InternalError to ListObjectsV2 (HTTP 500): AWS failed the request; try again in a few minutes"),
        (lambda: client_error("404", 404), "http://127.0.0.1:9",
         "AWS answered 404 to ListObjectsV2 (HTTP 404): check AWS_ENDPOINT_URL (set to http://127.0.0.1:9)"),
        (lambda: client_error("NoSuchKey", 404, "get_object", Key="k"), None,
         "AWS answered NoSuchKey to GetObject (HTTP 404) ("),
    ],
)
def test_an_aws_answer_no_setting_explains_is_said_as_aws_failing(make, endpoint_url, expected) -> None:
    from parking.aws import service_failure

    assert service_failure(make(), endpoint_url).startswith(expected)


def test_service_failure_is_none_for_what_aws_did_not_answer() -> None:
    from parking.aws import service_failure

    assert service_failure(ValueError("not AWS")) is None
    assert service_failure(ParamValidationError(report="Bucket is required")) is None


@pytest.fixture
def not_s3(no_aws, monkeypatch):
    """AWS_ENDPOINT_URL pointing at a web server that is not S3 (it answers 404 to everything)."""
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            self.send_error(404)

        do_PUT = do_POST = do_HEAD = do_DELETE = do_GET  # noqa: N815

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for name, value in {"AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_ENDPOINT_URL": url, "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(name, value)
    yield url
    server.shutdown()
    thread.join()


@pytest.mark.parametrize("path", ["lake check", "compact", "spots show"])
def test_an_endpoint_that_is_not_s3_is_one_line_naming_aws_endpoint_url(not_s3, files, path) -> None:
    code, line = one_error_line(s3_paths(files)[path])
    assert code == 1
    assert f"check AWS_ENDPOINT_URL (set to {not_s3})" in line
