"""Where the lake's objects live: a local directory with the bucket's layout, or an S3 bucket.

One protocol for every maintenance job over the lake (``lake check``,
``compact``): list, read, fetch to disk, upload, copy, delete. A
:class:`Store` may replace and remove objects (a compacted day file is
rewritten, a bad object removed), which the ingest path's
:class:`parking.ingest.sinks.Sink` never does: a sink only adds objects, a
batch whole or not at all, and leaves a name that exists as it is. So
``lake check`` reads and removes through a store but writes what it re-files
or quarantines through a sink, as the ingester would
(:func:`parking.lake.check.check_lake` takes one). Nothing here imports the
ingest path, so the compaction's artifact holds the compaction only. Keys
are ``/``-separated and relative to the bucket (or directory).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from parking.atomic_file import place
from parking.aws import session
from parking.processes import process_alive


class Listed(NamedTuple):
    """What a listing says of one object: when it was last written (or linked) and its size in bytes."""

    modified: datetime
    size: int


class Store(Protocol):
    """The bucket, or a local directory with its layout: every object listed, read, replaced or removed.

    Not the ingest path's :class:`parking.ingest.sinks.Sink`, which only adds.
    """

    where: str

    def keys(self, prefix: str, *, hidden: bool = False) -> list[str]:
        """Every key under ``prefix``, sorted; with ``hidden`` also those with a segment starting ``.`` or ``_``."""
        ...

    def listing(self, prefix: str) -> dict[str, Listed]:
        """Every key under ``prefix`` that :meth:`keys` lists, with when it was written and its size."""
        ...

    def read(self, key: str) -> bytes: ...

    def fetch(self, key: str, workdir: Path) -> Path:
        """A local file holding the object (the object itself when the store is local)."""
        ...

    def upload(self, path: Path, key: str) -> None:
        """Store a local file at ``key``: readers see the whole file or nothing."""
        ...

    def copy(self, key: str, new_key: str) -> None: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a key already gone is not an error."""
        ...


class LocalStore:
    """The bucket's layout under a directory; writes are a temp file renamed into place."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.where = f"{self.root}/"

    def keys(self, prefix: str, *, hidden: bool = False) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        found = []
        for folder, dirs, files in os.walk(base):
            if not hidden:
                dirs[:] = [d for d in dirs if not _hidden(d)]
            relative = Path(folder).relative_to(self.root).as_posix()
            found += [f"{relative}/{name}" for name in files if hidden or not _hidden(name)]
        return sorted(found)

    def listing(self, prefix: str) -> dict[str, Listed]:
        """The change time counts too: a copy made as a hard link keeps its original's mtime, not its own."""
        found = {}
        for key in self.keys(prefix):
            try:
                stat = (self.root / key).stat()
            except FileNotFoundError:  # removed since it was listed
                continue
            found[key] = Listed(datetime.fromtimestamp(max(stat.st_mtime, stat.st_ctime), timezone.utc), stat.st_size)
        return found

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def fetch(self, key: str, workdir: Path) -> Path:
        return self.root / key

    def upload(self, path: Path, key: str) -> None:
        self._place(key, lambda temp: bool(shutil.copyfile(path, temp)))

    def copy(self, key: str, new_key: str) -> None:
        def link_or_copy(temp: str) -> bool:
            try:
                os.link(self.root / key, temp)  # the same inode: its bytes are on disk already
                return False
            except OSError:
                shutil.copyfile(self.root / key, temp)
                return True

        self._place(new_key, link_or_copy)

    def delete(self, key: str) -> None:
        """Remove the file and the folders it leaves empty (so readers' globs stay short)."""
        path = self.root / key
        path.unlink(missing_ok=True)
        top = self.root / key.split("/", 1)[0]
        for folder in path.parents:
            if folder == top or self.root not in folder.parents:
                break
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone
                break

    def _place(self, key: str, make: Callable[[str], bool]) -> None:
        """``make(temp)`` creates the file and says whether it wrote new bytes (to flush)."""
        target = self.root / key
        try:
            place(str(target), make)
        except OSError as error:
            if error.errno in FULL:  # name the file that did not fit (a copy's error names its source)
                raise OSError(error.errno, error.strerror, str(target)) from error
            raise


