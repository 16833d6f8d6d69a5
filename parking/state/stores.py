"""Where the current-state table lives: DynamoDB on AWS, SQLite in the data directory locally.

Both hold one row (item) per spot: ``spot_id``, a version ``v``, the
lookback its summary was computed with ``lb`` (ms), its recent instants
``h`` and its summary ``s`` (``parking.state.spot``), and one meta row
saying from which instant on the instants are complete (``complete_from``:
a table started on a lake that already held events knows only what it has
seen since, until :func:`parking.state.rebuild.rebuild` fills it in).

Writers read, merge and write back each touched spot with a compare-and-set
on ``v``; a lost race re-reads and merges again. Merging is a union, so any
interleaving of writers ends in the same rows (docs/CHOICES.md, "Current
state"). boto3 and sqlite3 only: the ingest Lambda imports this.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from parking.aws import session
from parking.errors import SinkWriteError, StateTableError

STATE_DIR = "parking-state"
STATE_FILE = "live.sqlite3"
META_KEY = "\x00meta"  # spot ids never hold control characters (METRICS.md section 1)
BATCH_GET = 100  # DynamoDB's BatchGetItem limit


class Row(NamedTuple):
    """One spot's stored row; ``version`` 0 means none is stored yet."""

    spot_id: str
    version: int
    lookback: int
    instants: bytes
    summary: bytes


#: ``(old row or None) -> (lookback, instants, summary)``: what to store for one spot.
Merge = Callable[[Row | None], tuple[int, bytes, bytes]]


class StateStore(Protocol):
    """The table: read every row, update some rows with compare-and-set, and the meta row."""

    where: str

    def update(self, merges: Mapping[str, Merge]) -> None:
        """Apply each spot's merge to its current row, atomically per spot (retried when a writer raced)."""
        ...

    def rows(self) -> Iterator[Row]:
        """Every spot's row (the meta row left out), as :class:`Row` or a plain tuple in its order."""
        ...

    def complete_from(self) -> int | None:
        """The instant (ms) from which rows hold every stored event; None when the table was never written."""
        ...

    def set_complete_from(self, ms: int, *, only_if_missing: bool = False) -> None: ...


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``, None when there is none."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


