"""AWS Lambda entry points of the live side (issue 26): wiring only.

``handler`` is the whole application (page, API, docs) behind the HTTP API,
whose JWT authorizer admits an operator signed in with the Cognito user pool;
``feeds`` serves only ``/feeds/parkapi.json`` and ``/feeds/datex2.xml``,
read-only, behind CloudFront when the stage publishes them (``publicFeeds``).
Both read the lake in ``PARKING_BUCKET`` through Athena (``PARKING_DATABASE``,
``PARKING_WORKGROUP``) and keep an answer for ``PARKING_LIVE_MAX_AGE`` seconds
(default 5) per warm container; Mangum adapts API Gateway's and the function
URL's events to ASGI. The application is built on the first request, so
importing this module loads no query library.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any


@cache
def _adapter(feeds_only: bool) -> Any:
    import boto3
    from mangum import Mangum

    from parking.analytics.catalog import CatalogStore
    from parking.analytics.engines import engine_from_settings
    from parking.config import Settings
    from parking.live.answers import LiveSource
    from parking.live.app import create_app

    settings = Settings.from_environment(engine="athena")
    store = CatalogStore(bucket=settings.require_bucket(), client=boto3.client("s3"))
    source = LiveSource(engine_from_settings(settings), store, settings.lookback_hours, settings=settings)
    app = create_app(source, feeds_only=feeds_only, max_age=float(os.environ.get("PARKING_LIVE_MAX_AGE") or 5))
    return Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The live application, behind the HTTP API."""
    return _adapter(False)(event, context)


def feeds(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The two feeds only, behind CloudFront."""
    return _adapter(True)(event, context)
