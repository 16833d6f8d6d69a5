"""The exceptions the library raises; the CLI maps them to exit codes."""

from __future__ import annotations

from typing import Any, Protocol


class ParkingError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigurationError(ParkingError):
    """A required setting is missing or invalid."""


class InvalidArgument(ParkingError):
    """A query argument (date, timestamp, zone, threshold) is not acceptable."""


class SinkWriteError(ParkingError):
    """Objects could not be written; the batch must be retried as a whole."""


class InputError(ParkingError):
    """An input file cannot be read (a broken gzip stream, an I/O error)."""


class QueryError(ParkingError):
    """A query failed in its engine."""


class AwsError(ParkingError):
    """AWS cannot be used as set up (region, profile, credentials, endpoint, bucket,
    permission) or keeps throttling; the message says what to set or check (parking/aws.py)."""


class QueryCancelled(QueryError):
    """A running query was cancelled by the user."""


class KafkaError(ParkingError):
    """The Kafka consumer or producer failed."""


class InvalidEvent(ParkingError):
    """A record breaks the event contract and goes to quarantine with ``reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class RunSummary(Protocol):
    """What a failed run did before it failed, as the CLI and the compaction Lambda print it."""

    def as_dict(self) -> dict[str, Any]: ...


class CompactionError(ParkingError):
    """A day could not be compacted; the lake is left as it was read, and a later run retries.

    ``report`` is what :func:`parking.lake.compaction.protocol.compact` did
    before it failed (its ``CompactionReport``; None from a single day's
    fold). Typed by the protocol it meets, so this shared module imports
    nothing of the lake (the Lambda artifacts stay lean).
    """

    def __init__(self, message: str, report: RunSummary | None = None) -> None:
        super().__init__(message)
        self.report = report
