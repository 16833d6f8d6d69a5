"""AWS problems as one line saying what to set or check: one classifier for every AWS path.

The Athena engine, the CLI's S3 paths (``--bucket``, an ``s3://`` source) and
the spot catalog's store all report botocore's errors through
:func:`explain`, so the same problem reads the same whichever command met it:
no region, no or rejected credentials, an unknown profile, an unreadable
AWS config file, an endpoint out of reach, a missing bucket, access denied,
throttling that outlasted the retries. :func:`check_session` finds the
problems that need no request (region, profile, config file, credentials)
before any work starts. botocore loads only when a function here runs.
"""

from __future__ import annotations

import functools
from typing import Any

from parking.errors import AwsError

CREDENTIALS = (
    "credentials: AWS_PROFILE (after `aws sso login` for an SSO profile) or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY"
)

# AWS error codes by what the user has to do about them.
REJECTED_CREDENTIALS = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
    "InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature", "MissingAuthenticationToken",
    "InvalidAccessKeyId", "InvalidToken", "TokenRefreshRequired", "InvalidSecurity",
})
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "Forbidden", "403", "AllAccessDisabled"})
THROTTLED = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "RequestThrottled",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
})
WRONG_REGION = frozenset({"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"})


def session(region: str | None = None, profile: str | None = None) -> Any:
    """A new ``boto3.Session`` for ``region`` and ``profile`` that parses no service model again.

    Each session would load and parse botocore's JSON (the endpoints, each
    service's model: about 60 ms a client) anew; every session made here
    shares one data loader, whose cache holds those files once per process.
    The session itself stays new, so its profile, region and credentials are
    read afresh, as ``boto3.Session`` reads them. Raises what boto3 raises.
    """
    import boto3
    import botocore.session

    core = botocore.session.Session()
    loader = _data_loader()
    core.register_component("data_loader", loader)
    made = boto3.Session(botocore_session=core, region_name=region, profile_name=profile)
    loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))  # boto3 adds its own folder each time
    return made


@functools.cache
def _data_loader() -> Any:
    """The process's one botocore data loader: service models and endpoints, read once and cached."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def needs(who: str | None) -> str:
    """What an AWS path needs, naming the option that chose AWS (``--bucket``, ``--engine athena``)."""
    subject = f"{who} needs" if who else "AWS needs"
    return f"{subject} AWS_REGION (or a region in the AWS profile) and {CREDENTIALS}"


def check_session(region: str | None, profile: str | None, who: str | None = None) -> None:
    """Fail with one line saying what to set when the local AWS set-up cannot work.

    Reads the AWS config files and the environment only (no request): the
    profile exists, the config file parses, there is a region and there are
    credentials. Raises :class:`~parking.errors.AwsError`. Credentials AWS
    rejects are found by the first request (:func:`explain`).
    """
    from botocore.exceptions import BotoCoreError

    try:
        made = session(region, profile)
        if not made.region_name:
            raise AwsError(f"no AWS region: {needs(who)}")
        credentials = made.get_credentials()
    except BotoCoreError as exc:
        raise AwsError(explain(exc, who) or _fallback(exc, who)) from None
    if credentials is None:
        raise AwsError(f"no AWS credentials: {needs(who)}")


def botocore_error(exc: BaseException) -> BaseException | None:
    """The botocore error ``exc`` is or was raised from (its causes and contexts), else None."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if type(current).__module__.split(".")[0] == "botocore":
            return current
        pending.append(current.__cause__)
        if not current.__suppress_context__:  # `raise ... from None`: not caused by what it handled
            pending.append(current.__context__)
    return None


def error_code(exc: object) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``"NoSuchBucket"``, ``"403"``), else None."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    return str(code) if code else None


