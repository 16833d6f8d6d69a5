"""Where ingested objects are written: S3, a local directory, or memory.

Every sink takes a whole batch's objects at once and either stores all of
them or raises :class:`SinkWriteError`, so the caller never reports a batch
as stored while part of it is missing.

No sink replaces an object that exists (METRICS.md section 2: nothing stored
is ever replaced by other records). Names are derived from the records an
object holds, so an existing object of the same name already holds them: a
redelivered batch finds its objects in place and counts them as stored. S3
is asked with a conditional write (``If-None-Match: *``); the local sink
links its flushed temporary file into place, which fails if the name exists.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from parking.atomic_file import place_written, write_fully
from parking.aws import session
from parking.errors import SinkWriteError

CONTENT_TYPE = "application/x-ndjson"

# A PUT that S3 failed with a 5xx or throttled is tried again by us, this many
# times in all, after waits of up to 0.05, 0.1, 0.2, ... s (capped at 2 s, full
# jitter): botocore's own retries draw on a client-wide quota that a 412 on a
# retried conditional PUT (the first attempt had landed) never refunds, so at a
# 30% fault rate a few hundred PUTs drained it and every later fault failed the
# batch. Each of our retries still has botocore's inside, so at most 8 x 5 requests.
PUT_ATTEMPTS = 8
PUT_RETRY_BASE = 0.05
PUT_RETRY_CAP = 2.0
RETRIED_CODES = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling",
                           "ThrottlingException", "RequestTimeTooSkewed"})


class Sink(Protocol):
    """Adds objects by key, a batch all or nothing from the caller's point of view; never replaces one.

    The ingest path's one way to write, and so what ``lake check`` writes its
    repairs through. Maintenance that must replace or remove objects
    (compaction, removing a bad object) goes through
    :class:`parking.lake.stores.Store` instead.
    """

    def write(self, objects: Mapping[str, bytes]) -> None: ...

    def write_file(self, key: str, path: str) -> None:
        """Store one object from a local file, streamed (a value too large for memory)."""
        ...


class MemorySink:
    """Keeps objects in a dict: for benchmarks and tests of the pure path."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def write(self, objects: Mapping[str, bytes]) -> None:
        for key, body in objects.items():
            self.objects.setdefault(key, body)

    def write_file(self, key: str, path: str) -> None:
        with open(path, "rb") as file:
            self.objects.setdefault(key, file.read())


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

    def write_file(self, key: str, path: str) -> None:
        try:
            self._place(key, lambda fd: _copy_into(path, fd))
        except OSError as error:
            raise SinkWriteError(f"object not written to {self.root}/: {key}: {error}") from error

    def _write_one(self, key: str, body: bytes) -> None:
        self._place(key, lambda fd: write_fully(fd, body))

    def _place(self, key: str, fill: Callable[[int], None]) -> None:
        """Fill a temporary file, flush it, link it into place unless the name exists (never replaced).

        An existing name already holds the same records, stored before.
        """
        place_written(os.path.join(self.root, key), fill, replace=False)


def _copy_into(path: str, fd: int, chunk: int = 1 << 20) -> None:
    with open(path, "rb") as source:
        while block := source.read(chunk):
            write_fully(fd, block)


class S3Sink:
    """Writes a batch's objects to one bucket concurrently, with botocore's retries.

    Objects under ``quarantine_prefix`` are encrypted with ``quarantine_kms_key``
    when one is given (the deployed bucket refuses them otherwise).
    """

    def __init__(
        self,
        bucket: str,
        client: Any | None = None,
        max_workers: int = 16,
        quarantine_prefix: str | None = None,
        quarantine_kms_key: str | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.bucket = bucket
        self.client = client if client is not None else s3_client()
        self.max_workers = max_workers
        self.quarantine_prefix = quarantine_prefix
        self.quarantine_kms_key = quarantine_kms_key
        self.on_retry = on_retry or say_on_stderr

    def write(self, objects: Mapping[str, bytes]) -> None:
        write_all(objects, self._put, self.max_workers, f"s3://{self.bucket}/")

    def __reduce__(self) -> tuple[Any, ...]:
        """Sent to a handler process: a client of its own there, for the same region and endpoint."""
        meta = self.client.meta
        return _s3_sink, (self.bucket, meta.region_name, meta.endpoint_url, self.max_workers,
                          self.quarantine_prefix, self.quarantine_kms_key)

    def write_file(self, key: str, path: str) -> None:
        try:
            with open(path, "rb") as body:  # one streamed PUT: up to 5 GB, never read into memory
                self._put(key, body)
        except Exception as error:
            raise SinkWriteError(f"object not written to s3://{self.bucket}/: {key}: {error}") from error

    def _put(self, key: str, body: Any) -> None:
        from botocore.exceptions import ClientError

        extra = {}
        if self.quarantine_kms_key and self.quarantine_prefix and key.startswith(self.quarantine_prefix):
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.quarantine_kms_key}
        for attempt in range(1, PUT_ATTEMPTS + 1):
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType=CONTENT_TYPE, IfNoneMatch="*", **extra
                )
                return
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code == "PreconditionFailed":
                    return  # the name exists, so it holds these records already: stored (a landed earlier try too)
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
                if attempt == PUT_ATTEMPTS or not (status >= 500 or code in RETRIED_CODES):
                    raise
                delay = random.uniform(0, min(PUT_RETRY_CAP, PUT_RETRY_BASE * 2 ** (attempt - 1)))
                self.on_retry(f"S3 answered {code} (HTTP {status}) to the PUT of s3://{self.bucket}/{key}; "
                              f"try {attempt + 1} of {PUT_ATTEMPTS} in {delay:.2f} s")
                time.sleep(delay)
                if hasattr(body, "seek"):
                    body.seek(0)


def say_on_stderr(line: str) -> None:
    """One line on stderr (what a Lambda's log and a terminal both show)."""
    print(line, file=sys.stderr, flush=True)


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
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
    return session(region, profile).client("s3", config=config, endpoint_url=endpoint_url)


def _s3_sink(
    bucket: str, region: str | None, endpoint_url: str | None, max_workers: int,
    quarantine_prefix: str | None = None, quarantine_kms_key: str | None = None,
) -> S3Sink:
    return S3Sink(bucket, s3_client(region, endpoint_url=endpoint_url), max_workers, quarantine_prefix,
                  quarantine_kms_key)


def s3_sink_for(settings: Any, bucket: str | None = None, client: Any | None = None) -> S3Sink:
    """The S3 sink the settings describe: their bucket (or ``bucket``), quarantine prefix and key."""
    return S3Sink(
        bucket or settings.require_bucket(),
        client if client is not None else s3_client(settings.region, settings.profile),
        quarantine_prefix=settings.quarantine_prefix,
        quarantine_kms_key=settings.quarantine_kms_key,
    )
