"""Where ingested objects are written: S3, a local directory, or memory.

Every sink takes a whole batch's objects at once and either stores all of
them or raises :class:`SinkWriteError`, so the caller never reports a batch
as stored while part of it is missing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from parking.errors import SinkWriteError

CONTENT_TYPE = "application/x-ndjson"


class Sink(Protocol):
    """Stores objects by key; all or nothing from the caller's point of view."""

    def write(self, objects: Mapping[str, bytes]) -> None: ...


class MemorySink:
    """Keeps objects in a dict: for benchmarks and tests of the pure path."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def write(self, objects: Mapping[str, bytes]) -> None:
        self.objects.update(objects)


class LocalSink:
    """The bucket's layout under a directory, written atomically (temp file, then rename).

    Each object is flushed to disk before it is renamed into place, so a
    caller that commits Kafka offsets afterwards never loses a stored batch.
    Objects are written in parallel threads: fsync releases the GIL.
    """

    def __init__(self, root: Path | str, max_workers: int = 8) -> None:
        self.root = Path(root)
        self.max_workers = max_workers

    def write(self, objects: Mapping[str, bytes]) -> None:
        write_all(objects, self._write_one, self.max_workers, f"{self.root}/")

    def _write_one(self, key: str, body: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


class S3Sink:
    """Writes a batch's objects to one bucket concurrently, with botocore's retries."""

    def __init__(self, bucket: str, client: Any | None = None, max_workers: int = 16) -> None:
        self.bucket = bucket
        self.client = client if client is not None else s3_client()
        self.max_workers = max_workers

    def write(self, objects: Mapping[str, bytes]) -> None:
        write_all(objects, self._put, self.max_workers, f"s3://{self.bucket}/")

    def __reduce__(self) -> tuple[Any, ...]:
        """Sent to a handler process: a client of its own there, for the same region and endpoint."""
        meta = self.client.meta
        return _s3_sink, (self.bucket, meta.region_name, meta.endpoint_url, self.max_workers)

    def _put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=CONTENT_TYPE)


def write_all(
    objects: Mapping[str, bytes], write_one: Callable[[str, bytes], None], max_workers: int, where: str
) -> None:
    """Write every object in parallel threads; raise one error naming how many failed."""
    if not objects:
        return
    with ThreadPoolExecutor(max_workers=min(max_workers, len(objects)), thread_name_prefix="sink") as pool:
        futures = {key: pool.submit(write_one, key, body) for key, body in objects.items()}
    failures = {key: future.exception() for key, future in futures.items() if future.exception()}
    if failures:
        key, error = next(iter(failures.items()))
        raise SinkWriteError(
            f"{len(failures)} of {len(objects)} objects not written to {where} (first: {key}: {error})"
        ) from error


def s3_client(region: str | None = None, profile: str | None = None, endpoint_url: str | None = None) -> Any:
    """An S3 client with standard-mode retries and a connection pool for concurrent puts."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(region_name=region, profile_name=profile)
    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
    return session.client("s3", config=config, endpoint_url=endpoint_url)


def _s3_sink(bucket: str, region: str | None, endpoint_url: str | None, max_workers: int) -> S3Sink:
    return S3Sink(bucket, s3_client(region, endpoint_url=endpoint_url), max_workers)
