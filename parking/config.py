"""Settings, each with the environment variable it falls back to.

This is the one place the environment is read. An explicit argument always
beats the environment, which beats the default. Each setting is one row of
:data:`SETTINGS` (its variable, how its text is read, what it is for); the
list below and the README's table are made from it (tests/test_settings_table.py).

"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from parking.errors import ConfigurationError
from parking.layout import DATA_PREFIX, QUARANTINE_PREFIX, check_prefix
from parking.text import DECIMAL, DIGITS, shortened

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

def _text(variable: str, value: Any) -> Any:
    return value


def _path(variable: str, value: Any) -> Path:
    return Path(value)


def _integer(variable: str, value: Any) -> int:
    """An integer: an int, or decimal digits perhaps after a '-' (not ``+3``, `` 3``, ``1_2`` or ``3.0``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    try:
        if DIGITS.fullmatch(text.removeprefix("-")):
            return int(text)
    except ValueError:  # more digits than Python converts
        pass
    raise ConfigurationError(f"{variable} is not an integer: {shortened(text, 80, 20)!r}")


def _number_of(unit: str) -> Callable[[str, Any], float]:
    """A parser of a number of ``unit`` (hours, seconds): a finite float, typed as :data:`DECIMAL` reads it."""

    def parse(variable: str, value: Any) -> float:
        if isinstance(value, str) and not DECIMAL.fullmatch(value):  # 'nan', 'inf', '1_0', ' 2'
            raise ConfigurationError(f"{variable} is not a number of {unit}: {shortened(value, 80, 20)!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{variable} is not a number of {unit}: {value!r}") from None
        if not math.isfinite(number):  # NaN passes every bound; 1e309 is an infinity
            raise ConfigurationError(f"{variable} is not a finite number of {unit}: {value!r}")
        return number

    return parse


_hours = _number_of("hours")
_seconds = _number_of("seconds")


def _instant(variable: str, value: Any) -> datetime:
    """An aware datetime from a datetime or ISO-8601 text with a zone (``Z`` or ``+HH:MM``)."""
    if isinstance(value, datetime):
        instant = value
    else:
        try:
            instant = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(f"{variable} is not an ISO-8601 instant: {value!r}") from None
    if instant.tzinfo is None:
        raise ConfigurationError(f"{variable} has no zone (Z or +HH:MM): {value!r}")
    return instant.astimezone(timezone.utc)


@dataclass(frozen=True)
class Setting:
    """One setting: its :class:`Settings` field, its variable, how its text is read, and what it is for.

    ``default`` is the default as people read it (README, this module's
    docstring), written out where the field's own default is not the whole
    story; otherwise it is the field's default. ``doc`` is Markdown.
    """

    field: str
    variable: str
    parse: Callable[[str, Any], Any]
    doc: str
    default: str | None = None


#: Every setting, in the order the README lists them: the one table the rest is made from.
SETTINGS: tuple[Setting, ...] = (
    Setting("bucket", "PARKING_BUCKET", _text, "ingest Lambda, `ingest --bucket`", "(required in Lambda)"),
    Setting("data_prefix", "PARKING_DATA_PREFIX", _text, "ingester, engines"),
    Setting("quarantine_prefix", "PARKING_QUARANTINE_PREFIX", _text, "ingester"),
    Setting("max_value_bytes", "PARKING_MAX_VALUE_BYTES", _integer, "larger Kafka values are quarantined"),
    Setting("earliest_event", "PARKING_EARLIEST_EVENT", _instant,
            "earlier event timestamps are quarantined (`too_early`)", "`2000-01-01T00:00:00Z`"),
    Setting("quarantine_kms_key", "PARKING_QUARANTINE_KMS_KEY", _text,
            "S3 sink: the KMS key ARN quarantine objects are written with; the deployed bucket refuses others, so "
            "set it to the stack output `QuarantineKeyArn` for `ingest --bucket` and `lake check --bucket --repair`",
            "(the bucket's key)"),
    Setting("data_dir", "PARKING_DATA_DIR", _path, "local sink and DuckDB engine", "`./data`"),
    Setting("engine", "PARKING_ENGINE", _text, "`local` or `athena`"),
    Setting("database", "PARKING_DATABASE", _text, "Athena"),
    Setting("table", "PARKING_TABLE", _text, "Athena (the local view is always `parking_events`)"),
    Setting("workgroup", "PARKING_WORKGROUP", _text, "Athena"),
    Setting("output_location", "PARKING_OUTPUT_LOCATION", _text, "Athena: `s3://BUCKET/PREFIX/`", "the workgroup's"),
    Setting("region", "AWS_REGION", _text, "Athena, S3 (`--bucket` needs both a region and credentials)",
            "boto3's chain"),
    Setting("profile", "AWS_PROFILE", _text, "Athena, S3 (`--bucket` needs both a region and credentials)",
            "boto3's chain"),
    Setting("endpoint_url", "AWS_ENDPOINT_URL", _text, "boto3; named in the error when out of reach",
            "AWS's endpoints"),
    Setting("compaction_lateness_days", "PARKING_COMPACTION_LATENESS_DAYS", _integer,
            "`compact`: a UTC day is compacted once it ended this long ago (0-3660)"),
    Setting("lookback_hours", "PARKING_LOOKBACK_HOURS", _hours,
            "the deployment's default lookback (METRICS.md section 3): every query and CLI command without "
            "`--lookback`, the saved queries (read when `infra/saved_queries.js` makes them) the zones function, "
            "the current-state table and the live answers (serverless param `lookbackHours`, from the same "
            "variable); above 0 and at most 8784", "`24`"),
    Setting("state_table", "PARKING_STATE_TABLE", _text,
            "the DynamoDB current-state table that S3 ingest writes and the live answers and zones function read "
            "(stack output `StateTableName`); locally the table is `parking-state/live.sqlite3` in the data "
            "directory", "(none)"),
    Setting("compaction_hour_lateness_minutes", "PARKING_COMPACTION_HOUR_LATENESS_MINUTES", _integer,
            "`compact`: a UTC hour is compacted once it ended this long ago (0-1440)"),
    Setting("compaction_removal_delay_minutes", "PARKING_COMPACTION_REMOVAL_DELAY_MINUTES", _integer,
            "`compact`: what a compacted file holds is removed from the hot tier this long after (0-1440; longer "
            "than any Athena query runs)", "`60` on a bucket, `0` locally"),
    Setting("kafka_session_timeout_seconds", "PARKING_KAFKA_SESSION_TIMEOUT_SECONDS", _seconds,
            "`consume`: how long its consumer group waits for a silent member before handing its partitions on, "
            "a heartbeat every twelfth of it (0.1-3600); Kafka brokers refuse less than their "
            "`group.min.session.timeout.ms`, 6 s unless set. Tansu forms a group in half of it (at least 1 s): "
            "the tests set 2", "`6`"),
    Setting("kafka_delivery_timeout_seconds", "PARKING_KAFKA_DELIVERY_TIMEOUT_SECONDS", _seconds,
            "`simulate --kafka`: how long an event may wait for the broker's acknowledgement; the first that "
            "waits longer ends the run, exit 1 (0.1-3600)", "`30`"),
)
_BY_FIELD = {setting.field: setting for setting in SETTINGS}
_ENVIRONMENT = {setting.field: setting.variable for setting in SETTINGS}

#: Removal delay on a bucket when none is set: longer than Athena's 30-minute query
#: timeout, so a query that listed an object a compaction folded has ended before
#: the object is removed (README, "Two tiers"). A local directory is read only by
#: the local engine, which lists again when a file vanished: no delay.
S3_REMOVAL_DELAY_MINUTES = 60
MINUTES_A_DAY = 1440
#: The longest lookback a query accepts, in hours (a leap year).
MAX_LOOKBACK_HOURS = 24 * 366
#: The Kafka consumer group's session timeout bounds, in seconds: a heartbeat
#: every twelfth of the shortest is 8 ms, and librdkafka takes at most an hour.
MIN_KAFKA_SESSION_SECONDS = 0.1
MAX_KAFKA_SESSION_SECONDS = 3600.0
#: The producer's delivery timeout bounds, in seconds: above its 20 ms linger
#: (librdkafka refuses a timeout below it), and an hour at most.
MIN_KAFKA_DELIVERY_SECONDS = 0.1
MAX_KAFKA_DELIVERY_SECONDS = 3600.0


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :meth:`from_environment`."""

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
    kafka_session_timeout_seconds: float = 6.0
    kafka_delivery_timeout_seconds: float = 30.0

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings every entry point reads: arguments that are not None beat the environment, which beats defaults."""
        env = os.environ if env is None else env
        unknown = set(overrides) - set(_BY_FIELD)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        labels: dict[str, str] = {}
        for setting in SETTINGS:
            value = overrides.get(setting.field)
            labels[setting.field] = setting.field
            if value is None:
                value = env.get(setting.variable) or None
                labels[setting.field] = setting.variable
            if value is not None:
                values[setting.field] = setting.parse(setting.variable, value)
        settings = cls(**values)
        settings.validate(labels)
        return settings

    from_env = from_environment  # the older name, for callers not yet moved

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
        for name, low, high in (
            ("kafka_session_timeout_seconds", MIN_KAFKA_SESSION_SECONDS, MAX_KAFKA_SESSION_SECONDS),
            ("kafka_delivery_timeout_seconds", MIN_KAFKA_DELIVERY_SECONDS, MAX_KAFKA_DELIVERY_SECONDS),
        ):
            seconds = getattr(self, name)
            if not low <= seconds <= high:
                raise ConfigurationError(f"{label[name]} must be a number of seconds from {low:g} to {high:g}: {seconds:g}")

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
    settings = Settings(lookback_hours=_hours(_ENVIRONMENT["lookback_hours"], value))
    settings.validate()
    return settings.lookback_hours



def markdown_table() -> str:
    """The README's settings table (its rows for :data:`SETTINGS`), one row per setting."""
    return "\n".join(f"| `{setting.variable}` | {shown_default(setting)} | {setting.doc} |" for setting in SETTINGS)


def shown_default(setting: Setting) -> str:
    """A setting's default as people read it: written out in the table, else the field's own."""
    if setting.default is not None:
        return setting.default
    value = next(field.default for field in fields(Settings) if field.name == setting.field)
    return "(none)" if value is None else f"`{value}`"


def _settings_list() -> str:
    """This module's list of settings (reStructuredText), made from :data:`SETTINGS`."""
    rows = []
    for setting in SETTINGS:
        default = shown_default(setting).replace("`", "``")
        rows.append(f"{setting.variable}: {default}\n    {setting.doc.replace('`', '``')}")
    return "\n".join(rows)


__doc__ = (__doc__ or "") + _settings_list() + "\n"
