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
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from parking.config import Settings
from parking.ingest.batch import ingest_batch
from parking.ingest.files import IngestTotals
from parking.ingest.msk import msk_event
from parking.ingest.sinks import LocalSink, MemorySink


def kafka_record(line: dict[str, Any]) -> dict[str, Any]:
    """The MSK record a quarantine line was made from."""
    value = line["value"]
    if line.get("value_encoding") == "utf-8" and value is not None:
        value = b64encode(value.encode("utf-8")).decode("ascii")
    return {
        "topic": line["topic"],
        "partition": line["partition"],
        "offset": line["offset"],
        "timestamp": line.get("kafka_timestamp"),
        "timestampType": line.get("kafka_timestamp_type"),
        "key": line.get("key"),
        "value": value,
        "headers": line.get("headers") or [],
    }


def replay_quarantine(
    root: Path | str,
    settings: Settings | None = None,
    now: datetime | None = None,
    on_object: Callable[[Path], None] | None = None,
) -> IngestTotals:
    """Ingest every quarantined record under a local data directory again."""
    settings = settings or Settings()
    root = Path(root)
    totals = IngestTotals()
    for path in sorted((root / settings.quarantine_prefix).rglob("*.json.gz")):
        lines = [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
        staged = MemorySink()
        totals.add(ingest_batch(msk_event(kafka_record(line) for line in lines), staged, settings, now=now))
        LocalSink(root).write(staged.objects)
        if str(path.relative_to(root)) not in staged.objects:
            path.unlink()
        if on_object is not None:
            on_object(path)
    return totals
