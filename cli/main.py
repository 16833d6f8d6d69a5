"""parking-cli: a thin click layer over :mod:`parking`.

Each command parses its arguments, calls one library function and renders
the DataFrame it returns. Exit codes: 0 done; 1 a failure outside the
user's control (one line); 2 a bad argument or setting (one line, before
any query runs); 3 nothing observed, so no picture or report was written
(and, for ``alerts``, some group is full); 130 interrupted (Ctrl-C), after
asking Athena to stop a running query. Never a traceback, unless ``--debug``
(or PARKING_DEBUG=1) asks for the one behind an error.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from parking.cli import zones as zone_commands
from parking.cli.compact import compact as compact_command
from parking.cli.options import (
    DATA_DIR,
    DATE,
    KAFKA_PARTITIONS,
    MAX_CHANGES,
    NON_EMPTY,
    POSITIVE_HOURS,
    SEED,
    TOPIC,
    ZONE,
    LocalFile,
    Number,
    OutputFile,
    PictureFile,
    at_option,
    bucket_option,
    check_range,
    engine_options,
    format_from_env,
    lookback_option,
    os_error_line,
    output_options,
    picture_option,
    range_options,
    reuse_minutes,
    reuse_option,
    show_all,
    zone_option,
)
from parking.cli.progress import (
    AthenaProgress,
    ConsumeReporter,
    close_terminals,
    ingest_progress,
    simulate_progress,
    steps,
    stop_on_signals,
)
from parking.cli.zones import zones_suffix
from parking.config import Settings, lookback_hours_from_env
from parking.errors import AwsError, ConfigurationError, InvalidArgument, ParkingError, QueryCancelled
from parking.text import plural

if TYPE_CHECKING:  # the query side's libraries load only when a command needs them
    import pandas as pd
    from matplotlib.figure import Figure

    from parking.analytics.engines import Engine
    from parking.ingest.files import IngestTotals
    from parking.ingest.sinks import Sink


NOTHING_OBSERVED = 3  # exit code of `plot` and `report` when there is nothing to draw


INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
DEBUG_VARIABLE = "PARKING_DEBUG"


class Interrupted(Exception):
    """Ctrl-C reached a command: caught before click turns it into an Abort that prints a blank line."""


class OneLineErrors(click.Group):
    """Usage errors as one line and exit 2; library failures as one line and exit 1; never a traceback.

    Ctrl-C is one line and exit 130. With ``--debug`` or PARKING_DEBUG=1 the
    traceback behind an error is printed before its line.
    """

    debug = False

    def main(
        self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
        standalone_mode: bool = True, **kwargs: Any,
    ) -> Any:
        from parking.cli.help import finish_help

        OneLineErrors.debug = debug_from_env()
        finish_help(self)  # every command registered by now: examples last, Athena-only options last
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:  # a group named alone: its help, as click shows it
            exc.show()
            sys.exit(2)
        except click.UsageError as exc:
            _fail(f"{exc.format_message()}", 2)
        except (InvalidArgument, ConfigurationError) as exc:
            _fail(str(exc), 2, exc)
        except QueryCancelled as exc:  # Ctrl-C while a query ran: it was stopped
            _fail(f"aborted: {exc}", INTERRUPTED, exc)
        except AwsError as exc:  # already says what to set
            _fail(str(exc), 1, exc)
        except ParkingError as exc:
            _fail(_aws_problem(exc) or str(exc), 1, exc)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except (click.Abort, Interrupted, KeyboardInterrupt) as exc:
            _fail("aborted", INTERRUPTED, exc)
        except OSError as exc:  # a file that cannot be read or written, a full disk
            _fail(os_error_line(exc), 1, exc)
        except Exception as exc:  # a bug: one line the user can report, not a traceback
            hint = "" if OneLineErrors.debug else f" (--debug or {DEBUG_VARIABLE}=1 shows where)"
            _fail(_aws_problem(exc) or f"internal error ({type(exc).__name__}: {exc}); please report it{hint}", 1,
                  exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise Interrupted() from exc


def debug_from_env() -> bool:
    """PARKING_DEBUG=1 (or true, yes, on) asks for tracebacks; anything else, or unset, does not."""
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def _remember_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        OneLineErrors.debug = True
    return value


def _aws_problem(exc: BaseException) -> str | None:
    """What to set or check when AWS is why a command failed (parking/aws.py), else None."""
    from parking.aws import botocore_error, explain, service_failure

    if botocore_error(exc) is None:  # botocore is imported only when it raised
        return None
    try:
        endpoint_url = Settings.from_env().endpoint_url
    except ParkingError:
        endpoint_url = None
    return explain(exc, endpoint_url=endpoint_url) or service_failure(exc, endpoint_url)


def _fail(message: str, code: int, exc: BaseException | None = None) -> None:
    """One line on stderr: the first non-blank line of the message (after the traceback, with --debug)."""
    close_terminals()  # a progress display is erased first, so the line stands alone
    if exc is not None and OneLineErrors.debug:
        traceback.print_exception(exc, file=sys.stderr)
    first = next((line for line in str(message).splitlines() if line.strip()), "failed")
    click.echo(f"Error: {first.strip()}", err=True)
    sys.exit(code)


@dataclass
class Options:
    """What the group was given; commands may override each."""

    engine: str | None
    data_dir: str | None
    output_format: str | None
    lookback_hours: float | None = None


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@output_options
@lookback_option
@reuse_option
@click.option("--debug", is_flag=True, expose_value=False, callback=_remember_debug,
              help=f"Print the traceback behind an error, for a bug report [env {DEBUG_VARIABLE}=1].")
@click.version_option(package_name="parking-platform")
@click.pass_context
def cli(ctx: click.Context, engine: str | None, data_dir: str | None, output_format: str | None,
        lookback_hours: float | None) -> None:
    """Smart parking data: ingest sensor events and answer operators' questions.

    Queries run on an embedded DuckDB over ./data by default, or on Athena
    with --engine athena. Settings fall back to PARKING_* environment
    variables (see README).
    """
    ctx.obj = Options(engine, data_dir, output_format, lookback_hours)


def group_options(ctx: click.Context) -> Options:
    """What was given before the command name (nothing when a command is invoked alone)."""
    return ctx.find_object(Options) or Options(None, None, None)


def settings_for(ctx: click.Context, engine: str | None = None, data_dir: str | None = None) -> Settings:
    group = group_options(ctx)
    return Settings.from_env(engine=engine or group.engine, data_dir=data_dir or group.data_dir)


def lookback(ctx: click.Context, hours: float | None) -> float:
    """The command's --lookback, else the group's, else the default."""
    group = group_options(ctx)
    return hours or group.lookback_hours or lookback_hours_from_env()


def check_lake(settings: Settings) -> None:
    """A local query needs a data directory holding a lake; a typo must not look like an empty garage."""
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


def engine_for(ctx: click.Context, engine: str | None, data_dir: str | None) -> Engine:
    from parking.analytics.engines import engine_from_settings

    settings = settings_for(ctx, engine, data_dir)
    if settings.engine == "local":
        check_lake(settings)
        if ctx.params.get("zones"):  # the catalog is one small local file: a --zone typo is exit 2
            from parking.analytics.availability import grouping_params
            from parking.analytics.catalog import CatalogStore, check_zones

            grouping_params(None, ctx.params["zones"])  # each name well formed first
            check_zones(ctx.params["zones"], CatalogStore(settings.data_dir).read())
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


def sink_for(settings: Settings, bucket: str | None) -> tuple[Sink, str]:
    """The S3 bucket when one is named, else the local data directory; and where that is."""
    from parking.ingest.sinks import LocalSink, s3_sink_for

    if bucket:
        from parking.aws import check_session

        check_session(settings.region, settings.profile, "--bucket")  # what to set, before any request
        return s3_sink_for(settings, bucket), f"s3://{bucket}/"
    return LocalSink(settings.data_dir), f"{settings.data_dir}/"


TABLE_ROWS = 100  # a table on a terminal shows this many rows unless --all


def output_format_for(ctx: click.Context, output_format: str | None) -> str:
    """--format after the command, else before it, else PARKING_FORMAT, else table."""
    return output_format or group_options(ctx).output_format or format_from_env() or "table"


def on_terminal() -> bool:
    """Whether stdout is a person's terminal (a pipe or a file gets every row)."""
    return sys.stdout.isatty()


