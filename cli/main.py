"""parking-cli: a thin click layer over :mod:`parking`.

Each command parses its arguments, calls one library function and renders
the DataFrame it returns. Bad arguments stop here with one line and exit
code 2, before any query runs; runtime failures exit 1.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from parking.cli.options import (
    DATE,
    POSITIVE_HOURS,
    at_option,
    check_range,
    lookback_option,
    output_options,
    range_options,
    zone_option,
)
from parking.cli import zones as zone_commands
from parking.cli.zones import zones_suffix
from parking.cli.progress import AthenaProgress, ConsumeReporter, ingest_progress, stop_on_signals
from parking.config import ENGINES, Settings
from parking.errors import ConfigurationError, InvalidArgument, ParkingError

if TYPE_CHECKING:  # the query side's libraries load only when a command needs them
    import pandas as pd

    from parking.analytics.engines import Engine
    from parking.ingest.files import IngestTotals
    from parking.ingest.sinks import Sink


class OneLineErrors(click.Group):
    """Usage errors as one line and exit 2; library failures as one line and exit 1."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            _fail(f"{exc.format_message()}", 2)
        except (InvalidArgument, ConfigurationError) as exc:
            _fail(str(exc), 2)
        except ParkingError as exc:
            _fail(str(exc), 1)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            _fail("aborted", 130)


def _fail(message: str, code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@dataclass
class Options:
    """What the group was given; commands may override each."""

    engine: str | None
    data_dir: str | None
    output_format: str | None
    reuse_minutes: int | None = None


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@output_options
@click.option("--reuse-results", "reuse_minutes", type=click.IntRange(1, 10080), default=None, metavar="MINUTES",
              help="Athena: reuse the result of the same query run within MINUTES instead of scanning again.")
@click.version_option(package_name="parking-platform")
@click.pass_context
def cli(ctx: click.Context, engine: str | None, data_dir: str | None, output_format: str | None,
        reuse_minutes: int | None) -> None:
    """Smart parking data: ingest sensor events and answer operators' questions.

    Queries run on an embedded DuckDB over ./data by default, or on Athena
    with --engine athena. Settings fall back to PARKING_* environment
    variables (see README).
    """
    ctx.obj = Options(engine, data_dir, output_format, reuse_minutes)


def group_options(ctx: click.Context) -> Options:
    """What was given before the command name (nothing when a command is invoked alone)."""
    return ctx.find_object(Options) or Options(None, None, None)


def settings_for(ctx: click.Context, engine: str | None = None, data_dir: str | None = None) -> Settings:
    group = group_options(ctx)
    return Settings.from_env(engine=engine or group.engine, data_dir=data_dir or group.data_dir)


def engine_for(ctx: click.Context, engine: str | None, data_dir: str | None) -> Engine:
    from parking.analytics.engines import engine_from_settings

    settings = settings_for(ctx, engine, data_dir)
    if settings.engine == "athena":
        group = group_options(ctx)
        progress = AthenaProgress(sys.stderr)
        return engine_from_settings(
            settings, result_reuse_minutes=group.reuse_minutes, on_progress=progress.update,
            on_finished=progress.finish,
        )
    return engine_from_settings(settings)


def sink_for(settings: Settings, bucket: str | None) -> tuple[Sink, str]:
    """The S3 bucket when one is named, else the local data directory; and where that is."""
    from parking.ingest.sinks import LocalSink, S3Sink, s3_client

    if bucket:
        return S3Sink(bucket, s3_client(settings.region, settings.profile)), f"s3://{bucket}/"
    return LocalSink(settings.data_dir), f"{settings.data_dir}/"


def show(ctx: click.Context, frame: pd.DataFrame, output_format: str | None, empty: str) -> None:
    from parking.cli.render import render

    group = group_options(ctx)
    fmt = output_format or group.output_format or "table"
    if frame.empty:
        click.echo(f"No rows: {empty}.", err=True)
        if fmt == "table":
            return
    click.echo(render(frame, fmt))


def now() -> datetime:
    return datetime.now(timezone.utc)


@cli.command()
@at_option
@lookback_option
@output_options
@click.pass_context
def status(ctx, at, lookback_hours, engine, data_dir, output_format) -> None:
    """Current status of every spot seen in the 7 days up to --at."""
    from parking import queries

    frame = queries.status(at, lookback_hours=lookback_hours, engine=engine_for(ctx, engine, data_dir), now=now())
    show(ctx, frame, output_format, "no spot reported in the 7 days before that instant")


@cli.command()
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
        day, tz=tz, lookback_hours=lookback_hours, by=by, zones=zones, engine=engine_for(ctx, engine, data_dir),
        now=now(),
    )
    show(ctx, frame, output_format, "no hours in that day")