class SqliteState:
    """The table as a SQLite file under the data directory (``parking-state/live.sqlite3``).

    Writers take SQLite's write lock for a whole batch (``BEGIN IMMEDIATE``),
    so the compare-and-set never fails here; handler processes of ``consume``
    wait their turn (WAL mode: readers never wait).
    """

    def __init__(self, root: Path | str) -> None:
        self.path = Path(root) / STATE_DIR / STATE_FILE
        self.where = str(self.path)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened anew when the file was removed or replaced since it was opened.

        An operator told to remove a damaged table (the live API's 503) must not
        find a running server still reading the removed file: a new file is
        complete from nothing, so the live answers rebuild it from the lake.
        """
        connection = getattr(self._local, "connection", None)
        same_process = getattr(self._local, "pid", None) == os.getpid()
        if connection is None or not same_process or getattr(self._local, "file", None) != _file_identity(self.path):
            if connection is not None and same_process:
                connection.close()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = _opened(self.path)
            self._local.connection, self._local.pid = connection, os.getpid()
            self._local.file = _file_identity(self.path)
        return connection

    def close(self) -> None:
        """Close this thread's connection (a thread's own closes when the thread ends)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            self._local.connection = None
            connection.close()

    def exists(self) -> bool:
        return self.path.is_file()

    def update(self, merges: Mapping[str, Merge]) -> None:
        if not merges:
            return
        connection = self._connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                current: dict[str, Row] = {}
                names = list(merges)
                for start in range(0, len(names), 500):
                    chunk = names[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    for row in connection.execute(f"SELECT spot_id, v, lb, h, s FROM spots WHERE spot_id IN ({marks})",
                                                  chunk):
                        current[row[0]] = Row(*row)
                written = []
                for spot, merge in merges.items():
                    old = current.get(spot)
                    lookback, instants, summary = merge(old)
                    written.append((spot, (old.version if old else 0) + 1, lookback, instants, summary))
                connection.executemany("INSERT OR REPLACE INTO spots (spot_id, v, lb, h, s) VALUES (?, ?, ?, ?, ?)",
                                       written)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:  # SQLite rolls back by itself on a full disk
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise SinkWriteError(f"current-state table not written: {self.where}: {_said(error)}") from error

    def rows(self) -> Iterator[Row]:
        if not self.exists():
            return iter(())
        with _named(self.path):
            return iter(self._connection().execute("SELECT spot_id, v, lb, h, s FROM spots").fetchall())

    def complete_from(self) -> int | None:
        if not self.exists():
            return None
        with _named(self.path):
            row = self._connection().execute("SELECT value FROM meta WHERE key = 'complete_from'").fetchone()
        return None if row is None else row[0]

    def set_complete_from(self, ms: int, *, only_if_missing: bool = False) -> None:
        verb = "INSERT OR IGNORE" if only_if_missing else "INSERT OR REPLACE"
        with _named(self.path):
            self._connection().execute(f"{verb} INTO meta (key, value) VALUES ('complete_from', ?)", (ms,))


@contextlib.contextmanager
def _named(path: Path) -> Iterator[None]:
    """A SQLite failure as :class:`StateTableError` naming the file and what to do (the table is derived data)."""
    try:
        yield
    except sqlite3.DatabaseError as error:
        if _full(error):
            raise StateTableError(f"current-state table not written: {path}: {_said(error)}") from error
        raise StateTableError(f"current-state table unusable: {path}: {error}: remove the file, and it is "
                              "rebuilt from the lake when next asked") from error


def _full(error: sqlite3.Error) -> bool:
    """Whether SQLite failed for want of room (a full device or quota) or at a write (a file size limit, I/O)."""
    return getattr(error, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)


def _said(error: sqlite3.Error) -> str:
    """SQLite's words, and what they mean where they are vague (the wording the object writes use)."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return f"{error} (the device or quota holding it is full: free space there and run the command again)"
    if code == sqlite3.SQLITE_IOERR:
        return (f"{error} (a write failed: the device or quota holding it is full, a file size limit stopped it "
                "(see `ulimit -f`), or the disk failed)")
    return str(error)


def _opened(path: Path, *, timeout: float = 60.0) -> sqlite3.Connection:
    """A connection to the table's file in WAL mode with both tables created.

    Two processes opening a new file at once can deadlock switching it to
    WAL; SQLite then answers SQLITE_BUSY at once instead of waiting, so the
    set-up is retried until ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("CREATE TABLE IF NOT EXISTS spots (spot_id TEXT PRIMARY KEY, v INTEGER NOT NULL, "
                               "lb INTEGER NOT NULL, h BLOB NOT NULL, s BLOB NOT NULL) WITHOUT ROWID")
            connection.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            return connection
        except sqlite3.DatabaseError as error:
            connection.close()
            busy = getattr(error, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if _full(error):
                raise StateTableError(f"current-state table not opened: {path}: {_said(error)}") from error
            if not busy or time.monotonic() > deadline:
                raise StateTableError(f"current-state table unusable: {path}: {error}: remove the file, and it "
                                      "is rebuilt from the lake when next asked") from error
            time.sleep(pause)
            pause = min(pause * 2, 0.25)


class DynamoState:
    """The table in DynamoDB: one item per spot, conditional writes on ``v`` (optimistic concurrency).

    ``client`` is a boto3 DynamoDB client. Reads before a write are strongly
    consistent; writes go out ``workers`` at once; :meth:`rows` is a parallel eventually-consistent scan
    (``segments`` at once), which is what the zones function and the live
    surfaces pay for (README, "Live answers").
    """

    def __init__(self, table: str, client: Any, *, segments: int = 4, attempts: int = 20, workers: int = 16) -> None:
        self.table = table
        self.client = client
        self.workers = workers
        self.segments = segments
        self.attempts = attempts
        self.where = f"dynamodb table {table}"

    def update(self, merges: Mapping[str, Merge]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        pending = dict(merges)
        try:
            for _ in range(self.attempts):
                if not pending:
                    return
                current = self._get(list(pending))
                jobs = [(spot, current.get(spot), merge) for spot, merge in pending.items()]
                if len(jobs) == 1:
                    written = [self._put(*jobs[0])]
                else:  # one request a spot (conditional writes do not batch): in parallel, as the S3 sink writes
                    with ThreadPoolExecutor(max_workers=min(self.workers, len(jobs))) as pool:
                        written = list(pool.map(lambda job: self._put(*job), jobs))
                pending = {spot: merge for (spot, _, merge), done in zip(jobs, written, strict=True) if not done}
        except (BotoCoreError, ClientError) as error:
            raise SinkWriteError(f"current-state table not written: {self.where}: {error}") from error
        raise SinkWriteError(f"current-state table not written: {self.where}: {len(pending)} spots lost "
                             f"{self.attempts} races in a row")

    def _get(self, spots: list[str]) -> dict[str, Row]:
        found: dict[str, Row] = {}
        for start in range(0, len(spots), BATCH_GET):
            keys: Any = {self.table: {"Keys": [{"spot_id": {"S": spot}} for spot in spots[start:start + BATCH_GET]],
                                      "ConsistentRead": True}}
            while keys:
                answer = self.client.batch_get_item(RequestItems=keys)
                for item in answer["Responses"].get(self.table, []):
                    row = _row(item)
                    found[row.spot_id] = row
                keys = answer.get("UnprocessedKeys") or None
        return found

    def _put(self, spot: str, old: Row | None, merge: Merge) -> bool:
        """Write the merged row if nobody wrote since it was read; False when somebody did."""
        lookback, instants, summary = merge(old)
        version = old.version if old else 0
        condition = ({"ConditionExpression": "v = :v", "ExpressionAttributeValues": {":v": {"N": str(version)}}}
                     if old else {"ConditionExpression": "attribute_not_exists(spot_id)"})
        try:
            self.client.put_item(TableName=self.table, Item={
                "spot_id": {"S": spot}, "v": {"N": str(version + 1)}, "lb": {"N": str(lookback)},
                "h": {"B": instants}, "s": {"B": summary},
            }, **condition)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def rows(self) -> Iterator[Row]:
        def segment(number: int) -> list[Row]:
            found, start = [], None
            while True:
                extra: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
                answer = self.client.scan(TableName=self.table, Segment=number, TotalSegments=self.segments,
                                          **extra)
                found += [_row(item) for item in answer.get("Items", []) if item["spot_id"]["S"] != META_KEY]
                start = answer.get("LastEvaluatedKey")
                if not start:
                    return found

        with ThreadPoolExecutor(max_workers=self.segments) as pool:
            parts = list(pool.map(segment, range(self.segments)))
        return (row for part in parts for row in part)

    def complete_from(self) -> int | None:
        item = self.client.get_item(TableName=self.table, Key={"spot_id": {"S": META_KEY}},
                                    ConsistentRead=True).get("Item")
        return None if item is None else int(item["complete_from"]["N"])

    def set_complete_from(self, ms: int, *, only_if_missing: bool = False) -> None:
        condition = {"ConditionExpression": "attribute_not_exists(spot_id)"} if only_if_missing else {}
        try:
            self.client.put_item(TableName=self.table, Item={"spot_id": {"S": META_KEY},
                                                             "complete_from": {"N": str(ms)}}, **condition)
        except self.client.exceptions.ConditionalCheckFailedException:
            pass


def _row(item: Mapping[str, Any]) -> Row:
    return Row(item["spot_id"]["S"], int(item["v"]["N"]), int(item["lb"]["N"]), bytes(item["h"]["B"]),
               bytes(item["s"]["B"]))


def dynamodb_client(region: str | None = None, profile: str | None = None, endpoint_url: str | None = None) -> Any:
    """A DynamoDB client with standard-mode retries (throttling is retried, not raised)."""
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=16)
    return session(region, profile).client("dynamodb", config=config, endpoint_url=endpoint_url)
