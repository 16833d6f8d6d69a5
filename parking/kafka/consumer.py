"""A Kafka consumer that behaves like Lambda's MSK event source mapping.

It polls a topic, gathers records into batches (up to ``batch_size`` records
or ``batching_window`` seconds after the first), builds the MSK event Lambda
would deliver, calls the same :func:`parking.ingest.ingest_batch` the
handler calls, and commits offsets only after that returns: at-least-once,
like Lambda. Like Lambda, it reads each partition in order but handles
different partitions at once, one batch per partition at a time, in up to
``workers`` handler processes. On a rebalance it lets the handlers of the
partitions it loses finish, commits what they stored, and drops, without
committing, what it had only buffered, so their next owner re-reads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaException, Message, TopicPartition

from parking.ingest.files import IngestTotals
from parking.config import Settings
from parking.errors import KafkaError
from parking.ingest.batch import BatchResult, ingest_batch
from parking.kafka.invocations import Handler, Invoker, default_workers, paused_gc
from parking.ingest.msk import PartitionRecords
from parking.ingest.sinks import Sink

# A short session makes a group join take about 3 s instead of about 23 s. Tansu
# sometimes holds a fetch for the whole fetch.wait.max.ms though records are there
# (a 200,000-record backlog drained at 165,000 records/s instead of 1,000,000 at
# 100 ms); 10 ms bounds that stall. librdkafka stops fetching a partition whose
# local queue is full and by default waits 1 s to try again: with handlers
# behind, that stalled a 0.8 s drain by 0.6 s; fetch.queue.backoff.ms makes it 10 ms.
FAST_GROUP = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
    "fetch.wait.max.ms": 10,
    "fetch.queue.backoff.ms": 10,
}

Partition = tuple[str, int]

# How far, in batches, the reader may run ahead of the handlers. While one
# partition's batch is handled its next ones wait here, and reading goes on to
# reach the other partitions: a broker may send one partition's whole backlog
# before the next's (Tansu does). Eight batches drained a 200,000-record backlog
# in 1.1 s where two took 1.7 s.
READ_AHEAD = 8


@dataclass(frozen=True)
class ConsumeOptions:
    """What to read, how many handlers, and when to stop; None means no such limit."""

    bootstrap_servers: str
    topic: str = "parking-events"
    group: str = "parking-ingest"
    batch_size: int = 1000
    batching_window: float = 1.0
    max_records: int | None = None
    until_idle: float | None = None
    progress_every: float = 1.0
    config: dict[str, Any] = field(default_factory=dict)
    workers: int = field(default_factory=default_workers)


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


@dataclass
class _Buffer:
    """One partition's records waiting for a handler, and when its batching window closes.

    Records wait as columns of bytes and ints, not as Kafka messages: those are
    objects the cycle collector would scan again and again while they wait.
    """

    records: PartitionRecords
    due: float


class BatchConsumer:
    """One member of a consumer group feeding the ingest path.

    ``handler`` is the function Lambda would invoke: :func:`ingest_batch`
    unless another is given (a benchmark's empty one, say).

    With more than one worker its handlers run in processes started with
    ``spawn``: a script that calls :meth:`run` must do so under
    ``if __name__ == "__main__":``, as for any multiprocessing pool.
    """

    def __init__(
        self,
        options: ConsumeOptions,
        sink: Sink,
        settings: Settings | None = None,
        on_progress: Callable[[ConsumeProgress], None] | None = None,
        handler: Handler = ingest_batch,
    ) -> None:
        self.options = options
        self.sink = sink
        self.settings = settings or Settings()
        self.on_progress = on_progress
        self.handler = handler
        self.progress = ConsumeProgress()
        self._buffers: dict[Partition, _Buffer] = {}
        self._taken = 0  # records handed to handlers
        self._in_flight: dict[Partition, tuple[Future[BatchResult], int]] = {}  # and the offset after it
        self._stored: dict[Partition, int] = {}
        self._failure: Exception | None = None
        self._stopping = False
        self._last_activity = time.monotonic()
        self._invoker: Invoker | None = None
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
        """Finish the batches in hand, commit them, and return from :meth:`run`."""
        self._stopping = True

    def run(self) -> ConsumeProgress:
        """Consume until stopped, ``max_records`` are handled, or the topic is idle."""
        self._invoker = Invoker(self.sink, self.settings, self.options.workers, self.handler)  # starts while we join
        self._consumer.subscribe([self.options.topic], on_assign=self._assigned, on_revoke=self._revoked,
                                 on_lost=self._revoked)
        try:
            self._poll()
            while self._buffers:  # what was read before the stop is handled, not dropped
                self._dispatch(flush=True)
                if self._buffers:
                    self._await_handler()
        except BaseException:
            self._wind_down(cancel=True)
            raise
        self._wind_down(cancel=False)
        if self._failure is not None:
            raise self._failure
        return self.progress

    def _poll(self) -> None:
        self._last_activity = last_report = time.monotonic()
        while not self._stopping and not self._reached_max():
            self._settle(wait=False)
            self._dispatch(flush=False)
            if self._buffered() >= READ_AHEAD * self.options.batch_size:  # a handler must finish first
                if self._in_flight:
                    self._await_handler()
                else:
                    self._dispatch(flush=True)
                continue
            if not self._read() and self._idle_since(time.monotonic()):
                break
            now = time.monotonic()
            if now - last_report >= self.options.progress_every:
                self._report()
                last_report = now

    def _read(self) -> int:
        """Poll once and buffer what came; how many records came.

        The cycle collector is paused meanwhile: the messages a poll returns are
        freed as soon as they are buffered as columns, and each collection while
        they are alive would scan thousands of them for nothing.
        """
        with paused_gc():
            messages = self._consumer.consume(num_messages=self._room(), timeout=self._timeout())
            count = len(messages)
            if messages:
                self._take(messages, time.monotonic())
            del messages  # before collection resumes
        return count

    def _wind_down(self, cancel: bool) -> None:
        """Let running handlers finish, commit what they stored, and leave the group."""
        try:
            if self._invoker is not None and cancel:
                self._invoker.close(cancel=True)
            self._settle(wait=True)
            self._report()
            self._commit(wait=True)
        finally:
            if self._invoker is not None:
                self._invoker.close()
            self._consumer.close()

    def _idle_since(self, now: float) -> bool:
        """No record for ``until_idle`` seconds since the last record or assignment."""
        waited = now - self._last_activity
        return self.options.until_idle is not None and bool(self.progress.assigned) and waited >= self.options.until_idle

    def _buffered(self) -> int:
        return sum(len(buffer.records) for buffer in self._buffers.values())

    def _reached_max(self) -> bool:
        limit = self.options.max_records
        return limit is not None and self._taken + self._buffered() >= limit

    def _room(self) -> int:
        room = self.options.batch_size
        if self.options.max_records is not None:
            room = min(room, self.options.max_records - self._taken - self._buffered())
        return room

    def _timeout(self) -> float:
        """Until the first window closes on a partition free to take it; briefly, if all are busy."""
        due = [buffer.due for key, buffer in self._buffers.items() if key not in self._in_flight]
        if due:
            return max(0.0, min(due) - time.monotonic())
        return 0.01 if self._buffers else 0.1

    def _take(self, messages: list[Message], now: float) -> None:
        """Buffer records by partition; a fatal error stops the consumer."""
        for partition, run in groupby(messages, key=Message.partition):  # consume() yields partition runs
            run = list(run)
            kept = [message for message in run if message.error() is None]
            if len(kept) < len(run):
                for message in run:
                    error = message.error()
                    if error is not None and error.fatal():
                        raise KafkaError(f"Kafka consumer failed: {error}")
            if not kept:
                continue
            records = partition_records(kept)
            key = (records.topic, partition)
            buffer = self._buffers.get(key)
            if buffer is None:
                self._buffers[key] = _Buffer(records, now + self.options.batching_window)
            else:
                buffer.records.extend(records)
        self._last_activity = now

    def _dispatch(self, flush: bool) -> None:
        """Hand each full or due batch (with ``flush``, every batch) to a handler.

        A partition's batch waits until its previous batch is stored: one batch
        per partition at a time keeps each partition in order, as Lambda does.
        """
        assert self._invoker is not None, "dispatch runs inside run()"
        if self._failure is not None:
            raise self._failure
        now = time.monotonic()
        size = self.options.batch_size
        for key, buffer in list(self._buffers.items()):
            if key in self._in_flight or (not flush and len(buffer.records) < size and now < buffer.due):
                continue
            batch, rest = buffer.records.split(size)
            self._in_flight[key] = (self._invoker.submit(batch), batch.offsets[-1] + 1)
            self._taken += len(batch)
            if rest:
                self._buffers[key] = _Buffer(rest, now + self.options.batching_window)
            else:
                del self._buffers[key]

    def _await_handler(self) -> None:
        """Block until some handler finishes, and settle it."""
        wait([future for future, _ in self._in_flight.values()], return_when=FIRST_COMPLETED)
        self._settle(wait=False)

    def _settle(self, wait: bool) -> None:
        """Note what finished handlers stored; commit it without waiting for the broker."""
        done = [key for key, (future, _) in self._in_flight.items() if wait or future.done()]
        stored = [self._settle_one(key) for key in done]
        if any(stored):
            self._commit(wait=False)
        if self._failure is not None and not wait:
            raise self._failure

    def _settle_one(self, key: Partition) -> bool:
        """Wait for a partition's handler; once it has stored the batch, its offsets may be committed."""
        future, next_offset = self._in_flight.pop(key)
        try:
            result = future.result()
        except CancelledError:
            return False
        except Exception as exc:  # nothing of this batch is committed, so it will be read again
            self._failure = self._failure or exc
            return False
        self._stored[key] = next_offset
        self.progress.totals.add(result)
        return True

    def _commit(self, wait: bool, only: set[Partition] | None = None) -> None:
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
        for key in lost & self._in_flight.keys():
            self._settle_one(key)
        self._commit(wait=True, only=lost)
        for key in lost:
            self._stored.pop(key, None)
            self._buffers.pop(key, None)
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


def partition_records(messages: list[Message]) -> PartitionRecords:
    """One partition's run of messages as the columns its handler builds the MSK event from."""
    first = messages[0]
    stamps = [message.timestamp() for message in messages]
    return PartitionRecords(
        topic=first.topic(),
        partition=first.partition(),
        offsets=[message.offset() for message in messages],
        timestamps=[stamp for _, stamp in stamps],
        timestamp_types=["LOG_APPEND_TIME" if kind == TIMESTAMP_LOG_APPEND_TIME else "CREATE_TIME" for kind, _ in stamps],
        keys=[message.key() for message in messages],
        values=[message.value() for message in messages],
        headers=[message.headers() for message in messages],
    )
