"""AWS Lambda entry point of the daily compaction: wiring only.

The same code as ``parking-cli compact --bucket`` (``parking/lake/compaction.py``):
every UTC day that ended ``PARKING_COMPACTION_LATENESS_DAYS`` ago or more is
rewritten into one Parquet file, with boto3 and DuckDB on the function's
``/tmp``. It stops before starting a day when less than ``MARGIN_MS`` of its
time is left; the next run continues, and a run cut short (timeout, crash)
changes no answer and is finished by the next. A day whose Parquet file is
damaged is left as it is and the run fails after the other days, naming the
file (``parking-cli lake check --repair`` rebuilds it). Reads
``PARKING_BUCKET`` (required) and ``PARKING_DATA_PREFIX``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from parking.config import Settings
from parking.errors import CompactionError
from parking.lake.compaction import S3Store, compact, latest_before

MARGIN_MS = 180_000


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Compact the closed days; raising lets Lambda retry, which finishes the job."""
    settings = Settings.from_env()
    store = S3Store(settings.require_bucket())
    before = latest_before(datetime.now(timezone.utc), settings.compaction_lateness_days)

    def keep_going() -> bool:
        return context is None or context.get_remaining_time_in_millis() > MARGIN_MS

    try:
        report = compact(store, before, data_prefix=settings.data_prefix, keep_going=keep_going).as_dict()
    except CompactionError as error:  # a damaged day: the others are done; the failure raises the alarm
        print(json.dumps({"message": "compaction failed", "error": str(error), **error.report.as_dict()}))
        raise
    print(json.dumps({"message": "compaction finished", **report}))
    return report
