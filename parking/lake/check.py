"""Finding and repairing objects in the lake that are not what the ingester writes (METRICS.md section 2).

Another writer, a crash outside our sinks, or a hand-copied file can leave
under the data prefix an object no query can read (empty, truncated, not
gzip, not JSON lines), lines that are not valid events, events filed under
the wrong hour (which the queries silently miss), or a name the ingester
never gives (a hidden ``_x`` or ``.x`` file that Athena skips). One such
object makes every query over its hours fail.

:func:`check_lake` reports each; with ``repair`` it moves what a bad object
holds to where the ingester would have put it, then removes the object:

* valid events (also those in the wrong hour) are re-filed through the
  ingest path into their own hour, under names derived from their content;
* invalid lines are quarantined one record each, reason ``lake_invalid_line``,
  the line's original bytes as the value;
* bytes that cannot be read as lines (a gzip stream broken from some point
  on) are kept, gzip-compressed, as an object of their own beside one
  quarantine line with reason ``lake_unreadable``; what was read before the
  break (a truncated stream's last, cut line too, and every line of a body
  that is not gzip at all) is handled line by line as above, so each record
  is counted, and kept, once;
* an empty object holds nothing and is removed.

New objects are written before the bad one is removed: a crash can repeat a
record, never lose one. ``replay`` then treats the quarantined records like
any other. Objects under the quarantine prefix are checked and reported,
not repaired (no query reads them).

The compacted tier (``parking-compacted/``) is checked by
:func:`parking.lake.compaction.tier_check.check_compacted`; :func:`repair_compacted_tier`
rebuilds each day it reports from the JSON objects kept under
``parking-compacted-sources/`` and quarantines each bad day file whole, with
reason ``lake_compacted_<problem>`` (README, "Two tiers").
"""

from __future__ import annotations

import gzip
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from hashlib import sha256
from typing import TYPE_CHECKING, Any

import orjson

from parking.config import Settings
from parking.errors import ConfigurationError
from parking.ingest.batch import NO_TIMESTAMP_HOUR, ORIGIN, VALUE_OBJECT, ingest_batch, quarantine_records
from parking.ingest.msk import msk_event
from parking.ingest.sinks import LocalSink, S3Sink, Sink
from parking.lake.objects import (  # noqa: F401  (the problems' names, re-exported)
    BAD_NAME,
    EMPTY,
    INVALID_LINES,
    NOT_AS_STORED,
    PARTITION_PATH,
    UNREADABLE,
    WRONG_HOUR,
    Finding,
    Inspection,
    inspect_object,
    read_lines,
)
from parking.lake.stores import LocalStore, S3Store, Store, in_progress, writer_temp
from parking.layout import (
    MAX_PARTITION,
    VALUE_SUFFIX,
    HourPartition,
    check_topic,
    name_source_topic,
    object_key,
    parse_name,
    value_name,
)

if TYPE_CHECKING:
    from parking.lake.compaction.repair import RepairReport

LAKE_TOPIC = "lake"




@dataclass
class CheckReport:
    """What a check found and, with repair, what it did."""

    objects: int = 0
    findings: list[Finding] = field(default_factory=list)
    bad_objects: set[str] = field(default_factory=set)
    repaired: int = 0
    refiled: int = 0
    quarantined: int = 0
    leftovers: list[str] = field(default_factory=list)  # a stopped local writer's temporary files: not data
    removed_leftovers: int = 0
    in_progress: list[str] = field(default_factory=list)  # a running writer's temporary files: left alone

    @property
    def clean(self) -> bool:
        return not self.bad_objects


def check_lake(
    store: Store,
    settings: Settings | None = None,
    *,
    repair: bool = False,
    now: datetime | None = None,
    on_finding: Callable[[Finding], None] | None = None,
    sink: Sink | None = None,
) -> CheckReport:
    """Walk the data and quarantine prefixes; report (and with ``repair`` fix) each bad object.

    A repair writes through ``sink`` (the settings' S3 sink encrypts quarantine
    objects), else through the plain ingest path sink for where ``store`` lives.
    """
    settings = settings or Settings.from_environment()
    now = now or datetime.now(timezone.utc)
    report = CheckReport()
    sink = sink or sink_of(store)

    def found(key: str, problem: str, detail: str) -> None:
        finding = Finding(key, problem, detail)
        report.findings.append(finding)
        report.bad_objects.add(key)
        if on_finding is not None:
            on_finding(finding)

    for key in store.keys(settings.data_prefix, hidden=True):
        if not _leftover(store, key, report, repair):
            report.objects += 1
            _check_data_object(store, sink, key, settings, now, found, report, repair)
    for key in store.keys(settings.quarantine_prefix, hidden=True):
        if not _leftover(store, key, report, repair):
            report.objects += 1
            _check_quarantine_object(store, key, settings, found)
    return report


