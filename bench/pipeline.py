"""Draining a Kafka backlog through `consume` against its floor.

Starts a Tansu broker, produces a backlog of 200,000 simulated events to a
3-partition topic, then drains it twice in the same run: through the
consumer `parking-cli consume` runs (poll, MSK event, handler, local sink,
commit), and with a bare confluent-kafka consumer that does nothing with what
it reads, alternating, three rounds each, medians compared. Rates count from the first record received to the last, so the
consumer-group join is left out of both. R = floor rate / pipeline rate.
Run: ``.venv/bin/python bench/pipeline.py [EVENTS]``.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from parking.consumer import FAST_GROUP, BatchConsumer, ConsumeOptions  # noqa: E402
from parking.producer import produce  # noqa: E402
from parking.simulate import lines, plan  # noqa: E402
from parking.sinks import LocalSink  # noqa: E402
from scripts.tansu_broker import spawn, stop  # noqa: E402

TOPIC = "parking-events"
ROUNDS = 3


def backlog(bootstrap: str, events: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1)])[TOPIC].result()
    stream = lines(plan(2000, 60, date(2026, 9, 1), now=datetime(2026, 11, 1, tzinfo=timezone.utc)))
    produce(itertools.islice(stream, events), bootstrap, TOPIC)


def floor_rate(bootstrap: str, events: int, group: str) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", **FAST_GROUP})
    consumer.subscribe([TOPIC])
    received, first = 0, None
    while received < events:
        messages = consumer.consume(num_messages=10_000, timeout=1.0)
        if messages and first is None:
            first = time.perf_counter()
        received += len(messages)
    elapsed = time.perf_counter() - first  # the last record is in hand
    consumer.close()
    return received / elapsed


class TimedConsumer(BatchConsumer):
    """The production consumer, noting when its first batch arrived and its last was stored."""

    first: float | None = None
    last: float = 0.0

    def _handle(self, batch) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        super()._handle(batch)
        self.last = time.perf_counter()


def pipeline_rate(bootstrap: str, events: int, group: str) -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        options = ConsumeOptions(bootstrap, TOPIC, group, batch_size=10_000, batching_window=0.5,
                                 max_records=events)
        consumer = TimedConsumer(options, LocalSink(data_dir))
        progress = consumer.run()
        elapsed = consumer.last - consumer.first
    assert progress.records == events
    return progress.records / elapsed


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    broker, bootstrap = spawn()
    try:
        backlog(bootstrap, events)
        floors, pipelines = [], []
        for round_ in range(ROUNDS):  # alternate, so both see the same machine
            floors.append(floor_rate(bootstrap, events, f"bench-floor-{round_}"))
            pipelines.append(pipeline_rate(bootstrap, events, f"bench-pipeline-{round_}"))
        print("rounds: floor " + ", ".join(f"{r:,.0f}" for r in floors)
              + "; pipeline " + ", ".join(f"{r:,.0f}" for r in pipelines) + " events/s")
        floor, pipeline = statistics.median(floors), statistics.median(pipelines)
    finally:
        stop(broker)
    print(f"pipeline: {events} events, {pipeline:,.0f} events/s, floor {floor:,.0f} events/s, "
          f"ratio {floor / pipeline:.2f}")


if __name__ == "__main__":
    main()
