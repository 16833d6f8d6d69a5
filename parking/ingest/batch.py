"""One MSK batch in, hour-partitioned objects out (docs/METRICS.md section 2).

Every record ends in exactly one place: a data object of its event hour, or
a quarantine object with the reason. Whatever goes wrong with one record
(even an error no check foresaw) quarantines that record; only a failure to
store the batch's objects fails the batch.

Objects are named from topic, Kafka partition, first/last offset and a
digest of the records they hold (not of the bytes written: a quarantine line
carries its ingestion time), so a redelivered batch names the same objects
and overwrites itself, while other records (a recreated topic whose offsets
start again at 0, another file) never share a name.
"""

from __future__ import annotations

import json
import time
from array import array
from base64 import b64decode
from binascii import Error as BinasciiError
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from hashlib import sha256
from typing import Any

import orjson
from isal import igzip

from parking.config import Settings
from parking.errors import InvalidEvent
from parking.ingest.events import Reason, Validator, format_instant, parse_value
from parking.ingest.sinks import Sink
from parking.layout import DIGEST_HEX, HourPartition, object_key, object_name
from parking.state.update import record_batch, table_hours_from

# ISA-L's gzip at its default level: several times zlib's speed at level 1,
# with smaller output. Any gzip reader (Athena, DuckDB) reads it.
COMPRESS_LEVEL = 2

#: A record's key naming its raw value stored as an object of its own (a file
#: line over the size limit, streamed out by ``parking.ingest.files``):
#: ``{"key": ..., "bytes": n, "sha256": hex}``; the record's ``value`` is null.
VALUE_OBJECT = "valueObject"

#: A record's key naming where it was before quarantine when that was not a
#: Kafka record (``lake check --repair``: the lake object, and its line). Kept
#: as the quarantine line's ``origin`` through every replay.
ORIGIN = "origin"

#: Quarantine hour of a record without a Kafka timestamp (a file or stdin
#: load): fixed, so loading the same lines again names the same objects.
NO_TIMESTAMP_HOUR = "1970-01-01T00"


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch did; the handler logs it and emits it as metrics."""

    records_in: int
    stored: int
    quarantined: int
    objects_written: int
    hours_touched: tuple[str, ...]
    quarantine_reasons: dict[str, int]
    milliseconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Group:
    """One object's body, with the offsets and record identities that name it."""

    __slots__ = ("first", "last", "body", "offsets", "identities")

    def __init__(self, offset: int) -> None:
        self.first = offset
        self.last = offset
        self.body = bytearray()
        self.offsets: list[int] = []
        self.identities: list[str] = []

    @property
    def count(self) -> int:
        return len(self.offsets)

    def add(self, offset: int, identity: str, line: bytes) -> None:
        """One more record: its stored line, its offset and the identity that names it."""
        self.identities.append(identity)
        self.body += line
        self.offsets.append(offset)
        if offset > self.last:
            self.last = offset
        elif offset < self.first:
            self.first = offset

    def digest(self, topic: str, partition: int) -> str:
        """SHA-256 (96 bits kept) of the records this object holds: topic, partition, offsets and identities.

        SHA-256 because CPUs with SHA extensions hash it twice as fast as BLAKE2b.
        """
        hasher = sha256(f"{topic}\0{partition}\0".encode())
        hasher.update(array("q", self.offsets).tobytes())
        hasher.update("\n".join(self.identities).encode("utf-8", "surrogatepass"))
        return hasher.hexdigest()[:DIGEST_HEX]


def _group_of(hours: dict[str, _Group], hour: str, offset: int) -> _Group:
    """The group of records for ``hour`` in one partition's ``hours``, begun at ``offset`` if it is the first."""
    group = hours.get(hour)
    if group is None:
        group = hours[hour] = _Group(offset)
    return group


