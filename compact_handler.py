"""AWS Lambda entry points of the compaction, daily and hourly: wiring only.

The same code as ``parking-cli compact --bucket`` (``parking/lake/compaction/``),
with boto3 and DuckDB on the function's ``/tmp``. ``handler`` (daily)
rewrites every UTC day that ended ``PARKING_COMPACTION_LATENESS_DAYS`` ago or
more into one Parquet file, folding its hour files; ``hourly_handler`` (every
10 minutes) rewrites every UTC hour that ended
``PARKING_COMPACTION_HOUR_LATENESS_MINUTES`` ago or more into one hour file.
Both first remove what a compacted file has held for
``PARKING_COMPACTION_REMOVAL_DELAY_MINUTES`` (default 60: longer than any
Athena query runs, so no running query loses an object it listed). Each stops
before starting a day or hour when less than its margin of time is left; the
next run continues, and a run cut short (timeout, crash) changes no answer and
is finished by the next. A day whose Parquet file is damaged is left as it is
and the run fails after the others, naming the file (``parking-cli lake check
--repair`` rebuilds it). Reads ``PARKING_BUCKET`` (required) and
``PARKING_DATA_PREFIX``; Powertools' Logger reads ``POWERTOOLS_SERVICE_NAME``
and ``POWERTOOLS_LOG_LEVEL``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools import Logger

from parking.config import Settings
from parking.errors import CompactionError
from parking.lake.compaction.protocol import compact
from parking.lake.compaction.schedule import latest_before, latest_hour_before
from parking.lake.stores import S3Store

MARGIN_MS = 180_000  # the daily run: a day of a large city takes minutes
HOURLY_MARGIN_MS = 60_000  # the hourly run: an hour takes seconds

# JSON log lines as the ingest function writes them; its service name is serverless.yml's POWERTOOLS_SERVICE_NAME.
logger = Logger()


def now() -> datetime:
    """The clock (tests set another)."""
    return datetime.now(timezone.utc)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Compact the closed days; raising lets Lambda retry, which finishes the job."""
    settings = Settings.from_environment()
    at = now()
    return _run(settings, context, MARGIN_MS, at, before=latest_before(at, settings.compaction_lateness_days))


def hourly_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Compact the closed hours; raising lets Lambda retry, and the next run (10 minutes on) finishes the job."""
    settings = Settings.from_environment()
    at = now()
    return _run(settings, context, HOURLY_MARGIN_MS, at,
                hours_before=latest_hour_before(at, settings.compaction_hour_lateness_minutes))


def _run(settings: Settings, context: Any, margin_ms: int, at: datetime, **grain: Any) -> dict[str, Any]:
    store = S3Store(settings.require_bucket())

    def keep_going() -> bool:
        return context is None or context.get_remaining_time_in_millis() > margin_ms

    try:
        report = compact(store, data_prefix=settings.data_prefix, settings=settings, now=at, keep_going=keep_going,
                         removal_delay=settings.removal_delay(on_s3=True), **{"before": None, **grain}).as_dict()
    except CompactionError as error:  # a damaged day: the others are done; the failure raises the alarm
        assert error.report is not None  # compact() raises CompactionError only with its report
        logger.error("compaction failed", extra={"error": str(error), **error.report.as_dict()})
        raise
    logger.info("compaction finished", extra=report)
    return report
