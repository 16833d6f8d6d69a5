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
    """Send every line to ``topic``; returns how many the broker acknowledged.

    Raises :class:`parking.errors.KafkaError` when any event is not acknowledged
    within ``timeout`` seconds, or, with ``connect_timeout``, when no broker
    has answered within that many seconds, before any event is sent; each in
    one line with the reason.
    """
    failures: list[str] = []
    broker_errors: list[str] = []
    producer = Producer({
        "bootstrap.servers": bootstrap_servers, "linger.ms": 20, "enable.idempotence": True,
        "message.timeout.ms": max(1, int(timeout * 1000)),
        "logger": LIBRDKAFKA_LOG,
        "error_cb": lambda error: broker_errors.append(error.str()),
    })

    def delivered(error, message) -> None:
        if error is not None:
            failures.append(broker_errors[-1] if broker_errors else error.str())

    if connect_timeout is not None:
        try:
            producer.list_topics(timeout=connect_timeout)
        except KafkaException as exc:
            reason = broker_errors[-1] if broker_errors else str(exc.args[0].str() if exc.args else exc)
            raise KafkaError(f"no Kafka broker reachable at {bootstrap_servers} in {connect_timeout:g} s: "
                             f"{reason}") from None
    sent = 0
    try:
        for line in lines:
            while True:
                try:
                    producer.produce(topic, value=line.encode(), key=spot_key(line), on_delivery=delivered)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.5)
            producer.poll(0)
            sent += 1
        remaining = producer.flush(timeout + 5)
    except KafkaException as exc:
        raise KafkaError(f"could not produce to {topic}: {exc}") from exc
    if failures or remaining:
        raise KafkaError(f"{len(failures) + remaining} of {sent} events not delivered to {topic}: "
                         f"{failures[0] if failures else 'flush timed out'}")
    return sent