def _leftover(store: Store, key: str, report: CheckReport, repair: bool) -> bool:
    """Whether ``key`` is a local writer's temporary file; with ``repair`` removed when its writer is gone.

    A running writer's is work in progress (:func:`parking.lake.stores.in_progress`),
    left alone. A writer links its temporary file into place only once it
    is whole and flushed, and acknowledges its batch only after that; one
    it left behind (killed) holds nothing the lake lacks or a redelivery
    will not bring, so it is neither damage nor events to re-file.
    """
    if in_progress(store, key):
        report.in_progress.append(key)
        return True
    if not isinstance(store, LocalStore) or writer_temp(key) is None:
        return False
    report.leftovers.append(key)
    if repair:
        store.delete(key)
        report.removed_leftovers += 1
    return True


def _check_data_object(
    store: Store, sink: Sink, key: str, settings: Settings, now: datetime, found: Callable[[str, str, str], None],
    report: CheckReport, repair: bool,
) -> None:
    body = store.read(key)
    inspection = inspect_object(key, body, settings.data_prefix, settings, now)
    for problem, detail in inspection.problems:
        found(key, problem, detail)
    if not repair or inspection.clean:
        return
    if body:
        _refile(sink, inspection, settings, now, report)
    if store.read(key) == body:  # else the re-filed events took its very name: what is there now is theirs
        store.delete(key)
    report.repaired += 1


def _refile(sink: Sink, inspection: Inspection, settings: Settings, now: datetime, report: CheckReport) -> None:
    """Write what a flagged object holds where the ingester would have put it (the object itself stays).

    Valid events are re-filed through the ingest path into their own hour;
    invalid lines are quarantined one record each (``lake_invalid_line``);
    bytes that cannot be read are kept whole (``lake_unreadable``). Names
    derive from content, so doing it twice writes the same objects.
    """
    key, parts, valid, invalid = inspection.key, inspection.parts, inspection.valid, inspection.invalid
    topic, partition = _source(parts)
    objects: dict[str, bytes] = {}
    if valid:
        event = msk_event(_record(topic, partition, number, line) for number, line in valid)
        refile = replace(settings, max_value_bytes=inspection.limit)  # re-filed by the limit they were judged by
        report.refiled += ingest_batch(event, sink, refile, now=now).stored
    if invalid:
        records = [_record(topic, partition, number, line) | {ORIGIN: f"{key} line {number}"}
                   for number, line, _ in invalid]
        details = "; ".join(sorted({f"{error.reason}" for _, _, error in invalid}))
        objects |= quarantine_records(records, "lake_invalid_line", f"from {key}: {details}", settings, now)
        report.quarantined += len(records)
    if inspection.rest:
        objects |= _kept_whole(sink, inspection.rest, topic, partition, key, "lake_unreadable",
                               f"from {key}: {inspection.unreadable}", settings, now)
        report.quarantined += 1
    if objects:
        sink.write(objects)


def sink_of(store: Store) -> Sink:
    """The ingest path's plain sink for where ``store`` lives (no quarantine key: the settings' S3 sink has it)."""
    if isinstance(store, LocalStore):
        return LocalSink(store.root)
    if isinstance(store, S3Store):
        return S3Sink(store.bucket, store.client)
    raise TypeError(f"no sink for {type(store).__name__}")


def _kept_whole(
    sink: Sink, body: bytes, topic: str, partition: int, origin: str, reason: str, detail: str, settings: Settings,
    now: datetime,
) -> dict[str, bytes]:
    """Write ``body`` gzip-compressed as a kept value; return the quarantine object pointing at it (to write).

    ``origin`` is the lake object the bytes came from (the quarantine line's ``origin``).
    """
    digest = sha256(body).hexdigest()
    value_key = object_key(settings.quarantine_prefix, HourPartition.from_iso(NO_TIMESTAMP_HOUR),
                           value_name(topic, partition, 0, digest[:24]))
    sink.write({value_key: gzip.compress(body, mtime=0)})
    record = _record(topic, partition, 0, None)
    record[VALUE_OBJECT] = {"key": value_key, "bytes": len(body), "sha256": digest, "compression": "gzip"}
    record[ORIGIN] = origin
    return quarantine_records([record], reason, detail, settings, now)


