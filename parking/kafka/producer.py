"""Producing JSON-lines events to Kafka, keyed by spot so each spot keeps its order."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from confluent_kafka import KafkaException, Producer

from parking.errors import KafkaError


def spot_key(line: str) -> bytes | None:
    """The spot_id of a JSON event, as the message key; None for a line that has none."""
    try:
        spot = orjson.loads(line).get("spot_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return spot.encode() if isinstance(spot, str) else None


def produce(lines: Iterable[str], bootstrap_servers: str, topic: str) -> int:
    """Send every line to ``topic``; returns how many the broker acknowledged."""
    failures: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap_servers, "linger.ms": 20, "enable.idempotence": True})

    def delivered(error, message) -> None:
        if error is not None:
            failures.append(str(error))

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
        remaining = producer.flush(30)
    except KafkaException as exc:
        raise KafkaError(f"could not produce to {topic}: {exc}") from exc
    if failures or remaining:
        raise KafkaError(f"{len(failures) + remaining} of {sent} events not delivered to {topic}: "
                         f"{failures[0] if failures else 'flush timed out'}")
    return sent
