"""AWS Lambda entry point of the zones monitor, on an EventBridge schedule: wiring only.

Every run reads availability by zone and overstays at that instant
(docs/METRICS.md sections 7 and 8) from the current-state table
(``PARKING_STATE_TABLE``, DynamoDB) and the spot catalog
(``PARKING_BUCKET``), and publishes, through Powertools'
embedded metric format, per zone (dimension ``zone``): ``FreeSpots``,
``OccupancyRate`` (percent; none when no bay of the zone is known),
``Overstays`` (stays to enforce: the sensor looks healthy) and
``OverstaysToCheck`` (stays whose sensor health flags, METRICS.md section 7's
``sensor_flags``: a technician's visit, not an officer's); and without the
zone dimension, for the alarms: ``MaxZoneOccupancyRate`` (the fullest zone),
``Overstays`` and ``OverstaysToCheck`` (all zones) and ``ZonesReported``.
Only while the table is not complete for the views of now (a new table on a
bucket that held events, before ``parking.state.rebuild``) does it ask Athena
instead, as it did before the table, through the one Athena client
(:class:`parking.analytics.athena_client.AthenaClient`, the CLI's too, with
PyAthena's plain cursor: no pandas) and one deadline for the whole run. A
failed run raises, so Lambda retries and then sends the event to the
function's dead-letter queue.

Reads ``PARKING_STATE_TABLE``, ``PARKING_BUCKET``, ``PARKING_LOOKBACK_HOURS``,
``PARKING_DATABASE`` and ``PARKING_WORKGROUP`` (see ``parking/config.py``);
Powertools reads ``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE``.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from parking.analytics.athena_client import AthenaClient
from parking.analytics.catalog import CatalogStore
from parking.analytics.zone_report import ZoneFigures, zone_figures
from parking.config import Settings
from parking.state import answers
from parking.state.stores import DynamoState
from parking.state.update import dynamo_state, lookback_ms

# One deadline for a whole run (both queries): the invocation's remaining time less
# STOP_RESERVE_SECONDS, kept to stop a query still running, publish and return, so
# Lambda never kills a run whose Athena query then keeps running. A context that
# cannot say its remaining time (a test's) gets RUN_BUDGET_SECONDS, which with the
# reserve fits the function's timeout in serverless.yml (120 s; a test checks).
STOP_RESERVE_SECONDS = 15.0
RUN_BUDGET_SECONDS = 100.0
POLL_SECONDS = 0.5  # how often a running query's state is asked: the deadline is checked then

logger = Logger()
metrics = Metrics()


@cache
def _settings() -> Settings:
    return Settings.from_environment()


@cache
def _table() -> tuple[DynamoState, CatalogStore]:
    """The table and the catalog, built once per container, so warm invocations reuse the clients."""
    import boto3

    settings = _settings()
    catalog = CatalogStore(bucket=settings.require_bucket(), client=boto3.client("s3", region_name=settings.region))
    return dynamo_state(settings.state_table or "", settings.region, settings.endpoint_url), catalog


@cache
def _athena() -> AthenaClient:
    """The one Athena client (the CLI's too), built once per container and only when the table cannot answer yet.

    Its connection is kept for the container's next runs; no Ctrl-C reaches a Lambda.
    """
    return AthenaClient(_settings(), poll_interval=POLL_SECONDS, kill_on_interrupt=False)


def run_deadline(context: Any, clock: Any = time.monotonic) -> float:
    """The ``clock`` reading by which a run's queries must have finished (:data:`STOP_RESERVE_SECONDS`)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = remaining() / 1000 - STOP_RESERVE_SECONDS if callable(remaining) else RUN_BUDGET_SECONDS
    return float(clock()) + budget


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Read the table (or, while it is not complete, query Athena), publish, and return what was published."""
    settings = _settings()
    lookback = lookback_ms(settings)
    table, catalog = _table()
    at = datetime.now(timezone.utc)
    at_ms = round(at.timestamp() * 1000)
    scanned = 0
    source = "table"
    if answers.complete_for(table.complete_from(), at_ms, lookback):
        spots = answers.lives(table.rows(), at_ms, lookback)
        figures = answers.zone_figures(spots, catalog.read() or [], at_ms, lookback)
    else:
        athena, source = _athena(), "athena"
        scanned_before, deadline = athena.scanned_bytes, run_deadline(context, athena.clock)
        figures = zone_figures(lambda sql: athena.rows(sql, deadline=deadline), at, timedelta(milliseconds=lookback))
        scanned = athena.scanned_bytes - scanned_before
    for zone in figures:
        _publish(zone)
    rates = [zone.occupancy_rate for zone in figures if zone.occupancy_rate is not None]
    if rates:
        metrics.add_metric(name="MaxZoneOccupancyRate", unit=MetricUnit.Percent, value=max(rates) * 100)
    metrics.add_metric(name="Overstays", unit=MetricUnit.Count, value=sum(zone.overstays for zone in figures))
    metrics.add_metric(name="OverstaysToCheck", unit=MetricUnit.Count,
                       value=sum(zone.overstays_to_check for zone in figures))
    metrics.add_metric(name="ZonesReported", unit=MetricUnit.Count, value=len(figures))
    summary = {"at": at.isoformat(), "zones": len(figures), "max_occupancy_rate": max(rates, default=None),
               "overstays": sum(zone.overstays for zone in figures),
               "overstays_to_check": sum(zone.overstays_to_check for zone in figures), "source": source,
               "scanned_bytes": scanned}
    logger.info("zones reported", extra=summary)
    return summary


def _publish(zone: ZoneFigures) -> None:
    """One embedded-metric record per zone, with the zone as a dimension."""
    record = EphemeralMetrics()
    record.add_dimension(name="zone", value=zone.zone)
    record.add_metric(name="FreeSpots", unit=MetricUnit.Count, value=zone.free)
    if zone.occupancy_rate is not None:
        record.add_metric(name="OccupancyRate", unit=MetricUnit.Percent, value=zone.occupancy_rate * 100)
    record.add_metric(name="Overstays", unit=MetricUnit.Count, value=zone.overstays)
    record.add_metric(name="OverstaysToCheck", unit=MetricUnit.Count, value=zone.overstays_to_check)
    record.flush_metrics()
