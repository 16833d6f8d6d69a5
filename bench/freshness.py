"""Freshness: how soon after a car moves the live answers show it, with `consume` running.

Starts a Tansu broker and, for each batching window, a 3-partition topic and
`parking-cli consume` on it (a subprocess, as an operator runs it, with its
default workers and batch size). A producer sends events at a steady
``RATE`` per second (a busy city) for ``SECONDS``, each stamped with the
moment it is produced and keyed by spot. Every ``SAMPLE_EVERY``-th event is
sampled; meanwhile the live answer `status` (``parking.state.live.live_answer``,
read from the current-state table that `consume`'s ingest path keeps in
its data directory; METRICS.md section 8) is asked again and again, and a
sample's freshness is the time from its produce until a `status` answer
that shows its spot's ``last_event`` at or after the event's timestamp (the
clock stops when that answer is in hand, so the answer's own time is in the
figure). The four live answers read the same rows of the table, so what
holds for `status` holds for `availability`, `overstays` and `alerts`.
With ``events`` as the second argument it asks `status` through the events
(DuckDB over the lake) instead, as before the table.

Runs with the batching window `consume` defaults to and with the one the
deployed MSK trigger uses (``mskBatchingWindowSeconds`` in serverless.yml),
that line last. A batch can wait a whole window before it is handled, so the
baseline is W + 1 s (the window plus a second to store it and query it):
R = p95 / (W + 1 s), target R <= 1.

Run: ``.venv/bin/python bench/freshness.py [SECONDS] [table|events]``.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pandas as pd
import yaml
from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from parking import queries  # noqa: E402
from parking.analytics.engines import DuckDBEngine  # noqa: E402
from parking.cli.main import cli  # noqa: E402
from parking.config import Settings  # noqa: E402
from parking.state.live import live_answer  # noqa: E402
from scripts.tansu_broker import create_topic, spawn, stop  # noqa: E402

RATE = 200  # events per second
SECONDS = 20.0  # of steady production per window
SAMPLE_EVERY = 20  # events: ten samples a second
SPOTS = 2000
CLI = str(Path(sys.executable).with_name("parking-cli"))
SOURCE = "table"  # or "events": status through DuckDB over the lake


def deployed_window() -> float:
    """The batching window the deployed MSK trigger uses, from serverless.yml's default stage parameters."""
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    config = yaml.load((ROOT / "serverless.yml").read_text(), Loader=loader)
    return float(config["params"]["default"]["mskBatchingWindowSeconds"])


def default_window() -> float:
    """What `consume --batching-window` defaults to."""
    [option] = [param for param in cli.commands["consume"].params if param.name == "batching_window"]
    return float(option.default)


@dataclass
class Samples:
    """Sampled events not yet seen in `status`, and the freshness of those seen."""

    pending: dict[str, list[tuple[pd.Timestamp, float]]] = field(default_factory=dict)  # spot: (event time, sent)
    seen: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, spot: str, stamp: pd.Timestamp, sent: float) -> None:
        with self.lock:
            self.pending.setdefault(spot, []).append((stamp, sent))

    def check(self, frame: pd.DataFrame, answered: float) -> None:
        """Settle every pending sample whose spot's ``last_event`` has reached it."""
        last = dict(zip(frame["spot_id"], frame["last_event"], strict=True))
        with self.lock:
            for spot in list(self.pending):
                if spot not in last:
                    continue
                waiting = self.pending[spot]
                self.seen.extend(answered - sent for stamp, sent in waiting if last[spot] >= stamp)
                waiting[:] = [(stamp, sent) for stamp, sent in waiting if last[spot] < stamp]
                if not waiting:
                    del self.pending[spot]

    @property
    def waiting(self) -> int:
        with self.lock:
            return sum(len(waiting) for waiting in self.pending.values())


def produce_steadily(bootstrap: str, topic: str, samples: Samples, done: threading.Event) -> int:
    """RATE events a second for SECONDS, each stamped as it is produced; every SAMPLE_EVERY-th sampled."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    start = time.time()
    sent = 0
    try:
        while sent < RATE * SECONDS:
            due = start + sent / RATE
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            now = time.time()
            stamp = datetime.fromtimestamp(now, timezone.utc)
            spot = f"F{sent % SPOTS:04d}"
            text = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
            status = "occupied" if (sent // SPOTS) % 2 == 0 else "free"
            value = orjson.dumps({"spot_id": spot, "status": status, "timestamp": text})
            if sent % SAMPLE_EVERY == 0:
                samples.add(spot, pd.Timestamp(text), now)
            producer.produce(topic, value=value, key=spot.encode())
            producer.poll(0)
            sent += 1
        producer.flush(30)
    finally:
        done.set()
    return sent


def start_consumer(bootstrap: str, topic: str, window: float, data_dir: str) -> subprocess.Popen[str]:
    """`parking-cli consume`, returned once it holds partitions."""
    process = subprocess.Popen(
        [CLI, "consume", "--bootstrap-servers", bootstrap, "--topic", topic, "--group", f"fresh-{topic}",
         "--batching-window", f"{window:g}", "--data-dir", data_dir],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    for line in process.stderr:
        if line.startswith("consumed ") and "partitions []" not in line:
            threading.Thread(target=process.stderr.read, daemon=True).start()  # keep the pipe drained
            return process
    raise RuntimeError(f"consume exited with {process.wait()} before it was assigned partitions")


def measure(bootstrap: str, window: float) -> list[float]:
    topic = f"fresh-{str(window).replace('.', '-')}"
    create_topic(bootstrap, topic)
    with tempfile.TemporaryDirectory() as data_dir:
        consumer = start_consumer(bootstrap, topic, window, data_dir)
        samples, done = Samples(), threading.Event()
        producer = threading.Thread(target=produce_steadily, args=(bootstrap, topic, samples, done))
        producer.start()
        engine = DuckDBEngine(data_dir, threads=1)
        settings = Settings(data_dir=Path(data_dir))
        deadline = None
        try:
            while not done.is_set() or samples.waiting:
                if done.is_set():
                    deadline = deadline or time.time() + window + 30
                    if time.time() > deadline:
                        raise RuntimeError(f"{samples.waiting} samples never showed in status")
                if SOURCE == "table":
                    frame = live_answer("status", settings)[1]
                else:
                    frame = queries.status(engine=engine)
                samples.check(frame, time.time())
        finally:
            producer.join()
            consumer.send_signal(signal.SIGTERM)
            consumer.wait(timeout=60)
    return samples.seen


def main() -> None:
    global SECONDS, SOURCE
    if len(sys.argv) > 1:
        SECONDS = float(sys.argv[1])
    if len(sys.argv) > 2:
        SOURCE = sys.argv[2]
    windows = [default_window(), deployed_window()]
    broker, bootstrap = spawn()
    try:
        results = [(window, measure(bootstrap, window)) for window in windows]
    finally:
        stop(broker)
    where = ("the live answer from the current-state table" if SOURCE == "table"
             else "status on the local engine over consume's data directory")
    print(f"{RATE} events/s for {SECONDS:g} s a window, 1 sample in {SAMPLE_EVERY}, {where}")
    for window, seen in results:
        cuts = statistics.quantiles(seen, n=100)
        p50, p95 = statistics.median(seen), cuts[94]
        print(f"freshness: window {window:g} s, p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(seen):.2f} s, "
              f"ratio {p95 / (window + 1):.2f}")


if __name__ == "__main__":
    main()