def show(ctx: click.Context, frame: pd.DataFrame, output_format: str | None, empty: str,
         footer: str | None = None, *, no_rows: str | None = None) -> None:
    """Print the answer; with nothing observed, say so on stderr (csv and json keep their rows).

    ``footer`` is a line for people, printed under a table only. ``no_rows``
    is the whole stderr line for an answer with no rows when that is news,
    not a lack of data (alerts: no zone is full).
    """
    from parking.cli.render import nothing_observed, render

    fmt = output_format_for(ctx, output_format)
    if no_rows is not None and frame.empty:
        click.echo(no_rows, err=True)
        if fmt == "table":
            return
    elif nothing_observed(frame):
        click.echo(f"Nothing observed: {with_zones(ctx, empty)}.", err=True)
        if fmt == "table":
            return
    left_out = 0
    if fmt == "table" and not show_all(ctx) and len(frame) > TABLE_ROWS and on_terminal():
        left_out = len(frame) - TABLE_ROWS
        frame = frame.head(TABLE_ROWS)
    text = render(frame, fmt)
    if text or fmt != "ndjson":  # ndjson of no rows is no line at all
        click.echo(text)
    if left_out:
        click.echo(f"... and {plural(left_out, 'more row')} not shown (--all shows them, --format csv for a program)")
    if footer and fmt == "table":
        click.echo(footer)


