"""A garage up to now and a real uvicorn server over it on 127.0.0.1, for the live tests and the bench."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from parking.analytics.catalog import CatalogStore, parse
from parking.analytics.engines import DuckDBEngine
from parking.ingest.files import ingest_lines
from parking.ingest.sinks import LocalSink
from parking.live.answers import LiveSource
from parking.simulate import catalog_csv, lines, plan


def make_garage(root: Path, spots: int, days: int = 2, now: datetime | None = None, catalog: bool = True) -> Path:
    """``days`` of a simulated garage of ``spots`` bays ending now, ingested into ``root``, its catalog loaded
    (unless not ``catalog``: then every spot is uncatalogued)."""
    now = now or datetime.now(timezone.utc)
    start = (now - timedelta(days=days - 1)).date()
    stream = (line.encode() for line in lines(plan(spots, days, date(start.year, start.month, start.day), now=now)))
    ingest_lines(stream, LocalSink(root), now=now)
    if catalog:
        CatalogStore(root).replace(parse(catalog_csv(spots)))
    return root


def ingest_events(root: Path, *events: dict[str, Any]) -> None:
    """Land ``events`` in the lake through the ingester's own code, as the Lambda would."""
    ingest_lines([json.dumps(event).encode() for event in events], LocalSink(root))


def source(root: Path, lookback_hours: float = 24.0) -> LiveSource:
    return LiveSource(DuckDBEngine(root), CatalogStore(root), lookback_hours, data_dir=root)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` in uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)  # polling for the server to listen, with a deadline
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET (an HTTP error status is returned, not raised)."""
    try:
        with urlopen(Request(url), timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as error:
        return error.code, dict(error.headers), error.read()