def explain(exc: BaseException, who: str | None = None, endpoint_url: str | None = None) -> str | None:
    """One line saying what to set or check for an AWS problem in ``exc`` or its causes, else None.

    ``who`` names the option that chose AWS, for the set-up hint;
    ``endpoint_url`` is AWS_ENDPOINT_URL when set, named when AWS is out of
    reach. None means the error is not a set-up problem (a failed query, a
    missing object): the caller reports it as it is.
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConfigParseError,
        CredentialRetrievalError,
        DataNotFoundError,
        HTTPClientError,
        InvalidRegionError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
        ProfileNotFound,
        SSOError,
        TokenRetrievalError,
        UnknownServiceError,
    )
    from botocore.exceptions import ConnectionError as AwsConnectionError

    error = botocore_error(exc)
    if error is None:
        return None
    if isinstance(error, ClientError):
        return _client_error(error, who)
    if isinstance(error, ProfileNotFound):
        profile = error.kwargs.get("profile", "")
        return f"AWS profile {profile!r} is not in the AWS config files: set AWS_PROFILE to one that is, or unset it"
    if isinstance(error, ConfigParseError):
        return (f"the AWS config file cannot be read ({one_line(error)}): fix it, or set AWS_CONFIG_FILE "
                "to a readable one")
    if isinstance(error, NoRegionError):
        return f"no AWS region: {needs(who)}"
    if isinstance(error, InvalidRegionError):
        return f"AWS_REGION {error.kwargs.get('region_name', '')!r} is not a region name (for example eu-west-1)"
    if isinstance(error, NoCredentialsError):
        return f"no AWS credentials: {needs(who)}"
    if isinstance(error, (SSOError, TokenRetrievalError)):
        return f"the AWS SSO session cannot be used ({one_line(error)}): run `aws sso login` for AWS_PROFILE"
    if isinstance(error, (PartialCredentialsError, CredentialRetrievalError)):
        return f"AWS credentials could not be loaded ({one_line(error)}): {needs(who)}"
    if isinstance(error, (AwsConnectionError, HTTPClientError)):
        where = error.kwargs.get("endpoint_url")
        reached = f"AWS could not be reached at {where}" if where else "AWS could not be reached"
        if endpoint_url:
            return f"{reached} ({one_line(error)}): check AWS_ENDPOINT_URL (set to {endpoint_url}) and the network"
        return f"{reached} ({one_line(error)}): check the network and AWS_REGION"
    if isinstance(error, (ParamValidationError, UnknownServiceError, DataNotFoundError)):
        return None  # our request was wrong: a bug to report, not a setting
    if isinstance(error, BotoCoreError):
        return _fallback(error, who)
    return None


def _client_error(error: Any, who: str | None) -> str | None:
    code = error_code(error) or ""
    operation = getattr(error, "operation_name", "") or "the request"
    if code not in REJECTED_CREDENTIALS:  # an error body botocore could not parse still names its code
        code = next((name for name in sorted(REJECTED_CREDENTIALS) if name in str(error)), code)
    if code in REJECTED_CREDENTIALS:
        return f"AWS rejected the credentials ({code}): {needs(who)}"
    if code in THROTTLED:
        return (f"AWS kept throttling the requests ({code} on {operation}) after retrying: try again in a few "
                "minutes, or ask for a higher quota")
    if code == "NoSuchBucket":
        bucket = error.response.get("Error", {}).get("BucketName")
        named = f"S3 bucket {bucket!r}" if bucket else "the S3 bucket"
        return f"{named} does not exist ({code} on {operation}): check the bucket name and AWS_REGION"
    if code in WRONG_REGION:
        return f"the S3 bucket is in another region ({code} on {operation}): set AWS_REGION to the bucket's region"
    if code in DENIED:
        return (f"AWS denied {operation} ({code}): the credentials in use (AWS_PROFILE, or AWS_ACCESS_KEY_ID) "
                "lack the permission; use ones whose IAM policy allows it (README, IAM)")
    return None


def service_failure(exc: BaseException, endpoint_url: str | None = None) -> str | None:
    """One line for an AWS service that answered with an error no setting explains (a 5xx, an odd 404), else None.

    Not our bug and not the user's set-up: AWS (or what AWS_ENDPOINT_URL
    points at) failed the request. None when ``exc`` holds no such answer.
    """
    from botocore.exceptions import ClientError

    error = botocore_error(exc)
    if not isinstance(error, ClientError):
        return None
    code = error_code(error) or "an error"
    operation = getattr(error, "operation_name", "") or "a request"
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    answer = f"AWS answered {code} to {operation}" + (f" (HTTP {status})" if status else "")
    if endpoint_url:
        return f"{answer}: check AWS_ENDPOINT_URL (set to {endpoint_url}), then try again"
    if isinstance(status, int) and status >= 500:
        return f"{answer}: AWS failed the request; try again in a few minutes"
    return f"{answer} ({one_line(error)})"


def _fallback(error: BaseException, who: str | None) -> str:
    return f"AWS set-up problem ({one_line(error)}): {needs(who)}"


def one_line(exc: BaseException) -> str:
    """An error's message on one line, its white space folded: fit for a message in parentheses or a log line."""
    return " ".join(str(exc).split())