def in_zone(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Every timestamp column shown in ``tz`` (the instants do not change)."""
    import pandas as pd

    shown = frame.copy()
    for column in shown.columns:
        if isinstance(shown[column].dtype, pd.DatetimeTZDtype):
            shown[column] = shown[column].dt.tz_convert(tz)
    return shown


def write_picture(figure: Figure, out: str | Path) -> Path:
    """Save a figure; a write that fails (disk full, no permission) is one line and exit 1."""
    from parking.analytics.plots import save

    try:
        return save(figure, out)
    except OSError as exc:
        raise click.ClickException(f"could not write {out}: {exc.strerror or exc}") from None


def clock() -> datetime:
    """The current instant, UTC (the one place the CLI reads the time)."""
    return datetime.now(timezone.utc)


def now() -> datetime:
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
    if settings_for(ctx, ctx.params.get("engine")).engine != "athena":
        return current
    as_of = reuse_grid(current, minutes)
    if as_of != current and not ctx.meta.get("parking.as_of_said"):
        ctx.meta["parking.as_of_said"] = True
        click.echo(f"Note: answering as of {as_of:%Y-%m-%dT%H:%MZ}: --reuse-results {minutes} takes now down to a "
                   f"multiple of {minutes} minutes, so runs until the next one reuse one result", err=True)
    return as_of


def status_counts(frame: pd.DataFrame) -> str:
    """The line under the status table: spots free, occupied and stale (state unknown)."""
    stale = int(frame["stale"].sum())
    known = frame[~frame["stale"]]
    free = int((known["status"] == "free").sum())
    occupied = int((known["status"] == "occupied").sum())
    return f"{len(frame):,} spots: {free:,} free, {occupied:,} occupied, {stale:,} stale (state unknown)"


@cli.command()
@reuse_option
@at_option
@click.option("--tz", "tz", type=ZONE, default="UTC", show_default=True, help="IANA time zone to show times in.")
@lookback_option
@output_options
@click.pass_context
def status(ctx, at, tz, lookback_hours, engine, data_dir, output_format) -> None:
    """Current status of every spot seen in the 7 days up to --at."""
    from parking import queries

    frame = queries.status(at, lookback_hours=lookback(ctx, lookback_hours), engine=engine_for(ctx, engine, data_dir),
                           now=now())
    if output_format_for(ctx, output_format) == "table":  # CSV and JSON keep section 4's columns as they are
        frame = stale_as_unknown(frame)
    show(ctx, in_zone(frame, tz), output_format, "no spot reported in the 7 days before that instant",
         footer=status_counts(frame))


def stale_as_unknown(frame: pd.DataFrame) -> pd.DataFrame:
    """The status table for people: a stale spot's state is unknown (METRICS.md section 4), so its status says so."""
    shown = frame.copy()
    shown["status"] = shown["status"].mask(shown["stale"].astype(bool), "unknown")
    return shown


@cli.command()
@reuse_option
@click.option("--date", "day", type=DATE, required=True, help="Day to report (YYYY-MM-DD).")
@zone_option
@lookback_option
@zone_commands.grouping_options
@output_options
@click.pass_context
def occupancy(ctx, day, tz, lookback_hours, by, zones, engine, data_dir, output_format) -> None:
    """Hourly occupancy rate of one day."""
    from parking import queries

    frame = queries.occupancy(
        day, tz=tz, lookback_hours=lookback(ctx, lookback_hours), by=by, zones=zones, engine=engine_for(ctx, engine, data_dir),
        now=now(),
    )
    show(ctx, frame, output_format, "no spot's state was known in any hour of that day")


@cli.command()
@reuse_option
@range_options
@lookback_option
@zone_commands.grouping_options
@output_options
@click.pass_context
def utilization(ctx, first, last, lookback_hours, by, zones, engine, data_dir, output_format) -> None:
    """Share of observed time each spot was occupied, --from to --to (UTC days)."""
    from parking import queries

    check_range(first, last)
    frame = queries.utilization(
        first, last, lookback_hours=lookback(ctx, lookback_hours), by=by, zones=zones, engine=engine_for(ctx, engine, data_dir),
        now=now(),
    )
    show(ctx, frame, output_format, "no spot was observed in that window")


def zoned_window_command(name: str, summary: str, empty: str) -> None:
    """Register a query over local days --from to --to; the three differ only in name."""

    @cli.command(name, help=summary)
    @reuse_option
    @range_options
    @zone_option
    @lookback_option
    @zone_commands.grouping_options
    @output_options
    @click.pass_context
    def command(ctx, first, last, tz, lookback_hours, by, zones, engine, data_dir, output_format) -> None:
        from parking import queries

        check_range(first, last)
        query = getattr(queries, name)
        frame = query(first, last, tz=tz, lookback_hours=lookback(ctx, lookback_hours), by=by, zones=zones,
                      engine=engine_for(ctx, engine, data_dir), now=now())
        show(ctx, frame, output_format, empty)


zoned_window_command("patterns", "Occupancy by weekday and hour of day over --from to --to.",
                     "no spot's state was known in that window")
zoned_window_command("turnover", "Arrivals per spot and per observed day, --from to --to.",
                     "no spot was observed in that window")
zoned_window_command("dwell", "How long cars stayed (minutes) per spot, --from to --to.",
                     "no complete parking session in that window")


@cli.command()
@reuse_option
@at_option
@lookback_option
@click.option("--silent-hours", type=POSITIVE_HOURS, default=None,
              help="Flag 'silent' above this many hours without an event [default: the lookback].")
@click.option("--flapping-changes", type=click.IntRange(1, MAX_CHANGES), default=20, show_default=True,
              help="Flag 'flapping' at this many arrivals and departures in 24 hours.")
@click.option("--stuck-hours", type=POSITIVE_HOURS, default=72.0, show_default=True,
              help="Flag 'stuck' when occupied without a break for longer.")
@click.option("--flagged", is_flag=True, help="Only the sensors with a flag: the ones that need a visit.")
@click.option("--tz", "tz", type=ZONE, default="UTC", show_default=True, help="IANA time zone to show times in.")
@output_options
@click.pass_context
def health(ctx, at, lookback_hours, silent_hours, flapping_changes, stuck_hours, flagged, tz, engine, data_dir,
           output_format):
    """Sensor health of every spot seen in the 30 days up to --at."""
    from parking import queries

    frame = queries.health(
        at, lookback_hours=lookback(ctx, lookback_hours), silent_hours=silent_hours,
        flapping_changes=flapping_changes, stuck_hours=stuck_hours, engine=engine_for(ctx, engine, data_dir),
        now=now(),
    )
    if flagged:
        frame = frame[frame["flags"] != ""].reset_index(drop=True)
    show(ctx, in_zone(frame, tz), output_format,
         "no sensor has a flag" if flagged else "no spot reported in the 30 days before that instant")


@cli.command()
@click.argument("file", type=LocalFile("rb"))
@click.option("--data-dir", type=DATA_DIR, default=None,
              help="Local data lake root [env PARKING_DATA_DIR; default ./data].")
@bucket_option("Backfill this S3 bucket instead of the local directory.")
@click.option("--topic", type=TOPIC, default="parking-events", show_default=True, help="Topic recorded in object names.")
@click.option("--partition", type=KAFKA_PARTITIONS, default=0, show_default=True,
              help="Kafka partition recorded in object names.")
@click.pass_context
def ingest(ctx, file: BinaryIO, data_dir, bucket, topic, partition) -> None:
    """Load a JSON-lines FILE (- for stdin; plain or gzip) through the Lambda's ingest path.

    Object names are derived from the lines, so loading the same file again
    overwrites nothing and adds nothing, and another file never replaces it.
    Exits 1 when more than half of the records are quarantined.
    """
    from parking.ingest.files import file_chunks, ingest_chunks
    from parking.layout import check_topic

    check_topic(topic)
    settings = settings_for(ctx, data_dir=data_dir)
    sink, where = sink_for(settings, bucket)
    with ingest_progress(_file_size(file)) as advance:
        totals = ingest_chunks(advance(file_chunks(file)), sink, settings, topic=topic, partition=partition)
    click.echo(_totals_text(totals, where))
    if totals.mostly_rejected:
        reasons = ", ".join(f"{reason} ({count:,})" for reason, count in totals.top_reasons())
        _fail(f"{totals.quarantined:,} of {totals.records_in:,} records quarantined, mostly: {reasons}; "
              "is this the right file?", 1)


@cli.command()
@click.option("--data-dir", type=DATA_DIR, default=None,
              help="Local data lake root [env PARKING_DATA_DIR; default ./data].")
@click.pass_context
def replay(ctx, data_dir) -> None:
    """Ingest the quarantined records again: what is valid now is stored.

    For reasons that pass, such as a sensor clock more than a day ahead, or a
    raised PARKING_MAX_VALUE_BYTES. The rest stays in quarantine.
    """
    from parking.ingest.replay import replay_quarantine

    settings = settings_for(ctx, data_dir=data_dir)
    totals = replay_quarantine(settings.data_dir, settings)
    click.echo(_totals_text(totals, f"{settings.data_dir}/", "replayed into"))


def _file_size(file: BinaryIO) -> int | None:
    """Size of a real file, for the progress bar."""
    try:
        return Path(file.name).stat().st_size
    except (OSError, TypeError, AttributeError):
        return None


def _totals_text(totals: IngestTotals, where: str, verb: str = "ingested into") -> str:
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(totals.reasons.items()))
    lines = [
        f"{verb} {where}",
        f"  records in     {totals.records_in:>10,}",
        f"  stored         {totals.stored:>10,}",
        f"  quarantined    {totals.quarantined:>10,}" + (f"  ({reasons})" if reasons else ""),
        f"  objects        {totals.objects_written:>10,}",
        f"  hours touched  {len(totals.hours):>10,}",
    ]
    return "\n".join(lines)


