"""Draining a Kafka backlog through `consume` against its floor.

Starts a Tansu broker, produces a backlog of 200,000 simulated events to a
3-partition topic, then drains it twice in the same run: through the
consumer `parking-cli consume` runs (poll, MSK event, handler, local sink,
commit), and with a bare confluent-kafka consumer that does nothing with what
it reads, alternating, three rounds each, medians compared.

The pipeline runs twice a round: with its data directory on the machine's
disk, as `consume` runs by default (the last line), and on tmpfs
(/dev/shm), which leaves out what the disk charges to create ~900 small files
and sync them. On a virtual disk that charge can dominate: on the 2-core
machine this was measured on, creating one file took ~0.8 ms of kernel time.

A fourth drain a round runs the same consumer with an empty handler: it
builds each batch's MSK event and hands it over, and the handler only counts
its records. Its ratio is the best any handler could reach on this machine,
so it splits R into what the consumer costs and what ingest costs.

Both clocks start when the group hands the consumer its partitions, so the
group join is left out of both and reading the backlog off the broker is in
both. The floor's stops when its last record is in hand; the pipeline's when
the offset after its last record is committed. (A clock started at the first
record returned would leave out the fetch, and most of the backlog would
already sit in librdkafka's local queue by then.) R = floor rate / pipeline rate.
A fifth drain a round runs the ingest path without the current-state
table's write (``ingest_without_table``), so the table's cost to the drain
is measured in the same run. The backlog ends now, so most of it is recent
enough for the table to keep (events older than its 7 days and two
lookbacks cost it nothing).
Run: ``.venv/bin/python bench/pipeline.py [EVENTS]``.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from parking.config import Settings  # noqa: E402
from parking.ingest.batch import BatchResult, ingest_batch  # noqa: E402
from parking.ingest.sinks import LocalSink, Sink  # noqa: E402
from parking.kafka.consumer import BatchConsumer, ConsumeOptions, fast_group  # noqa: E402
from parking.kafka.invocations import Handler  # noqa: E402
from parking.kafka.producer import produce  # noqa: E402
from parking.simulate import lines, plan  # noqa: E402
from scripts.tansu_broker import create_topic, spawn, stop  # noqa: E402

TOPIC = "parking-events"
ROUNDS = 3
TMPFS = "/dev/shm"


def backlog(bootstrap: str, events: int) -> None:
    """The simulator's 2,000 bays over the 12 days up to now: a backlog after an outage, most of it recent
    enough for the current-state table to keep (its last 7 days and two lookbacks)."""
    create_topic(bootstrap, TOPIC)
    now = datetime.now(timezone.utc)
    stream = lines(plan(2000, 13, (now - timedelta(days=12)).date(), now=now))
    produce(itertools.islice(stream, events), bootstrap, TOPIC)


def floor_rate(bootstrap: str, events: int, group: str) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", **fast_group(Settings.from_environment())})
    assigned: list[float] = []
    consumer.subscribe([TOPIC], on_assign=lambda *_: assigned.append(time.perf_counter()))
    received = 0
    while received < events:
        received += len(consumer.consume(num_messages=10_000, timeout=1.0))
    elapsed = time.perf_counter() - assigned[0]  # the last record is in hand
    consumer.close()
    return received / elapsed


class TimedConsumer(BatchConsumer):
    """The production consumer, noting when it got its partitions and when it committed the last offset."""

    assigned: float | None = None
    committed: float = 0.0

    def _assigned(self, consumer, partitions) -> None:
        self.assigned = self.assigned or time.perf_counter()
        super()._assigned(consumer, partitions)

    def _commit(self, wait: bool, only=None) -> None:
        super()._commit(wait, only)
        if wait and only is None:  # the final commit, before it leaves the group
            self.committed = time.perf_counter()


def count_records(event: Mapping[str, Any], sink: Sink, settings: Settings) -> BatchResult:
    """An empty handler: takes the MSK event and stores nothing."""
    records = sum(len(run) for run in event["records"].values())
    return BatchResult(records, records, 0, 0, (), {}, 0.0)


def _no_table(*_: Any, **__: Any) -> None:
    return None


def ingest_without_table(event: Mapping[str, Any], sink: Sink, settings: Settings) -> BatchResult:
    """The ingest path with the current-state table's write left out: what the table costs the drain."""
    import parking.ingest.batch as batch

    batch.record_batch = _no_table
    return batch.ingest_batch(event, sink, settings)


def pipeline_rate(bootstrap: str, events: int, group: str, under: str | None = None,
                  handler: Handler = ingest_batch) -> float:
    with tempfile.TemporaryDirectory(dir=under) as data_dir:
        options = ConsumeOptions(bootstrap, TOPIC, group, batch_size=10_000, batching_window=0.5,
                                 max_records=events)
        consumer = TimedConsumer(options, LocalSink(data_dir), handler=handler)
        progress = consumer.run()
    assert progress.records == events
    return progress.records / (consumer.committed - consumer.assigned)


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    broker, bootstrap = spawn()
    try:
        backlog(bootstrap, events)
        tmpfs = TMPFS if os.path.isdir(TMPFS) else None
        floors, empties, pipelines, in_memory, untabled = [], [], [], [], []
        for round_ in range(ROUNDS):  # alternate, so all see the same machine
            floors.append(floor_rate(bootstrap, events, f"bench-floor-{round_}"))
            empties.append(pipeline_rate(bootstrap, events, f"bench-empty-{round_}", tmpfs, count_records))
            pipelines.append(pipeline_rate(bootstrap, events, f"bench-pipeline-{round_}"))
            untabled.append(pipeline_rate(bootstrap, events, f"bench-untabled-{round_}", None, ingest_without_table))
            if tmpfs:
                in_memory.append(pipeline_rate(bootstrap, events, f"bench-tmpfs-{round_}", tmpfs))
        print(f"workers: {ConsumeOptions(bootstrap).workers} handler processes, batches of up to 10,000")
        print(f"rounds (events/s): floor {rates(floors)}; empty handler {rates(empties)}; "
              f"pipeline {rates(pipelines)}; without the table {rates(untabled)}"
              + (f"; pipeline on tmpfs {rates(in_memory)}" if tmpfs else ""))
        floor, pipeline = statistics.median(floors), statistics.median(pipelines)
    finally:
        stop(broker)
    empty = statistics.median(empties)
    print(f"consumer, empty handler: {empty:,.0f} events/s, ratio {floor / empty:.2f} (the best any handler can reach)")
    if tmpfs:
        memory = statistics.median(in_memory)
        print(f"pipeline on tmpfs: {memory:,.0f} events/s, ratio {floor / memory:.2f}")
    without = statistics.median(untabled)
    print(f"pipeline without the current-state table: {without:,.0f} events/s, ratio {floor / without:.2f}; "
          f"with it {without / pipeline:.2f}x the time")
    print(f"pipeline: {events} events, {pipeline:,.0f} events/s, floor {floor:,.0f} events/s, "
          f"ratio {floor / pipeline:.2f}")


def rates(figures: list[float]) -> str:
    return ", ".join(f"{figure:,.0f}" for figure in figures)


if __name__ == "__main__":
    main()
