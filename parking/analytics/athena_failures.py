"""Athena failures as one line, classified by code: AWS's error code, or Athena's error name.

The one Athena client (:mod:`parking.analytics.athena_client`, the CLI's
engine's and the zones Lambda's) classifies with it, so the same failure
reads the same on both paths. It reads
codes, never the message's words: a botocore ``ClientError`` by
``response["Error"]["Code"]`` and its operation (set-up problems go through
:func:`parking.aws.explain`); a query Athena failed by the error name that
opens its ``StateChangeReason`` (Trino's ``SCHEMA_NOT_FOUND: line 1:8: ...``).
A workgroup Athena refuses a query in (``InvalidRequestException`` on
``StartQueryExecution``, a code that covers other refusals too) is confirmed
missing by asking Athena for it (``GetWorkGroup``). Standard library and
botocore only.
"""

from __future__ import annotations

import re
from typing import Any

from parking.analytics.catalog import CATALOG_TABLE
from parking.aws import DENIED, botocore_error, error_code, explain, one_line
from parking.config import Settings
from parking.errors import AwsError, QueryError

ATHENA = "--engine athena"  # what chose AWS, in the set-up messages (parking/aws.py)
RESULT_READS = ("HeadObject", "GetObject")  # S3 calls that read a query's result
REFUSED = "InvalidRequestException"  # Athena's code for a request it refuses (an unknown workgroup among others)
MISSING = frozenset({"InvalidRequestException", "ResourceNotFoundException"})  # GetWorkGroup of no such workgroup
NO_SCHEMA = "SCHEMA_NOT_FOUND"
NO_TABLE = "TABLE_NOT_FOUND"
_ERROR_NAME = re.compile(r"^\s*([A-Z][A-Z0-9_]+):")


class AthenaSetupError(QueryError, AwsError):
    """AWS is not set up for the Athena engine (region, profile, credentials, endpoint,
    workgroup, permission) or kept throttling; the message says what to set."""


def error_name(reason: str | None) -> str | None:
    """The error name that opens an Athena ``StateChangeReason`` (``SCHEMA_NOT_FOUND``), else None."""
    found = _ERROR_NAME.match(reason or "")
    return found.group(1) if found else None


def reason_hint(reason: str | None, settings: Settings) -> str:
    """What to check for a failed query, from its error name: ``"; check PARKING_..."``, or ``""``."""
    name = error_name(reason)
    if name == NO_SCHEMA:
        return f"; check PARKING_DATABASE (now {settings.database!r})"
    if name == NO_TABLE:
        return (f"; check PARKING_DATABASE (now {settings.database!r}) and PARKING_TABLE (now {settings.table!r}): "
                f"the database holds {settings.table}, {settings.table}_compacted and {CATALOG_TABLE}")
    return ""


def workgroup_missing(client: Any, workgroup: str) -> bool:
    """Whether Athena says ``workgroup`` does not exist (``GetWorkGroup``); False when it cannot tell."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        found = client.get_work_group(WorkGroup=workgroup).get("WorkGroup")
    except ClientError as exc:
        return error_code(exc) in MISSING
    except BotoCoreError:
        return False
    return not found


def client_failure(exc: BaseException, settings: Settings, client: Any = None) -> Exception | None:
    """One line for a failure AWS answered with a code (``exc`` or its causes), else None.

    ``client`` is the Athena client the query ran on, asked whether the
    workgroup exists when Athena refused the query.
    """
    error = botocore_error(exc)
    if error is None:
        return None
    code, operation = error_code(error), getattr(error, "operation_name", "")
    if code in DENIED and operation in RESULT_READS:
        where = settings.output_location or "the workgroup's output location"
        return AthenaSetupError(
            f"the query ran, but S3 refused its result ({code} on {operation}): "
            f"your credentials must read {where}, the results of workgroup {settings.workgroup!r} "
            "(PARKING_WORKGROUP, PARKING_OUTPUT_LOCATION; each team reads only its own workgroup's)"
        )
    explained = explain(exc, ATHENA, settings.endpoint_url)
    if explained is not None:
        return AthenaSetupError(explained)
    if (code == REFUSED and operation == "StartQueryExecution" and client is not None
            and workgroup_missing(client, settings.workgroup)):
        return AthenaSetupError(
            f"Athena workgroup {settings.workgroup!r} does not exist ({one_line(exc)}): set PARKING_WORKGROUP to "
            "one that does (analysts use parking-analytics-<team>)"
        )
    return QueryError(f"Athena query failed: {one_line(error)}")