@cli.command()
@click.option("--spots", type=click.IntRange(min=1, max=100_000), default=200, show_default=True,
              help="Bays in the simulated garage (1-100,000), named A-001 and on.")
@click.option("--days", type=click.IntRange(min=1, max=366), default=7, show_default=True,
              help="Days of events to simulate (1-366), from --start.")
@click.option("--start", type=DATE, default=None, help="First UTC day [default: --days before today].")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Random seed: the same seed, spots, days and start give the same events.")
@click.option("--out", type=OutputFile(allow_dash=True), default="-", show_default=True,
              help="JSON-lines file, - for stdout.")
@click.option("--kafka", "bootstrap_servers", type=NON_EMPTY, metavar="HOST:PORT", default=None,
              help="Produce to this Kafka broker instead of writing lines.")
@click.option("--topic", type=TOPIC, default="parking-events", show_default=True, help="Topic for --kafka.")
@click.option("--connect-timeout", type=Number(min=0, min_open=True), default=30.0, show_default=True,
              metavar="SECONDS", help="With --kafka: give up when no broker has answered for this long, "
                                      "before any event is sent.")
@click.option("--catalog", type=OutputFile(), default=None,
              help="Also write the garage's spot catalog (zones, levels, bay types, positions on a plan per level) as CSV for `spots load`.")
