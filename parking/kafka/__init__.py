"""Kafka: the consumer that behaves like Lambda's MSK trigger, and the keyed producer.

Imports confluent-kafka; the ingest Lambda never imports this package.
"""
