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

This module is the Kafka shell (poll, commit, rebalance, lag); what makes a
batch and when is :mod:`parking.kafka.batching`. The choices it makes where
docs/METRICS.md leaves room are in docs/CHOICES.md, "Kafka consumer".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, cast

from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaException, Message, TopicPartition
from confluent_kafka import KafkaError as KafkaErrorCode

from parking.config import Settings
from parking.errors import KafkaError
from parking.ingest.batch import BatchResult, ingest_batch
from parking.ingest.files import IngestTotals
from parking.ingest.msk import Headers, PartitionRecords
from parking.ingest.sinks import Sink
from parking.kafka import LIBRDKAFKA_LOG
from parking.kafka.batching import READ_AHEAD, BatchingPolicy, Partition
from parking.kafka.invocations import Handler, Invoker, default_workers, paused_gc

__all__ = ["READ_AHEAD", "BatchConsumer", "ConsumeOptions", "ConsumeProgress", "partition_records"]

# Tansu sometimes holds a fetch for the whole fetch.wait.max.ms though records are
# there (a 200,000-record backlog drained at 165,000 records/s instead of 1,000,000
# at 100 ms); 10 ms bounds that stall. librdkafka stops fetching a partition whose
# local queue is full and by default waits 1 s to try again: with handlers behind,
# that stalled a 0.8 s drain by 0.6 s; fetch.queue.backoff.ms makes it 10 ms.
FAST_FETCH = {
    "fetch.wait.max.ms": 10,
    "fetch.queue.backoff.ms": 10,
}


