"""Building MSK-shaped Lambda events, as the event source mapping delivers them.

The local ``ingest`` command and the Kafka consumer wrap what they read in
this shape and call the same :func:`parking.ingest.ingest_batch` the Lambda
handler calls, so every path exercises the production code.
"""

from __future__ import annotations

import time
from base64 import b64encode
from binascii import b2a_base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

Headers = Sequence[tuple[str, bytes | None]]

DEFAULT_TOPIC = "parking-events"
LOCAL_SOURCE_ARN = "arn:aws:kafka:local:000000000000:cluster/local/00000000-0000-0000-0000-000000000000-1"


def msk_record(
    topic: str,
    partition: int,
    offset: int,
    value: bytes | None,
    *,
    key: bytes | None = None,
    timestamp_ms: int | None = None,
    timestamp_type: str = "CREATE_TIME",
    headers: Headers = (),
) -> dict[str, Any]:
    """One record as Lambda sees it: base64 key and value, headers as byte lists."""
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
        "timestampType": timestamp_type,
        "key": None if key is None else b64encode(key).decode("ascii"),
        "value": None if value is None else b64encode(value).decode("ascii"),
        "headers": [{name: list(data or b"")} for name, data in headers],
    }


def msk_event(
    records: Iterable[dict[str, Any]],
    source_arn: str = LOCAL_SOURCE_ARN,
    bootstrap_servers: str = "localhost:9092",
) -> dict[str, Any]:
    """Group records under ``"topic-partition"`` keys, in arrival order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(f"{record['topic']}-{record['partition']}", []).append(record)
    return _envelope(grouped, source_arn, bootstrap_servers)


def _envelope(grouped: dict[str, list[dict[str, Any]]], source_arn: str, bootstrap_servers: str) -> dict[str, Any]:
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": source_arn,
        "bootstrapServers": bootstrap_servers,
        "records": grouped,
    }


@dataclass(frozen=True, slots=True)
class PartitionRecords:
    """A run of one partition's Kafka records, in offset order, as plain columns.

    A few lists of bytes and ints cost a fraction of thousands of record
    dicts to send to a handler process; :meth:`event` builds those dicts there.
    """

    topic: str
    partition: int
    offsets: list[int]
    timestamps: list[int]
    timestamp_types: list[str]
    keys: list[bytes | None]
    values: list[bytes | None]
    headers: list[Headers | None]

    def __len__(self) -> int:
        return len(self.offsets)

    def extend(self, later: PartitionRecords) -> None:
        """Append the same partition's next records."""
        for column in _COLUMNS:
            getattr(self, column).extend(getattr(later, column))

    def split(self, size: int) -> tuple[PartitionRecords, PartitionRecords]:
        """The first ``size`` records, and the rest."""
        head = {column: getattr(self, column)[:size] for column in _COLUMNS}
        rest = {column: getattr(self, column)[size:] for column in _COLUMNS}
        return (PartitionRecords(self.topic, self.partition, **head),
                PartitionRecords(self.topic, self.partition, **rest))

    def event(self, source_arn: str = LOCAL_SOURCE_ARN, bootstrap_servers: str = "localhost:9092") -> dict[str, Any]:
        """The MSK event of these records, the same shape :func:`msk_record` gives each one."""
        topic, partition = self.topic, self.partition
        records = [
            {
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "timestamp": stamp,
                "timestampType": kind,
                "key": None if key is None else b2a_base64(key, newline=False).decode("ascii"),
                "value": None if value is None else b2a_base64(value, newline=False).decode("ascii"),
                "headers": [{name: list(data or b"")} for name, data in headers] if headers else [],
            }
            for offset, stamp, kind, key, value, headers in zip(
                self.offsets, self.timestamps, self.timestamp_types, self.keys, self.values, self.headers, strict=True
            )
        ]
        return _envelope({f"{topic}-{partition}": records}, source_arn, bootstrap_servers)


_COLUMNS = tuple(column.name for column in fields(PartitionRecords) if column.name not in ("topic", "partition"))