def simulate(spots: int, days: int, start: date | None, seed: int, out, bootstrap_servers, topic, connect_timeout,
             catalog) -> None:
    """Write a realistic event stream (a few bad records included) for `ingest`,
    or produce it to Kafka keyed by spot_id."""
    from parking.simulate import catalog_csv, lines, plan

    current = now()
    if start is not None and start > current.date():  # events are never simulated past now: nothing to write
        raise click.BadParameter(f"{start} is in the future (today is {current.date()} UTC); "
                                 "events are simulated up to now only", param_hint="--start")
    if catalog is not None:
        catalog.write_text(catalog_csv(spots), encoding="utf-8")

    first = start or (current - timedelta(days=days)).date()
    simulation = plan(spots, days, first, seed=seed, now=current)
    stream = lines(simulation)
    if bootstrap_servers:
        from parking.kafka.producer import produce

        produced = produce(stream, bootstrap_servers, topic, connect_timeout=connect_timeout)
        click.echo(f"produced {produced:,} events to {topic}", err=True)
        return
    to_file = out != "-"
    written = 0
    with click.open_file(str(out), "w", encoding="utf-8") as stream_out:
        for line in simulate_progress(stream, simulation.start, simulation.end, show=to_file and spots * days >= 2000):
            stream_out.write(line + "\n")
            written += 1
    if to_file:
        last = first + timedelta(days=days - 1)
        span = f"{first} to {last} UTC"
        if simulation.end < simulation.start + timedelta(days=days):  # the days reach past now
            span = f"{first} to now, {simulation.end:%Y-%m-%d %H:%M} UTC"
        click.echo(f"wrote {written:,} records ({spots:,} spots, {span}) to {out}", err=True)


