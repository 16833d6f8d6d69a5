"""The one object a parking-cli invocation shares: what the group was given, and what it builds from it.

The group's callback builds a :class:`CliContext` once; every command reaches
it through :func:`cli_context` (click's ``ctx.obj``), so ``--data-dir``,
``--engine``, ``--format`` and ``--lookback`` before the command's name reach
every command alike. A command's own option beats the group's, which beats the
environment (:meth:`parking.config.Settings.from_environment`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

from parking.cli.options import format_from_env, reuse_minutes
from parking.config import Settings, lookback_hours_from_env
from parking.errors import ConfigurationError

if TYPE_CHECKING:  # the query side's libraries load only when a command needs them
    import pandas as pd

    from parking.analytics.engines import Engine
    from parking.ingest.sinks import Sink


def clock() -> datetime:
    """The current instant, UTC (the one place the CLI reads the time)."""
    return datetime.now(timezone.utc)


@dataclass
class CliContext:
    """What the group was given before the command's name; a command's own options win over each."""

    engine: str | None = None
    data_dir: str | None = None
    output_format: str | None = None
    lookback_hours: float | None = None
    _settings: dict[tuple[str | None, str | None], Settings] = field(default_factory=dict, repr=False)
    _engines: dict[tuple[str | None, str | None], Engine] = field(default_factory=dict, repr=False)

    def settings(self, engine: str | None = None, data_dir: str | None = None) -> Settings:
        """The settings for the command's ``engine`` and ``data_dir`` (else the group's), read once each."""
        key = (engine or self.engine, data_dir or self.data_dir)
        if key not in self._settings:
            self._settings[key] = Settings.from_environment(engine=key[0], data_dir=key[1])
        return self._settings[key]

    def lookback(self, hours: float | None) -> float:
        """The command's --lookback, else the group's, else PARKING_LOOKBACK_HOURS, else the default."""
        return hours or self.lookback_hours or lookback_hours_from_env()

    def format_for(self, output_format: str | None) -> str:
        """--format after the command, else before it, else PARKING_FORMAT, else table."""
        return output_format or self.output_format or format_from_env() or "table"

    def query_engine(self, ctx: click.Context, engine: str | None, data_dir: str | None) -> Engine:
        """The engine a query command runs on: local (its lake checked first) or Athena (with progress on stderr).

        Built once per engine and data directory: a command that asks several
        questions checks the lake once and reports one Athena total.
        """
        key = (engine or self.engine, data_dir or self.data_dir)
        if key not in self._engines:
            self._engines[key] = self._new_engine(ctx, engine, data_dir)
        return self._engines[key]

    def _new_engine(self, ctx: click.Context, engine: str | None, data_dir: str | None) -> Engine:
        from parking.analytics.engines import engine_from_settings
        from parking.cli.progress import AthenaProgress

        settings = self.settings(engine, data_dir)
        if settings.engine == "local":
            check_lake(settings)
            if ctx.params.get("zones"):  # the catalog is one small local file: a --zone typo is exit 2
                from parking.analytics.catalog import check_zones_in_force

                check_zones_in_force(ctx.params["zones"], settings.data_dir)
        if settings.engine == "athena":
            progress = AthenaProgress(sys.stderr)
            ctx.call_on_close(progress.summary)  # one total when the command ran several queries
            return engine_from_settings(
                settings, result_reuse_minutes=reuse_minutes(ctx), on_progress=progress.update,
                on_finished=progress.finish, on_throttled=lambda line: click.echo(f"athena: {line}", err=True),
            )
        if reuse_minutes(ctx) is not None:
            click.echo("Note: --reuse-results applies to --engine athena only; ignored.", err=True)
        return engine_from_settings(settings)

    def answer_now(self, ctx: click.Context, name: str, at: datetime | None, lookback_hours: float | None,
                   engine: str | None, data_dir: str | None, **params: Any) -> pd.DataFrame:
        """A question about now (``status``, ``availability``, ``overstays``, ``alerts``), answered.

        From the current-state table when it can answer exactly: no ``--at``,
        the deployment's lookback, a table where the settings keep one
        (docs/METRICS.md section 8); otherwise through the events, as any
        ``--at`` in the past or another ``--lookback`` is. Both give the same
        DataFrame at the same instant; an ``--at`` after now is answered as
        now, said on stderr (:func:`note_at_after_now`).
        """
        from parking import queries

        settings = self.settings(engine, data_dir)
        hours = self.lookback(lookback_hours)
        query_engine = self.query_engine(ctx, engine, data_dir)  # checks the lake and the zones first
        now = self.now()
        if at is None and hours == settings.lookback_hours and reuse_minutes(ctx) is None:
            from parking.state.live import live_answer, table_of

            store = table_of(settings)
            if store is not None:
                return live_answer(name, settings, now=now, store=store, **params)[1]
        question: Callable[..., pd.DataFrame] = getattr(queries, name)
        frame = question(at, lookback_hours=hours, engine=query_engine, now=now, **params)
        note_at_after_now(at, now)
        return frame

    def now(self) -> datetime:
        """The instant a question about "now" is asked about.

        With ``--reuse-results MINUTES`` on Athena and no ``--at``, the current
        instant taken down to a multiple of MINUTES
        (:func:`parking.analytics.windows.reuse_grid`), so repeated runs send
        identical SQL and Athena can reuse the result, said once on stderr; an
        explicit ``--at`` is already the same text each run and is never moved.
        Otherwise the current instant (docs/CHOICES.md, "Queries and windows": reusing Athena results).
        """
        from parking.analytics.windows import reuse_grid

        current = clock()
        ctx = click.get_current_context(silent=True)
        minutes = reuse_minutes(ctx)
        if minutes is None or ctx is None or ctx.params.get("at") is not None:
            return current
        if self.settings(ctx.params.get("engine")).engine != "athena":
            return current
        as_of = reuse_grid(current, minutes)
        if as_of != current and not ctx.meta.get("parking.as_of_said"):
            ctx.meta["parking.as_of_said"] = True
            click.echo(f"Note: answering as of {as_of:%Y-%m-%dT%H:%MZ}: --reuse-results {minutes} takes now down to "
                       f"a multiple of {minutes} minutes, so runs until the next one reuse one result", err=True)
        return as_of


def note_at_after_now(at: datetime | None, now: datetime, what: str = "answering as of now", *,
                      hour: bool = False) -> None:
    """Say on stderr that an ``--at`` after ``now`` was taken as now (docs/CHOICES.md, "Queries and windows").

    Every window ends at now, so the answer is now's; the Note keeps a
    mistyped year from passing unnoticed. Both instants are shown to the
    second, finer where that does not tell them apart. ``what`` says what the
    answer is instead, and ``hour`` adds now's hour, from which a forecast starts.
    """
    if at is not None and at > now:
        at_shown, now_shown = _told_apart(at, now)
        then = f"{what}, {now:%Y-%m-%dT%H:00Z}" if hour else what
        click.echo(f"Note: --at {at_shown} is after now ({now_shown}); {then}.", err=True)


def _told_apart(later: datetime, earlier: datetime) -> tuple[str, str]:
    """Two instants to the second, or to the millisecond or microsecond where the second does not tell them apart.

    An ``--at`` 20 s ahead shown to the minute, as now was, read
    ``--at 16:35Z is after now; ... 16:35Z``: a Note contradicting itself.
    """
    for digits in (0, 3, 6):
        shown = [f"{instant:%Y-%m-%dT%H:%M:%S}" + (f".{instant:%f}"[:digits + 1] if digits else "") + "Z"
                 for instant in (later, earlier)]
        if shown[0] != shown[1]:
            break
    return shown[0], shown[1]


def cli_context(ctx: click.Context | None = None) -> CliContext:
    """The invocation's :class:`CliContext` (an empty one when a command runs without the group)."""
    return (ctx or click.get_current_context()).ensure_object(CliContext)