def group_timing(session_timeout: float) -> dict[str, int]:
    """librdkafka's session timeout and heartbeat interval for a session of ``session_timeout`` seconds.

    A short session makes a group form sooner: Tansu holds a join for half of
    it (librdkafka's default of 45 s made it about 23 s; 6 s, about 3 s), and a
    member killed without leaving holds its partitions until it ends. A
    heartbeat every twelfth of it (500 ms of 6 s) leaves many chances to be late.
    """
    session = round(session_timeout * 1000)
    return {"session.timeout.ms": session, "heartbeat.interval.ms": max(1, session // 12)}


def fast_group(settings: Settings) -> dict[str, Any]:
    """The consumer's librdkafka settings for joining and fetching quickly: :data:`FAST_FETCH` and the session's."""
    return {**FAST_FETCH, **group_timing(settings.kafka_session_timeout_seconds)}


# Errors librdkafka reports through the error callback while no broker answers.
BROKER_DOWN = frozenset({KafkaErrorCode._ALL_BROKERS_DOWN, KafkaErrorCode._TRANSPORT, KafkaErrorCode._RESOLVE})

# A commit refused because the group has moved on: the partitions are another
# member's now (the classic protocol's codes, and KIP-848's member epochs).
REBALANCE_ERRORS = frozenset({
    KafkaErrorCode.REBALANCE_IN_PROGRESS,
    KafkaErrorCode.ILLEGAL_GENERATION,
    KafkaErrorCode.UNKNOWN_MEMBER_ID,
    KafkaErrorCode._ASSIGNMENT_LOST,
    KafkaErrorCode.STALE_MEMBER_EPOCH,
    KafkaErrorCode.FENCED_MEMBER_EPOCH,
})

# Seconds to wait for a first broker before giving up, unless told otherwise.
CONNECT_TIMEOUT = 30.0

# Seconds a stop waits for the broker: to confirm the last commits, then to see the consumer leave the group.
# librdkafka's own waits have no end while a broker is frozen (a synchronous commit, and closing with a
# commit outstanding, wait for it to answer); on a broker that answers both take milliseconds.
STOP_WAIT = 2.0


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
    connect_timeout: float | None = CONNECT_TIMEOUT


@dataclass
class ConsumeProgress:
    """What the consumer has done so far, reported every ``progress_every`` seconds."""

    totals: IngestTotals = field(default_factory=IngestTotals)
    lag: int | None = None
    started: float = field(default_factory=time.monotonic)
    assigned: set[int] = field(default_factory=set)
    # Partitions with a stored batch whose commit no broker confirmed by the end: read again by the next run.
    uncommitted: set[int] = field(default_factory=set)

    @property
    def records(self) -> int:
        return self.totals.records_in

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.records / elapsed if elapsed > 0 else 0.0


class BatchConsumer:
    """One member of a consumer group feeding the ingest path: the Kafka shell around a :class:`BatchingPolicy`.

    It polls, buffers what comes in the policy, hands the policy's ready
    batches to handlers, commits what they stored, follows rebalances and
    reports lag; the policy decides what is a batch and when.

    ``handler`` is the function Lambda would invoke: :func:`ingest_batch`
    unless another is given (a benchmark's empty one, say).

    With more than one worker its handlers run in processes started with
    ``spawn``: a script that calls :meth:`run` must do so under
    ``if __name__ == "__main__":``, as for any multiprocessing pool.

    :meth:`run` raises :class:`parking.errors.KafkaError` when no broker has
    answered for ``connect_timeout`` seconds since the start, or (with
    ``until_idle``) none answers after that long without a record, on a fatal
    consumer error, or when a commit fails for another reason than a rebalance;
    and whatever a handler raised (a batch it failed is not committed). Its
    stop waits for the broker :data:`STOP_WAIT` seconds at most; what it stored
    and could not commit in that time is in ``progress.uncommitted``.
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
        self.settings = settings or Settings.from_environment()
        self.on_progress = on_progress
        self.handler = handler
        self.progress = ConsumeProgress()
        self.policy = BatchingPolicy(options.batch_size, options.batching_window, max_records=options.max_records)
        self._in_flight: dict[Partition, tuple[Future[BatchResult], int]] = {}  # and the offset after the batch
        self._stored: dict[Partition, int] = {}
        # What was stored and no broker has confirmed committed yet; kept when a partition is lost, for the summary.
        self._unconfirmed: dict[Partition, int] = {}
        self._group_offsets: dict[Partition, int] = {}  # the group's committed offset when the partition came
        self._failure: Exception | None = None
        self._stopping = False
        self._closing = False
        self._last_activity = time.monotonic()
        self._invoker: Invoker | None = None
        self._reached_broker = False
        self._broker_error: KafkaErrorCode | None = None
        self._consumer = Consumer(
            {
                "bootstrap.servers": options.bootstrap_servers,
                "group.id": options.group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "logger": LIBRDKAFKA_LOG,
                "error_cb": self._on_error,
                "on_commit": self._on_commit,
                **fast_group(self.settings),
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
                                 on_lost=self._lost)
        try:
            self._poll()
            while self.policy.pending:  # what was read before the stop is handled, not dropped
                self._dispatch(flush=True)
                if self.policy.pending:
                    self._await_handler()
        except BaseException:
            with suppress(KafkaError):  # a commit that fails too must not hide why we stopped
                self._wind_down(cancel=True)
            raise
        self._wind_down(cancel=False)
        if self._failure is not None:
            raise self._failure
        return self.progress

    def _poll(self) -> None:
        started = self._last_activity = last_report = time.monotonic()
        while not self._stopping and not self.policy.reached_max():
            self._settle(wait=False)
            self._dispatch(flush=False)
            if self.policy.full():  # a handler must finish first
                if self._in_flight:
                    self._await_handler()
                else:
                    self._dispatch(flush=True)
                continue
            if not self._read() and self._idle_since(time.monotonic()):
                break
            now = time.monotonic()
            self._check_reached(now - started)
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
            messages = self._consumer.consume(num_messages=self.policy.room(),
                                              timeout=self.policy.wait(time.monotonic()))
            count = len(messages)
            if messages:
                self._take(messages, time.monotonic())
            del messages  # before collection resumes
        return count

    def _on_error(self, error: KafkaErrorCode) -> None:
        """librdkafka's error callback: remember the last broker error, for the message if none is reached."""
        if error.fatal():
            self._failure = self._failure or KafkaError(f"Kafka consumer failed: {error.str()}")
        elif error.code() in BROKER_DOWN:
            self._broker_error = error

    def _check_reached(self, elapsed: float) -> None:
        """Give up when no broker has answered since the start for ``connect_timeout`` seconds.

        A partition assigned or a record read proves a broker was reached; past
        the timeout, cluster metadata asked for directly settles it. Once one
        was reached, a broker that goes away later is retried without end.
        """
        if self._reached_broker or self.options.connect_timeout is None or elapsed < self.options.connect_timeout:
            return
        try:
            self._consumer.list_topics(timeout=1.0)
        except KafkaException as exc:
            reason = self._broker_error.str() if self._broker_error is not None else str(exc.args[0].str())
            raise KafkaError(f"no Kafka broker reachable at {self.options.bootstrap_servers} "
                             f"in {self.options.connect_timeout:g} s: {reason}") from None
        self._reached_broker = True

    def _wind_down(self, cancel: bool) -> None:
        """Let running handlers finish, commit what they stored, and leave the group, waiting
        :data:`STOP_WAIT` seconds at most for the broker."""
        try:
            if self._invoker is not None and cancel:
                self._invoker.close(cancel=True)
            self._settle(wait=True)
            self._report()
        finally:
            if self._invoker is not None:
                self._invoker.close()
            deadline = time.monotonic() + STOP_WAIT
            self._confirm_commits(deadline)
            self.progress.uncommitted = {partition for _, partition in self._unconfirmed}
            self._close(deadline)

    def _confirm_commits(self, deadline: float) -> None:
        """Commit what is stored and not yet confirmed, and wait until ``deadline`` at most for the broker to confirm.

        Asynchronously: a synchronous commit waits without end for a broker
        that does not answer (a frozen one). What is not confirmed by then is
        read again by the next run. Nothing more is read meanwhile.
        """
        with suppress(KafkaException):
            self._consumer.pause(self._consumer.assignment())
        with suppress(KafkaException, KafkaError):
            self._commit(wait=False)
            while any(key in self._unconfirmed for key in self._stored) and time.monotonic() < deadline:
                self._consumer.poll(min(0.05, max(0.0, deadline - time.monotonic())))  # serves the confirmations

    def _close(self, deadline: float) -> None:
        """Leave the group, waiting until ``deadline`` at most.

        librdkafka's close waits for the broker: 5 s for a frozen one to
        answer the LeaveGroup, and without end while a commit is outstanding.
        It runs in a thread of its own, left to finish or to end with the
        process; the group hands the partitions on after the session timeout.
        """
        self._closing = True
        raised: list[BaseException] = []

        def close() -> None:
            try:
                self._consumer.close()
            except BaseException as exc:  # noqa: BLE001 - raised again in the thread that waits for it
                raised.append(exc)

        closer = threading.Thread(target=close, name="kafka-close", daemon=True)
        closer.start()
        closer.join(max(0.0, deadline - time.monotonic()))
        if raised:
            raise raised[0]

    def _idle_since(self, now: float) -> bool:
        """No record for ``until_idle`` seconds since the last record or assignment, and a broker answers.

        The broker is asked once per idle spell (:meth:`_check_topic`): a
        topic it does not know never gets assigned, and a broker gone quiet
        sends no record either; each is said (:class:`KafkaError`) instead of
        waiting without end.
        """
        waited = now - self._last_activity
        if self.options.until_idle is None or waited < self.options.until_idle:
            return False
        self._check_topic()
        if not self.progress.assigned:
            self._last_activity = now  # asked again only after another idle spell, not at every poll
            return False
        return True

    def _check_topic(self) -> None:
        """:class:`KafkaError` when the broker answers that the topic does not exist, or, once one has
        answered, when none does now."""
        try:
            metadata = self._consumer.list_topics(self.options.topic, timeout=1.0)
        except KafkaException as exc:
            if not self._reached_broker:
                return  # none ever answered: the connect timeout speaks for it
            reason = self._broker_error.str() if self._broker_error is not None else str(exc.args[0].str())
            raise KafkaError(f"no Kafka broker reachable at {self.options.bootstrap_servers} after "
                             f"{self.options.until_idle:g} s without a record: {reason}") from None
        topic = metadata.topics.get(self.options.topic)
        if topic is not None and topic.error is not None and topic.error.code() == KafkaErrorCode.UNKNOWN_TOPIC_OR_PART:
            raise KafkaError(f"topic {self.options.topic!r} does not exist on {self.options.bootstrap_servers}")

    def _take(self, messages: list[Message], now: float) -> None:
        """Buffer records by partition; a fatal error stops the consumer."""
        for _, partition_run in groupby(messages, key=Message.partition):  # consume() yields partition runs
            run = list(partition_run)
            kept = [message for message in run if message.error() is None]
            if len(kept) < len(run):
                for message in run:
                    error = message.error()
                    if error is not None and error.fatal():
                        raise KafkaError(f"Kafka consumer failed: {error.str()}")
            if kept:
                self.policy.add(partition_records(kept), now)
                self._reached_broker = True
        self._last_activity = now

    def _dispatch(self, flush: bool) -> None:
        """Hand each batch the policy has ready (with ``flush``, every batch) to a handler."""
        assert self._invoker is not None, "dispatch runs inside run()"
        if self._failure is not None:
            raise self._failure
        for batch in self.policy.ready(time.monotonic(), flush=flush):
            self._in_flight[batch.partition] = (self._invoker.submit(batch.records), batch.next_offset)

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
        self.policy.settled(key)
        try:
            result = future.result()
        except CancelledError:
            return False
        except Exception as exc:  # nothing of this batch is committed, so it will be read again
            self._failure = self._failure or exc
            return False
        self._stored[key] = next_offset
        # The larger: a partition lost with a batch unconfirmed and given back stores from its last commit again,
        # and a smaller offset stored since does not cover that batch.
        self._unconfirmed[key] = max(next_offset, self._unconfirmed.get(key, next_offset))
        self.progress.totals.add(result)
        return True

    def _commit(self, wait: bool, only: set[Partition] | None = None) -> None:
        """Commit the next offset after what the handler stored, per partition, unless already confirmed.

        After each batch and at the end the commit is asynchronous, so polling
        goes on (the broker's confirmation comes to :meth:`_on_commit`); on a
        rebalance it waits, so nothing stored is left uncommitted.
        """
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in self._stored.items()
                   if (only is None or (topic, partition) in only) and (topic, partition) in self._unconfirmed]
        if not offsets:
            return
        try:
            if wait:  # the stub's overloads need a literal `asynchronous`
                self._confirmed(self._consumer.commit(offsets=offsets, asynchronous=False))
            else:
                self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            # Partitions already lost in a rebalance cannot be committed; their next
            # owner re-reads those records, and its objects overwrite ours.
            if not is_rebalance_error(exc):
                raise KafkaError(f"could not commit offsets: {exc}") from exc

    def _on_commit(self, error: KafkaErrorCode | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's commit callback: what the broker confirmed (a failed commit is sent again with the next)."""
        if error is None:
            self._confirmed(partitions)

    def _confirmed(self, partitions: list[TopicPartition]) -> None:
        """Note the offsets a broker confirmed committed: nothing stored before them is read again."""
        for p in partitions:
            key = (p.topic, p.partition)
            pending = self._unconfirmed.get(key)
            if p.error is None and pending is not None and pending <= p.offset:
                del self._unconfirmed[key]

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._reached_broker = True
        self.progress.assigned.update(p.partition for p in partitions)
        self._last_activity = time.monotonic()

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Commit what was stored; hand over buffered, unstored records uncommitted.

        Not when closing: the stop has committed what the broker would confirm.
        """
        if self._closing:
            return
        keys = self._hand_over(partitions)
        self._commit(wait=True, only=keys)
        self._forget(keys)

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """As a revoke, but commit nothing: the group already gave the partitions up.

        librdkafka says so when the session expired, most often because the
        broker is gone; a commit would wait for a coordinator that does not
        answer and then fail, which ended the run. What was stored and not yet
        committed is read again by the partitions' next owner, this member once
        the broker is back (at-least-once, as after any rebalance).
        """
        self._forget(self._hand_over(partitions))

    def _hand_over(self, partitions: list[TopicPartition]) -> set[Partition]:
        """Drop the partitions' buffered records and let their handlers finish; the partitions, as keys."""
        keys = {(p.topic, p.partition) for p in partitions}
        for key in self.policy.revoke(keys):
            self._settle_one(key)
        return keys

    def _forget(self, keys: set[Partition]) -> None:
        """Nothing of these partitions is this member's to commit or report any more."""
        for key in keys:
            self._stored.pop(key, None)
            self._group_offsets.pop(key, None)
        self.progress.assigned.difference_update(partition for _, partition in keys)

    def _report(self) -> None:
        """Tell ``on_progress``; nothing before a broker has answered, as there is nothing to tell."""
        if not self._reached_broker:
            return
        self.progress.lag = self._lag()
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def _lag(self) -> int | None:
        """Records on the broker not yet stored, over this member's partitions: the high watermark less
        the offset after the last batch stored.

        Not the consumer's position: it runs ahead of the handlers by what
        is read ahead (make demo-kafka's first line said lag 0 while none of
        its records was stored yet). Where this member has stored nothing
        (in this run, or since a rebalance gave it the partition) storing
        resumes at the group's committed offset, asked once per assignment,
        or at the log's start when the group never committed one
        (``auto.offset.reset`` is earliest). None (unknown, shown as ``?``)
        before a partition is assigned and fetched from: a lag of 0 then
        would say nothing waits while every record of the topic may.
        """
        try:
            assignment = self._consumer.assignment()
            if not assignment:
                return None
            unasked = [p for p in assignment
                       if (p.topic, p.partition) not in self._stored and (p.topic, p.partition) not in self._group_offsets]
            if unasked:
                self._group_offsets.update(((p.topic, p.partition), p.offset)
                                           for p in self._consumer.committed(unasked, timeout=1.0))
            lag = 0
            for partition in assignment:
                low, high = self._consumer.get_watermark_offsets(partition, cached=True)
                if high < 0:
                    return None  # not fetched yet: unknown, not zero
                key = (partition.topic, partition.partition)
                start = self._stored.get(key, self._group_offsets.get(key, -1))
                if start < 0:
                    start = max(low, 0)
                lag += max(high - start, 0)
            return lag
        except KafkaException:
            return None


def is_rebalance_error(exc: KafkaException) -> bool:
    """Whether a commit failed because the group moved on: the partitions are another member's now."""
    error = exc.args[0] if exc.args else None
    return isinstance(error, KafkaErrorCode) and error.code() in REBALANCE_ERRORS


def partition_records(messages: list[Message]) -> PartitionRecords:
    """One partition's run of messages as the columns its handler builds the MSK event from."""
    first = messages[0]
    stamps = [message.timestamp() for message in messages]
    topic, partition = first.topic(), first.partition()
    assert topic is not None and partition is not None  # set on every consumed record (None: a produced one)
    return PartitionRecords(
        topic=topic,
        partition=partition,
        offsets=cast("list[int]", [message.offset() for message in messages]),  # consumed: each has an offset
        timestamps=[stamp for _, stamp in stamps],
        timestamp_types=["LOG_APPEND_TIME" if kind == TIMESTAMP_LOG_APPEND_TIME else "CREATE_TIME" for kind, _ in stamps],
        keys=[message.key() for message in messages],
        values=[message.value() for message in messages],
        # a consumed record's headers are a list of (key, bytes) pairs, or None (a dict only when producing)
        headers=cast("list[Headers | None]", [message.headers() for message in messages]),
    )