@cli.command()
@click.option("--bootstrap-servers", type=NON_EMPTY, required=True, metavar="HOST:PORT", help="Kafka brokers.")
@click.option("--topic", type=TOPIC, default="parking-events", show_default=True)
@click.option("--group", type=NON_EMPTY, default="parking-ingest", show_default=True, help="Consumer group.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=1000, show_default=True,
              help="Most records per handler call, as the MSK trigger's batch size.")
@click.option("--batching-window", type=Number(0, 300), default=1.0, show_default=True,
              help="Seconds to wait for a batch to fill after its first record.")
@click.option("--data-dir", type=DATA_DIR, default=None,
              help="Local data lake root [env PARKING_DATA_DIR; default ./data].")
@bucket_option("Store in this S3 bucket instead.")
@click.option("--max-records", type=click.IntRange(min=1), default=None, help="Stop after this many records.")
@click.option("--until-idle", type=Number(min=0, min_open=True), default=None,
              help="Stop after this many seconds without a record.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Handler processes: partitions are handled at once, each in order. "
                   "1 runs the handler in this process. [default: CPUs, at most 4]")
@click.option("--connect-timeout", type=Number(min=0, min_open=True, max=3600), default=30.0, show_default=True,
              metavar="SECONDS", help="Give up when no broker has answered for this long since the start; "
                                      "a broker lost later is retried without end.")
