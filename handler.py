"""AWS Lambda entry point for the MSK event source mapping: wiring only.

Reads its configuration from the environment (see ``parking/config.py``):
``PARKING_BUCKET`` (required), ``PARKING_DATA_PREFIX``,
``PARKING_QUARANTINE_PREFIX``, ``PARKING_MAX_VALUE_BYTES``,
``PARKING_QUARANTINE_KMS_KEY`` (the quarantine's own key), ``PARKING_EARLIEST_EVENT``,
``PARKING_STATE_TABLE`` and ``PARKING_LOOKBACK_HOURS`` (the current-state table each
batch's events are merged into once stored, ``parking/state/``). Powertools reads
``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_METRICS_NAMESPACE`` and
``POWERTOOLS_LOG_LEVEL``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from parking.config import Settings
from parking.errors import SinkWriteError
from parking.ingest.batch import BatchResult, ingest_batch
from parking.ingest.sinks import S3Sink, s3_sink_for

# Service name and namespace come from POWERTOOLS_SERVICE_NAME and
# POWERTOOLS_METRICS_NAMESPACE, which serverless.yml sets for each function.
logger = Logger()
metrics = Metrics()


@cache
def _sink_and_settings() -> tuple[S3Sink, Settings]:
    """Built once per container, so warm invocations reuse the S3 connection pool."""
    settings = Settings.from_environment()
    return s3_sink_for(settings), settings


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Store one batch; raising makes Lambda retry the whole batch."""
    sink, settings = _sink_and_settings()
    try:
        result = ingest_batch(event, sink, settings)
    except SinkWriteError:
        logger.exception("batch not stored; Lambda will retry it")
        raise
    _report(result)
    return result.as_dict()


def _report(result: BatchResult) -> None:
    logger.info("batch ingested", extra=result.as_dict())
    metrics.add_metric(name="RecordsIn", unit=MetricUnit.Count, value=result.records_in)
    metrics.add_metric(name="RecordsStored", unit=MetricUnit.Count, value=result.stored)
    metrics.add_metric(name="RecordsQuarantined", unit=MetricUnit.Count, value=result.quarantined)
    metrics.add_metric(name="ObjectsWritten", unit=MetricUnit.Count, value=result.objects_written)
    metrics.add_metric(name="HoursTouched", unit=MetricUnit.Count, value=len(result.hours_touched))
    metrics.add_metric(name="BatchMilliseconds", unit=MetricUnit.Milliseconds, value=result.milliseconds)
