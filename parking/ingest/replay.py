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
from binascii import b2a_base64
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from parking.config import Settings
from parking.ingest.batch import VALUE_OBJECT, ingest_batch
from parking.ingest.files import IngestTotals
from parking.ingest.msk import msk_event
from parking.ingest.sinks import LocalSink, MemorySink


def kafka_record(line: dict[str, Any], root: Path | None = None, max_value_bytes: int = 0) -> dict[str, Any]:
    """The MSK record a quarantine line was made from.

    A value kept as an object of its own (``value_encoding`` ``object``) is
    read back from under ``root`` only when it fits ``max_value_bytes``;
    otherwise the record keeps pointing at it and is quarantined again.
    """
    value = line["value"]
    reference = line.get("value_object") if line.get("value_encoding") == "object" else None
    if line.get("value_encoding") == "utf-8" and value is not None:
        value = b64encode(value.encode("utf-8")).decode("ascii")
    if reference is not None and root is not None and int(reference.get("bytes", 0)) <= max_value_bytes:
        value = b2a_base64(gzip.decompress((Path(root) / reference["key"]).read_bytes()), newline=False).decode()
        reference = None
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
    return record


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
    settings = settings or Settings()
    root = Path(root)
    totals = IngestTotals()
    for path in sorted((root / settings.quarantine_prefix).rglob("*.json.gz")):
        lines = [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
        staged = MemorySink()
        records = (kafka_record(line, root, settings.max_value_bytes) for line in lines)
        totals.add(ingest_batch(msk_event(records), staged, settings, now=now))
        LocalSink(root).write(staged.objects)
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
