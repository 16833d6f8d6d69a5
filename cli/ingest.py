"""parking-cli's ways into the lake: ingest a file, replay the quarantine, simulate a garage, consume Kafka.

Each goes through the Lambda's own ingest path (:mod:`parking.ingest`) into
the invocation's data directory or a bucket (:mod:`parking.cli.context`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

import click

from parking.atomic_file import place
from parking.cli.context import cli_context, sink_for
from parking.cli.errors import fail
from parking.cli.options import (
    BOOTSTRAP_SERVERS,
    DATE,
    KAFKA_PARTITIONS,
    NON_EMPTY,
    SEED,
    TOPIC,
    Integer,
    LocalFile,
    Number,
    OutputFile,
    data_dir_option,
    place_options,
)
from parking.cli.progress import ConsumeReporter, ingest_progress, simulate_progress, stop_on_signals

if TYPE_CHECKING:
    from parking.ingest.files import IngestTotals
    from parking.kafka.consumer import ConsumeProgress


@click.command()
@click.argument("file", type=LocalFile("rb"))
@place_options("Backfill this S3 bucket instead of the local directory.")
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
    settings = cli_context(ctx).settings(data_dir=data_dir)
    sink, where = sink_for(settings, bucket)
    with ingest_progress(_file_size(file)) as advance:
        totals = ingest_chunks(advance(file_chunks(file)), sink, settings, topic=topic, partition=partition)
    click.echo(_totals_text(totals, where))
    if totals.mostly_rejected:
        reasons = ", ".join(f"{reason} ({count:,})" for reason, count in totals.top_reasons())
        fail(f"{totals.quarantined:,} of {totals.records_in:,} records quarantined, mostly: {reasons}; "
             "is this the right file?", 1)


@click.command()
@data_dir_option
@click.pass_context
def replay(ctx, data_dir) -> None:
    """Ingest the quarantined records again: what is valid now is stored.

    For reasons that pass, such as a sensor clock more than a day ahead, or a
    raised PARKING_MAX_VALUE_BYTES. The rest stays in quarantine.
    """
    from parking.ingest.replay import replay_quarantine

    settings = cli_context(ctx).settings(data_dir=data_dir)
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


@click.command()
@click.option("--spots", type=Integer(min=1, max=100_000), default=200, show_default=True,
              help="Bays in the simulated garage (1-100,000), named A-001 and on.")
@click.option("--days", type=Integer(min=1, max=366), default=7, show_default=True,
              help="Days of events to simulate (1-366), from --start.")
@click.option("--start", type=DATE, default=None, help="First UTC day [default: --days before today].")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Random seed: the same seed, spots, days and start give the same events.")
@click.option("--out", type=OutputFile(allow_dash=True), default="-", show_default=True,
              help="JSON-lines file, - for stdout.")
@click.option("--kafka", "bootstrap_servers", type=BOOTSTRAP_SERVERS, metavar="HOST:PORT", default=None,
              help="Produce to this Kafka broker instead of writing lines.")
@click.option("--topic", type=TOPIC, default="parking-events", show_default=True, help="Topic for --kafka.")
@click.option("--connect-timeout", type=Number(min=0, min_open=True), default=30.0, show_default=True,
              metavar="SECONDS", help="With --kafka: give up when no broker has answered for this long, "
                                      "before any event is sent.")
@click.option("--catalog", type=OutputFile(), default=None,
              help="Also write the garage's spot catalog (zones, levels, bay types, positions on a plan per level) as CSV for `spots load`.")
@click.pass_context
def simulate(ctx, spots: int, days: int, start: date | None, seed: int, out, bootstrap_servers, topic, connect_timeout,
             catalog) -> None:
    """Write a realistic event stream (a few bad records included) for `ingest`,
    or produce it to Kafka keyed by spot_id."""
    from parking.simulate import catalog_csv, lines, plan

    current = cli_context(ctx).now()
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

        timeout = cli_context(ctx).settings().kafka_delivery_timeout_seconds
        produced = produce(stream, bootstrap_servers, topic, timeout=timeout, connect_timeout=connect_timeout)
        click.echo(f"produced {produced:,} events to {topic}", err=True)
        return
    to_file = out != "-"
    shown = simulate_progress(stream, simulation.start, simulation.end, show=to_file and spots * days >= 2000)
    written = write_lines(shown, str(out))
    if to_file:
        last = first + timedelta(days=days - 1)
        span = f"{first} to {last} UTC"
        if simulation.end < simulation.start + timedelta(days=days):  # the days reach past now
            span = f"{first} to now, {simulation.end:%Y-%m-%d %H:%M} UTC"
        click.echo(f"wrote {written:,} records ({spots:,} spots, {span}) to {out}", err=True)



def write_lines(lines: Iterator[str], out: str) -> int:
    """Write ``lines`` to ``out`` (``-``: stdout), one a line; how many. A file appears whole or not at all,
    so a run cut short (Ctrl-C) leaves nothing that would ingest as if it were complete."""
    written = 0

    def write_to(handle: TextIO) -> bool:
        nonlocal written
        for line in lines:
            handle.write(line + "\n")
            written += 1
        return True

    def fill(temp: str) -> bool:
        with open(temp, "w", encoding="utf-8") as handle:
            return write_to(handle)

    if out == "-":
        write_to(sys.stdout)
    else:
        place(os.path.abspath(out), fill)
    return written


@click.command()
@click.option("--bootstrap-servers", type=BOOTSTRAP_SERVERS, required=True, metavar="HOST:PORT", help="Kafka brokers.")
@click.option("--topic", type=TOPIC, default="parking-events", show_default=True)
@click.option("--group", type=NON_EMPTY, default="parking-ingest", show_default=True, help="Consumer group.")
@click.option("--batch-size", type=Integer(1, 10_000), default=1000, show_default=True,
              help="Most records per handler call, as the MSK trigger's batch size.")
@click.option("--batching-window", type=Number(0, 300), default=1.0, show_default=True,
              help="Seconds to wait for a batch to fill after its first record.")
@place_options("Store in this S3 bucket instead.")
@click.option("--max-records", type=Integer(min=1), default=None, help="Stop after this many records.")
@click.option("--until-idle", type=Number(min=0, min_open=True), default=None,
              help="Stop after this many seconds without a record.")
@click.option("--workers", type=Integer(1, 64), default=None,
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

    settings = cli_context(ctx).settings(data_dir=data_dir)
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
    if stop.signal_name or progress.uncommitted:
        stopped = f"stopped cleanly on {stop.reason}: " if stop.signal_name else ""
        click.echo(stopped + commits_text(progress), err=True)
    click.echo(f"consumed {totals.records_in:,} records: {totals.stored:,} stored, "
               f"{totals.quarantined:,} quarantined, in {totals.batches:,} batches")


def commits_text(progress: ConsumeProgress) -> str:
    """Whether the broker confirmed the commit of every batch stored, and which partitions it did not."""
    if not progress.uncommitted:
        return "every stored batch committed"
    return (f"no broker confirmed the last commit of partitions {sorted(progress.uncommitted)}: their records "
            "stored since the last confirmed commit may be read again next run (nothing is lost)")


COMMANDS = (ingest, replay, simulate, consume)
