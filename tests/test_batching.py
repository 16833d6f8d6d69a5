"""The consumer's batching policy, with a fake clock and no broker (parking/kafka/batching.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parking.ingest.msk import PartitionRecords
from parking.kafka.batching import BUSY_POLL, IDLE_POLL, BatchingPolicy

TOPIC = "parking-events"


def records(partition: int, first: int, count: int) -> PartitionRecords:
    """``count`` records of a partition, offsets from ``first``."""
    offsets = list(range(first, first + count))
    return PartitionRecords(TOPIC, partition, offsets, [0] * count, ["CREATE_TIME"] * count, [None] * count,
                            [str(offset).encode() for offset in offsets], [None] * count)


def offsets(batches) -> dict[int, list[list[int]]]:
    by_partition: dict[int, list[list[int]]] = {}
    for batch in batches:
        by_partition.setdefault(batch.partition[1], []).append(batch.records.offsets)
    return by_partition


@pytest.fixture
def policy() -> BatchingPolicy:
    return BatchingPolicy(batch_size=10, batching_window=5.0)


@pytest.mark.parametrize(
    ("count", "at", "flush", "taken"),
    [
        (3, 4.9, False, []),  # window still open, batch not full
        (3, 5.0, False, [[0, 1, 2]]),  # window closed: due
        (10, 0.0, False, [list(range(10))]),  # full at once
        (25, 0.0, False, [list(range(10))]),  # full: one batch of batch_size, the rest waits
        (3, 0.0, True, [[0, 1, 2]]),  # flush takes what is there
    ],
    ids=["open-window", "due", "full", "over-full", "flush"],
)
def test_a_batch_is_taken_when_full_or_due_or_flushed(policy, count, at, flush, taken) -> None:
    policy.add(records(0, 0, count), now=0.0)
    assert offsets(policy.ready(at, flush=flush)).get(0, []) == taken


def test_the_window_starts_at_a_buffers_first_record_not_its_latest(policy) -> None:
    policy.add(records(0, 0, 2), now=0.0)
    policy.add(records(0, 2, 2), now=4.0)
    assert offsets(policy.ready(5.0)) == {0: [[0, 1, 2, 3]]}


def test_one_batch_in_flight_per_partition_until_settled(policy) -> None:
    policy.add(records(0, 0, 25), now=0.0)
    assert offsets(policy.ready(0.0)) == {0: [list(range(10))]}
    assert policy.ready(100.0, flush=True) == [], "the next batch waits for the first"
    policy.settled((TOPIC, 0))
    assert offsets(policy.ready(0.0)) == {0: [list(range(10, 20))]}


def test_the_rest_of_a_split_buffer_gets_a_new_window(policy) -> None:
    policy.add(records(0, 0, 13), now=0.0)
    policy.ready(1.0)
    policy.settled((TOPIC, 0))
    assert policy.ready(5.9) == [], "the 3 left over wait a full window from the split"
    assert offsets(policy.ready(6.0)) == {0: [[10, 11, 12]]}


def test_partitions_are_batched_independently(policy) -> None:
    policy.add(records(0, 0, 10), now=0.0)
    policy.add(records(1, 0, 3), now=0.0)
    policy.add(records(2, 0, 3), now=3.0)
    assert offsets(policy.ready(0.0)) == {0: [list(range(10))]}
    assert offsets(policy.ready(5.0)) == {1: [[0, 1, 2]]}
    assert offsets(policy.ready(8.0)) == {2: [[0, 1, 2]]}
    assert policy.in_flight == {(TOPIC, 0), (TOPIC, 1), (TOPIC, 2)}


def test_a_batch_offers_the_offset_to_commit_after_it(policy) -> None:
    policy.add(records(0, 40, 10), now=0.0)
    (batch,) = policy.ready(0.0)
    assert batch.next_offset == 50


@pytest.mark.parametrize(
    ("buffered", "read_ahead", "full"),
    [(79, 8, False), (80, 8, True), (10, 1, True), (9, 1, False)],
)
def test_read_ahead_bounds_what_is_buffered(buffered, read_ahead, full) -> None:
    policy = BatchingPolicy(batch_size=10, batching_window=5.0, read_ahead=read_ahead)
    policy.add(records(0, 0, buffered), now=0.0)
    assert policy.full() is full


def test_revoke_drops_what_was_only_buffered_and_names_what_is_in_flight(policy) -> None:
    policy.add(records(0, 0, 15), now=0.0)
    policy.add(records(1, 0, 4), now=0.0)
    policy.add(records(2, 0, 4), now=0.0)
    policy.ready(0.0)  # partition 0's first 10 go to a handler
    in_flight = policy.revoke({(TOPIC, 0), (TOPIC, 1)})
    assert in_flight == {(TOPIC, 0)}
    assert policy.buffered == 4, "only partition 2's records are kept"
    policy.settled((TOPIC, 0))
    assert offsets(policy.ready(0.0, flush=True)) == {2: [[0, 1, 2, 3]]}


@pytest.mark.parametrize(
    ("max_records", "added", "room", "reached"),
    [(None, 0, 10, False), (25, 0, 10, False), (25, 20, 5, False), (25, 25, 0, True)],
)
def test_max_records_limits_what_is_read(max_records, added, room, reached) -> None:
    policy = BatchingPolicy(batch_size=10, batching_window=5.0, max_records=max_records)
    if added:
        policy.add(records(0, 0, added), now=0.0)
    policy.ready(0.0)  # what is handed out still counts
    assert policy.room() == room
    assert policy.reached_max() is reached


@pytest.mark.parametrize(
    ("setup", "now", "wait"),
    [
        ("nothing", 0.0, IDLE_POLL),
        ("buffered at 0", 2.0, 3.0),  # until the window closes at 5
        ("buffered at 0", 7.0, 0.0),  # already due: do not block
        ("in flight only", 0.0, BUSY_POLL),
    ],
)
def test_a_read_waits_until_the_first_window_closes(policy, setup, now, wait) -> None:
    if setup != "nothing":
        policy.add(records(0, 0, 13), now=0.0)
    if setup == "in flight only":
        policy.ready(0.0)  # 10 go, 3 stay buffered behind them
    assert policy.wait(now) == pytest.approx(wait)


@pytest.mark.parametrize(
    "arguments",
    [dict(batch_size=0, batching_window=1.0), dict(batch_size=1, batching_window=-1.0),
     dict(batch_size=1, batching_window=float("nan")), dict(batch_size=1, batching_window=1.0, read_ahead=0),
     dict(batch_size=1, batching_window=1.0, max_records=0)],
)
def test_invalid_settings_are_refused(arguments) -> None:
    with pytest.raises(ValueError, match="invalid batching"):
        BatchingPolicy(**arguments)


# A run of steps: records arrive on a partition, time passes, a handler finishes, or partitions are revoked.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 2), st.integers(1, 30)),
        st.tuples(st.just("tick"), st.floats(0, 3)),
        st.tuples(st.just("settle"), st.integers(0, 2)),
        st.tuples(st.just("revoke"), st.sets(st.integers(0, 2), max_size=2)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, batch_size=st.integers(1, 12), window=st.floats(0, 4))
def test_batches_keep_each_partitions_order_and_lose_nothing_not_revoked(steps, batch_size, window) -> None:
    policy = BatchingPolicy(batch_size=batch_size, batching_window=window)
    now = 0.0
    next_offset = {0: 0, 1: 0, 2: 0}
    dropped: set[tuple[int, int]] = set()
    handed: dict[int, list[int]] = {0: [], 1: [], 2: []}
    waiting = {0: 0, 1: 0, 2: 0}  # a model of each partition's buffer: how many records, and since when
    since = {0: 0.0, 1: 0.0, 2: 0.0}
    busy: set[int] = set()  # partitions with a batch handed out and not settled

    def take(flush: bool = False) -> None:
        for batch in policy.ready(now, flush=flush):
            partition = batch.partition[1]
            assert partition not in busy, "two batches of one partition at once"
            busy.add(partition)
            assert 1 <= len(batch.records) <= batch_size
            assert flush or len(batch.records) == batch_size or now >= since[partition] + window, "handed out early"
            handed[partition].extend(batch.records.offsets)
            waiting[partition] -= len(batch.records)
            since[partition] = now  # what is left waits a new window

    for step in steps:
        if step[0] == "add":
            _, partition, count = step
            if not waiting[partition]:
                since[partition] = now
            policy.add(records(partition, next_offset[partition], count), now)
            waiting[partition] += count
            next_offset[partition] += count
        elif step[0] == "tick":
            now += step[1]
        elif step[0] == "settle":
            policy.settled((TOPIC, step[1]))
            busy.discard(step[1])
        else:
            lost = {(TOPIC, partition) for partition in step[1]}
            in_flight_before = policy.in_flight
            assert policy.revoke(lost) == lost & in_flight_before
            for partition in step[1]:
                dropped.update((partition, offset) for offset in range(next_offset[partition])
                               if offset not in handed[partition])
                waiting[partition] = 0
        in_flight_before = policy.in_flight
        take()
        assert in_flight_before <= policy.in_flight, "a partition in flight stays so until settled"
        assert policy.buffered == sum(waiting.values())
    while policy.pending:
        for partition in range(3):
            policy.settled((TOPIC, partition))
        busy.clear()
        take(flush=True)

    for partition, got in handed.items():
        assert len(got) == len(set(got)), f"partition {partition}: a record handed out twice"
        kept = [offset for offset in range(next_offset[partition]) if (partition, offset) not in dropped]
        assert got == kept, f"partition {partition}: every record not revoked is handed out once, in order"
