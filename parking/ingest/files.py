"""Loading a JSON-lines file through the Lambda's own ingest path.

Lines are wrapped into MSK-shaped batches (offsets are line numbers) and
handed to :func:`parking.ingest.ingest_batch` with a local or S3 sink, so a
backfill validates, partitions and quarantines exactly as production does.
Memory stays bounded by one batch whatever the file's size. Offsets and
the Kafka timestamp of a file's lines: docs/CHOICES.md, "Where events land".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from parking.config import Settings
from parking.ingest.batch import BatchResult, ingest_batch
from parking.ingest.msk import DEFAULT_TOPIC, batches_from_lines
from parking.ingest.sinks import Sink


@dataclass
class IngestTotals:
    """Sums over the batches of one load."""

    records_in: int = 0
    stored: int = 0
    quarantined: int = 0
    objects_written: int = 0
    batches: int = 0
    hours: set[str] = field(default_factory=set)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, result: BatchResult) -> None:
        self.records_in += result.records_in
        self.stored += result.stored
        self.quarantined += result.quarantined
        self.objects_written += result.objects_written
        self.batches += 1
        self.hours.update(result.hours_touched)
        self.reasons.update(result.quarantine_reasons)

    def as_dict(self) -> dict[str, object]:
        return {
            "records_in": self.records_in,
            "stored": self.stored,
            "quarantined": self.quarantined,
            "objects_written": self.objects_written,
            "batches": self.batches,
            "hours_touched": len(self.hours),
            "quarantine_reasons": dict(sorted(self.reasons.items())),
        }


def ingest_lines(
    lines: Iterable[bytes],
    sink: Sink,
    settings: Settings | None = None,
    *,
    topic: str = DEFAULT_TOPIC,
    partition: int = 0,
    batch_size: int = 10_000,
    timestamp_ms: int | None = None,
    now: datetime | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> IngestTotals:
    """Ingest JSON lines in batches; ``on_batch`` sees each batch's result (for progress)."""
    totals = IngestTotals()
    batches = batches_from_lines(
        lines, topic=topic, partition=partition, batch_size=batch_size, timestamp_ms=timestamp_ms
    )
    for event in batches:
        result = ingest_batch(event, sink, settings, now=now)
        totals.add(result)
        if on_batch is not None:
            on_batch(result)
    return totals
