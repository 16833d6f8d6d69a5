"""Loading a JSON-lines file (plain or gzip) through the Lambda's own ingest path.

Lines are wrapped into MSK-shaped batches (offsets are line numbers) and
handed to :func:`parking.ingest.batch.ingest_batch` with a local or S3 sink,
so a backfill validates, partitions and quarantines exactly as production does.

Choices (docs/CHOICES.md):

* The input is read in bounded chunks, never a whole line at once: a line
  over ``max_value_bytes`` is streamed, gzip-compressed, into an object of its
  own beside its quarantine line (``*.value.gz``) and quarantined as
  ``too_large``, so a 300 MB line needs a few MB of memory.
* Gzip input is recognised by its magic bytes; a UTF-8 byte order mark at the
  start and blank lines are ignored (blank lines are not records, but keep
  their line number: offsets are the file's line numbers). A line is blank
  when it holds nothing but JSON's whitespace (space, tab, CR): a vertical
  tab or a form feed is a record, quarantined as ``not_json`` as Kafka's path
  does. Runs of blank lines are skipped a buffer at a time, not line by line.
* A file's batches are cut at fixed line counts (:data:`FILE_BATCH_RECORDS`)
  and sizes, and its records carry no Kafka timestamp, so their quarantine
  hour is the fixed ``1970-01-01T00``: what a load writes depends only on the
  file's content, topic and partition. Loading it again (after ``touch``,
  from stdin, gzip or not) names the same objects; another file never does.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from typing import Any, BinaryIO

from isal import igzip, isal_zlib

from parking.config import Settings
from parking.errors import InputError
from parking.ingest.batch import NO_TIMESTAMP_HOUR, VALUE_OBJECT, BatchResult, ingest_batch, quarantine_records
from parking.ingest.msk import DEFAULT_TOPIC, msk_event, msk_record
from parking.ingest.sinks import Sink
from parking.layout import HourPartition, check_topic, object_key, value_name

FILE_BATCH_RECORDS = 10_000
FILE_BATCH_BYTES = 6 * 1024 * 1024
READ_CHUNK = 1 << 20
LINE_BUFFER = 1 << 16  # the line reader's buffer: a peek copies what it holds
BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
TRAILING_GARBAGE = "trailing_garbage"  # the quarantine reason of bytes after a gzip input's last member
#: What a blank line may hold besides its newline: JSON's whitespace (RFC 8259), no other.
BLANK = b" \t\r"
_BLANK_RUN = re.compile(rb"[ \t\r\n]*")


def is_blank(line: bytes) -> bool:
    """Whether a line (with or without its newline) is blank: nothing but JSON whitespace; not a record."""
    return not line.strip(BLANK + b"\n")


@dataclass
class IngestTotals:
    """Sums over the batches of one load."""

    records_in: int = 0
    stored: int = 0
    quarantined: int = 0
    objects_written: int = 0
    batches: int = 0
    hours: set[str] = field(default_factory=set)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, result: BatchResult) -> None:
        self.records_in += result.records_in
        self.stored += result.stored
        self.quarantined += result.quarantined
        self.objects_written += result.objects_written
        self.batches += 1
        self.hours.update(result.hours_touched)
        self.reasons.update(result.quarantine_reasons)

    @property
    def mostly_rejected(self) -> bool:
        """More than half of the records were quarantined."""
        return self.quarantined * 2 > self.records_in

    def top_reasons(self, count: int = 3) -> list[tuple[str, int]]:
        return sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))[:count]

    def as_dict(self) -> dict[str, object]:
        return {
            "records_in": self.records_in,
            "stored": self.stored,
            "quarantined": self.quarantined,
            "objects_written": self.objects_written,
            "batches": self.batches,
            "hours_touched": len(self.hours),
            "quarantine_reasons": dict(sorted(self.reasons.items())),
        }


@dataclass(frozen=True, slots=True)
class LargeValue:
    """A line over the size limit, already stored as an object of its own."""

    key: str
    size: int
    digest: str

    def reference(self) -> dict[str, Any]:
        return {"key": self.key, "bytes": self.size, "sha256": self.digest, "compression": "gzip"}


def file_chunks(file: BinaryIO, size: int = READ_CHUNK) -> Iterator[bytes]:
    """A binary file as chunks of at most ``size`` bytes (wrap these for a progress bar)."""
    return iter(lambda: file.read(size), b"")


def ingest_chunks(
    chunks: Iterable[bytes],
    sink: Sink,
    settings: Settings | None = None,
    *,
    topic: str = DEFAULT_TOPIC,
    partition: int = 0,
    now: datetime | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> IngestTotals:
    """Ingest a JSON-lines byte stream (plain or gzip) given as chunks of any size.

    Memory stays bounded by one batch and one read chunk whatever the file
    or its longest line. Raises :class:`InputError` when the stream cannot be
    read, :class:`parking.errors.SinkWriteError` when objects cannot be stored,
    :class:`parking.errors.ConfigurationError` for a bad topic. METRICS.md section 2.
    """
    settings = settings or Settings.from_environment()
    check_topic(topic)
    with tempfile.TemporaryDirectory(prefix="parking-ingest-") as spool:
        stream, gunzip = _open(chunks)
        lines_read: list[int] = [0]
        records = _read_records(stream, settings, sink, topic, partition, spool, lines_read)
        totals = _ingest_records(records, sink, settings, topic, partition, FILE_BATCH_RECORDS, now, on_batch)
        if gunzip is not None and gunzip.garbage is not None:
            result = _quarantine_garbage(gunzip, settings, sink, topic, partition, lines_read[0] + 1, spool, now)
            totals.add(result)
            if on_batch is not None:
                on_batch(result)
        return totals


def ingest_lines(
    lines: Iterable[bytes],
    sink: Sink,
    settings: Settings | None = None,
    *,
    topic: str = DEFAULT_TOPIC,
    partition: int = 0,
    batch_size: int = FILE_BATCH_RECORDS,
    timestamp_ms: int | None = None,
    now: datetime | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> IngestTotals:
    """Ingest JSON lines already in memory, ``batch_size`` records a batch; ``on_batch`` sees each result.

    Blank lines are skipped (their numbers still count as offsets).
    ``timestamp_ms`` stamps each record as its Kafka timestamp (None: no timestamp).
    """
    settings = settings or Settings.from_environment()
    check_topic(topic)

    def records() -> Iterator[tuple[int, bytes | LargeValue]]:
        for number, line in enumerate(lines, start=1):
            value = line.rstrip(b"\r\n")
            if number == 1:
                value = value.removeprefix(BOM)
            if not is_blank(value):
                yield number, value

    return _ingest_records(records(), sink, settings, topic, partition, batch_size, now, on_batch, timestamp_ms)


def _ingest_records(
    records: Iterable[tuple[int, bytes | LargeValue]],
    sink: Sink,
    settings: Settings,
    topic: str,
    partition: int,
    batch_size: int,
    now: datetime | None,
    on_batch: Callable[[BatchResult], None] | None,
    timestamp_ms: int | None = None,
) -> IngestTotals:
    totals = IngestTotals()
    batch: list[dict[str, Any]] = []
    size = 0

    def flush() -> None:
        result = ingest_batch(msk_event(batch), sink, settings, now=now)
        totals.add(result)
        if on_batch is not None:
            on_batch(result)

    for number, value in records:
        if isinstance(value, LargeValue):
            record = msk_record(topic, partition, number, None, timestamp_ms=0)
            record[VALUE_OBJECT] = value.reference()
        else:
            record = msk_record(topic, partition, number, value, timestamp_ms=0)
            size += len(value) * 4 // 3
        record["timestamp"] = timestamp_ms
        batch.append(record)
        size += 200
        if len(batch) >= batch_size or size >= FILE_BATCH_BYTES:
            flush()
            batch, size = [], 0
    if batch:
        flush()
    return totals


class _ChunkStream(io.RawIOBase):
    """A read-only raw stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from as many chunks as it takes (a peek at the magic bytes must see both)."""
        count = 0
        while count < len(buffer):
            if not self._pending:
                self._pending = memoryview(next(self._chunks, b""))
                if not self._pending:
                    break
            taken = min(len(buffer) - count, len(self._pending))
            buffer[count:count + taken] = self._pending[:taken]
            self._pending = self._pending[taken:]
            count += taken
        return count


def _open(chunks: Iterable[bytes]) -> tuple[BinaryIO, _Gunzip | None]:
    """The decompressed stream (gzip when it starts with gzip's magic bytes), and its gzip reader if any."""
    stream = io.BufferedReader(_ChunkStream(chunks), LINE_BUFFER)
    if stream.peek(2)[:2] == GZIP_MAGIC:
        gunzip = _Gunzip(stream)
        return io.BufferedReader(gunzip, LINE_BUFFER), gunzip
    return stream, None


class _Gunzip(io.RawIOBase):
    """Every gzip member of a stream, inflated a bounded piece at a time; stops at bytes that are not gzip.

    What follows the last whole member (zero padding aside), which ``gzip -t``
    accepts with a warning and ``gzip -d`` ignores, is not read as lines:
    :meth:`rest` gives it, from its first byte, for the caller to keep. A
    member cut short or corrupt raises :class:`OSError` (the records before
    it are not stored: the input is damaged, not just followed by garbage).
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._inflater = isal_zlib.decompressobj(wbits=31)
        self._out = memoryview(b"")
        self._finished = False
        self.garbage: bytes | None = None  # the first bytes after the last member that are not gzip

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out and not self._finished:
            self._out = memoryview(self._inflate())
        count = min(len(buffer), len(self._out))
        buffer[:count] = self._out[:count]
        self._out = self._out[count:]
        return count

    def _inflate(self) -> bytes:
        inflater = self._inflater
        try:
            if inflater.unconsumed_tail:
                return inflater.decompress(inflater.unconsumed_tail, READ_CHUNK)
            if inflater.eof:
                head = self._next_member(inflater.unused_data)
                if head is None:
                    self._finished = True
                    return b""
                self._inflater = isal_zlib.decompressobj(wbits=31)
                return self._inflater.decompress(head, READ_CHUNK)
            data = self._raw.read(READ_CHUNK)
            if not data:
                raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            return inflater.decompress(data, READ_CHUNK)
        except isal_zlib.error as error:  # type: ignore[misc]  # isal's stub declares `error` an instance; it is the class
            raise OSError(f"not readable as gzip: {error}") from error

    def _next_member(self, head: bytes) -> bytes | None:
        """The start of the next member, or None at the end (``garbage`` set when bytes other than zeros follow)."""
        while True:
            head = head.lstrip(b"\0")
            if len(head) < len(GZIP_MAGIC):
                more = self._raw.read(READ_CHUNK)
                if more:
                    head += more
                    continue
                if head:
                    self.garbage = head
                return None
            if head.startswith(GZIP_MAGIC):
                return head
            self.garbage = head
            return None

    def rest(self) -> Iterator[bytes]:
        """The bytes after the last whole member, from the first that is not gzip: ``garbage``, then the stream's rest."""
        if self.garbage is None:
            return
        yield self.garbage
        while more := self._raw.read(READ_CHUNK):
            yield more


def _read_records(
    stream: BinaryIO, settings: Settings, sink: Sink, topic: str, partition: int, spool: str,
    lines_read: list[int] | None = None,
) -> Iterator[tuple[int, bytes | LargeValue]]:
    """(line number, value) of each non-blank line; a value over the limit is stored and referenced.

    ``lines_read[0]`` follows the number of the last line read.
    """
    limit = settings.max_value_bytes + len(BOM) + 2  # room for a BOM and CR LF around a value at the limit
    number = 0
    lines_read = lines_read if lines_read is not None else [0]
    while True:
        lines_read[0] = number
        try:
            head = stream.readline(limit)
        except (OSError, EOFError, ValueError) as error:
            raise InputError(f"input is not readable after line {number}: {error}") from error
        if not head:
            return
        number += 1
        if number == 1:
            head = head.removeprefix(BOM)
        if head.endswith(b"\n") or len(head) < limit:
            value = head.rstrip(b"\r\n")
            if len(value) <= settings.max_value_bytes:
                if not is_blank(value):
                    yield number, value
                    continue
                try:  # the blank lines that follow a blank line, a buffer at a time
                    number += _skip_blank_lines(stream)
                except (OSError, EOFError, ValueError) as error:
                    raise InputError(f"input is not readable after line {number}: {error}") from error
                continue
        yield number, _store_large(head, stream, settings, sink, topic, partition, number, spool)


def _quarantine_garbage(
    gunzip: _Gunzip, settings: Settings, sink: Sink, topic: str, partition: int, offset: int, spool: str,
    now: datetime | None,
) -> BatchResult:
    """Keep the bytes after a gzip input's last whole member as a value object, quarantined as ``trailing_garbage``.

    One record numbered ``offset`` (the line after the last), so the whole
    input is accounted for: stored, quarantined, or kept here byte for byte.
    """
    path = os.path.join(spool, "trailing.gz")
    hasher = sha256()
    size = 0
    with igzip.open(path, "wb", compresslevel=1) as out:
        for piece in gunzip.rest():
            out.write(piece)
            hasher.update(piece)
            size += len(piece)
    digest = hasher.hexdigest()
    key = object_key(settings.quarantine_prefix, HourPartition.from_iso(NO_TIMESTAMP_HOUR),
                     value_name(topic, partition, offset, digest[:24]))
    sink.write_file(key, path)
    record = msk_record(topic, partition, offset, None, timestamp_ms=0)
    record["timestamp"] = None
    record[VALUE_OBJECT] = LargeValue(key, size, digest).reference()
    detail = f"{size} bytes after the input's last whole gzip member are not gzip (kept as {key})"
    objects = quarantine_records([record], TRAILING_GARBAGE, detail, settings, now)
    sink.write(objects)
    return BatchResult(records_in=1, stored=0, quarantined=1, objects_written=len(objects) + 1,
                       hours_touched=(), quarantine_reasons={TRAILING_GARBAGE: 1}, milliseconds=0.0)


def _skip_blank_lines(stream: BinaryIO) -> int:
    """Consume the whole blank lines at the stream's position, a buffer at a time; how many there were.

    Called after a blank line only: a peek copies the reader's buffer.

    A line by line read costs about a microsecond a line: a gzip file of
    100 MiB of newlines took 90 s. Whitespace after the run's last newline
    is left: it may start a record.
    """
    skipped = 0
    while True:
        buffered = stream.peek(READ_CHUNK)  # type: ignore[attr-defined]
        run = _BLANK_RUN.match(buffered)
        end = buffered.rfind(b"\n", 0, run.end()) + 1 if run else 0
        if not end:
            return skipped
        skipped += buffered.count(b"\n", 0, end)
        stream.read(end)


def _store_large(
    head: bytes, stream: BinaryIO, settings: Settings, sink: Sink, topic: str, partition: int, number: int,
    spool: str,
) -> LargeValue:
    """Stream the rest of a long line to a gzip temporary file, then store it as an object of its own."""
    path = os.path.join(spool, f"line-{number}.gz")
    hasher = sha256()
    size = 0
    carry = b""  # a trailing CR is part of the line ending only if LF follows
    with igzip.open(path, "wb", compresslevel=1) as out:
        chunk = head
        while chunk:
            ends = chunk.endswith(b"\n")
            body = carry + (chunk[:-1] if ends else chunk)
            if ends:
                body = body.removesuffix(b"\r")
                carry = b""
            else:
                body, carry = body[:-1], body[-1:]
            out.write(body)
            hasher.update(body)
            size += len(body)
            if ends:
                break
            try:
                chunk = stream.readline(READ_CHUNK)
            except (OSError, EOFError, ValueError) as error:
                raise InputError(f"input is not readable in line {number}: {error}") from error
        if carry:
            out.write(carry)
            hasher.update(carry)
            size += len(carry)
    digest = hasher.hexdigest()
    hour = HourPartition.from_iso(NO_TIMESTAMP_HOUR)
    key = object_key(settings.quarantine_prefix, hour, value_name(topic, partition, number, digest[:24]))
    sink.write_file(key, path)
    os.unlink(path)
    return LargeValue(key, size, digest)