@click.pass_context
def consume(ctx, bootstrap_servers, topic, group, batch_size, batching_window, data_dir, bucket, max_records,
            until_idle, workers, connect_timeout) -> None:
    """Consume Kafka like Lambda's MSK trigger: batch, ingest, then commit.

    Stops cleanly on Ctrl-C or SIGTERM, after --max-records, or after
    --until-idle seconds without a record.
    """
    from parking.kafka.consumer import BatchConsumer, ConsumeOptions
    from parking.kafka.invocations import default_workers

    settings = settings_for(ctx, data_dir=data_dir)
    sink, _ = sink_for(settings, bucket)
    options = ConsumeOptions(bootstrap_servers, topic, group, batch_size, batching_window, max_records, until_idle,
                             workers=workers or default_workers(), connect_timeout=connect_timeout)
    reporter = ConsumeReporter(sys.stderr)
    consumer = BatchConsumer(options, sink, settings, on_progress=reporter.update)
    try:
        with stop_on_signals(consumer.stop) as stop:
            progress = consumer.run()
    finally:
        reporter.close()
    totals = progress.totals
    if stop.signal_name:
        click.echo(f"stopped cleanly on {stop.reason}: every stored batch committed", err=True)
    click.echo(f"consumed {totals.records_in:,} records: {totals.stored:,} stored, "
               f"{totals.quarantined:,} quarantined, in {totals.batches:,} batches")


@cli.group()
def plot() -> None:
    """Draw a query's answer as a picture: PNG, SVG or PDF, by the --out file's suffix."""


def nothing_to_draw(what: str) -> None:
    """Say that nothing was observed and stop with exit code 3, writing no file."""
    click.echo(f"Nothing observed: {with_zones(click.get_current_context(silent=True), what)}; nothing written.",
               err=True)
    sys.exit(NOTHING_OBSERVED)


def with_zones(ctx: click.Context | None, what: str) -> str:
    """``what``, plus which --zone names matched nothing observed (on Athena they are not checked first)."""
    zones = (ctx.params.get("zones") if ctx is not None else None) or ()
    if not zones:
        return what
    assert ctx is not None  # zones came from it
    names = ", ".join(repr(name.strip()) for name in zones)
    engine = ctx.params.get("engine") if ctx is not None else None
    if settings_for(ctx, engine).engine != "athena":  # local: every --zone was checked against the catalog
        return f"{what} (zone {names} is in the spot catalog: the window holds no events of its bays)"
    return (f"{what} (no catalogued bay of zone {names} was observed: a zone not in the spot catalog "
            "matches no bay; see the catalog Athena reads with parking-cli spots show --bucket BUCKET)")


