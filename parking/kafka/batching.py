"""When a partition's records become a batch: the MSK trigger's batching rules, with no Kafka in them.

Lambda's MSK event source mapping hands a partition's records to the function
once ``batch_size`` have gathered or ``batching_window`` seconds after the
first of them, and invokes it for one partition at a time per batch, so each
partition stays in order. :class:`BatchingPolicy` keeps those rules for the
consumer (:mod:`parking.kafka.consumer`, the Kafka shell around it):

* per-partition buffers, each with the instant its window closes (``due``);
* a batch is taken when it is full or due, or on a flush (stopping);
* one batch in flight per partition: its next waits until it is settled;
* read-ahead: at most ``read_ahead`` batches' worth of records buffered, so
  one partition's backlog cannot crowd out the others or grow without bound;
* ``max_records``: nothing read beyond it;
* on revoke, the lost partitions' buffered records are dropped, unstored and
  uncommitted, so their next owner reads them again.

Time is an argument (``now``, seconds on any monotonic clock), so every rule
is tested with a fake clock and no broker (tests/test_batching.py). The
choices (read-ahead, one batch in flight) are in docs/CHOICES.md, "Kafka
consumer".
"""

from __future__ import annotations

from dataclasses import dataclass

from parking.ingest.msk import PartitionRecords

Partition = tuple[str, int]  # (topic, partition)

# How far, in batches, the reader may run ahead of the handlers. While one
# partition's batch is handled its next ones wait here, and reading goes on to
# reach the other partitions: a broker may send one partition's whole backlog
# before the next's (Tansu does). Eight batches drained a 200,000-record backlog
# in 1.1 s where two took 1.7 s.
READ_AHEAD = 8

# How long a poll may wait when every buffered partition has a batch in flight
# (a handler will finish soon), and when nothing is buffered at all.
BUSY_POLL = 0.01
IDLE_POLL = 0.1


@dataclass
class _Buffer:
    """One partition's records waiting for a handler, and when its batching window closes.

    Records wait as columns of bytes and ints, not as Kafka messages: those are
    objects the cycle collector would scan again and again while they wait.
    """

    records: PartitionRecords
    due: float


@dataclass(frozen=True)
class Batch:
    """One partition's batch for a handler, and the offset to commit once it is stored."""

    partition: Partition
    records: PartitionRecords

    @property
    def next_offset(self) -> int:
        return self.records.offsets[-1] + 1


class BatchingPolicy:
    """Buffers records by partition and says which batches are ready, and when.

    ``batch_size`` >= 1 records, ``batching_window`` >= 0 seconds (not NaN), ``read_ahead``
    >= 1 batches, ``max_records`` >= 1 or None (no limit). Raises ``ValueError``
    on anything else.
    """

    def __init__(self, batch_size: int, batching_window: float, read_ahead: int = READ_AHEAD,
                 max_records: int | None = None) -> None:
        if batch_size < 1 or not batching_window >= 0 or read_ahead < 1 or (max_records is not None and max_records < 1):
            raise ValueError(f"invalid batching: size {batch_size}, window {batching_window}, "
                             f"read-ahead {read_ahead}, max records {max_records}")
        self.batch_size = batch_size
        self.batching_window = batching_window
        self.read_ahead = read_ahead
        self.max_records = max_records
        self._buffers: dict[Partition, _Buffer] = {}
        self._in_flight: set[Partition] = set()
        self.taken = 0  # records handed out in batches

    @property
    def buffered(self) -> int:
        """Records read and not yet handed out."""
        return sum(len(buffer.records) for buffer in self._buffers.values())

    @property
    def pending(self) -> bool:
        """Whether any record is buffered."""
        return bool(self._buffers)

    @property
    def in_flight(self) -> frozenset[Partition]:
        """The partitions whose batch is with a handler."""
        return frozenset(self._in_flight)

    def add(self, records: PartitionRecords, now: float) -> None:
        """Buffer a partition's next records; a new buffer's window closes ``batching_window`` from ``now``."""
        if not len(records):
            return
        key = (records.topic, records.partition)
        buffer = self._buffers.get(key)
        if buffer is None:
            self._buffers[key] = _Buffer(records, now + self.batching_window)
        else:
            buffer.records.extend(records)

    def ready(self, now: float, flush: bool = False) -> list[Batch]:
        """Take every batch that is full or due (with ``flush``, every batch) of a partition not in flight.

        Each batch holds at most ``batch_size`` records; a partition's rest stays
        buffered with a new window from ``now``. The partitions taken are in
        flight until :meth:`settled`.
        """
        batches = []
        for key, buffer in list(self._buffers.items()):
            if key in self._in_flight:
                continue
            if not flush and len(buffer.records) < self.batch_size and now < buffer.due:
                continue
            batch, rest = buffer.records.split(self.batch_size)
            batches.append(Batch(key, batch))
            self._in_flight.add(key)
            self.taken += len(batch)
            if rest:
                self._buffers[key] = _Buffer(rest, now + self.batching_window)
            else:
                del self._buffers[key]
        return batches

    def settled(self, partition: Partition) -> None:
        """The partition's batch is done with (stored or not): its next batch may go."""
        self._in_flight.discard(partition)

    def revoke(self, partitions: set[Partition]) -> set[Partition]:
        """Drop the lost partitions' buffered records; which of them have a batch in flight.

        The caller lets those batches finish and commits what they stored.
        """
        for key in partitions:
            self._buffers.pop(key, None)
        return partitions & self._in_flight

    def full(self) -> bool:
        """Read-ahead reached: read no more until a batch is handed out or settled."""
        return self.buffered >= self.read_ahead * self.batch_size

    def reached_max(self) -> bool:
        """``max_records`` have been read (handed out or buffered)."""
        return self.max_records is not None and self.taken + self.buffered >= self.max_records

    def room(self) -> int:
        """How many records the next read may bring: one batch, less what ``max_records`` leaves."""
        room = self.batch_size
        if self.max_records is not None:
            room = min(room, self.max_records - self.taken - self.buffered)
        return max(0, room)

    def wait(self, now: float) -> float:
        """Seconds a read may block: until the first window closes on a partition free to take it.

        Briefly (``BUSY_POLL``) if every buffered partition is in flight, and
        ``IDLE_POLL`` if nothing is buffered.
        """
        due = [buffer.due for key, buffer in self._buffers.items() if key not in self._in_flight]
        if due:
            return max(0.0, min(due) - now)
        return BUSY_POLL if self._buffers else IDLE_POLL
