"""Replaying a batch the MSK trigger gave up on, from its S3 on-failure destination.

After its retries (infra/trigger.yml), Lambda's Kafka event source mapping
writes one JSON document per failed invocation to the on-failure S3 bucket:
metadata about the invocation (``requestContext``, ``responseContext``,
``version``, ``timestamp``, ``KafkaBatchInfo``) and, for an S3 destination
only, the invocation's whole ``payload``: the MSK event the function was
given. Replaying it runs that event through :func:`ingest_batch` again, so
its records land exactly as they would have (same object names: a batch
that was partly stored before it failed completes without duplicates).

Assumed shape (AWS documents the metadata; the payload's encoding is not
spelled out): ``payload`` holds the MSK event either as a JSON object or
as a string of JSON. A plain MSK event (``eventSource`` ``aws:kafka``) is
accepted too, so a batch saved by hand replays the same way. A document
without a payload (an SQS or SNS destination keeps only the metadata) is
refused with the topic, partition and offsets to re-read from Kafka.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from parking.config import Settings
from parking.errors import InputError
from parking.ingest.batch import BatchResult, ingest_batch
from parking.ingest.sinks import Sink


def failed_batch_event(document: bytes) -> dict[str, Any]:
    """The MSK event inside an on-failure destination object; raises :class:`InputError`."""
    try:
        record = orjson.loads(document)
    except orjson.JSONDecodeError as error:
        raise InputError(f"not an on-failure record (not JSON: {error})") from None
    if not isinstance(record, dict):
        raise InputError("not an on-failure record (not a JSON object)")
    event = record.get("payload", record)
    if isinstance(event, str):
        try:
            event = orjson.loads(event)
        except orjson.JSONDecodeError as error:
            raise InputError(f"the on-failure record's payload is not JSON: {error}") from None
    if not isinstance(event, dict) or not isinstance(event.get("records"), dict):
        info = record.get("KafkaBatchInfo") or record.get("kafkaBatchInfo")
        where = f": re-read {orjson.dumps(info).decode()} from Kafka" if info else ""
        raise InputError(f"the on-failure record holds no MSK event payload{where}")
    for key, records in event["records"].items():
        _check_records(str(key)[:60], records)
    return event


def _check_records(key: str, records: Any) -> None:
    """One ``"topic-partition"`` group of the MSK event as Lambda gives it, or :class:`InputError` naming
    what is not: a list of records of one topic and partition, each with a Kafka offset (a whole number
    from 0), since the objects stored are named by them (METRICS.md section 2)."""
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise InputError(f"the MSK event's records[{key!r}] is not a list of records")
    for number, record in enumerate(records):
        where = f"record {number} of records[{key!r}]"
        missing = [field for field in ("topic", "partition", "offset") if field not in record]
        if missing:
            raise InputError(f"{where} has no {missing[0]!r}")
        offset = record["offset"]
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < 2**63:
            raise InputError(f"{where}: offset {str(offset)[:30]!r} is not a Kafka offset (a whole number from 0)")
        if (record["topic"], record["partition"]) != (records[0]["topic"], records[0]["partition"]):
            raise InputError(f"{where} is of another topic or partition than record 0 of its group")


def replay_failed_batch(
    document: bytes, sink: Sink, settings: Settings | None = None, now: datetime | None = None
) -> BatchResult:
    """Ingest the batch an on-failure record holds; METRICS.md section 2."""
    return ingest_batch(failed_batch_event(document), sink, settings, now=now)
