"""Where ingested objects are written: S3, a local directory, or memory.

Every sink takes a whole batch's objects at once and either stores all of
them or raises :class:`SinkWriteError`, so the caller never reports a batch
as stored while part of it is missing.
"""

from __future__ import annotations

import os
import threading
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
        path = os.path.join(self.root, key)
        folder, name = os.path.split(path)
        os.makedirs(folder, exist_ok=True)
        # Unique to this thread, so no other writer can be using it; a leftover
        # from a crashed process is overwritten, never renamed into place.
        temp = os.path.join(folder, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, body)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, path)
        except BaseException:
            if os.path.lexists(temp):
                os.unlink(temp)
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
    """Write every object in parallel threads; raise one error naming how many failed.

    Each thread runs one task that takes the next object until none is left:
    balanced like a task per object, with far fewer handoffs (and fewer GIL
    switches) per batch.
    """
    if not objects:
        return
    items = list(objects.items())
    pending = iter(items)  # a list iterator hands each item to exactly one thread
    failures: dict[str, BaseException] = {}

    def write_pending() -> None:
        for key, body in pending:
            try:
                write_one(key, body)
            except Exception as error:
                failures[key] = error

    threads = min(max_workers, len(items))
    if threads == 1:
        write_pending()
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sink") as pool:
            for _ in range(threads):
                pool.submit(write_pending)
    if failures:
        key = next(key for key, _ in items if key in failures)
        error = failures[key]
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
