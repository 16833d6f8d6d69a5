"""The exceptions the library raises; the CLI maps them to exit codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class ParkingError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigurationError(ParkingError):
    """A required setting is missing or invalid."""


class InvalidArgument(ParkingError):
    """A query argument (date, timestamp, zone, threshold) is not acceptable.

    ``arguments`` are the parameters the message is about, by their names in
    the library (``lookback_hours``); the message writes each as ``{name}``,
    so a caller can say it in its own words (:meth:`worded`): the CLI names
    the flag that sets it.
    """

    def __init__(self, message: str, *arguments: str) -> None:
        self.template = message
        self.arguments = arguments
        super().__init__(self.worded())

    @property
    def argument(self) -> str | None:
        """The first argument the message is about, if it names one."""
        return self.arguments[0] if self.arguments else None

    def worded(self, names: Mapping[str, str] | None = None) -> str:
        """The message, each argument spelled as ``names`` says (else by its own name)."""
        text = self.template
        for argument in self.arguments:
            text = text.replace("{" + argument + "}", (names or {}).get(argument, argument))
        return text


class SinkWriteError(ParkingError):
    """Objects could not be written; the batch must be retried as a whole."""


class StateTableError(SinkWriteError):
    """The current-state table could not be opened, read or written (a write failure to the ingest path)."""


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
