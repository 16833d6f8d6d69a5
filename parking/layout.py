"""Where events land: prefixes, hour partitions and object names.

This module is the one definition of the storage layout. The ingester writes
with it, the local query engine reads with it, and the Glue table's
``storage.location.template`` in ``serverless.yml`` is checked against
:func:`location_template` by a test.
"""

from __future__ import annotations

from dataclasses import dataclass

DATA_PREFIX = "parking-data/"
QUARANTINE_PREFIX = "parking-quarantine/"
PARTITION_KEYS = ("year", "month", "day", "hour")
OBJECT_SUFFIX = ".json.gz"


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


def object_name(topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    """Name derived only from what a redelivered batch repeats, so it overwrites.

    Offsets are zero-padded so names sort in offset order.
    """
    return f"{topic}+{partition}+{first_offset:019d}+{last_offset:019d}{OBJECT_SUFFIX}"


def object_key(prefix: str, partition: HourPartition, name: str) -> str:
    return f"{prefix}{partition.path}{name}"


def location_template(bucket: str, prefix: str = DATA_PREFIX) -> str:
    """Athena partition projection template matching :meth:`HourPartition.path`."""
    placeholders = HourPartition(*(f"${{{key}}}" for key in PARTITION_KEYS))
    return f"s3://{bucket}/{prefix}{placeholders.path}"


def data_glob(root: str, prefix: str = DATA_PREFIX) -> str:
    """Glob over every data object under a local root or S3 URL."""
    return f"{root.rstrip('/')}/{prefix}year=*/month=*/day=*/hour=*/*{OBJECT_SUFFIX}"


# The second tier: closed days compacted to Parquet (parking/lake/compaction.py).
COMPACTED_PREFIX = "parking-compacted/"
COMPACTED_SOURCES_PREFIX = "parking-compacted-sources/"
COMPACTED_SUFFIX = ".parquet"


def compacted_glob(root: str, prefix: str = COMPACTED_PREFIX) -> str:
    """Glob over every compacted day file under a local root: ``year=/month=/day=/<name>.parquet``."""
    return f"{root.rstrip('/')}/{prefix}year=*/month=*/day=*/*{COMPACTED_SUFFIX}"