@plot.command("patterns")
@reuse_option
@range_options
@zone_option
@lookback_option
@zone_commands.zone_filter_option
@picture_option
@engine_options
@click.pass_context
def plot_patterns(ctx, first, last, tz, lookback_hours, zones, out, engine, data_dir) -> None:
    """Heatmap of occupancy by weekday and hour, --from to --to."""
    from parking import queries
    from parking.analytics.plots import patterns_heatmap
    from parking.cli.render import nothing_observed

    check_range(first, last)
    frame = queries.patterns(
        first, last, tz=tz, lookback_hours=lookback(ctx, lookback_hours), zones=zones, engine=engine_for(ctx, engine, data_dir),
        now=now(),
    )
    if nothing_observed(frame):
        nothing_to_draw("no spot's state was known in that window")
    title = f"Occupancy by weekday and hour, {first} to {last} ({tz}){zones_suffix(zones)}"
    click.echo(f"wrote {write_picture(patterns_heatmap(frame, title), out)}")


@plot.command("occupancy")
@reuse_option
@click.option("--date", "day", type=DATE, required=True, help="Day to draw (YYYY-MM-DD).")
@zone_option
@lookback_option
@zone_commands.zone_filter_option
@picture_option
@engine_options
@click.pass_context
def plot_occupancy(ctx, day, tz, lookback_hours, zones, out, engine, data_dir) -> None:
    """Bars of one day's hourly occupancy, 0-100 %."""
    from parking import queries
    from parking.analytics.plots import occupancy_bars
    from parking.cli.render import nothing_observed

    frame = queries.occupancy(
        day, tz=tz, lookback_hours=lookback(ctx, lookback_hours), zones=zones, engine=engine_for(ctx, engine, data_dir),
        now=now(),
    )
    if nothing_observed(frame):
        nothing_to_draw("no spot's state was known in any hour of that day")
    title = f"Hourly occupancy, {day} ({tz}){zones_suffix(zones)}"
    click.echo(f"wrote {write_picture(occupancy_bars(frame, title), out)}")


# Section 7: the spot catalog, availability, overstays, zone alerts (cli/zones.py).
cli.add_command(zone_commands.spots)
cli.add_command(zone_commands.availability)
cli.add_command(zone_commands.overstays)
cli.add_command(zone_commands.alerts)
plot.add_command(zone_commands.plot_availability)


@cli.command()
@reuse_option
@range_options
@zone_option
@lookback_option
@click.option("--out", type=PictureFile(("html",)), required=True, help="HTML file to write (its folder must exist).")
@engine_options
@click.pass_context
def report(ctx, first, last, tz, lookback_hours, out, engine, data_dir) -> None:
    """One self-contained HTML page on --from to --to, to open or mail on.

    A summary first (the busiest hour, the fullest zones, stays to enforce
    and sensors to check, the last 7 days against the 7 before), then
    availability and occupancy by zone and level (fullest first), this week
    against last week, the weekday x hour heatmap, the last day's hourly
    curve, the best- and worst-used bays, turnover and dwell (and by zone),
    the overstays and the sensors to check. Days are local days of --tz.
    Pictures are embedded: no network needed. Progress shows on a terminal.
    """
    from parking.analytics.report import MAX_REPORT_DAYS, build_report, write_report

    check_range(first, last)
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        raise click.UsageError(f"a report covers at most {MAX_REPORT_DAYS} days, got {(last - first).days + 1}")
    with steps("report") as advance:
        content = build_report(first, last, tz=tz, lookback_hours=lookback(ctx, lookback_hours),
                               engine=engine_for(ctx, engine, data_dir), now=now(), on_step=advance)
    if not content.observed:
        nothing_to_draw("no spot's state was known in that window")
    click.echo(f"wrote {write_report(content, out)}")

from parking.cli.lake import lake  # noqa: E402  (storage maintenance: cli/lake.py)

cli.add_command(lake)
from parking.cli.forecast import forecast  # noqa: E402  (forecasts and their backtest: cli/forecast.py)

cli.add_command(forecast)
cli.add_command(compact_command)
cli.add_command(__import__("parking.cli.serve").cli.serve.serve)  # the live page, API and feeds: cli/serve.py

if __name__ == "__main__":  # pragma: no cover
    cli()
