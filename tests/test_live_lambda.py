"""The live app through its Lambda adapter (Mangum), as API Gateway's HTTP API and a function URL
call it: the same answers, and the feeds-only app serves the two feeds, read-only, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mangum import Mangum

from parking.live.app import create_app
from tests.live_support import make_garage, source

SPOTS = 60


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    return make_garage(tmp_path_factory.mktemp("live-lambda"), SPOTS, days=1)


def event(path: str, query: str = "", method: str = "GET", domain: str = "abc123.execute-api.eu-west-1.amazonaws.com"):
    """An API Gateway HTTP API (payload 2.0) event; a function URL's has the same shape."""
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": domain, "accept": "*/*"},
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1",
                                    "userAgent": "test"}, "domainName": domain, "stage": "$default",
                           "requestId": "r", "accountId": "111122223333", "apiId": "abc123", "time": "t",
                           "timeEpoch": 0},
        "isBase64Encoded": False,
    }


def test_the_http_api_gets_the_live_answers(lake) -> None:
    handler = Mangum(create_app(source(lake)), lifespan="off")
    answer = handler(event("/api/v1/availability", "by=level"), None)
    assert answer["statusCode"] == 200 and answer["headers"]["content-type"] == "application/json"
    body = json.loads(answer["body"])
    assert [row["level"] for row in body["rows"]] == ["0"] and body["rows"][0]["capacity"] == SPOTS
    bad = handler(event("/api/v1/alerts", "threshold=2"), None)
    assert bad["statusCode"] == 422 and json.loads(bad["body"])["detail"].startswith("threshold:")
    page = handler(event("/"), None)
    assert page["statusCode"] == 200 and 'src="static/live.js"' in page["body"]


def test_the_feeds_function_serves_the_two_feeds_read_only_and_nothing_else(lake) -> None:
    url = "abcdefghijklmnop.lambda-url.eu-west-1.on.aws"
    handler = Mangum(create_app(source(lake), feeds_only=True), lifespan="off")
    parkapi = handler(event("/feeds/parkapi.json", domain=url), None)
    assert parkapi["statusCode"] == 200 and json.loads(parkapi["body"])["items"]
    assert parkapi["headers"]["cache-control"] == "public, max-age=5"
    datex2 = handler(event("/feeds/datex2.xml", domain=url), None)
    assert datex2["statusCode"] == 200 and datex2["body"].startswith("<?xml")
    for path in ("/", "/api/v1/status", "/api/v1/page", "/openapi.json", "/docs", "/static/live.js"):
        assert handler(event(path, domain=url), None)["statusCode"] == 404, path
    for method in ("POST", "PUT", "DELETE"):
        assert handler(event("/feeds/parkapi.json", method=method, domain=url), None)["statusCode"] == 405