def ingest_batch(
    event: Mapping[str, Any],
    sink: Sink,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> BatchResult:
    """Validate, partition and store one MSK event; raise if anything is not stored.

    Raises only :class:`parking.errors.SinkWriteError` (from the sink): no
    record's content fails the batch. METRICS.md sections 1 and 2.
    """
    started = time.perf_counter()
    settings = settings or Settings.from_environment()
    now = now or datetime.now(timezone.utc)
    validator = Validator.at(now, settings.max_value_bytes, settings.earliest_event)
    ingested_at = format_instant(now)

    data: dict[tuple[str, int], dict[str, _Group]] = {}
    quarantine: dict[tuple[str, int], dict[str, _Group]] = {}
    reasons: Counter[str] = Counter()
    records_in = 0
    lines: list[bytes] = []  # the stored event lines the current-state table keeps (recent hours only)
    recent = table_hours_from(settings, now)
    for records in event.get("records", {}).values():
        if not records:
            continue
        source = (records[0]["topic"], records[0]["partition"])
        hours = data.setdefault(source, {})
        for record in records:
            offset = record["offset"]
            value = record.get("value")
            try:
                hour, line = parse_value(value, validator)
            except Exception as error:  # noqa: BLE001 - no record may fail the batch
                invalid = _as_invalid(error, record)
                reasons[invalid.reason] += 1
                hour, line = _quarantine_line(record, invalid, ingested_at)
                _group_of(quarantine.setdefault(source, {}), hour, offset).add(offset, _identity(record), line)
            else:
                _group_of(hours, hour, offset).add(offset, value, line)
                if hour >= recent:
                    lines.append(line)
        records_in += len(records)

    objects = _objects(data, settings.data_prefix) | _objects(quarantine, settings.quarantine_prefix)
    sink.write(objects)
    record_batch(sink, settings, lines, objects, now)  # the live answers' table, once the events are stored

    stored = _count(data)
    quarantined = _count(quarantine)
    if stored + quarantined != records_in:  # pragma: no cover - an invariant, not a branch
        raise AssertionError(f"{records_in} records in, {stored} stored, {quarantined} quarantined")
    return BatchResult(
        records_in=records_in,
        stored=stored,
        quarantined=quarantined,
        objects_written=len(objects),
        hours_touched=tuple(sorted({hour for hours in data.values() for hour in hours})),
        quarantine_reasons=dict(sorted(reasons.items())),
        milliseconds=round((time.perf_counter() - started) * 1000, 3),
    )


def _as_invalid(error: Exception, record: Mapping[str, Any]) -> InvalidEvent:
    """The reason a record is quarantined; an unforeseen error is ``internal_error`` with its type."""
    if isinstance(error, InvalidEvent):
        if error.reason == Reason.NO_VALUE and isinstance(record.get(VALUE_OBJECT), Mapping):
            size = record[VALUE_OBJECT].get("bytes")
            return InvalidEvent(Reason.TOO_LARGE, f"value is {size} bytes, larger than the limit; kept as an object")
        return error
    return InvalidEvent(Reason.INTERNAL_ERROR, f"{type(error).__name__}: {str(error)[:200]}")


def _objects(groups: dict[tuple[str, int], dict[str, _Group]], prefix: str) -> dict[str, bytes]:
    objects = {}
    for (topic, partition), hours in groups.items():
        for hour, group in hours.items():
            name = object_name(topic, partition, group.first, group.last, group.digest(topic, partition))
            key = object_key(prefix, HourPartition.from_iso(hour), name)
            objects[key] = igzip.compress(group.body, compresslevel=COMPRESS_LEVEL, mtime=0)
    return objects


def _count(groups: dict[tuple[str, int], dict[str, _Group]]) -> int:
    return sum(group.count for hours in groups.values() for group in hours.values())


def _identity(record: Mapping[str, Any]) -> str:
    """Everything a quarantine line keeps of a record except the ingestion time."""
    fields = [record.get(name) for name in ("offset", "timestamp", "timestampType", "key", "value", "headers",
                                              VALUE_OBJECT)]
    if record.get(ORIGIN) is not None:  # only then: names of records without one stay as they were
        fields.append(record[ORIGIN])
    return json.dumps(fields, default=repr, sort_keys=True)


def quarantine_hour(timestamp: object) -> str:
    """The hour a quarantined record is filed under: its Kafka timestamp's, else :data:`NO_TIMESTAMP_HOUR`.

    Never the arrival time, so a redelivered batch names the same objects.
    """
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        try:
            return format_instant(datetime.fromtimestamp(timestamp / 1000, timezone.utc))[:13]
        except (OverflowError, OSError, ValueError):
            pass
    return NO_TIMESTAMP_HOUR


def _quarantine_line(record: Mapping[str, Any], invalid: InvalidEvent, ingested_at: str) -> tuple[str, bytes]:
    """Everything needed to replay the record, under the hour Kafka stamped it.

    A value kept as an object of its own stays there (``value`` null), even
    when the record also carries it read back (a replay).
    """
    value = None if isinstance(record.get(VALUE_OBJECT), Mapping) else record.get("value")
    encoding = "base64"
    if isinstance(value, str):
        try:
            value = b64decode(value, validate=True).decode("utf-8")
            encoding = "utf-8"
        except (BinasciiError, ValueError):
            pass
    line = {
        "reason": invalid.reason,
        "detail": invalid.detail,
        "topic": record.get("topic"),
        "partition": record.get("partition"),
        "offset": record.get("offset"),
        "kafka_timestamp": record.get("timestamp"),
        "kafka_timestamp_type": record.get("timestampType"),
        "key": record.get("key"),
        "headers": record.get("headers"),
        "value": value,
        "value_encoding": encoding,
        "ingested_at": ingested_at,
    }
    if isinstance(record.get(VALUE_OBJECT), Mapping):
        line["value_encoding"] = "object"
        line["value_object"] = dict(record[VALUE_OBJECT])
    if record.get(ORIGIN) is not None:
        line["origin"] = record[ORIGIN]
    try:
        body = orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS, default=repr)
    except (TypeError, orjson.JSONEncodeError):  # e.g. a header string with a lone surrogate
        body = (json.dumps(line, default=repr, ensure_ascii=True) + "\n").encode("ascii")
    return quarantine_hour(record.get("timestamp")), body


def quarantine_records(
    records: Sequence[Mapping[str, Any]],
    reason: str,
    detail: str,
    settings: Settings,
    now: datetime | None = None,
) -> dict[str, bytes]:
    """Quarantine objects holding MSK-shaped records with one given reason (lake repair).

    Lines and names are those of any batch's quarantine objects, so
    ``replay`` reads them; returns the objects for the caller to write.
    """
    now = now or datetime.now(timezone.utc)
    ingested_at = format_instant(now)
    groups: dict[tuple[str, int], dict[str, _Group]] = {}
    invalid = InvalidEvent(reason, detail)
    for record in records:
        hour, line = _quarantine_line(record, invalid, ingested_at)
        hours = groups.setdefault((record["topic"], record["partition"]), {})
        _group_of(hours, hour, record["offset"]).add(record["offset"], _identity(record) + reason, line)
    return _objects(groups, settings.quarantine_prefix)