def check_lake(settings: Settings) -> None:
    """A local command needs a data directory holding a lake; a typo must not look like an empty garage."""
    root = settings.data_dir
    if not root.exists():
        raise ConfigurationError(f"data directory {str(root)!r} does not exist (set --data-dir or PARKING_DATA_DIR)")
    if not root.is_dir():
        raise ConfigurationError(f"data directory {str(root)!r} is not a directory (set --data-dir or PARKING_DATA_DIR)")
    from parking.layout import COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX  # a compacted lake may hold no JSON

    prefixes = (settings.data_prefix, settings.quarantine_prefix, COMPACTED_PREFIX, COMPACTED_SOURCES_PREFIX)
    if not any((root / prefix).is_dir() for prefix in prefixes):
        raise ConfigurationError(
            f"data directory {str(root)!r} holds no data lake (no {settings.data_prefix} folder): "
            "ingest events into it first, or point --data-dir at a lake"
        )


def sink_for(settings: Settings, bucket: str | None) -> tuple[Sink, str]:
    """The S3 bucket when one is named, else the local data directory; and where that is."""
    from parking.ingest.sinks import LocalSink, s3_sink_for

    if bucket:
        check_aws(settings)
        return s3_sink_for(settings, bucket), f"s3://{bucket}/"
    return LocalSink(settings.data_dir), f"{settings.data_dir}/"


def check_aws(settings: Settings, what: str = "--bucket") -> None:
    """What to set for AWS, said before any request (``what`` is the option that chose AWS)."""
    from parking.aws import check_session

    check_session(settings.region, settings.profile, what)
