"""Where events land: prefixes, hour partitions and object names (docs/METRICS.md section 2).

This module is the one definition of the storage layout. The ingester writes
with it, the local query engine reads with it, and the Glue table's
``storage.location.template`` in ``serverless.yml`` is checked against
:func:`location_template` by a test. Object names are a choice the spec
leaves open: docs/CHOICES.md, "Where events land".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from hashlib import sha256

from parking.errors import ConfigurationError

DATA_PREFIX = "parking-data/"
QUARANTINE_PREFIX = "parking-quarantine/"
PARTITION_KEYS = ("year", "month", "day", "hour")
OBJECT_SUFFIX = ".json.gz"
VALUE_SUFFIX = ".value.gz"  # a quarantined value too large for its line, kept beside it
DIGEST_HEX = 24  # 96 bits of SHA-256 over the records an object holds
# The topic as an object name holds it: whole up to this many characters, else
# its head, '.', and TOPIC_DIGEST_HEX hex digits of SHA-256 over the whole topic.
# The longest name is then 160 + 87 = 247 bytes, under the 255 that local file
# systems allow in a name (S3 allows 1,024 in a key): docs/CHOICES.md.
MAX_NAME_TOPIC = 160
TOPIC_DIGEST_HEX = 16
MAX_PARTITION = 2**31 - 1  # Kafka's partition is an int32

# Kafka's own topic grammar: no '/', so a topic can never leave its prefix.
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
# A prefix segment: starts with a letter or digit (Hive, Trino and Athena skip
# paths whose name starts with '_' or '.'), so '.' and '..' are impossible too.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]{0,254}")
_NAME = re.compile(
    r"(?P<topic>~?[A-Za-z0-9._-]{1,249})\+(?P<partition>[0-9]{1,10})\+(?P<first>-?[0-9]{19})\+(?P<last>-?[0-9]{19})"
    rf"\+(?P<digest>[0-9a-f]{{{DIGEST_HEX}}})(?P<suffix>{re.escape(OBJECT_SUFFIX)}|{re.escape(VALUE_SUFFIX)})"
)


@dataclass(frozen=True, slots=True)
class HourPartition:
    """One UTC hour of the Hive layout, as the zero-padded strings Athena sees."""

    year: str
    month: str
    day: str
    hour: str

    @classmethod
    def from_iso(cls, text: str) -> HourPartition:
        """Partition of a canonical UTC timestamp (``YYYY-MM-DDTHH...``)."""
        return cls(text[0:4], text[5:7], text[8:10], text[11:13])

    @property
    def path(self) -> str:
        return f"year={self.year}/month={self.month}/day={self.day}/hour={self.hour}/"


def check_topic(topic: str) -> str:
    """``topic`` if it is a Kafka topic name (``[A-Za-z0-9._-]``, 1-249 characters, not ``.`` or ``..``).

    Raises :class:`ConfigurationError`; METRICS.md section 2.
    """
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic) or topic in (".", ".."):
        raise ConfigurationError(f"topic {str(topic)[:60]!r} is not a Kafka topic name ([A-Za-z0-9._-], 1-249 characters)")
    return topic


def check_prefix(name: str, prefix: str) -> str:
    """``prefix`` if it is a relative key prefix ending in '/' whose segments are not hidden.

    Each segment starts with a letter or digit and holds only ``[A-Za-z0-9._=-]``,
    so no prefix leads a write outside the bucket or data directory (``..``) or
    into a folder the query engines skip (``_x``, ``.x``). Raises
    :class:`ConfigurationError`.
    """
    segments = prefix.split("/") if isinstance(prefix, str) else []
    if len(segments) < 2 or segments[-1] != "" or not all(_SEGMENT.fullmatch(s) for s in segments[:-1]):
        raise ConfigurationError(
            f"{name} must be relative, end with '/', and have segments that start with a letter or digit "
            f"and hold only A-Z a-z 0-9 . _ = -: {prefix!r}"
        )
    return prefix


def name_topic(topic: str) -> str:
    """The topic as it starts an object name: at most :data:`MAX_NAME_TOPIC` characters.

    ``~`` (never in a topic) goes before a leading ``_`` or ``.``, so no name
    is hidden from Athena. A longer topic keeps its head, then ``.`` and 16 hex
    digits of SHA-256 over the whole topic: two long topics sharing a head
    still name apart, and the object's own digest covers the whole topic too.
    Idempotent on a topic whose name is already at most the bound.
    """
    marked = f"~{topic}" if topic[:1] in ("_", ".") else topic
    if len(marked) <= MAX_NAME_TOPIC:
        return marked
    digest = sha256(topic.encode("ascii")).hexdigest()[:TOPIC_DIGEST_HEX]
    return f"{marked[:MAX_NAME_TOPIC - TOPIC_DIGEST_HEX - 1]}.{digest}"


def name_source_topic(label: str) -> str:
    """A Kafka topic for the records of an object whose name starts with ``label`` (lake repair).

    The topic itself when the name holds it whole; the shortened label (a
    legal topic once its ``~`` is dropped) when it does not, so records
    re-filed from such an object are named under the same label again.
    """
    return label.removeprefix("~")


def object_name(topic: str, partition: int, first_offset: int, last_offset: int, digest: str) -> str:
    """Name of one object: its records' topic, Kafka partition, offset range and content digest.

    The same records give the same name (a redelivery overwrites itself);
    different records (a recreated topic, another file) give another digest.
    Offsets are zero-padded so names sort in offset order; a name never
    starts with ``_`` or ``.``. METRICS.md section 2.
    """
    _check_source(topic, partition)
    return f"{name_topic(topic)}+{partition}+{first_offset:019d}+{last_offset:019d}+{digest}{OBJECT_SUFFIX}"


def value_name(topic: str, partition: int, offset: int, digest: str) -> str:
    """Name of one quarantined record's raw value kept as an object of its own, beside its quarantine line."""
    _check_source(topic, partition)
    return f"{name_topic(topic)}+{partition}+{offset:019d}+{offset:019d}+{digest}{VALUE_SUFFIX}"


