"""Producing JSON-lines events to Kafka, keyed by spot so each spot keeps its order."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from confluent_kafka import KafkaException, Producer

from parking.errors import KafkaError
from parking.kafka import LIBRDKAFKA_LOG


def spot_key(line: str) -> bytes | None:
    """The spot_id of a JSON event, as the message key; None for a line that has none."""
    try:
        spot = orjson.loads(line).get("spot_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return spot.encode() if isinstance(spot, str) else None


# Seconds an event may wait for a broker's acknowledgement before it counts as not delivered.
DELIVERY_TIMEOUT = 30.0


def produce(lines: Iterable[str], bootstrap_servers: str, topic: str, timeout: float = DELIVERY_TIMEOUT,
            connect_timeout: float | None = None) -> int:
    """Send every line to ``topic``; returns how many the broker acknowledged (all of them).

    Raises :class:`parking.errors.KafkaError`, in one line with the reason
    and how many events were acknowledged, as soon as an event is not
    acknowledged within ``timeout`` seconds: no line after it is sent, so a
    lost broker ends a long run about ``timeout`` seconds after it went, not
    after every line was tried. With ``connect_timeout``, also when no broker
    has answered within that many seconds, before any event is sent.
    """
    failures: list[str] = []
    broker_errors: list[str] = []
    acknowledged = 0
    producer = Producer({
        "bootstrap.servers": bootstrap_servers, "linger.ms": 20, "enable.idempotence": True,
        "message.timeout.ms": max(1, int(timeout * 1000)),
        "logger": LIBRDKAFKA_LOG,
        "error_cb": lambda error: broker_errors.append(error.str()),
    })

    def delivered(error, message) -> None:
        nonlocal acknowledged
        if error is None:
            acknowledged += 1
        elif not failures:
            failures.append(broker_errors[-1] if broker_errors else error.str())

    if connect_timeout is not None:
        try:
            producer.list_topics(timeout=connect_timeout)
        except KafkaException as exc:
            reason = broker_errors[-1] if broker_errors else str(exc.args[0].str() if exc.args else exc)
            raise KafkaError(f"no Kafka broker reachable at {bootstrap_servers} in {connect_timeout:g} s: "
                             f"{reason}") from None
    try:
        for line in lines:
            while not failures:
                try:
                    producer.produce(topic, value=line.encode(), key=spot_key(line), on_delivery=delivered)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.5)
            producer.poll(0)
            if failures:
                break
        remaining = 0 if failures else producer.flush(timeout + 5)
    except KafkaException as exc:
        raise KafkaError(f"could not produce to {topic}: {exc}") from exc
    if failures or remaining:
        reason = failures[0] if failures else "flush timed out"
        producer.purge()  # what still waits is not sent: the run has failed
        producer.flush(0)
        raise KafkaError(f"{acknowledged:,} events acknowledged, then delivery to {topic} failed: {reason}")
    return acknowledged