class S3Store:
    """One bucket through boto3: a PUT is atomic, so uploads go straight to their key."""

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        if client is None:
            from botocore.config import Config

            client = session().client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))
        self.bucket = bucket
        self.client = client
        self.where = f"s3://{bucket}/"

    def keys(self, prefix: str, *, hidden: bool = False) -> list[str]:
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found += [item["Key"] for item in page.get("Contents", [])]
        return sorted(key for key in found if hidden or not any(_hidden(part) for part in key.split("/")))

    def listing(self, prefix: str) -> dict[str, Listed]:
        found = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if not any(_hidden(part) for part in item["Key"].split("/")):
                    found[item["Key"]] = Listed(item["LastModified"].astimezone(timezone.utc), item["Size"])
        return found

    def read(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as error:
            if _missing(error):
                raise FileNotFoundError(2, "No such key", self.where + key) from error
            raise

    def fetch(self, key: str, workdir: Path) -> Path:
        """Raises :class:`FileNotFoundError` for a key removed since it was listed, as a local store does."""
        path = workdir / hashlib.sha256(key.encode()).hexdigest()
        try:
            self.client.download_file(self.bucket, key, str(path))
        except Exception as error:
            if _missing(error):
                raise FileNotFoundError(2, "No such key", self.where + key) from error
            raise
        return path

    def upload(self, path: Path, key: str) -> None:
        self.client.upload_file(str(path), self.bucket, key)

    def copy(self, key: str, new_key: str) -> None:
        source = {"Bucket": self.bucket, "Key": key}
        self.client.copy_object(Bucket=self.bucket, Key=new_key, CopySource=source)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


#: A writer's temporary file: ``.<name head>.<pid>.<thread>.tmp`` (:mod:`parking.atomic_file`, which every
#: local writer uses), or ``.<name>.<pid>.tmp`` (this module's before); linked or renamed into place once whole,
#: so never data. The name is the shortest that fits, so ``.<name>.<pid>.<thread>.tmp`` is never read as a
#: name ending in the pid and a thread id of 10 digits or fewer taken for the pid. Digits are [0-9] (``\d`` would
#: take ``.a.\u0662\u0665.tmp`` for pid 25's).
WRITER_TEMP = re.compile(r"\.(?P<name>.+?)\.(?P<pid>[0-9]{1,10})(?:\.[0-9]{1,20})?\.tmp")


#: A write refused for want of room: a full device, a quota, a file size limit (``ulimit -f``).
FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def writer_temp(key: str) -> int | None:
    """The process id in a local writer's temporary file name, else None (any other key)."""
    found = WRITER_TEMP.fullmatch(key.rsplit("/", 1)[-1])
    return int(found["pid"]) if found else None


def in_progress(store: Store, key: str) -> bool:
    """Whether ``key`` is a local writer's temporary file whose writer still runs: work in progress, not damage.

    The writer is the process whose id the name holds (:data:`WRITER_TEMP`),
    as far as can be told: one of that id runs on this machine, is not a
    zombie, and had started by the time the file last changed (a process
    started later only got the id of a writer that ended). Any other key,
    on S3 too, is not: a temporary file whose writer is gone is judged by
    the rules for what it is (:func:`parking.lake.check.check_lake`).
    """
    pid = writer_temp(key)
    if pid is None or not isinstance(store, LocalStore):
        return False
    try:
        status = (store.root / key).stat()
    except FileNotFoundError:  # put in place (or removed) since it was listed: nothing there to judge
        return True
    return process_alive(pid, since=max(status.st_mtime, status.st_ctime))  # ctime: a hard link keeps the mtime


def _missing(error: Exception) -> bool:
    """Whether a boto3 error says the key does not exist (any more)."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound")


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))
