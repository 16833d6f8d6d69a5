"""`consume` against an address where no broker listens: one line and exit 1, not a wait without end.

No broker is started: the port is a closed loopback port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from parking.errors import KafkaError
from parking.ingest.sinks import LocalSink
from parking.kafka.consumer import BatchConsumer, ConsumeOptions
from parking.kafka.producer import produce
from scripts.tansu_broker import free_port

CLI = str(Path(sys.executable).with_name("parking-cli"))


@pytest.fixture
def nowhere() -> str:
    """A loopback address nothing listens on."""
    return f"127.0.0.1:{free_port()}"


def test_the_consumer_gives_up_when_no_broker_answers(nowhere: str, tmp_path: Path) -> None:
    options = ConsumeOptions(nowhere, "parking-events", connect_timeout=0.5, workers=1)
    with pytest.raises(KafkaError, match=rf"no Kafka broker reachable at {nowhere} in 0.5 s: .*Connection refused"):
        BatchConsumer(options, LocalSink(tmp_path)).run()


def test_consume_says_so_in_one_line_and_exits_1(nowhere: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [CLI, "consume", "--bootstrap-servers", nowhere, "--connect-timeout", "0.5", "--workers", "1",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: no Kafka broker reachable at {nowhere} in 0.5 s: ")


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "-inf", "nan", "1e300", "3600.5"])
def test_a_bad_connect_timeout_is_a_usage_error(nowhere: str, value: str) -> None:
    """Refused before any wait: an infinite, not-a-number or huge timeout would never give up (at most an hour)."""
    result = subprocess.run([CLI, "consume", "--bootstrap-servers", nowhere, "--connect-timeout", value],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "--connect-timeout" in line


def test_the_producer_gives_up_in_one_line_when_no_broker_answers(nowhere: str, capfd) -> None:
    with pytest.raises(KafkaError) as raised:
        produce(['{"spot_id": "A-001"}'] * 3, nowhere, "parking-events", timeout=1.0)
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith("0 events acknowledged, then delivery to parking-events failed: ")
    assert "Connection refused" in str(raised.value), "the broker's error, not only a timeout"
    assert capfd.readouterr().err == "", "librdkafka's own log lines stay off stderr"


@pytest.mark.parametrize("value", ["soon", "nan", "inf", "0", "-1", "0.09", "3600.5"])
def test_a_bad_delivery_timeout_stops_simulate_with_exit_2_naming_it(nowhere: str, value: str) -> None:
    """Before any broker is asked (the address is a closed port): the error is the setting's."""
    result = subprocess.run([CLI, "simulate", "--spots", "1", "--days", "1", "--kafka", nowhere],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PARKING_KAFKA_DELIVERY_TIMEOUT_SECONDS": value})
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: PARKING_KAFKA_DELIVERY_TIMEOUT_SECONDS ")
