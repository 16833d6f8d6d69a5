"""A Kafka consumer that behaves like Lambda's MSK event source mapping.

It polls a topic, gathers records into batches (up to ``batch_size`` records
or ``batching_window`` seconds after the first), builds the MSK event Lambda
would deliver, calls the same :func:`parking.ingest.ingest_batch` the
handler calls, and commits offsets only after that returns: at-least-once,
like Lambda. On a rebalance it commits what was stored and drops, without
committing, what it had buffered for the partitions it loses, so their next
owner re-reads them.
"""

from __future__ import annotations

import time
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaException, Message, TopicPartition
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME

from parking.config import Settings
from parking.errors import KafkaError
from parking.ingest import ingest_batch
from parking.msk import msk_event
from parking.sinks import Sink

# A short session makes a group join take about 3 s instead of about 23 s.
FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 100}


@dataclass(frozen=True)
class ConsumeOptions:
    """What to read and when to stop; None means no such limit."""

    bootstrap_servers: str
    topic: str = "parking-events"
    group: str = "parking-ingest"
    batch_size: int = 1000
    batching_window: float = 1.0
    max_records: int | None = None
    until_idle: float | None = None
    progress_every: float = 1.0
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConsumeProgress:
    """Running totals, reported after every batch and at most every ``progress_every`` s."""

    records: int = 0
    stored: int = 0
    quarantined: int = 0
    batches: int = 0
    lag: int | None = None
    started: float = field(default_factory=time.monotonic)
    assigned: set[int] = field(default_factory=set)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.records / elapsed if elapsed > 0 else 0.0


class BatchConsumer:
    """One member of a consumer group feeding the ingest path."""

    def __init__(
        self,
        options: ConsumeOptions,
        sink: Sink,
        settings: Settings | None = None,
        on_progress: Callable[[ConsumeProgress], None] | None = None,
    ) -> None:
        self.options = options
        self.sink = sink
        self.settings = settings or Settings()
        self.on_progress = on_progress
        self.progress = ConsumeProgress()
        self._buffer: list[Message] = []
        self._stopping = False
        self._last_activity = time.monotonic()
        self._consumer = Consumer(
            {
                "bootstrap.servers": options.bootstrap_servers,
                "group.id": options.group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **FAST_GROUP,
                **options.config,
            }
        )

    def stop(self) -> None:
        """Finish the batch in hand, commit it, and return from :meth:`run`."""
        self._stopping = True

    def run(self) -> ConsumeProgress:
        """Consume until stopped, ``max_records`` are handled, or the topic is idle."""
        self._consumer.subscribe([self.options.topic], on_assign=self._assigned, on_revoke=self._revoked,
                                 on_lost=self._revoked)
        self._last_activity = last_report = time.monotonic()
        try:
            while not self._stopping and not self._reached_max():
                batch = self._gather()
                now = time.monotonic()
                if batch:
                    self._handle(batch)
                    self._last_activity = now
                elif self._idle_since(now):
                    break
                if batch or now - last_report >= self.options.progress_every:
                    self._report()
                    last_report = now
        finally:
            self._consumer.close()
        return self.progress

    def _idle_since(self, now: float) -> bool:
        """No record for ``until_idle`` seconds since the last record or assignment."""
        waited = now - self._last_activity
        return self.options.until_idle is not None and bool(self.progress.assigned) and waited >= self.options.until_idle

    def _reached_max(self) -> bool:
        return self.options.max_records is not None and self.progress.records >= self.options.max_records

    def _room(self) -> int:
        room = self.options.batch_size - len(self._buffer)
        if self.options.max_records is not None:
            room = min(room, self.options.max_records - self.progress.records - len(self._buffer))
        return room

    def _gather(self) -> list[Message]:
        """Poll until the batch is full or its window has passed since its first record."""
        deadline = None
        while not self._stopping and self._room() > 0:
            timeout = 0.1 if deadline is None else max(0.0, deadline - time.monotonic())
            for message in self._consumer.consume(num_messages=self._room(), timeout=timeout):
                error = message.error()
                if error is None:
                    self._buffer.append(message)
                elif error.fatal():
                    raise KafkaError(f"Kafka consumer failed: {error}")
            if self._buffer and deadline is None:
                deadline = time.monotonic() + self.options.batching_window
            if deadline is None or time.monotonic() >= deadline:
                break
        batch, self._buffer = self._buffer, []
        return batch

    def _handle(self, batch: list[Message]) -> None:
        result = ingest_batch(msk_event(msk_record_of(m) for m in batch), self.sink, self.settings)
        self._commit(batch)
        self.progress.records += result.records_in
        self.progress.stored += result.stored
        self.progress.quarantined += result.quarantined
        self.progress.batches += 1

    def _commit(self, batch: list[Message]) -> None:
        """Commit the next offset of every partition in a batch that the handler stored."""
        next_offsets: dict[tuple[str, int], int] = {}
        for message in batch:
            key = (message.topic(), message.partition())
            next_offsets[key] = max(next_offsets.get(key, 0), message.offset() + 1)
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in next_offsets.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # Partitions lost in a rebalance cannot be committed; their next owner
            # re-reads the batch, which overwrites the same objects.
            if not self._is_rebalance_error(exc):
                raise KafkaError(f"could not commit offsets: {exc}") from exc

    @staticmethod
    def _is_rebalance_error(exc: KafkaException) -> bool:
        return "REBALANCE" in str(exc).upper() or "UNKNOWN_MEMBER" in str(exc).upper()

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.progress.assigned.update(p.partition for p in partitions)
        self._last_activity = time.monotonic()

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Hand over buffered, unstored records uncommitted: the next owner re-reads them."""
        lost = {(p.topic, p.partition) for p in partitions}
        self._buffer = [m for m in self._buffer if (m.topic(), m.partition()) not in lost]
        self.progress.assigned.difference_update(p.partition for p in partitions)

    def _report(self) -> None:
        self.progress.lag = self._lag()
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def _lag(self) -> int | None:
        """Records on the broker not yet consumed, over this member's partitions."""
        try:
            assignment = self._consumer.assignment()
            positions = self._consumer.position(assignment)
            lag = 0
            for partition in positions:
                _, high = self._consumer.get_watermark_offsets(partition, timeout=1.0, cached=False)
                if partition.offset != OFFSET_INVALID:
                    lag += max(0, high - partition.offset)
                else:
                    lag += high
            return lag
        except KafkaException:
            return None


def msk_record_of(message: Message) -> dict[str, Any]:
    """One Kafka message as the MSK event source mapping presents it to Lambda."""
    kind, stamp = message.timestamp()
    key, value = message.key(), message.value()
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": stamp,
        "timestampType": "LOG_APPEND_TIME" if kind == TIMESTAMP_LOG_APPEND_TIME else "CREATE_TIME",
        "key": None if key is None else b64encode(key).decode("ascii"),
        "value": None if value is None else b64encode(value).decode("ascii"),
        "headers": [{name: list(data or b"")} for name, data in (message.headers() or [])],
    }
