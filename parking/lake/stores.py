"""Listing, reading and removing the lake's objects: a local directory or an S3 bucket."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from parking.ingest.sinks import LocalSink, S3Sink, Sink


class Store(Protocol):
    """What a lake check needs of where objects live."""

    where: str
    sink: Sink

    def keys(self, prefix: str) -> Iterator[str]: ...

    def read(self, key: str) -> bytes: ...

    def remove(self, key: str) -> None: ...


class LocalStore:
    """The bucket's layout under a directory (what the local sink writes)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.where = f"{self.root}/"
        self.sink = LocalSink(self.root)

    def keys(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix
        if not base.is_dir():
            return
        for folder, _, names in sorted(os.walk(base)):
            for name in sorted(names):
                yield str(Path(folder, name).relative_to(self.root))

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def remove(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


class S3Store:
    """One S3 bucket."""

    def __init__(self, sink: S3Sink) -> None:
        self.sink = sink
        self.client: Any = sink.client
        self.bucket = sink.bucket
        self.where = f"s3://{self.bucket}/"

    def keys(self, prefix: str) -> Iterator[str]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def remove(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)
