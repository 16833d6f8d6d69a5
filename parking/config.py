"""Settings, each with the environment variable it falls back to.

This is the one place the environment is read. An explicit argument always
beats the environment, which beats the default.

========================== ============================ ==========================================
variable                   default                      used by
========================== ============================ ==========================================
PARKING_BUCKET             (none; required in Lambda)   ingest Lambda, ``ingest --bucket``
PARKING_DATA_PREFIX        ``parking-data/``            ingester, both query engines
PARKING_QUARANTINE_PREFIX  ``parking-quarantine/``      ingester
PARKING_MAX_VALUE_BYTES    ``65536``                    ingester: larger values are quarantined
PARKING_EARLIEST_EVENT     ``2000-01-01T00:00:00Z``     ingester: earlier timestamps are ``too_early``
PARKING_QUARANTINE_KMS_KEY (none: the bucket's key)     S3 sink: KMS key of quarantine objects
PARKING_DATA_DIR           ``./data``                   local sink and local (DuckDB) engine
PARKING_ENGINE             ``local``                    ``parking-cli``: ``local`` or ``athena``
PARKING_DATABASE           ``parking_analytics``        Athena engine
PARKING_TABLE              ``parking_events``           Athena engine (the local view is always ``parking_events``)
PARKING_WORKGROUP          ``parking-analytics``        Athena engine
PARKING_OUTPUT_LOCATION    (none: the workgroup's)      Athena engine: ``s3://BUCKET/PREFIX/``
AWS_ENDPOINT_URL           (none: AWS's own endpoints)  named in the message when AWS is out of reach
AWS_REGION                 (boto3's default chain)      Athena engine, S3 sink
AWS_PROFILE                (boto3's default chain)      Athena engine, S3 sink
PARKING_COMPACTION_LATENESS_DAYS ``2``                  ``compact``: a UTC day is compacted once it ended this long ago
PARKING_LOOKBACK_HOURS     ``24``                       every query, saved query and the zones function: the default lookback (METRICS.md section 3)
PARKING_STATE_TABLE        (none: no table on S3)       ingest to S3, live answers, zones Lambda: the DynamoDB table
PARKING_COMPACTION_HOUR_LATENESS_MINUTES ``10``         ``compact``: a UTC hour is compacted once it ended this long ago
PARKING_COMPACTION_REMOVAL_DELAY_MINUTES ``60`` on S3, ``0`` locally  ``compact``: what a newer file holds is removed this long after
========================== ============================ ==========================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from parking.errors import ConfigurationError
from parking.layout import DATA_PREFIX, QUARANTINE_PREFIX, check_prefix

ENGINES = ("local", "athena")

# What Athena accepts where the settings name its parts (checked before any query runs).
SQL_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")  # the table's name goes into the SQL text
WORKGROUP_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")  # Athena's WorkGroupName pattern
DATABASE_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")  # Glue database names Athena can use
S3_LOCATION = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?")

#: The earliest event instant the validator accepts by default (METRICS.md
#: section 1). The Glue table's partition projection starts at its year, so
#: every partition the ingester can write is visible to Athena (section 2).
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=timezone.utc)

#: The largest size limit a value may be given (bytes): Kafka sizes a record
#: with a signed 32-bit integer, so no larger value can arrive, and file reads
#: take the limit as a length (a larger one overflowed them).
MAX_VALUE_BYTES_LIMIT = 2**31 - 1

_ENVIRONMENT = {
    "bucket": "PARKING_BUCKET",
    "data_prefix": "PARKING_DATA_PREFIX",
    "quarantine_prefix": "PARKING_QUARANTINE_PREFIX",
    "max_value_bytes": "PARKING_MAX_VALUE_BYTES",
    "earliest_event": "PARKING_EARLIEST_EVENT",
    "quarantine_kms_key": "PARKING_QUARANTINE_KMS_KEY",
    "data_dir": "PARKING_DATA_DIR",
    "engine": "PARKING_ENGINE",
    "database": "PARKING_DATABASE",
    "table": "PARKING_TABLE",
    "workgroup": "PARKING_WORKGROUP",
    "output_location": "PARKING_OUTPUT_LOCATION",
    "region": "AWS_REGION",
    "profile": "AWS_PROFILE",
    "endpoint_url": "AWS_ENDPOINT_URL",
    "compaction_lateness_days": "PARKING_COMPACTION_LATENESS_DAYS",
    "lookback_hours": "PARKING_LOOKBACK_HOURS",
    "state_table": "PARKING_STATE_TABLE",
    "compaction_hour_lateness_minutes": "PARKING_COMPACTION_HOUR_LATENESS_MINUTES",
    "compaction_removal_delay_minutes": "PARKING_COMPACTION_REMOVAL_DELAY_MINUTES",
}
#: Removal delay on a bucket when none is set: longer than Athena's 30-minute query
#: timeout, so a query that listed an object a compaction folded has ended before
#: the object is removed (README, "Two tiers"). A local directory is read only by
#: the local engine, which lists again when a file vanished: no delay.
S3_REMOVAL_DELAY_MINUTES = 60
MINUTES_A_DAY = 1440
#: The longest lookback a query accepts, in hours (a leap year).
MAX_LOOKBACK_HOURS = 24 * 366


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :meth:`from_env`."""

    bucket: str | None = None
    data_prefix: str = DATA_PREFIX
    quarantine_prefix: str = QUARANTINE_PREFIX
    max_value_bytes: int = 65536
    earliest_event: datetime = EARLIEST_EVENT
    quarantine_kms_key: str | None = None
    data_dir: Path = Path("data")
    engine: str = "local"
    database: str = "parking_analytics"
    table: str = "parking_events"
    workgroup: str = "parking-analytics"
    output_location: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    compaction_lateness_days: int = 2
    lookback_hours: float = 24.0
    state_table: str | None = None
    compaction_hour_lateness_minutes: int = 10
    compaction_removal_delay_minutes: int | None = None  # None: S3_REMOVAL_DELAY_MINUTES on S3, 0 locally

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Arguments that are not None beat the environment, which beats defaults."""
        env = os.environ if env is None else env
        unknown = set(overrides) - set(_ENVIRONMENT)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        labels: dict[str, str] = {}
        for field in fields(cls):
            value = overrides.get(field.name)
            labels[field.name] = field.name
            if value is None:
                value = env.get(_ENVIRONMENT[field.name]) or None
                labels[field.name] = _ENVIRONMENT[field.name]
            if value is not None:
                values[field.name] = _coerce(field.name, value)
        settings = cls(**values)
        settings.validate(labels)
        return settings

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings every entry point reads: arguments that are not None, else the environment, else defaults."""
        return cls.from_env(env, **overrides)

    def validate(self, labels: Mapping[str, str] | None = None) -> None:
        """Raise :class:`ConfigurationError` naming the first bad setting.

        ``labels`` says what to call each setting in the message: the
        environment variable it came from (the default) or the argument.
        """
        label = {**_ENVIRONMENT, **(labels or {})}
        if self.engine not in ENGINES:
            raise ConfigurationError(
                f"{label['engine']}={self.engine!r} is not an engine: choose one of {', '.join(ENGINES)}"
            )
        if self.engine == "athena":
            self._validate_athena(label)
        for name in ("data_prefix", "quarantine_prefix"):
            check_prefix(label[name], getattr(self, name))
        if self.data_prefix.startswith(self.quarantine_prefix) or self.quarantine_prefix.startswith(self.data_prefix):
            raise ConfigurationError(
                f"{label['data_prefix']} and {label['quarantine_prefix']} must not contain one another: "
                f"{self.data_prefix!r}, {self.quarantine_prefix!r}"
            )
        if self.max_value_bytes < 1:
            raise ConfigurationError(f"{label['max_value_bytes']} must be positive: {self.max_value_bytes}")
        if self.max_value_bytes > MAX_VALUE_BYTES_LIMIT:
            raise ConfigurationError(f"{label['max_value_bytes']} must be at most {MAX_VALUE_BYTES_LIMIT} "
                                     f"(Kafka's largest record): {self.max_value_bytes}")
        if self.earliest_event.tzinfo is None:
            raise ConfigurationError(f"{label['earliest_event']} must be timezone-aware (end in Z or +HH:MM)")
        if not 0 <= self.compaction_lateness_days <= 3660:
            raise ConfigurationError(
                f"{_ENVIRONMENT['compaction_lateness_days']} must be a whole number of days from 0 to 3660: "
                f"{self.compaction_lateness_days}"
            )
        for name in ("compaction_hour_lateness_minutes", "compaction_removal_delay_minutes"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MINUTES_A_DAY:
                raise ConfigurationError(
                    f"{_ENVIRONMENT[name]} must be a whole number of minutes from 0 to {MINUTES_A_DAY}: {value}"
                )
        if not 0 < self.lookback_hours <= MAX_LOOKBACK_HOURS:
            raise ConfigurationError(
                f"{label['lookback_hours']} must be a number of hours above 0 and at most {MAX_LOOKBACK_HOURS}: "
                f"{self.lookback_hours:g}"
            )

    def removal_delay(self, on_s3: bool) -> timedelta:
        """How long after a newer file holds an object the compaction removes it: the setting, else the store's default."""
        minutes = self.compaction_removal_delay_minutes
        if minutes is None:
            minutes = S3_REMOVAL_DELAY_MINUTES if on_s3 else 0
        return timedelta(minutes=minutes)

    def _validate_athena(self, label: Mapping[str, str]) -> None:
        """The Athena settings, checked when Athena runs: a typo in one must not stop local or S3 work."""
        if not WORKGROUP_NAME.fullmatch(self.workgroup):
            raise ConfigurationError(f"{label['workgroup']}={self.workgroup!r} is not an Athena workgroup name "
                                     "(1-128 letters, digits, '.', '_', '-'; analysts use parking-analytics-<team>)")
        if not DATABASE_NAME.fullmatch(self.database):
            raise ConfigurationError(f"{label['database']}={self.database!r} is not a Glue database name "
                                     "(letters, digits, '_', '-')")
        if not SQL_IDENTIFIER.fullmatch(self.table):
            raise ConfigurationError(f"{label['table']}={self.table!r} is not a plain SQL identifier "
                                     "(a letter or '_', then letters, digits, '_')")
        if self.output_location is not None and not S3_LOCATION.fullmatch(self.output_location):
            raise ConfigurationError(f"{label['output_location']}={self.output_location!r} is not an S3 location: "
                                     "set it to s3://BUCKET/PREFIX/, or unset it to use the workgroup's")

    def require_bucket(self) -> str:
        if not self.bucket:
            raise ConfigurationError("no bucket: set PARKING_BUCKET or pass a bucket name")
        return self.bucket


def lookback_hours_from_env(env: Mapping[str, str] | None = None) -> float:
    """The deployment's default lookback in hours: ``PARKING_LOOKBACK_HOURS``, else 24 (METRICS.md section 3).

    Only this variable is read, so a query's default does not depend on the
    other settings; :class:`ConfigurationError` names it when it is not a
    number of hours above 0 and at most :data:`MAX_LOOKBACK_HOURS`.
    """
    env = os.environ if env is None else env
    value = env.get(_ENVIRONMENT["lookback_hours"]) or None
    if value is None:
        return Settings.lookback_hours
    settings = Settings(lookback_hours=_coerce("lookback_hours", value))
    settings.validate()
    return settings.lookback_hours


def _coerce(name: str, value: Any) -> Any:
    if name == "data_dir":
        return Path(value)
    if name == "earliest_event":
        return _instant(value)
    if name == "lookback_hours":
        try:
            hours = float(value)
        except ValueError:
            raise ConfigurationError(f"{_ENVIRONMENT[name]} is not a number of hours: {value!r}") from None
        if hours != hours:  # NaN
            raise ConfigurationError(f"{_ENVIRONMENT[name]} is not a number of hours: {value!r}")
        return hours
    if name in ("max_value_bytes", "compaction_lateness_days", "compaction_hour_lateness_minutes",
                "compaction_removal_delay_minutes"):
        try:
            return int(value)
        except ValueError:
            raise ConfigurationError(f"{_ENVIRONMENT[name]} is not an integer: {value!r}") from None
    if name == "lookback_hours":
        try:
            hours = float(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{_ENVIRONMENT[name]} is not a number of hours: {value!r}") from None
        if hours != hours:  # NaN
            raise ConfigurationError(f"{_ENVIRONMENT[name]} is not a number of hours: {value!r}")
        return hours
    return value


def _instant(value: Any) -> datetime:
    """An aware datetime from a datetime or ISO-8601 text with a zone (``Z`` or ``+HH:MM``)."""
    if isinstance(value, datetime):
        instant = value
    else:
        try:
            instant = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(f"PARKING_EARLIEST_EVENT is not an ISO-8601 instant: {value!r}") from None
    if instant.tzinfo is None:
        raise ConfigurationError(f"PARKING_EARLIEST_EVENT has no zone (Z or +HH:MM): {value!r}")
    return instant.astimezone(timezone.utc)
