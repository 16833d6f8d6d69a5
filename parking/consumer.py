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

import gc
import time
from binascii import b2a_base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaException, Message, TopicPartition

from parking.backfill import IngestTotals
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
    """What the consumer has done so far, reported every ``progress_every`` seconds."""

    totals: IngestTotals = field(default_factory=IngestTotals)
    lag: int | None = None
    started: float = field(default_factory=time.monotonic)
    assigned: set[int] = field(default_factory=set)

    @property
    def records(self) -> int:
        return self.totals.records_in

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
        self._stored: dict[tuple[str, int], int] = {}
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
                if now - last_report >= self.options.progress_every:
                    self._report()
                    last_report = now
            self._report()
            self._commit(wait=True)
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
        with paused_gc():
            event = msk_event_of(batch)
            result = ingest_batch(event, self.sink, self.settings)
        # Stored: now, and only now, its offsets may be committed.
        for records in event["records"].values():
            last = records[-1]
            self._stored[(last["topic"], last["partition"])] = last["offset"] + 1
        self._commit(wait=False)
        self.progress.totals.add(result)

    def _commit(self, wait: bool, only: set[tuple[str, int]] | None = None) -> None:
        """Commit the next offset after what the handler stored, per partition.

        After each batch the commit is asynchronous, so polling goes on; on a
        rebalance and at the end it waits, so nothing stored is left uncommitted.
        """
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in self._stored.items()
                   if only is None or (topic, partition) in only]
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=not wait)
        except KafkaException as exc:
            # Partitions already lost in a rebalance cannot be committed; their next
            # owner re-reads those records, and its objects overwrite ours.
            if not self._is_rebalance_error(exc):
                raise KafkaError(f"could not commit offsets: {exc}") from exc

    @staticmethod
    def _is_rebalance_error(exc: KafkaException) -> bool:
        return "REBALANCE" in str(exc).upper() or "UNKNOWN_MEMBER" in str(exc).upper()

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.progress.assigned.update(p.partition for p in partitions)
        self._last_activity = time.monotonic()

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Commit what was stored; hand over buffered, unstored records uncommitted."""
        lost = {(p.topic, p.partition) for p in partitions}
        self._commit(wait=True, only=lost)
        for key in lost:
            self._stored.pop(key, None)
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
                _, high = self._consumer.get_watermark_offsets(partition, cached=True)
                if high < 0:
                    return None  # not fetched yet: unknown, not zero
                lag += high - partition.offset if partition.offset >= 0 else high
            return lag
        except KafkaException:
            return None


@contextmanager
def paused_gc() -> Iterator[None]:
    """Suspend the cycle collector while a batch is built and handled.

    A batch makes thousands of long-lived dicts; each would count toward a
    collection that scans them all, and none can form a cycle. Reference
    counting still frees everything at once when the batch is done.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def msk_event_of(messages: list[Message]) -> dict[str, Any]:
    """The MSK event of a batch: records grouped under "topic-partition", in offset order.

    Every record is what the event source mapping delivers: base64 key and
    value, the Kafka timestamp and its type, headers as byte lists.
    """
    records: dict[str, list[dict[str, Any]]] = {}
    for partition, run in groupby(messages, key=Message.partition):  # consume() yields partition runs
        out: list[dict[str, Any]] = []
        append = out.append
        topic = None
        for message in run:
            topic = topic or message.topic()
            kind, stamp = message.timestamp()
            key, value, headers = message.key(), message.value(), message.headers()
            append({
                "topic": topic,
                "partition": partition,
                "offset": message.offset(),
                "timestamp": stamp,
                "timestampType": "LOG_APPEND_TIME" if kind == TIMESTAMP_LOG_APPEND_TIME else "CREATE_TIME",
                "key": None if key is None else b2a_base64(key, newline=False).decode("ascii"),
                "value": None if value is None else b2a_base64(value, newline=False).decode("ascii"),
                "headers": [{name: list(data or b"")} for name, data in headers] if headers else [],
            })
        records.setdefault(f"{topic}-{partition}", []).extend(out)
    return {**msk_event(()), "records": records}
