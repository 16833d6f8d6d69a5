"""Kafka: the consumer that behaves like Lambda's MSK trigger, and the keyed producer.

Imports confluent-kafka; the ingest Lambda never imports this package.
"""

import logging

# librdkafka's own log lines (a refused connection is logged again every
# second) go to this logger, which has no handler of its own: the CLI shows
# one line when the consumer or producer gives up instead. Configure logging
# to see them.
LIBRDKAFKA_LOG = logging.getLogger("parking.kafka.librdkafka")
LIBRDKAFKA_LOG.addHandler(logging.NullHandler())
LIBRDKAFKA_LOG.propagate = False