def _check_source(topic: str, partition: int) -> None:
    check_topic(topic)
    if type(partition) is not int or not 0 <= partition <= MAX_PARTITION:
        raise ConfigurationError(f"Kafka partition {str(partition)[:20]!r} is not an integer from 0 to {MAX_PARTITION}")


def parse_name(name: str) -> dict[str, str] | None:
    """The parts of an object name the ingester writes, or None when it is not one."""
    match = _NAME.fullmatch(name)
    return match.groupdict() if match else None


def object_key(prefix: str, partition: HourPartition, name: str) -> str:
    return f"{prefix}{partition.path}{name}"


def location_template(bucket: str, prefix: str = DATA_PREFIX) -> str:
    """Athena partition projection template matching :meth:`HourPartition.path`."""
    placeholders = HourPartition(*(f"${{{key}}}" for key in PARTITION_KEYS))
    return f"s3://{bucket}/{prefix}{placeholders.path}"


def data_glob(root: str, prefix: str = DATA_PREFIX) -> str:
    """Glob over every data object under a local root or S3 URL; hidden names (``.x``, ``_x``) left out, as Athena does."""
    return f"{root.rstrip('/')}/{prefix}year=*/month=*/day=*/hour=*/[!._]*{OBJECT_SUFFIX}"


# The second tier: closed days compacted to Parquet (parking/lake/compaction/).
COMPACTED_PREFIX = "parking-compacted/"
COMPACTED_SOURCES_PREFIX = "parking-compacted-sources/"
COMPACTED_SUFFIX = ".parquet"


def glob_escape(path: str) -> str:
    """A local path as a DuckDB glob that matches only itself: ``[``, ``*``, ``?`` as one-character classes."""
    return re.sub(r"([\[*?])", r"[\1]", path)


def compacted_glob(root: str, prefix: str = COMPACTED_PREFIX) -> str:
    """Glob over every compacted day file under a local root: ``year=/month=/day=/<name>.parquet``, not hidden ones."""
    return f"{root.rstrip('/')}/{prefix}year=*/month=*/day=*/[!._]*{COMPACTED_SUFFIX}"
