"""PARKING_KAFKA_SESSION_TIMEOUT_SECONDS: the consumer group's session, and the heartbeat that keeps it.

Brokers refuse a session below their group.min.session.timeout.ms (6 s on
Kafka and MSK unless set), so 6 s is the default; Tansu forms a group in half
of it, so the Kafka tests set 2 s (tests/conftest.py).
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from parking.cli.main import cli
from parking.config import Settings
from parking.errors import ConfigurationError
from parking.kafka.consumer import FAST_FETCH, fast_group

VARIABLE = "PARKING_KAFKA_SESSION_TIMEOUT_SECONDS"


@pytest.mark.parametrize(("value", "session_ms", "heartbeat_ms"), [
    (None, 6000, 500),
    ("", 6000, 500),
    ("2", 2000, 166),
    ("45", 45000, 3750),
    ("0.1", 100, 8),
    ("3600", 3_600_000, 300_000),
])
def test_the_variable_sets_the_session_and_a_heartbeat_every_twelfth(value: str | None, session_ms: int,
                                                                     heartbeat_ms: int) -> None:
    settings = Settings.from_environment({} if value is None else {VARIABLE: value})
    assert fast_group(settings) == {**FAST_FETCH, "session.timeout.ms": session_ms, "heartbeat.interval.ms": heartbeat_ms}


def test_an_argument_beats_the_variable() -> None:
    settings = Settings.from_environment({VARIABLE: "2"}, kafka_session_timeout_seconds=10)
    assert fast_group(settings)["session.timeout.ms"] == 10_000


@pytest.mark.parametrize("value", ["soon", "nan", "inf", "0", "-1", "0.09", "3600.5"])
def test_a_bad_value_is_named_in_one_line(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_environment({VARIABLE: value})
    assert str(caught.value).startswith(VARIABLE) and "\n" not in str(caught.value)


def test_a_bad_value_stops_consume_with_exit_2_naming_it(monkeypatch) -> None:
    """Before any broker is asked: the address is a closed port, and the error is the setting's."""
    monkeypatch.setenv(VARIABLE, "a while")
    result = CliRunner().invoke(cli, ["consume", "--bootstrap-servers", "127.0.0.1:9", "--connect-timeout", "0.5"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {VARIABLE} is not a number of seconds") \
        and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
