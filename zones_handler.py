"""AWS Lambda entry point of the zones monitor, on an EventBridge schedule: wiring only.

Every run asks Athena for availability by zone and for overstays at that
instant (docs/METRICS.md section 7) and publishes, through Powertools'
embedded metric format, per zone (dimension ``zone``): ``FreeSpots``,
``OccupancyRate`` (percent; none when no bay of the zone is known),
``Overstays`` (stays to enforce: the sensor looks healthy) and
``OverstaysToCheck`` (stays whose sensor health flags, METRICS.md section 7's
``sensor_flags``: a technician's visit, not an officer's); and without the
zone dimension, for the alarms: ``MaxZoneOccupancyRate`` (the fullest zone),
``Overstays`` and ``OverstaysToCheck`` (all zones) and ``ZonesReported``. A failed query raises, so Lambda retries and then sends
the event to the function's dead-letter queue.

Reads ``PARKING_DATABASE``, ``PARKING_WORKGROUP`` and ``PARKING_LOOKBACK_HOURS`` (the
deployment's lookback; see ``parking/config.py``);
Powertools reads ``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from parking.analytics.athena_rows import AthenaRows
from parking.analytics.zone_report import ZoneFigures, zone_figures
from parking.config import Settings, lookback_hours_from_env

QUERY_TIMEOUT_SECONDS = 100.0  # under the function's timeout (serverless.yml), so a slow query is stopped

logger = Logger()
metrics = Metrics()


@cache
def _athena() -> AthenaRows:
    """Built once per container, so warm invocations reuse the client."""
    import boto3

    settings = Settings.from_env()
    return AthenaRows(boto3.client("athena", region_name=settings.region), database=settings.database,
                      workgroup=settings.workgroup, timeout_seconds=QUERY_TIMEOUT_SECONDS)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Query, publish, and return what was published."""
    athena = _athena()
    scanned_before = athena.scanned_bytes
    at = datetime.now(timezone.utc)
    figures = zone_figures(athena.run, at, timedelta(hours=lookback_hours_from_env()))
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
               "overstays_to_check": sum(zone.overstays_to_check for zone in figures), "scanned_bytes": athena.scanned_bytes - scanned_before}
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