def repair_compacted_tier(
    store: Store,
    settings: Settings | None = None,
    *,
    now: datetime | None = None,
    findings: list[Finding] | None = None,
    checkpoint: Callable[[str], None] | None = None,
    sink: Sink | None = None,
) -> RepairReport:
    """Mend what :func:`parking.lake.compaction.tier_check.check_compacted` reports (``findings``, else checked now).

    A kept source whose lines are flagged (wrong hour, invalid, not as
    stored) has its events re-filed under the data prefix and the rest
    quarantined, as a data object would (``lake_invalid_line``,
    ``lake_unreadable``); then each reported day is rebuilt from its clean
    kept sources, any clean JSON still under the data prefix, and its files
    that check clean, without the rows of those kept sources, which are
    removed last. A kept source only damaged as a whole (a bad name, empty,
    unreadable) and a bad file under the compacted prefix (``foreign``, ``hidden``, ``unreadable``,
    ``misfiled``, ``disagrees``) is kept byte for byte, gzip-compressed, as a
    value object under the quarantine prefix beside one quarantine line with
    reason ``lake_compacted_<problem>`` (an empty file holds nothing and is
    only removed), then removed. ``lost``, ``shortened`` and ``unfinished``
    days are rebuilt. Returns the repair's report; ``refiled`` and
    ``quarantined`` count what the kept sources gave. Writes through ``sink``
    as :func:`check_lake` does.
    """
    from parking.lake.compaction.repair import repair_compacted, returned_sources
    from parking.lake.compaction.tier_check import check_compacted
    from parking.layout import COMPACTED_SOURCES_PREFIX

    settings = settings or Settings.from_environment()
    now = now or datetime.now(timezone.utc)
    sink = sink or sink_of(store)
    if findings is None:
        findings = check_compacted(store, settings, now=now)
    counts = CheckReport()
    for key in sorted(returned_sources(findings)):
        inspection = inspect_object(key, store.read(key), COMPACTED_SOURCES_PREFIX, settings, now)
        if inspection.body:
            _refile(sink, inspection, settings, now, counts)

    def set_aside(key: str, body: bytes, finding: Finding) -> None:
        if body:
            detail = f"from {key}: {finding.problem} ({finding.detail})"
            sink.write(_kept_whole(sink, body, LAKE_TOPIC, 0, key, f"lake_compacted_{finding.problem}", detail,
                                   settings, now))

    report = repair_compacted(store, set_aside, data_prefix=settings.data_prefix, settings=settings, now=now,
                              findings=findings, checkpoint=checkpoint)
    report.refiled, report.quarantined = counts.refiled, counts.quarantined
    return report


def _check_quarantine_object(store: Store, key: str, settings: Settings, found: Callable[[str, str, str], None]) -> None:
    relative = key[len(settings.quarantine_prefix):]
    path = PARTITION_PATH.match(relative)
    parts = parse_name(relative[path.end():]) if path else None
    if parts is None:
        found(key, BAD_NAME, "not a quarantine object or kept value the ingester writes")
        return
    if parts["suffix"] == VALUE_SUFFIX:
        return
    contents = read_lines(store.read(key))
    if contents.unreadable:
        found(key, UNREADABLE, f"{contents.unreadable}; replay cannot read it")
    bad = 0
    for line in contents.lines:
        try:
            entry = orjson.loads(line)
            if not isinstance(entry, dict) or not {"reason", "topic", "partition", "offset", "value"} <= entry.keys():
                bad += 1
        except orjson.JSONDecodeError:
            bad += 1
    if bad:
        found(key, INVALID_LINES, f"{bad} lines are not quarantine lines; replay cannot read them")


def _source(parts: dict[str, str] | None) -> tuple[str, int]:
    """Topic and partition for what an object holds: its name's, or ``lake`` 0 when the name gives none."""
    if parts is None:
        return LAKE_TOPIC, 0
    topic, partition = name_source_topic(parts["topic"]), int(parts["partition"])
    try:
        check_topic(topic)
    except ConfigurationError:  # a foreign name such as '~..'
        return LAKE_TOPIC, 0
    return topic, partition if partition <= MAX_PARTITION else 0


def _record(topic: str, partition: int, offset: int, line: bytes | None) -> dict[str, Any]:
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": None,
        "timestampType": None,
        "key": None,
        "value": None if line is None else b64encode(line).decode("ascii"),
        "headers": [],
    }