@cli.command()
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
        first, last, lookback_hours=lookback_hours, by=by, zones=zones, engine=engine_for(ctx, engine, data_dir),
        now=now(),
    )
    show(ctx, frame, output_format, "no spot was observed in that window")


def zoned_window_command(name: str, summary: str, empty: str) -> None:
    """Register a query over local days --from to --to; the three differ only in name."""

    @cli.command(name, help=summary)
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
        frame = query(first, last, tz=tz, lookback_hours=lookback_hours, by=by, zones=zones,
                      engine=engine_for(ctx, engine, data_dir), now=now())
        show(ctx, frame, output_format, empty)


zoned_window_command("patterns", "Occupancy by weekday and hour of day over --from to --to.",
                     "the window has not started yet")
zoned_window_command("turnover", "Arrivals per spot and per observed day, --from to --to.",
                     "no spot was observed in that window")
zoned_window_command("dwell", "How long cars stayed (minutes) per spot, --from to --to.",
                     "no complete parking session in that window")


@cli.command()
@at_option
@lookback_option
@click.option("--silent-hours", type=POSITIVE_HOURS, default=None,
              help="Flag 'silent' above this many hours without an event [default: the lookback].")
@click.option("--flapping-changes", type=click.IntRange(min=1), default=20, show_default=True,
              help="Flag 'flapping' at this many arrivals and departures in 24 hours.")
@click.option("--stuck-hours", type=POSITIVE_HOURS, default=72.0, show_default=True,
              help="Flag 'stuck' when occupied without a break for longer.")
@output_options
@click.pass_context
def health(ctx, at, lookback_hours, silent_hours, flapping_changes, stuck_hours, engine, data_dir, output_format):
    """Sensor health of every spot seen in the 30 days up to --at."""
    from parking import queries

    frame = queries.health(
        at, lookback_hours=lookback_hours, silent_hours=silent_hours, flapping_changes=flapping_changes,
        stuck_hours=stuck_hours, engine=engine_for(ctx, engine, data_dir), now=now(),
    )
    show(ctx, frame, output_format, "no spot reported in the 30 days before that instant")


@cli.command()
@click.argument("file", type=click.File("rb"))
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Local data lake root [env PARKING_DATA_DIR; default ./data].")
@click.option("--bucket", default=None, help="Backfill this S3 bucket instead of the local directory.")
@click.option("--topic", default="parking-events", show_default=True, help="Topic recorded in object names.")
@click.option("--partition", type=click.IntRange(min=0), default=0, show_default=True,
              help="Kafka partition recorded in object names; give each file whose hours overlap another's its own.")
@click.option("--batch-size", type=click.IntRange(min=1, max=100_000), default=10_000, show_default=True)
@click.pass_context
def ingest(ctx, file: BinaryIO, data_dir, bucket, topic, partition, batch_size) -> None:
    """Load a JSON-lines FILE (- for stdin) through the Lambda's ingest path.

    Offsets are line numbers, so loading the same file again overwrites
    instead of duplicating.
    """
    from parking.ingest.files import ingest_lines

    settings = settings_for(ctx, data_dir=data_dir)
    sink, where = sink_for(settings, bucket)
    size, stamp = _file_facts(file)
    with ingest_progress(size) as advance:
        totals = ingest_lines(
            advance(file), sink, settings, topic=topic, partition=partition,
            batch_size=batch_size, timestamp_ms=stamp,
        )
    click.echo(_totals_text(totals, where))


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
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


