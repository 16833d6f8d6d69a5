"""Replaying quarantined records through the ingest path again.

A record can fail for a reason that passes: a sensor clock more than a day
ahead, a value larger than the limit once was. Each quarantine line keeps
the Kafka record as it arrived, so it can be rebuilt and ingested again:
what is valid now lands in its event hour, what is not returns to quarantine.
Each quarantine object is replayed as one batch; its new objects are written
before it is removed, so a crash can repeat a record but never lose one.
"""

from __future__ import annotations

import gzip
from base64 import b64encode
from binascii import Error as BinasciiError
from binascii import a2b_base64, b2a_base64
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson
from isal import igzip

from parking.config import Settings
from parking.ingest.batch import COMPRESS_LEVEL, ORIGIN, VALUE_OBJECT, ingest_batch, quarantine_hour
from parking.ingest.files import IngestTotals
from parking.ingest.msk import msk_event
from parking.ingest.sinks import LocalSink, MemorySink
from parking.layout import DIGEST_HEX, HourPartition, object_key, value_name
from parking.state.update import record_objects


def kafka_record(
    line: dict[str, Any], root: Path | None = None, max_value_bytes: int = 0, settings: Settings | None = None,
) -> dict[str, Any]:
    """The MSK record a quarantine line was made from.

    A value kept as an object of its own (``value_encoding`` ``object``) is
    read back from under ``root`` only when it fits ``max_value_bytes``; the
    record keeps pointing at it either way, so a record quarantined again
    keeps its value there, as ingest quarantines it. With ``settings``, an
    inline value over ``max_value_bytes`` is stored as such an object first
    (``*.value.gz`` beside its quarantine line), as ``ingest`` stores a file
    line over the limit. The line's ``origin`` goes with the record.
    """
    value = line["value"]
    reference = line.get("value_object") if line.get("value_encoding") == "object" else None
    if line.get("value_encoding") == "utf-8" and value is not None:
        value = b64encode(value.encode("utf-8")).decode("ascii")
    if reference is not None and root is not None and int(reference.get("bytes", 0)) <= max_value_bytes:
        value = b2a_base64(gzip.decompress((Path(root) / reference["key"]).read_bytes()), newline=False).decode()
    elif reference is None and root is not None and settings is not None and isinstance(value, str):
        reference = _keep_large_value(line, value, Path(root), settings)
        if reference is not None:
            value = None
    record = {
        "topic": line["topic"],
        "partition": line["partition"],
        "offset": line["offset"],
        "timestamp": line.get("kafka_timestamp"),
        "timestampType": line.get("kafka_timestamp_type"),
        "key": line.get("key"),
        "value": value,
        "headers": line.get("headers") or [],
    }
    if reference is not None:
        record[VALUE_OBJECT] = reference
    origin = line.get("origin") or _legacy_origin(line)
    if origin is not None:
        record[ORIGIN] = origin
    return record


def _keep_large_value(line: dict[str, Any], value: str, root: Path, settings: Settings) -> dict[str, Any] | None:
    """Store an inline value over the limit as an object of its own, as ``ingest`` does; its reference, or None."""
    if len(value) <= _base64_length(settings.max_value_bytes):
        return None
    try:
        raw = a2b_base64(value, strict_mode=True)
    except (BinasciiError, ValueError):
        return None  # not base64 (quarantined as such): kept inline, as received
    if len(raw) <= settings.max_value_bytes:
        return None
    digest = sha256(raw).hexdigest()
    hour = HourPartition.from_iso(quarantine_hour(line.get("kafka_timestamp")))
    key = object_key(settings.quarantine_prefix, hour, value_name(line["topic"], line["partition"], line["offset"],
                                                                   digest[:DIGEST_HEX]))
    LocalSink(root).write({key: igzip.compress(raw, compresslevel=COMPRESS_LEVEL, mtime=0)})
    return {"key": key, "bytes": len(raw), "sha256": digest, "compression": "gzip"}


def _base64_length(size: int) -> int:
    return (size + 2) // 3 * 4


def _legacy_origin(line: dict[str, Any]) -> str | None:
    """The lake object a repair quarantined this record from, named in the detail of lines written before ``origin``."""
    detail = line.get("detail")
    if line.get("reason") in ("lake_invalid_line", "lake_unreadable") and isinstance(detail, str) \
            and detail.startswith("from "):
        return detail[5:].split(": ", 1)[0]
    return None


def replay_quarantine(
    root: Path | str,
    settings: Settings | None = None,
    now: datetime | None = None,
    on_object: Callable[[Path], None] | None = None,
) -> IngestTotals:
    """Ingest every quarantined record under a local data directory again.

    A value kept as an object of its own is removed once no quarantine line
    written by the replay points at it any more (its record was stored).
    """
    settings = settings or Settings.from_environment()
    root = Path(root)
    totals = IngestTotals()
    for path in sorted((root / settings.quarantine_prefix).rglob("*.json.gz")):
        lines = [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
        staged = MemorySink()
        records = (kafka_record(line, root, settings.max_value_bytes, settings) for line in lines)
        totals.add(ingest_batch(msk_event(records), staged, settings, now=now))
        LocalSink(root).write(staged.objects)
        record_objects(LocalSink(root), settings, staged.objects, now or datetime.now(timezone.utc))
        if str(path.relative_to(root)) not in staged.objects:
            path.unlink()
            still = _value_objects(
                orjson.loads(line)
                for key, body in staged.objects.items() if key.startswith(settings.quarantine_prefix)
                for line in gzip.decompress(body).splitlines()
            )
            for key in _value_objects(lines) - still:
                (root / key).unlink(missing_ok=True)
        if on_object is not None:
            on_object(path)
    return totals


def _value_objects(lines: Iterable[dict[str, Any]]) -> set[str]:
    """Keys of the kept values these quarantine lines point at."""
    return {line["value_object"]["key"] for line in lines if isinstance(line.get("value_object"), dict)}