def _file_facts(file: BinaryIO) -> tuple[int | None, int | None]:
    """Size (for the progress bar) and modification time (fixes quarantine hours) of a real file."""
    try:
        facts = Path(file.name).stat()
    except (OSError, TypeError, AttributeError):
        return None, None
    return facts.st_size, int(facts.st_mtime * 1000)


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
@click.option("--spots", type=click.IntRange(min=1, max=100_000), default=200, show_default=True)
@click.option("--days", type=click.IntRange(min=1, max=366), default=7, show_default=True)
@click.option("--start", type=DATE, default=None, help="First UTC day [default: --days before today].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.File("w"), default="-", show_default=True, help="JSON-lines file, - for stdout.")
@click.option("--kafka", "bootstrap_servers", metavar="HOST:PORT", default=None,
              help="Produce to this Kafka broker instead of writing lines.")
@click.option("--topic", default="parking-events", show_default=True, help="Topic for --kafka.")
@click.option("--catalog", type=click.File("w"), default=None,
              help="Also write the garage's spot catalog (zones, levels, bay types) as CSV for `spots load`.")
def simulate(spots: int, days: int, start: date | None, seed: int, out, bootstrap_servers, topic, catalog) -> None:
    """Write a realistic event stream (a few bad records included) for `ingest`,
    or produce it to Kafka keyed by spot_id."""
    from parking.simulate import catalog_csv, lines, plan

    if catalog is not None:
        catalog.write(catalog_csv(spots))

    current = now()
    first = start or (current - timedelta(days=days)).date()
    stream = lines(plan(spots, days, first, seed=seed, now=current))
    if bootstrap_servers:
        from parking.kafka.producer import produce

        click.echo(f"produced {produce(stream, bootstrap_servers, topic):,} events to {topic}", err=True)
        return
    for line in stream:
        out.write(line + "\n")


@cli.command()
@click.option("--bootstrap-servers", required=True, metavar="HOST:PORT", help="Kafka brokers.")
@click.option("--topic", default="parking-events", show_default=True)
@click.option("--group", default="parking-ingest", show_default=True, help="Consumer group.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=1000, show_default=True,
              help="Most records per handler call, as the MSK trigger's batch size.")
@click.option("--batching-window", type=click.FloatRange(0, 300), default=1.0, show_default=True,
              help="Seconds to wait for a batch to fill after its first record.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Local data lake root [env PARKING_DATA_DIR; default ./data].")
@click.option("--bucket", default=None, help="Store in this S3 bucket instead.")
@click.option("--max-records", type=click.IntRange(min=1), default=None, help="Stop after this many records.")
@click.option("--until-idle", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop after this many seconds without a record.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Handler processes: partitions are handled at once, each in order. "
                   "1 runs the handler in this process. [default: CPUs, at most 4]")
@click.pass_context
def consume(ctx, bootstrap_servers, topic, group, batch_size, batching_window, data_dir, bucket, max_records,
            until_idle, workers) -> None:
    """Consume Kafka like Lambda's MSK trigger: batch, ingest, then commit.

    Stops cleanly on Ctrl-C or SIGTERM, after --max-records, or after
    --until-idle seconds without a record.
    """
    from parking.kafka.consumer import BatchConsumer, ConsumeOptions
    from parking.kafka.invocations import default_workers

    settings = settings_for(ctx, data_dir=data_dir)
    sink, _ = sink_for(settings, bucket)
    options = ConsumeOptions(bootstrap_servers, topic, group, batch_size, batching_window, max_records, until_idle,
                             workers=workers or default_workers())
    consumer = BatchConsumer(options, sink, settings, on_progress=ConsumeReporter(sys.stderr).update)
    with stop_on_signals(consumer.stop):
        progress = consumer.run()
    totals = progress.totals
    click.echo(f"consumed {totals.records_in:,} records: {totals.stored:,} stored, "
               f"{totals.quarantined:,} quarantined, in {totals.batches:,} batches")


@cli.group()
def plot() -> None:
    """Draw a query's answer as a PNG picture."""


@plot.command("patterns")
@range_options
@zone_option
@lookback_option
@zone_commands.zone_filter_option
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True, help="PNG file to write.")
@click.option("--engine", type=click.Choice(ENGINES), default=None)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.pass_context
def plot_patterns(ctx, first, last, tz, lookback_hours, zones, out, engine, data_dir) -> None:
    """Heatmap of occupancy by weekday and hour, --from to --to."""
    from parking import queries

    from parking.analytics.plots import patterns_heatmap, save

    check_range(first, last)
    frame = queries.patterns(
        first, last, tz=tz, lookback_hours=lookback_hours, zones=zones, engine=engine_for(ctx, engine, data_dir),
        now=now(),
    )
    title = f"Occupancy by weekday and hour, {first} to {last} ({tz}){zones_suffix(zones)}"
    click.echo(f"wrote {save(patterns_heatmap(frame, title), out)}")


@plot.command("occupancy")
@click.option("--date", "day", type=DATE, required=True, help="Day to draw (YYYY-MM-DD).")
@zone_option
@lookback_option
@zone_commands.zone_filter_option
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True, help="PNG file to write.")
@click.option("--engine", type=click.Choice(ENGINES), default=None)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.pass_context
def plot_occupancy(ctx, day, tz, lookback_hours, zones, out, engine, data_dir) -> None:
    """Bars of one day's hourly occupancy, 0-100 %."""
    from parking import queries

    from parking.analytics.plots import occupancy_bars, save

    frame = queries.occupancy(
        day, tz=tz, lookback_hours=lookback_hours, zones=zones, engine=engine_for(ctx, engine, data_dir), now=now()
    )
    title = f"Hourly occupancy, {day} ({tz}){zones_suffix(zones)}"
    click.echo(f"wrote {save(occupancy_bars(frame, title), out)}")


# Section 7: the spot catalog, availability, overstays, zone alerts (cli/zones.py).
cli.add_command(zone_commands.spots)
cli.add_command(zone_commands.availability)
cli.add_command(zone_commands.overstays)
cli.add_command(zone_commands.alerts)
plot.add_command(zone_commands.plot_availability)


if __name__ == "__main__":  # pragma: no cover
    cli()
